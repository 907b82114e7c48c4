//! `State::scoped_to_step` holds everything the VM reads to judge a step: at
//! every point of a job, for every person, step and kind of evidence (passing
//! values, none, out of limits; an expired token, a missing document, a
//! lockout, an overdue calibration), the scoped copy gives the same outcome
//! as the whole state.

mod common;

use std::collections::BTreeMap;

use common::*;
use smart_contracts::action::Action;
use smart_contracts::{TxInput, apply};
use smart_ledger::{Outcome, Timestamp};

const PEOPLE: [&str; 8] = [
    "admin",
    "compliance",
    "qa",
    "pm",
    "tech",
    "tech-2",
    "acme",
    "globex",
];

fn judge(
    state: &smart_contracts::State,
    who: &str,
    step: &str,
    m: &BTreeMap<String, i64>,
    at: Timestamp,
) -> Outcome {
    let action = Action::CompleteStep {
        job: "job-1".into(),
        step: step.into(),
        station: Some("station-1".into()),
        measurements: m.clone(),
    };
    let payload = action.encode();
    let mut copy = state.clone();
    apply(
        &mut copy,
        &TxInput {
            author: id(who),
            kind: action.kind(),
            payload: &payload,
            time: at,
            tx_hash: smart_ledger::Hash::ZERO,
        },
    )
    .outcome
}

fn compare(s: &Shop, label: &str) -> usize {
    let mut n = 0;
    for (_, step, passing) in po_plan() {
        let mut high = passing.clone();
        for v in high.values_mut() {
            *v += 1_000;
        }
        for m in [passing.clone(), BTreeMap::new(), high] {
            for who in PEOPLE {
                let full = judge(&s.state, who, step, &m, s.now);
                let scoped = judge(
                    &s.state.scoped_to_step("job-1", &id(who)),
                    who,
                    step,
                    &m,
                    s.now,
                );
                assert_eq!(scoped, full, "{label}: {who} {step} {m:?}");
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_scoped_copy_judges_every_step_as_the_whole_state_does() {
    let mut judged = 0;
    // Along the job.
    let mut s = Shop::po_ready();
    // Other jobs and documents in the state, which the scoped copy leaves out.
    s.ok(
        "pm",
        Action::OpenJob {
            job: "job-2".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("globex"),
            parts: vec!["Q-1".into()],
        },
    );
    s.doc(
        "globex",
        30,
        smart_contracts::model::DocumentType::MaterialCert,
        Some("job-2"),
    );
    for (who, step, m) in po_plan() {
        judged += compare(&s, &format!("before {step}"));
        s.step_ok(who, step, m);
    }
    judged += compare(&s, "job complete");

    // A missing material cert.
    let mut s = Shop::new();
    s.propose_and_approve(PO);
    s.ok(
        "pm",
        Action::OpenJob {
            job: "job-1".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("acme"),
            parts: vec!["P-1".into()],
        },
    );
    judged += compare(&s, "no documents, tokens or equipment");

    // Expired tokens, a lockout, an overdue calibration.
    let mut s = Shop::po_ready();
    s.run_until("harden");
    s.ok(
        "tech",
        Action::LockOut {
            id: "quench-tank-1".into(),
            reason: "leak".into(),
        },
    );
    judged += compare(&s, "quench tank locked out");
    s.ok(
        "compliance",
        Action::ClearLockOut {
            id: "quench-tank-1".into(),
        },
    );
    s.now = smart_contracts::refusal::timestamp_of(2028, 6, 1, 0, 0);
    judged += compare(&s, "tokens expired");
    assert!(judged > 700, "{judged}");
}
