//! The impact report: replaying recorded, signed txs with a candidate
//! version lists exactly the past jobs it would have decided differently.

mod common;

use common::{PO, Shop, meas};
use smart_contracts::action::Action;
use smart_contracts::simulate::{actor_key, impact};
use smart_contracts::{TxInput, apply};
use smart_ledger::{Bytes, Hash, Outcome, SignedTx, Timestamp, TxBody};

#[test]
fn a_stricter_candidate_flags_the_job_it_would_have_refused() {
    let mut shop = Shop::po_ready();
    let initial = shop.state.clone();
    // Two jobs' heat-treat steps, recorded as signed txs with their outcomes.
    let mut recorded: Vec<(SignedTx, Timestamp, Outcome)> = Vec::new();
    let mut nonce = 0;
    let mut record = |shop: &mut Shop, who: &str, action: Action| {
        nonce += 1;
        let key = actor_key(who);
        let body = TxBody {
            chain_id: Hash::ZERO,
            author: key.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: shop.now,
            location: None,
            contract: None,
            nonce,
        };
        let tx = SignedTx::sign(body, &key).expect("sign");
        let applied = apply(&mut shop.state, &TxInput::of(&tx, shop.now));
        recorded.push((tx, shop.now, applied.outcome));
        shop.now = Timestamp(shop.now.0 + 60_000);
    };
    // job-1 is already open; run it with soak 852 (in v1's 845 ± 10).
    for (who, step, m) in [
        ("tech", "receive-parts", meas(&[("part_count", 120)])),
        ("tech", "pre-check", meas(&[])),
        (
            "tech",
            "harden",
            meas(&[("soak_temp", 852), ("soak_time", 60), ("quench_delay", 10)]),
        ),
    ] {
        record(
            &mut shop,
            who,
            Action::CompleteStep {
                job: "job-1".into(),
                step: step.into(),
                station: None,
                measurements: m,
            },
        );
    }
    assert!(recorded.iter().all(|(_, _, o)| *o == Outcome::Accepted));

    // The same history against itself: no impact.
    let same = smart_contracts::parse_contract("po", PO).expect("valid");
    let history = recorded.iter().map(|(t, time, o)| (t, *time, o));
    assert!(impact(initial.clone(), &same, PO, history).is_empty());

    // A candidate with 845 ± 5 would have refused job-1's harden step. The
    // candidate is pinned when a job opens, so replay from before job-1 opened.
    let strict_yaml = PO
        .replace("version: 1", "version: 2")
        .replace("target: 845, tolerance: 10", "target: 845, tolerance: 5");
    let strict = smart_contracts::parse_contract("po-v2", &strict_yaml).expect("valid");
    let mut before_open = Shop::po_ready().state;
    before_open.jobs.clear();
    before_open.deadlines.clear();
    let open = Action::OpenJob {
        job: "job-1".into(),
        contract: "po-4471-heat-treat".into(),
        client: common::id("acme"),
        parts: vec![],
    };
    let key = actor_key("pm");
    let open_tx = SignedTx::sign(
        TxBody {
            chain_id: Hash::ZERO,
            author: key.id(),
            kind: open.kind(),
            payload: Bytes(open.encode()),
            author_time: Timestamp(0),
            location: None,
            contract: None,
            nonce: 0,
        },
        &key,
    )
    .expect("sign");
    let accepted = Outcome::Accepted;
    let t0 = shop.now;
    let history = std::iter::once((&open_tx, t0, &accepted))
        .chain(recorded.iter().map(|(t, _, o)| (t, t0, o)));
    let impacted = impact(before_open, &strict, &strict_yaml, history);
    assert_eq!(impacted.len(), 1, "{impacted:?}");
    assert_eq!(impacted[0].job, "job-1");
    assert!(matches!(
        impacted[0].candidate,
        Outcome::Refused { code: 16, .. }
    ));
}
