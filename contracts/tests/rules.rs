//! One test per rule, positive and negative, on the SmartClientPO example
//! and small contracts: the seed rules, tokens, documents, equipment,
//! measurements, governance, pinned versions, money.

mod common;

use common::*;
use smart_contracts::RefusalCode as Code;
use smart_contracts::action::Action;
use smart_contracts::model::{DocumentType, Effect};
use smart_contracts::refusal::timestamp_of;
use smart_contracts::state::{Interlock, JobStatus, PaymentKind, TokenKind, VersionStatus};
use smart_ledger::{Role, Timestamp};

#[test]
fn pre_checks_gate_the_test_and_unlock_the_furnace() {
    let mut s = Shop::po_ready();
    s.run_until("pre-check");
    let reason = s.step_refused(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
        Code::PrerequisiteIncomplete,
    );
    assert!(
        reason.contains("needs step pre-check complete first"),
        "{reason}"
    );
    assert_ne!(
        s.state.interlocks.get("furnace-3"),
        Some(&Interlock::Unlocked)
    );
    let applied = s.step("tech", "pre-check", meas(&[]));
    assert!(
        applied
            .effects
            .iter()
            .any(|f| f.effect == Effect::Unlock("furnace-3".into()))
    );
    assert_eq!(
        s.state.interlocks.get("furnace-3"),
        Some(&Interlock::Unlocked)
    );
    s.step_ok(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
    );
}

#[test]
fn no_report_until_qa_signs_off() {
    let mut s = Shop::po_ready();
    s.run_until("qa-signoff");
    s.step_refused("qa", "report", meas(&[]), Code::PrerequisiteIncomplete);
    s.step_ok("qa", "qa-signoff", meas(&[]));
    s.step_ok("qa", "report", meas(&[]));
}

#[test]
fn client_approves_the_report_before_invoicing() {
    let mut s = Shop::po_ready();
    s.run_until("client-approval");
    s.step_refused("pm", "invoice", meas(&[]), Code::PrerequisiteIncomplete);
    assert!(s.state.invoices.is_empty());
    // Another client cannot approve acme's report.
    s.step_refused("globex", "client-approval", meas(&[]), Code::NotClientOfJob);
    // Nor can shop staff approve in the client's place.
    s.step_refused("pm", "client-approval", meas(&[]), Code::RoleRequired);
    s.step_ok("acme", "client-approval", meas(&[]));
    s.step_ok("pm", "invoice", meas(&[]));
    assert_eq!(s.state.invoices.len(), 1);
}

#[test]
fn tokens_are_needed_before_any_step() {
    let mut s = Shop::po_ready();
    // tech-2 has the role but no tokens.
    let reason = s.step_refused(
        "tech-2",
        "receive-parts",
        meas(&[("part_count", 120)]),
        Code::TokenMissing,
    );
    assert_eq!(reason, "tech-2 holds no Access:receiving token");
    // A token of another scope does not count.
    s.token(
        "t2-other",
        "tech-2",
        TokenKind::Access,
        "shipping",
        timestamp_of(2027, 1, 1, 0, 0),
    );
    s.step_refused(
        "tech-2",
        "receive-parts",
        meas(&[("part_count", 120)]),
        Code::TokenMissing,
    );
    s.token(
        "t2-recv",
        "tech-2",
        TokenKind::Access,
        "receiving",
        timestamp_of(2027, 1, 1, 0, 0),
    );
    s.step_ok("tech-2", "receive-parts", meas(&[("part_count", 120)]));
    // The role is needed too: QA cannot receive parts.
    let mut s = Shop::po_ready();
    s.step_refused(
        "qa",
        "receive-parts",
        meas(&[("part_count", 120)]),
        Code::RoleRequired,
    );
}

#[test]
fn an_expired_token_is_refused_at_ledger_time_and_named() {
    let mut s = Shop::po_ready();
    s.token(
        "t2-recv",
        "tech-2",
        TokenKind::Access,
        "receiving",
        at(3, 0),
    );
    // Valid on day 2.
    s.step_ok("tech-2", "receive-parts", meas(&[("part_count", 120)]));
    // On day 3 it has expired (the author's own clock plays no part).
    s.token(
        "t2-furn",
        "tech-2",
        TokenKind::Training,
        "furnace-operation",
        at(3, 0),
    );
    s.token(
        "t2-safe",
        "tech-2",
        TokenKind::Safety,
        "furnace-3",
        timestamp_of(2027, 1, 1, 0, 0),
    );
    s.now = at(3, 8);
    let reason = s.step_refused("tech-2", "pre-check", meas(&[]), Code::TokenExpired);
    assert_eq!(
        reason,
        "token Training:furnace-operation of tech-2 expired 2026-11-03"
    );
}

