//! Station records (`TxKind::Station`): only a station peer records its own
//! decisions; the facts of allowed decisions update the floor (stock,
//! equipment use, lockouts, parts scanned, released, received, shipped) and
//! are checked again by the VM; a refusal changes nothing.

mod common;

use common::*;
use smart_contracts::RefusalCode as Code;
use smart_contracts::action::Action;
use smart_contracts::model::{DocumentType, Effect};
use smart_contracts::state::{Identity, Interlock};
use smart_contracts::station::{Fact, Module, StationRecord, Verdict};
use smart_contracts::{Applied, TxInput, apply};
use smart_ledger::{Outcome, TxKind};

fn record(
    module: Module,
    verdict: Verdict,
    job: Option<&str>,
    fact: Option<Fact>,
) -> StationRecord {
    StationRecord {
        module,
        station: "station-1".into(),
        verdict,
        job: job.map(str::to_string),
        operator: Some(id("tech")),
        what: "test".into(),
        reason: String::new(),
        fact,
    }
}

fn station_shop() -> Shop {
    let mut s = Shop::po_ready();
    for n in ["station-1", "station-2"] {
        s.state.identities.insert(id(n), Identity::new(n, []));
        s.state.floor.stations.insert(id(n), n.to_string());
    }
    s
}

fn submit(s: &mut Shop, who: &str, payload: &[u8]) -> Applied {
    let applied = apply(
        &mut s.state,
        &TxInput {
            author: id(who),
            kind: TxKind::Station,
            payload,
            time: s.now,
            tx_hash: smart_ledger::Hash::ZERO,
        },
    );
    s.now = smart_ledger::Timestamp(s.now.0 + 60_000);
    applied
}

fn ok(s: &mut Shop, r: StationRecord) -> Applied {
    let a = submit(s, "station-1", &r.encode());
    assert_eq!(a.outcome, Outcome::Accepted, "{r:?}");
    a
}

fn refused(s: &mut Shop, who: &str, r: StationRecord, code: Code) -> String {
    let before = s.state.clone();
    let a = submit(s, who, &r.encode());
    let mut after = s.state.clone();
    after.time = before.time;
    assert_eq!(
        after, before,
        "a refused station record changed the state: {r:?}"
    );
    match a.outcome {
        Outcome::Refused { code: c, reason } => {
            assert_eq!(c, code.number(), "{reason}");
            reason
        }
        Outcome::Accepted => panic!("accepted: {r:?}"),
    }
}

#[test]
fn only_a_station_records_and_only_its_own_decisions() {
    let mut s = station_shop();
    let r = record(Module::Gatekeeper, Verdict::Allowed, None, None);
    let why = refused(&mut s, "tech", r.clone(), Code::NotStation);
    assert!(why.contains("not a station peer"), "{why}");
    let mut other = r.clone();
    other.station = "station-2".into();
    let why = refused(&mut s, "station-1", other, Code::NotStation);
    assert!(
        why.contains("cannot record a decision for station station-2"),
        "{why}"
    );
    let a = submit(&mut s, "station-1", b"\x01garbage");
    assert!(matches!(a.outcome, Outcome::Refused { code, .. } if code == Code::Malformed.number()));
    let bad = record(
        Module::Vision,
        Verdict::Refused,
        Some("job-1"),
        Some(Fact::PartScanned {
            serial: "P-1".into(),
        }),
    );
    refused(&mut s, "station-1", bad, Code::InvalidArgument);
    refused(
        &mut s,
        "station-1",
        record(Module::Vision, Verdict::Allowed, Some("job-9"), None),
        Code::UnknownJob,
    );
    ok(&mut s, r);
    let mut no = record(Module::Gatekeeper, Verdict::Refused, None, None);
    no.reason = "badge in first".into();
    ok(&mut s, no);
    assert_eq!(
        s.state
            .floor
            .decisions
            .get(&("station-1".into(), Module::Gatekeeper, Verdict::Allowed)),
        Some(&1)
    );
    assert_eq!(
        s.state
            .floor
            .decisions
            .get(&("station-1".into(), Module::Gatekeeper, Verdict::Refused)),
        Some(&1)
    );
    assert!(
        s.state.floor.recent_refusals[0]
            .2
            .contains("badge in first")
    );
}

