//! The station modules' unit tests.

use super::*;
use smart_contracts::state::Equipment;

fn cfg() -> StationConfig {
    StationConfig {
        name: "station-1".into(),
        equipment: vec!["furnace-3".into(), "quench-tank-1".into()],
        logistics: false,
    }
}

#[test]
fn badge_in_reminds_the_operator_of_tokens_expiring_within_30_days() {
    use smart_contracts::state::{Identity, Token, TokenKind};
    let mut state = State::default();
    let tech = SmartId([3; 32]);
    state.identities.insert(
        tech,
        Identity::new("tech-3", [smart_ledger::Role::Technician]),
    );
    let day = 86_400_000;
    let now = Timestamp(1_000 * day);
    for (id, scope, days) in [("t-soon", "furnace-3", 10), ("t-later", "receiving", 90)] {
        state.add_token(
            id.into(),
            Token {
                holder: tech,
                kind: TokenKind::Safety,
                scope: scope.into(),
                issued: Timestamp(0),
                expires: Timestamp(now.0 + days * day),
                revoked: None,
            },
        );
    }
    let d = badge(&state, &tech, now);
    assert!(!d.refused());
    assert_eq!(
        d.reason,
        "reminder: Safety:furnace-3 expires 1972-10-07: renew by a new token from Admin or Compliance"
    );
    let d = badge(&state, &tech, Timestamp(now.0 - 100 * day));
    assert_eq!(d.reason, "", "nothing within 30 days");
}

#[test]
fn part_labels_parse_strictly() {
    let label = part_label("job-1", "AA-1");
    assert_eq!(parse_label(&label), Some(("job-1".into(), "AA-1".into())));
    for bad in [
        "AA-1",
        "SMART-PART|job=job-1",
        "SMART-PART|job=|serial=AA-1",
        "SMART-PART|job=job-1|serial=AA-1|extra=1",
        "smart-part|job=job-1|serial=AA-1",
    ] {
        assert_eq!(parse_label(bad), None, "{bad}");
    }
}

#[test]
fn each_vm_refusal_is_answered_by_its_module() {
    for (code, module) in [
        (RefusalCode::DocumentMissing, Module::ComplianceNode),
        (RefusalCode::CalibrationOverdue, Module::StandardsNode),
        (RefusalCode::EquipmentLockedOut, Module::MaintenanceNode),
        (RefusalCode::MeasurementOutOfLimits, Module::QaNode),
        (RefusalCode::TokenExpired, Module::Gatekeeper),
        (RefusalCode::PrerequisiteIncomplete, Module::Gatekeeper),
    ] {
        assert_eq!(module_of(code.number()), module, "{code:?}");
    }
}

#[test]
fn overdue_equipment_this_station_drives_is_locked_out_once() {
    let mut state = State::default();
    for (e, due) in [
        ("furnace-3", 1_000),
        ("quench-tank-1", 9_000),
        ("rockwell-2", 1_000),
    ] {
        state.equipment.insert(
            e.into(),
            Equipment {
                description: e.into(),
                calibration_due: Timestamp(due),
                locked_out: None,
            },
        );
    }
    let d = overdue(&state, &cfg(), Timestamp(5_000)).expect("furnace-3 is overdue");
    assert_eq!(d.module, Module::MaintenanceNode);
    // rockwell-2 is overdue too, but another station drives it.
    assert_eq!(
        d.fact,
        Some(Fact::LockOut {
            equipment: vec!["furnace-3".into()]
        })
    );
    if let Some(e) = state.equipment.get_mut("furnace-3") {
        e.locked_out = Some("overdue".into());
    }
    assert_eq!(overdue(&state, &cfg(), Timestamp(5_000)), None);
}

#[test]
fn limits_and_parts_read_well() {
    assert_eq!(limit_text(835, 855), "835..855");
    assert_eq!(limit_text(60, i64::MAX), "≥ 60");
    assert_eq!(limit_text(i64::MIN, 15), "≤ 15");
    let many: Vec<String> = (1..=120).map(|i| format!("P-{i}")).collect();
    assert_eq!(parts_summary(&many), "P-1 … P-120, 120 parts");
    assert_eq!(parts_summary(&many[..2]), "P-1, P-2");
}

#[test]
fn nodequery_says_what_it_understands() {
    let state = State::default();
    let err = ask(&state, &cfg(), Timestamp(0), "make me a sandwich").expect_err("unknown");
    for q in QUESTIONS {
        assert!(err.contains(q), "{err}");
    }
    assert_eq!(
        ask(&state, &cfg(), Timestamp(0), "What is locked out?").as_deref(),
        Ok("nothing is locked out")
    );
    assert!(ask(&state, &cfg(), Timestamp(0), "what is blocking job 42?").is_err());
}

#[test]
fn logistics_runs_only_where_configured() {
    let state = State::default();
    let d = receive(&state, &cfg(), "job-1", 1);
    assert!(d.refused() && d.reason.contains("not a receiving/shipping station"));
    let d = ship(&state, &cfg(), "job-1");
    assert!(d.refused() && d.reason.contains("not a receiving/shipping station"));
}