#[test]
fn a_revoked_token_is_refused() {
    let mut s = Shop::po_ready();
    s.ok(
        "compliance",
        Action::RevokeToken {
            token: "t-recv".into(),
            reason: "badge lost".into(),
        },
    );
    let reason = s.step_refused(
        "tech",
        "receive-parts",
        meas(&[("part_count", 120)]),
        Code::TokenRevoked,
    );
    assert!(
        reason.contains("revoked") && reason.contains("badge lost"),
        "{reason}"
    );
    // Only Admin or Compliance may revoke, and only once.
    s.refused(
        "tech",
        Action::RevokeToken {
            token: "t-ht".into(),
            reason: "x".into(),
        },
        Code::RoleRequired,
    );
    s.refused(
        "compliance",
        Action::RevokeToken {
            token: "t-recv".into(),
            reason: "again".into(),
        },
        Code::InvalidArgument,
    );
}

#[test]
fn out_of_limit_measurements_are_refused_and_limits_are_inclusive() {
    let mut s = Shop::po_ready();
    s.run_until("harden");
    let m = |t: i64, time: i64, q: i64| {
        meas(&[("soak_temp", t), ("soak_time", time), ("quench_delay", q)])
    };
    let reason = s.step_refused(
        "tech",
        "harden",
        m(856, 60, 10),
        Code::MeasurementOutOfLimits,
    );
    assert_eq!(
        reason,
        "soak_temp = 856 degC is outside 835..855 degC for step harden"
    );
    s.step_refused(
        "tech",
        "harden",
        m(834, 60, 10),
        Code::MeasurementOutOfLimits,
    );
    s.step_refused(
        "tech",
        "harden",
        m(845, 59, 10),
        Code::MeasurementOutOfLimits,
    );
    s.step_refused(
        "tech",
        "harden",
        m(845, 60, 16),
        Code::MeasurementOutOfLimits,
    );
    s.step_refused(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60)]),
        Code::MeasurementMissing,
    );
    assert_eq!(s.state.jobs["job-1"].nonconformances, 4);
    // The bounds themselves are in limits.
    s.step_ok("tech", "harden", m(855, 60, 15));
}

#[test]
fn a_missing_material_cert_fails_compliance() {
    let compliance = include_str!("../examples/smart-compliance.yaml");
    let mut s = Shop::new();
    s.token(
        "c-audit",
        "compliance",
        TokenKind::Audit,
        "records",
        timestamp_of(2027, 1, 1, 0, 0),
    );
    s.propose_and_approve(compliance);
    s.ok(
        "pm",
        Action::OpenJob {
            job: "job-1".into(),
            contract: "compliance-nadcap-records".into(),
            client: id("acme"),
            parts: vec![],
        },
    );
    s.doc("acme", 1, DocumentType::ClientPo, Some("job-1"));
    let reason = s.step_refused(
        "compliance",
        "material-certs",
        meas(&[]),
        Code::DocumentMissing,
    );
    assert_eq!(
        reason,
        "step material-certs needs a material-cert document on file for job job-1"
    );
    // A cert filed for another job does not count.
    s.ok(
        "pm",
        Action::OpenJob {
            job: "job-2".into(),
            contract: "compliance-nadcap-records".into(),
            client: id("acme"),
            parts: vec![],
        },
    );
    s.doc("acme", 2, DocumentType::MaterialCert, Some("job-2"));
    s.step_refused(
        "compliance",
        "material-certs",
        meas(&[]),
        Code::DocumentMissing,
    );
    s.doc("acme", 3, DocumentType::MaterialCert, Some("job-1"));
    s.step_ok("compliance", "material-certs", meas(&[]));
    // A client cannot file documents for another client's job.
    s.refused(
        "globex",
        Action::FileDocument {
            hash: smart_ledger::Hash([9; 32]),
            doc_type: DocumentType::Feedback,
            job: Some("job-1".into()),
            title: "x".into(),
        },
        Code::NotClientOfJob,
    );
}