#[test]
fn stock_crossing_its_reorder_point_raises_an_alert() {
    let mut s = station_shop();
    ok(
        &mut s,
        record(
            Module::InventoryNode,
            Verdict::Allowed,
            None,
            Some(Fact::Stocked {
                item: "quench-oil".into(),
                on_hand: 10,
                reorder_at: 8,
            }),
        ),
    );
    let a = ok(
        &mut s,
        record(
            Module::InventoryNode,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::Consumed {
                item: "quench-oil".into(),
                quantity: 2,
            }),
        ),
    );
    assert!(a.effects.is_empty(), "8 on hand is not below 8");
    let a = ok(
        &mut s,
        record(
            Module::InventoryNode,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::Consumed {
                item: "quench-oil".into(),
                quantity: 1,
            }),
        ),
    );
    assert!(
        a.effects
            .iter()
            .any(|f| matches!(&f.effect, Effect::Alert(t) if t.contains("quench-oil below its reorder point: 7 on hand"))),
        "{:?}",
        a.effects
    );
    let stock = &s.state.floor.stock["quench-oil"];
    assert_eq!((stock.on_hand, stock.used_by_job["job-1"]), (7, 3));
}

#[test]
fn a_station_lockout_blocks_the_equipment_until_cleared() {
    let mut s = station_shop();
    s.run_until("harden");
    ok(
        &mut s,
        record(
            Module::SafetyNode,
            Verdict::Allowed,
            None,
            Some(Fact::LockOut {
                equipment: vec!["furnace-3".into(), "quench-tank-1".into()],
            }),
        ),
    );
    // The contract's interlock setting is kept; the lockout holds the equipment.
    assert_eq!(
        s.state.interlocks.get("furnace-3"),
        Some(&Interlock::Unlocked)
    );
    s.step_refused(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
        Code::EquipmentLockedOut,
    );
    refused(
        &mut s,
        "station-1",
        record(
            Module::SafetyNode,
            Verdict::Allowed,
            None,
            Some(Fact::LockOut {
                equipment: vec!["oven-9".into()],
            }),
        ),
        Code::UnknownEquipment,
    );
    s.refused(
        "tech",
        Action::ClearLockOut {
            id: "furnace-3".into(),
        },
        Code::RoleRequired,
    );
    for e in ["furnace-3", "quench-tank-1"] {
        s.ok("compliance", Action::ClearLockOut { id: e.into() });
    }
    s.step_ok(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
    );
    ok(
        &mut s,
        record(
            Module::MaintenanceNode,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::EquipmentUsed {
                equipment: "furnace-3".into(),
                cycles: 1,
                minutes: 75,
            }),
        ),
    );
    let u = &s.state.floor.usage["furnace-3"];
    assert_eq!((u.cycles, u.minutes), (1, 75));
}

#[test]
fn parts_are_scanned_released_and_shipped_in_order_with_a_coc() {
    let mut s = station_shop();
    let why = refused(
        &mut s,
        "station-1",
        record(
            Module::Vision,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::PartScanned {
                serial: "P-9".into(),
            }),
        ),
        Code::InvalidArgument,
    );
    assert!(why.contains("P-9 is not a part of job job-1"), "{why}");
    ok(
        &mut s,
        record(
            Module::Vision,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::PartScanned {
                serial: "P-1".into(),
            }),
        ),
    );
    ok(
        &mut s,
        record(
            Module::LogisticsNode,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::Received { parts: 1 }),
        ),
    );
    let ship = record(
        Module::LogisticsNode,
        Verdict::Allowed,
        Some("job-1"),
        Some(Fact::Shipped),
    );
    refused(&mut s, "station-1", ship.clone(), Code::DocumentMissing);
    s.doc(
        "qa",
        40,
        DocumentType::CertificateOfConformance,
        Some("job-1"),
    );
    refused(
        &mut s,
        "station-1",
        ship.clone(),
        Code::PrerequisiteIncomplete,
    );
    ok(
        &mut s,
        record(
            Module::Guardian,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::Released),
        ),
    );
    ok(&mut s, ship);
    let p = &s.state.floor.parts["job-1"];
    assert_eq!(p.scanned.get("P-1").map(String::as_str), Some("station-1"));
    assert_eq!(p.received, 1);
    assert!(p.released.is_some() && p.shipped.is_some());
}