#[test]
fn equipment_must_be_calibrated_and_not_locked_out() {
    let mut s = Shop::po_ready();
    s.run_until("pre-check");
    s.ok(
        "tech",
        Action::LockOut {
            id: "furnace-3".into(),
            reason: "door seal damaged".into(),
        },
    );
    let reason = s.step_refused("tech", "pre-check", meas(&[]), Code::EquipmentLockedOut);
    assert_eq!(reason, "furnace-3 is locked out: door seal damaged");
    s.refused(
        "tech",
        Action::ClearLockOut {
            id: "furnace-3".into(),
        },
        Code::RoleRequired,
    );
    s.ok(
        "compliance",
        Action::ClearLockOut {
            id: "furnace-3".into(),
        },
    );
    // Calibration overdue by ledger time.
    s.ok(
        "admin",
        Action::Calibrate {
            id: "furnace-3".into(),
            calibration_due: at(3, 0),
        },
    );
    s.now = at(3, 1);
    let reason = s.step_refused("tech", "pre-check", meas(&[]), Code::CalibrationOverdue);
    assert_eq!(reason, "furnace-3 calibration was due 2026-11-03 00:00");
    s.ok(
        "admin",
        Action::Calibrate {
            id: "furnace-3".into(),
            calibration_due: timestamp_of(2027, 2, 1, 0, 0),
        },
    );
    s.step_ok("tech", "pre-check", meas(&[]));
}

#[test]
fn a_running_job_keeps_its_pinned_version_while_a_new_one_activates() {
    let mut s = Shop::po_ready();
    s.run_until("harden");
    // v2 tightens the soak temperature to 845 ± 3 and is approved mid-job.
    let v2 = PO
        .replace("version: 1", "version: 2")
        .replace("target: 845, tolerance: 10", "target: 845, tolerance: 3");
    s.propose_and_approve(&v2);
    let versions = &s.state.contracts["po-4471-heat-treat"];
    assert_eq!(versions[&1].status, VersionStatus::Superseded);
    assert_eq!(versions[&2].status, VersionStatus::Active);
    // job-1 is pinned to v1: 852 is within 845 ± 10.
    assert_eq!(s.state.jobs["job-1"].version, 1);
    s.step_ok(
        "tech",
        "harden",
        meas(&[("soak_temp", 852), ("soak_time", 60), ("quench_delay", 10)]),
    );
    // A job started now runs v2: 852 is outside 845 ± 3.
    s.ok(
        "pm",
        Action::OpenJob {
            job: "job-2".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("acme"),
            parts: vec![],
        },
    );
    assert_eq!(s.state.jobs["job-2"].version, 2);
    s.doc("acme", 20, DocumentType::ClientPo, Some("job-2"));
    s.doc("acme", 21, DocumentType::MaterialCert, Some("job-2"));
    let step = |s: &mut Shop, who: &str, step: &str, m| {
        s.act(
            who,
            Action::CompleteStep {
                job: "job-2".into(),
                step: step.into(),
                station: None,
                measurements: m,
            },
        )
    };
    assert_eq!(
        step(
            &mut s,
            "tech",
            "receive-parts",
            meas(&[("part_count", 120)])
        )
        .outcome,
        smart_ledger::Outcome::Accepted
    );
    assert_eq!(
        step(&mut s, "tech", "pre-check", meas(&[])).outcome,
        smart_ledger::Outcome::Accepted
    );
    let out = step(
        &mut s,
        "tech",
        "harden",
        meas(&[("soak_temp", 852), ("soak_time", 60), ("quench_delay", 10)]),
    )
    .outcome;
    assert!(
        matches!(out, smart_ledger::Outcome::Refused { code: 16, .. }),
        "{out:?}"
    );
}

#[test]
fn a_version_without_every_approval_never_activates() {
    let mut s = Shop::new();
    s.ok("admin", Action::ProposeContract { yaml: PO.into() });
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
    ] {
        s.ok(
            who,
            Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        );
    }
    assert_eq!(
        s.state.contracts["po-4471-heat-treat"][&1].status,
        VersionStatus::Proposed
    );
    let reason = s.refused(
        "pm",
        Action::OpenJob {
            job: "j".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("acme"),
            parts: vec![],
        },
        Code::ContractNotActive,
    );
    assert!(reason.contains("no active version"), "{reason}");
    // Approving twice in one role, in a role one does not hold, or in a role the policy does not name: refused.
    s.refused(
        "qa",
        Action::ApproveContract {
            id: "po-4471-heat-treat".into(),
            version: 1,
            role: Role::Qa,
        },
        Code::DuplicateApproval,
    );
    s.refused(
        "tech",
        Action::ApproveContract {
            id: "po-4471-heat-treat".into(),
            version: 1,
            role: Role::ProjectManager,
        },
        Code::ApprovalNotAllowed,
    );
    s.refused(
        "tech",
        Action::ApproveContract {
            id: "po-4471-heat-treat".into(),
            version: 1,
            role: Role::Technician,
        },
        Code::ApprovalNotAllowed,
    );
    assert_eq!(
        s.state.contracts["po-4471-heat-treat"][&1].status,
        VersionStatus::Proposed
    );
    // The last approval activates it.
    let applied = s.ok(
        "pm",
        Action::ApproveContract {
            id: "po-4471-heat-treat".into(),
            version: 1,
            role: Role::ProjectManager,
        },
    );
    assert!(!applied.effects.is_empty());
    assert_eq!(
        s.state.contracts["po-4471-heat-treat"][&1].status,
        VersionStatus::Active
    );
    // Versions only go up; invalid YAML is refused with its error.
    s.refused(
        "admin",
        Action::ProposeContract { yaml: PO.into() },
        Code::ContractVersionConflict,
    );
    let reason = s.refused(
        "admin",
        Action::ProposeContract {
            yaml: "id: x\nversion: 1\n".into(),
        },
        Code::ContractInvalid,
    );
    assert!(reason.contains("missing field"), "{reason}");
    s.refused(
        "tech",
        Action::ProposeContract {
            yaml: PO.replace("version: 1", "version: 9"),
        },
        Code::RoleRequired,
    );
}

#[test]
fn payouts_are_exact_to_the_cent_and_nothing_pays_twice() {
    let mut s = Shop::po_ready();
    s.run_until("none");
    let job = &s.state.jobs["job-1"];
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(s.state.invoices.len(), 1);
    assert_eq!(s.state.invoices[0].amount_cents, 486_000);
    assert_eq!(s.state.invoices[0].client, id("acme"));
    let paid: Vec<(PaymentKind, &str, u64)> = s
        .state
        .payments
        .iter()
        .map(|p| (p.kind, p.step.as_str(), p.amount_cents))
        .collect();
    assert_eq!(
        paid,
        vec![
            (PaymentKind::Payout, "harden", 18_000),
            (PaymentKind::Payout, "temper", 9_000),
            (PaymentKind::Bonus, "harden", 5_000)
        ]
    );
    assert!(s.state.payments.iter().all(|p| p.to == id("tech")));
    let total: u64 = s.state.payments.iter().map(|p| p.amount_cents).sum();
    assert_eq!(total, 32_000);
    // Invoicing again: refused, nothing paid twice.
    s.refused(
        "pm",
        Action::CompleteStep {
            job: "job-1".into(),
            step: "invoice".into(),
            station: None,
            measurements: meas(&[]),
        },
        Code::JobClosed,
    );
    assert_eq!(s.state.payments.len(), 3);
    assert_eq!(s.state.invoices.len(), 1);
}

#[test]
fn the_first_pass_bonus_needs_no_nonconformance() {
    let mut s = Shop::po_ready();
    s.run_until("harden");
    s.step_refused(
        "tech",
        "harden",
        meas(&[("soak_temp", 900), ("soak_time", 60), ("quench_delay", 10)]),
        Code::MeasurementOutOfLimits,
    );
    s.step_ok(
        "tech",
        "harden",
        meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
    );
    for (who, step, m) in [
        (
            "tech",
            "temper",
            meas(&[("temper_temp", 540), ("temper_time", 120)]),
        ),
        (
            "tech",
            "hardness-test",
            meas(&[("hardness_min", 37), ("hardness_max", 39)]),
        ),
        ("qa", "qa-signoff", meas(&[])),
        ("qa", "report", meas(&[])),
        ("acme", "client-approval", meas(&[])),
        ("pm", "invoice", meas(&[])),
    ] {
        s.step_ok(who, step, m);
    }
    assert!(
        s.state
            .payments
            .iter()
            .all(|p| p.kind == PaymentKind::Payout),
        "no bonus after a nonconformance"
    );
    assert_eq!(s.state.payments.len(), 2);
}