#[test]
fn equipment_use_counts_toward_its_maintenance_plan_until_a_service_job_completes() {
    let mut s = station_shop();
    let maint = include_str!("../examples/smart-maintenance.yaml");
    s.propose_and_approve(maint);
    let far = smart_contracts::refusal::timestamp_of(2027, 12, 31, 0, 0);
    s.token(
        "t-loto",
        "tech",
        smart_contracts::state::TokenKind::Safety,
        "lockout-tagout",
        far,
    );
    s.token(
        "t-pyro",
        "tech",
        smart_contracts::state::TokenKind::Certified,
        "pyrometry",
        far,
    );
    s.ok(
        "admin",
        Action::RegisterEquipment {
            id: "reference-tc-7".into(),
            description: "reference thermocouple".into(),
            calibration_due: far,
        },
    );
    let plan = |contract: &str, cycles: u32| Action::SetMaintenancePlan {
        equipment: "furnace-3".into(),
        contract: contract.into(),
        every_cycles: cycles,
        every_minutes: 0,
    };
    // Only a SmartMaintenance contract, with an interval, by Admin or Compliance.
    s.refused(
        "compliance",
        plan("po-4471-heat-treat", 10),
        Code::InvalidArgument,
    );
    s.refused(
        "compliance",
        plan("maint-furnace-3-sat", 0),
        Code::InvalidArgument,
    );
    s.refused("tech", plan("maint-furnace-3-sat", 10), Code::RoleRequired);
    let used = |n: u32| {
        record(
            Module::MaintenanceNode,
            Verdict::Allowed,
            Some("job-1"),
            Some(Fact::EquipmentUsed {
                equipment: "furnace-3".into(),
                cycles: n,
                minutes: 30,
            }),
        )
    };
    ok(&mut s, used(4)); // before the plan: not counted
    s.ok("compliance", plan("maint-furnace-3-sat", 10));
    let permille = |s: &Shop| {
        s.state.maintenance["furnace-3"].used_permille(&s.state.floor.usage["furnace-3"])
    };
    assert_eq!(permille(&s), 0);
    ok(&mut s, used(6));
    assert_eq!(permille(&s), 600);
    ok(&mut s, used(6));
    assert_eq!(permille(&s), 1200, "overdue");

    // The service job is the shop's own: compliance owns it.
    s.ok(
        "pm",
        Action::OpenJob {
            job: "service-1".into(),
            contract: "maint-furnace-3-sat".into(),
            client: id("compliance"),
            parts: vec!["furnace-3".into()],
        },
    );
    // A client job still needs a client account.
    s.refused(
        "pm",
        Action::OpenJob {
            job: "job-x".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("compliance"),
            parts: vec![],
        },
        Code::UnknownIdentity,
    );
    let step = |step: &str, m: &[(&str, i64)]| Action::CompleteStep {
        job: "service-1".into(),
        step: step.into(),
        station: None,
        measurements: meas(m),
    };
    s.ok("tech", step("lockout", &[]));
    s.ok("tech", step("sat", &[("sat_difference", 1)]));
    s.ok(
        "tech",
        step("tc-replacement", &[("thermocouples_replaced", 4)]),
    );
    let applied = s.ok("qa", step("release", &[]));
    assert!(
        applied
            .effects
            .iter()
            .any(|f| matches!(&f.effect, Effect::Alert(a) if a.contains("furnace-3 serviced by service-1"))),
        "{:?}",
        applied.effects
    );
    let serviced = &s.state.maintenance["furnace-3"].serviced;
    assert_eq!(
        (serviced.cycles, serviced.job.as_deref()),
        (16, Some("service-1"))
    );
    assert_eq!(permille(&s), 0, "usage counts from the service");
}