#[test]
fn the_delivery_window_closes_on_ledger_time() {
    let mut s = Shop::po_ready();
    s.run_until("client-approval");
    // 240 hours after assignment (day 2, ~07:xx). Any tx past the deadline closes it.
    let applied = s.pass_time(at(12, 9), "spare");
    let causes: Vec<&str> = applied.effects.iter().map(|f| f.cause.as_str()).collect();
    assert!(
        causes.contains(&"event delivery_window_closed"),
        "{causes:?}"
    );
    assert!(
        applied
            .effects
            .iter()
            .any(|f| matches!(&f.effect, Effect::Alert(m) if m.contains("delivery window closed")))
    );
    // Late: the on-time bonus is withheld.
    s.step_ok("acme", "client-approval", meas(&[]));
    s.step_ok("pm", "invoice", meas(&[]));
    assert!(
        s.state
            .payments
            .iter()
            .all(|p| p.kind == PaymentKind::Payout)
    );
    // It fires once.
    let again = s.pass_time(at(20, 0), "spare-2");
    assert!(again.effects.is_empty());
}

#[test]
fn a_job_completed_in_time_never_fires_the_window() {
    let mut s = Shop::po_ready();
    s.run_until("none");
    let applied = s.pass_time(at(25, 0), "spare");
    assert!(applied.effects.is_empty());
    assert!(s.state.deadlines.is_empty());
}

#[test]
fn unknown_actors_malformed_payloads_and_wrong_kinds_are_refused() {
    let mut s = Shop::po_ready();
    s.refused(
        "stranger",
        Action::LockOut {
            id: "furnace-3".into(),
            reason: "x".into(),
        },
        Code::UnknownActor,
    );
    let before = s.state.clone();
    let garbage = smart_contracts::apply(
        &mut s.state,
        &smart_contracts::TxInput {
            author: id("tech"),
            kind: smart_ledger::TxKind::JobAction,
            payload: &[1, 250, 3],
            time: s.now,
            tx_hash: smart_ledger::Hash::ZERO,
        },
    );
    assert!(matches!(
        garbage.outcome,
        smart_ledger::Outcome::Refused { code: 1, .. }
    ));
    let action = Action::LockOut {
        id: "furnace-3".into(),
        reason: "x".into(),
    }
    .encode();
    let wrong = smart_contracts::apply(
        &mut s.state,
        &smart_contracts::TxInput {
            author: id("tech"),
            kind: smart_ledger::TxKind::Token,
            payload: &action,
            time: s.now,
            tx_hash: smart_ledger::Hash::ZERO,
        },
    );
    assert!(matches!(
        wrong.outcome,
        smart_ledger::Outcome::Refused { code: 1, .. }
    ));
    let mut after = s.state.clone();
    after.time = before.time;
    assert_eq!(after, before);
    // Evidence kinds are recorded without rules.
    let note = smart_contracts::apply(
        &mut s.state,
        &smart_contracts::TxInput {
            author: id("tech"),
            kind: smart_ledger::TxKind::Alert,
            payload: b"door open",
            time: s.now,
            tx_hash: smart_ledger::Hash::ZERO,
        },
    );
    assert_eq!(note.outcome, smart_ledger::Outcome::Accepted);
}

#[test]
fn identities_roles_and_key_rotation() {
    let mut s = Shop::po_ready();
    let new_tech = smart_ledger::Keypair::from_seed([77; 32]).id();
    s.refused(
        "pm",
        Action::RegisterIdentity {
            id: new_tech,
            name: "tech-3".into(),
            roles: vec![Role::Technician],
            organisation: None,
        },
        Code::RoleRequired,
    );
    s.ok(
        "admin",
        Action::RegisterIdentity {
            id: new_tech,
            name: "tech-3".into(),
            roles: vec![Role::Technician],
            organisation: None,
        },
    );
    s.refused(
        "admin",
        Action::RegisterIdentity {
            id: new_tech,
            name: "tech-4".into(),
            roles: vec![],
            organisation: None,
        },
        Code::AlreadyExists,
    );
    // Rotating tech's key moves roles and tokens; the old key can no longer act.
    let rotated = smart_ledger::Keypair::from_seed([78; 32]).id();
    s.ok("tech", Action::RotateKey { new_id: rotated });
    assert!(s.state.active(&id("tech")).is_none());
    assert_eq!(s.state.tokens["t-recv"].holder, rotated);
    s.refused(
        "tech",
        Action::LockOut {
            id: "furnace-3".into(),
            reason: "x".into(),
        },
        Code::UnknownActor,
    );
    // The last Admin cannot be removed.
    s.refused(
        "admin",
        Action::Deactivate { id: id("admin") },
        Code::LastAdmin,
    );
    s.refused(
        "admin",
        Action::SetRoles {
            id: id("admin"),
            roles: vec![Role::Qa],
        },
        Code::LastAdmin,
    );
    s.ok("admin", Action::Deactivate { id: id("tech-2") });
    s.refused(
        "tech-2",
        Action::LockOut {
            id: "furnace-3".into(),
            reason: "x".into(),
        },
        Code::UnknownActor,
    );
}

#[test]
fn tokens_cannot_be_issued_already_expired_or_to_strangers() {
    let mut s = Shop::new();
    s.refused(
        "compliance",
        Action::IssueToken {
            token: "t".into(),
            holder: id("tech"),
            kind: TokenKind::Safety,
            scope: "furnace-3".into(),
            expires: Timestamp(0),
        },
        Code::InvalidArgument,
    );
    s.refused(
        "compliance",
        Action::IssueToken {
            token: "t".into(),
            holder: id("nobody"),
            kind: TokenKind::Safety,
            scope: "furnace-3".into(),
            expires: at(30, 0),
        },
        Code::UnknownIdentity,
    );
    s.refused(
        "tech",
        Action::IssueToken {
            token: "t".into(),
            holder: id("tech"),
            kind: TokenKind::Safety,
            scope: "furnace-3".into(),
            expires: at(30, 0),
        },
        Code::RoleRequired,
    );
    s.refused(
        "compliance",
        Action::IssueToken {
            token: "t".into(),
            holder: id("tech"),
            kind: TokenKind::Safety,
            scope: "two words".into(),
            expires: at(30, 0),
        },
        Code::InvalidArgument,
    );
}

/// Client requests relayed by the gateway: only a gateway peer may sign
/// them, only with a live credential, and they are judged as the client's
/// own action (its own jobs only, its own steps only).
#[test]
fn client_requests_need_the_gateway_a_live_credential_and_the_clients_own_job() {
    use smart_contracts::action::ClientAction;
    let mut s = Shop::new();
    s.state.identities.insert(
        id("gateway"),
        smart_contracts::state::Identity::new("gateway", []),
    );
    s.state.gateways.insert(id("gateway"));
    s.propose_and_approve(PO);
    for (job, client) in [("job-1", "acme"), ("job-2", "globex")] {
        s.ok(
            "pm",
            Action::OpenJob {
                job: job.into(),
                contract: "po-4471-heat-treat".into(),
                client: id(client),
                parts: vec!["P-1".into()],
            },
        );
    }
    let secret = smart_ledger::Hash::of(b"secret");
    s.refused(
        "tech",
        Action::IssueApiCredential {
            id: "c1".into(),
            client: id("acme"),
            secret_hash: secret,
        },
        Code::RoleRequired,
    );
    s.refused(
        "pm",
        Action::IssueApiCredential {
            id: "c0".into(),
            client: id("tech"),
            secret_hash: secret,
        },
        Code::UnknownIdentity,
    );
    s.ok(
        "pm",
        Action::IssueApiCredential {
            id: "c1".into(),
            client: id("acme"),
            secret_hash: secret,
        },
    );
    let upload = |job: &str| Action::ClientRequest {
        credential: "c1".into(),
        request: ClientAction::FileDocument {
            hash: smart_ledger::Hash::of(job.as_bytes()),
            doc_type: DocumentType::ClientPo,
            job: Some(job.into()),
            title: "PO".into(),
        },
    };
    // Not the gateway: refused, even by an Admin.
    s.refused("admin", upload("job-1"), Code::NotGateway);
    // The gateway, for the client's own job: filed as the client's.
    s.ok("gateway", upload("job-1"));
    // Another client's job: refused as it would be for the client itself.
    s.refused("gateway", upload("job-2"), Code::NotClientOfJob);
    // A shop step is not the client's to do.
    s.refused(
        "gateway",
        Action::ClientRequest {
            credential: "c1".into(),
            request: ClientAction::ApproveStep {
                job: "job-1".into(),
                step: "harden".into(),
            },
        },
        Code::RoleRequired,
    );
    // Unknown or revoked credentials.
    s.refused(
        "gateway",
        Action::ClientRequest {
            credential: "nope".into(),
            request: ClientAction::ApproveStep {
                job: "job-1".into(),
                step: "client-approval".into(),
            },
        },
        Code::BadCredential,
    );
    s.refused(
        "globex",
        Action::RevokeApiCredential { id: "c1".into() },
        Code::RoleRequired,
    );
    s.ok("acme", Action::RevokeApiCredential { id: "c1".into() });
    s.refused("gateway", upload("job-1"), Code::BadCredential);
}

#[test]
fn the_advisor_records_suggestions_once_and_can_do_nothing_else() {
    let mut s = Shop::po_ready();
    s.ok(
        "admin",
        Action::RegisterIdentity {
            id: id("smart-ai"),
            name: "smart-ai".into(),
            roles: vec![Role::Advisor],
            organisation: None,
        },
    );
    let suggest = |n: &str| Action::Suggest {
        id: "sg-0123456789ab".into(),
        finding: format!("step harden is refused often ({n})"),
        based_on: "3 refused job decisions in blocks 4..9".into(),
    };
    s.ok("smart-ai", suggest("first"));
    let recorded = &s.state.suggestions["sg-0123456789ab"];
    assert_eq!(recorded.by, id("smart-ai"));
    assert!(recorded.finding.ends_with("(first)"));
    // The same subject twice: refused, the first record kept.
    s.refused("smart-ai", suggest("again"), Code::AlreadyExists);
    // Only an Advisor suggests; a suggestion says what it is based on.
    s.refused("qa", suggest("qa"), Code::RoleRequired);
    s.refused(
        "smart-ai",
        Action::Suggest {
            id: "sg-2".into(),
            finding: "x".into(),
            based_on: " ".into(),
        },
        Code::InvalidArgument,
    );
    // Advisory only: it cannot open a job, propose a contract, issue a token
    // or perform a step.
    s.refused(
        "smart-ai",
        Action::OpenJob {
            job: "job-9".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("acme"),
            parts: vec![],
        },
        Code::RoleRequired,
    );
    s.refused(
        "smart-ai",
        Action::ProposeContract {
            yaml: include_str!("../examples/smart-client-po.yaml")
                .replace("version: 1", "version: 2"),
        },
        Code::RoleRequired,
    );
    s.refused(
        "smart-ai",
        Action::IssueToken {
            token: "t-ai".into(),
            holder: id("smart-ai"),
            kind: TokenKind::Certified,
            scope: "heat-treat-operator".into(),
            expires: at(30, 0),
        },
        Code::RoleRequired,
    );
    let step = s.step("smart-ai", "receive-parts", meas(&[("part_count", 120)]));
    assert!(
        matches!(step.outcome, smart_ledger::Outcome::Refused { .. }),
        "{step:?}"
    );
    assert_eq!(s.state.suggestions.len(), 1);
}

#[test]
fn peopleops_a_role_change_or_a_leave_revokes_the_tokens_it_no_longer_justifies() {
    let mut s = Shop::po_ready();
    let far = timestamp_of(2027, 12, 31, 0, 0);
    s.token("t2-access", "tech-2", TokenKind::Access, "receiving", far);
    s.token(
        "t2-cert",
        "tech-2",
        TokenKind::Certified,
        "heat-treat-operator",
        far,
    );
    s.token("t2-safety", "tech-2", TokenKind::Safety, "furnace-3", far);
    // tech-2 moves from the floor to project management.
    s.ok(
        "admin",
        Action::SetRoles {
            id: id("tech-2"),
            roles: vec![Role::ProjectManager],
        },
    );
    let revoked = |s: &Shop, t: &str| s.state.tokens[t].revoked.clone();
    for t in ["t2-cert", "t2-safety"] {
        let (at, why) = revoked(&s, t).expect("revoked");
        assert!(
            why.contains("PeopleOps: tech-2's roles changed to ProjectManager"),
            "{why}"
        );
        assert!(at <= s.now);
    }
    assert_eq!(revoked(&s, "t2-access"), None);
    // Given the Technician role back: the revoked tokens stay revoked.
    s.ok(
        "admin",
        Action::SetRoles {
            id: id("tech-2"),
            roles: vec![Role::Technician],
        },
    );
    assert!(revoked(&s, "t2-cert").is_some());
    // A leave: every live token goes at once.
    s.ok("admin", Action::Deactivate { id: id("tech-2") });
    let (_, why) = revoked(&s, "t2-access").expect("revoked on leave");
    assert_eq!(why, "PeopleOps: tech-2 was deactivated");
}
