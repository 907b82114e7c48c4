//! Determinism: 1,000 generated histories (tokens, equipment, documents,
//! governance, jobs and steps with measurements near their limits, time
//! jumps across expiries and delivery windows). Replaying each twice, and
//! in a separate process, gives identical outcomes and state roots.

mod common;

use common::{PO, id};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::simulate::install_active;
use smart_contracts::state::TokenKind;
use smart_contracts::{State, TxInput, apply};
use smart_ledger::{Hash, Role, Timestamp};

const ACTORS: [&str; 8] = [
    "admin",
    "compliance",
    "qa",
    "pm",
    "tech",
    "tech-2",
    "acme",
    "globex",
];
const SCOPES: [&str; 6] = [
    "receiving",
    "furnace-operation",
    "furnace-3",
    "heat-treat-operator",
    "hardness-testing",
    "qa-inspector",
];
const STEPS: [&str; 9] = [
    "receive-parts",
    "pre-check",
    "harden",
    "temper",
    "hardness-test",
    "qa-signoff",
    "report",
    "client-approval",
    "invoice",
];
const EQUIPMENT: [&str; 3] = ["furnace-3", "quench-tank-1", "rockwell-2"];
const JOBS: [&str; 3] = ["job-a", "job-b", "job-c"];

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Event {
    by: String,
    /// Minutes since the previous event.
    after_minutes: u32,
    action: Action,
}

fn base_time() -> Timestamp {
    smart_contracts::refusal::timestamp_of(2026, 11, 2, 6, 0)
}

fn action() -> impl Strategy<Value = Action> {
    let token = (0..6usize, 0..8usize, 0..6usize, 1..2000u64).prop_map(|(t, h, s, days)| {
        Action::IssueToken {
            token: format!("tok-{t}"),
            holder: id(ACTORS[h]),
            kind: TokenKind::ALL[[2, 1, 4, 2, 2, 2][s]],
            scope: SCOPES[s].into(),
            expires: Timestamp(base_time().0 + days * 3_600_000),
        }
    });
    let revoke = (0..6usize).prop_map(|t| Action::RevokeToken {
        token: format!("tok-{t}"),
        reason: "audit".into(),
    });
    let equip = (0..3usize, 1..3000u64).prop_map(|(e, h)| Action::RegisterEquipment {
        id: EQUIPMENT[e].into(),
        description: "x".into(),
        calibration_due: Timestamp(base_time().0 + h * 3_600_000),
    });
    let calibrate = (0..3usize, 1..5000u64).prop_map(|(e, h)| Action::Calibrate {
        id: EQUIPMENT[e].into(),
        calibration_due: Timestamp(base_time().0 + h * 3_600_000),
    });
    let lock = (0..3usize, any::<bool>()).prop_map(|(e, lock)| {
        if lock {
            Action::LockOut {
                id: EQUIPMENT[e].into(),
                reason: "check".into(),
            }
        } else {
            Action::ClearLockOut {
                id: EQUIPMENT[e].into(),
            }
        }
    });
    let doc = (0..12u8, 0..12usize, 0..4usize).prop_map(|(h, d, j)| Action::FileDocument {
        hash: Hash([h; 32]),
        doc_type: [
            DocumentType::ClientPo,
            DocumentType::MaterialCert,
            DocumentType::SafetyDoc,
            DocumentType::Procedure,
            DocumentType::EnvironmentalLog,
            DocumentType::Report,
            DocumentType::ClientPo,
            DocumentType::MaterialCert,
            DocumentType::Drawing,
            DocumentType::SafetyDoc,
            DocumentType::Procedure,
            DocumentType::EnvironmentalLog,
        ][d],
        job: JOBS.get(j).map(|s| s.to_string()),
        title: "doc".into(),
    });
    let open = (0..3usize, 6..8usize).prop_map(|(j, c)| Action::OpenJob {
        job: JOBS[j].into(),
        contract: "po-4471-heat-treat".into(),
        client: id(ACTORS[c]),
        parts: vec!["P".into()],
    });
    let step = (
        0..3usize,
        0..9usize,
        -15i64..15,
        50i64..70,
        0i64..20,
        30i64..45,
    )
        .prop_map(|(j, s, dt, soak, q, hrc)| {
            let m: std::collections::BTreeMap<String, i64> = match STEPS[s] {
                "receive-parts" => [("part_count", 120 + dt / 10)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                "harden" => [
                    ("soak_temp", 845 + dt),
                    ("soak_time", soak),
                    ("quench_delay", q),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                "temper" => [("temper_temp", 540 + dt), ("temper_time", 100 + soak)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                "hardness-test" => [("hardness_min", hrc), ("hardness_max", hrc + 2)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                _ => Default::default(),
            };
            Action::CompleteStep {
                job: JOBS[j].into(),
                step: STEPS[s].into(),
                station: None,
                measurements: m,
            }
        });
    let propose = (2..4u32, -3i64..6).prop_map(|(v, tol)| Action::ProposeContract {
        yaml: PO.replace("version: 1", &format!("version: {v}")).replace(
            "target: 845, tolerance: 10",
            &format!("target: 845, tolerance: {tol}"),
        ),
    });
    let approve = (2..4u32, 0..4usize).prop_map(|(v, r)| Action::ApproveContract {
        id: "po-4471-heat-treat".into(),
        version: v,
        role: [
            Role::Admin,
            Role::Compliance,
            Role::Qa,
            Role::ProjectManager,
        ][r],
    });
    prop_oneof![
        3 => token, 1 => revoke, 1 => equip, 1 => calibrate, 1 => lock, 2 => doc, 2 => open, 8 => step, 1 => propose, 2 => approve,
    ]
}

/// Who would normally take an action (the history sometimes picks anyone).
fn fitting_author(action: &Action) -> &'static str {
    match action {
        Action::IssueToken { .. } | Action::RevokeToken { .. } => "compliance",
        Action::LockOut { .. } => "tech",
        Action::FileDocument { job: Some(_), .. } => "acme",
        Action::OpenJob { .. } => "pm",
        Action::ApproveContract { role, .. } => match role {
            Role::Admin => "admin",
            Role::Compliance => "compliance",
            Role::Qa => "qa",
            _ => "pm",
        },
        Action::CompleteStep { step, .. } => match step.as_str() {
            "qa-signoff" | "report" => "qa",
            "client-approval" => "acme",
            "invoice" => "pm",
            _ => "tech",
        },
        _ => "admin",
    }
}

fn history() -> impl Strategy<Value = Vec<Event>> {
    let event = (
        0..8usize,
        0..10u8,
        prop_oneof![8 => 0u32..120, 1 => 0u32..20_000],
        action(),
    )
        .prop_map(|(by, pick, after_minutes, action)| {
            let by = if pick < 8 {
                fitting_author(&action)
            } else {
                ACTORS[by]
            };
            Event {
                by: by.into(),
                after_minutes,
                action,
            }
        });
    proptest::collection::vec(event, 5..60)
}

/// Replays a history from the same initial state; returns a digest of every
/// outcome, every effect and the state root after every event.
fn replay(history: &[Event]) -> (Hash, usize) {
    let mut shop = common::Shop::new();
    install_active(
        &mut shop.state,
        &smart_contracts::parse_contract("po", PO).expect("valid"),
        PO,
    );
    let state: &mut State = &mut shop.state;
    let mut time = base_time();
    let mut hasher = Vec::new();
    let mut accepted = 0;
    for e in history {
        time = Timestamp(time.0 + u64::from(e.after_minutes) * 60_000);
        let payload = e.action.encode();
        let applied = apply(
            state,
            &TxInput {
                author: id(&e.by),
                kind: e.action.kind(),
                payload: &payload,
                time,
                tx_hash: smart_ledger::Hash::ZERO,
            },
        );
        accepted += usize::from(applied.outcome == smart_ledger::Outcome::Accepted);
        hasher.extend_from_slice(&smart_ledger::codec::encode_plain(&applied));
        hasher.extend_from_slice(&state.root().0);
    }
    (Hash::of(&hasher), accepted)
}

fn histories() -> Vec<Vec<Event>> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = history();
    (0..1000)
        .map(|_| strategy.new_tree(&mut runner).expect("generate").current())
        .collect()
}

const CHILD_ENV: &str = "SMART_DETERMINISM_CHILD";

#[test]
fn a_thousand_histories_replay_identically_twice_and_in_another_process() {
    let histories = histories();
    let first: Vec<(Hash, usize)> = histories.iter().map(|h| replay(h)).collect();
    let second: Vec<(Hash, usize)> = histories.iter().map(|h| replay(h)).collect();
    assert_eq!(
        first, second,
        "replaying in one process gave different results"
    );
    // The histories exercise the rules: many accepted and many refused events.
    let accepted: usize = first.iter().map(|(_, a)| a).sum();
    let total: usize = histories.iter().map(Vec::len).sum();
    assert!(
        accepted > total / 10 && accepted < total * 9 / 10,
        "{accepted} of {total} accepted"
    );

    // The same histories, replayed by a separate process.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("histories.json");
    let output = dir.path().join("digests.json");
    std::fs::write(&input, serde_json::to_vec(&histories).expect("json")).expect("write");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_replays_histories_from_a_file",
            "--nocapture",
            "--include-ignored",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{}", input.display(), output.display()),
        )
        .status()
        .expect("spawn child");
    assert!(status.success());
    let theirs: Vec<(Hash, usize)> =
        serde_json::from_slice(&std::fs::read(&output).expect("child output")).expect("json");
    assert_eq!(first, theirs, "a separate process gave different results");
}

/// Run by the test above in a separate process.
#[test]
#[ignore = "run as a child process by a_thousand_histories_replay_identically_twice_and_in_another_process"]
fn child_replays_histories_from_a_file() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (input, output) = spec.split_once('|').expect("input|output");
    let histories: Vec<Vec<Event>> =
        serde_json::from_slice(&std::fs::read(input).expect("read")).expect("json");
    let digests: Vec<(Hash, usize)> = histories.iter().map(|h| replay(h)).collect();
    std::fs::write(output, serde_json::to_vec(&digests).expect("json")).expect("write");
}

/// The state's records before and after each event of generated histories:
/// every record that changed is in the event's write set, and the state
/// tree kept from the write sets alone has the root of the tree built from
/// every record.
#[test]
fn every_changed_record_is_in_the_write_set_and_the_kept_tree_has_the_full_root() {
    use std::collections::BTreeMap;
    let histories = histories();
    let mut changed_total = 0usize;
    for history in histories.iter().take(300) {
        let mut shop = common::Shop::new();
        install_active(
            &mut shop.state,
            &smart_contracts::parse_contract("po", PO).expect("valid"),
            PO,
        );
        let state: &mut State = &mut shop.state;
        let mut tree = state.state_tree();
        state.take_write_set();
        let mut time = base_time();
        let as_map = |s: &State| -> BTreeMap<(&'static str, Vec<u8>), Vec<u8>> {
            s.records()
                .into_iter()
                .map(|(kind, key, value)| ((kind, key), value))
                .collect()
        };
        for e in history {
            let before = as_map(state);
            time = Timestamp(time.0 + u64::from(e.after_minutes) * 60_000);
            let payload = e.action.encode();
            apply(
                state,
                &TxInput {
                    author: id(&e.by),
                    kind: e.action.kind(),
                    payload: &payload,
                    time,
                    tx_hash: smart_ledger::Hash::ZERO,
                },
            );
            let after = as_map(state);
            let write_set: std::collections::BTreeSet<(&'static str, Vec<u8>)> = {
                let mut copy = state.clone();
                copy.take_write_set().into_iter().collect()
            };
            let changed: Vec<&(&'static str, Vec<u8>)> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            changed_total += changed.len();
            for k in changed {
                assert!(
                    write_set.contains(k),
                    "{:?} changed record {}/{:?} outside its write set",
                    e.action,
                    k.0,
                    k.1
                );
            }
            state.update_tree(&mut tree);
            assert_eq!(
                tree.root(),
                state.state_tree().root(),
                "the kept tree drifted after {:?}",
                e.action
            );
        }
    }
    assert!(
        changed_total > 1_000,
        "the histories barely changed the state"
    );
}

/// A peer keeps the state as records: over generated histories, the state
/// loads back from its records exactly (no field left out of the records),
/// and a rooted state that applied an event and then put the event's
/// records back (a refused block) is the state and root it was before.
#[test]
fn the_state_loads_back_from_its_records_and_a_rooted_state_undoes_an_event() {
    use smart_contracts::RootedState;
    use smart_ledger::state_tree::RecordWrite;
    let histories = histories();
    for history in histories.iter().take(200) {
        let mut shop = common::Shop::new();
        install_active(
            &mut shop.state,
            &smart_contracts::parse_contract("po", PO).expect("valid"),
            PO,
        );
        let mut rooted = RootedState::new(shop.state.clone());
        let mut time = base_time();
        for e in history {
            let before_bytes = rooted.state().canonical_bytes();
            let before_root = rooted.root();
            time = Timestamp(time.0 + u64::from(e.after_minutes) * 60_000);
            let payload = e.action.encode();
            let input = TxInput {
                author: id(&e.by),
                kind: e.action.kind(),
                payload: &payload,
                time,
                tx_hash: smart_ledger::Hash::ZERO,
            };
            let before_state = rooted.state().clone();
            apply(rooted.state_mut(), &input);
            let writes = rooted.seal();
            assert_eq!(rooted.root(), rooted.state().root(), "kept root drifted");
            // Undo with the values the records had before (what a store holds).
            let old: Vec<RecordWrite> = writes
                .iter()
                .map(|w| RecordWrite {
                    kind: w.kind,
                    key: w.key.clone(),
                    value: before_state.record(w.kind, &w.key),
                })
                .collect();
            rooted.restore(&old).expect("restore");
            assert_eq!(
                rooted.state().canonical_bytes(),
                before_bytes,
                "undo left a change"
            );
            assert_eq!(rooted.root(), before_root, "undo left the tree changed");
            // And apply it for real.
            apply(rooted.state_mut(), &input);
            rooted.seal();
        }
        let records = rooted.state().records();
        let loaded = State::from_records(
            records
                .iter()
                .rev()
                .map(|(k, key, v)| (*k, key.as_slice(), v.as_slice())),
        )
        .expect("load");
        assert_eq!(
            loaded.canonical_bytes(),
            rooted.state().canonical_bytes(),
            "a part of the state is not in its records"
        );
        assert_eq!(loaded.root(), rooted.root());
        // Every record proves its value, and absent ones their absence
        // (many such paths end on another record).
        for (kind, key, value) in records.iter().take(50) {
            let proof = rooted.prove(kind, key).expect("present");
            assert_eq!(
                proof.verify(&rooted.root(), kind, key),
                Ok(smart_ledger::state_tree::Proven::Value(Hash::of(value)))
            );
        }
        for i in 0..50u32 {
            let key = smart_ledger::codec::encode_plain(&format!("no-such-job-{i}"));
            let proof = rooted.prove("jobs", &key).expect("absent");
            assert_eq!(
                proof.verify(&rooted.root(), "jobs", &key),
                Ok(smart_ledger::state_tree::Proven::Absent)
            );
        }
    }
}

/// Generated histories applied with the state kept in a real store, as a
/// peer keeps it: after each event only the write set's records are
/// written (with a block); reopened, the stored records give the kept
/// tree's root, the root of a tree built from scratch over the final
/// state, and the same state.
#[test]
fn the_state_kept_in_a_store_has_the_root_of_its_records_built_from_scratch() {
    use smart_contracts::RootedState;
    use smart_ledger::store::{BlockStore, RedbStore};
    use smart_ledger::{ChainTip, Genesis, GenesisMember, GenesisPeer, Keypair, PeerRole};
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Keypair::from_seed([3; 32]);
    let hub = Keypair::from_seed([4; 32]);
    let genesis = Genesis {
        chain_name: "records-in-a-store".into(),
        created: Timestamp(1),
        peers: vec![GenesisPeer {
            name: "hub".into(),
            id: hub.id(),
            role: PeerRole::Hub,
        }],
        members: vec![GenesisMember {
            name: "admin".into(),
            id: admin.id(),
            roles: vec![Role::Admin],
        }],
    };
    for (h, history) in histories().iter().skip(300).take(40).enumerate() {
        let path = dir.path().join(format!("ledger-{h}.redb"));
        let mut store = RedbStore::open_or_create(&path, &genesis).expect("store");
        let mut shop = common::Shop::new();
        install_active(
            &mut shop.state,
            &smart_contracts::parse_contract("po", PO).expect("valid"),
            PO,
        );
        let mut rooted = RootedState::new(shop.state.clone());
        store
            .replace_state(&rooted.all_writes(), &[])
            .expect("first records");
        let mut time = base_time();
        for e in history {
            time = Timestamp(time.0 + u64::from(e.after_minutes) * 60_000);
            let payload = e.action.encode();
            apply(
                rooted.state_mut(),
                &TxInput {
                    author: id(&e.by),
                    kind: e.action.kind(),
                    payload: &payload,
                    time,
                    tx_hash: smart_ledger::Hash::ZERO,
                },
            );
            let writes = rooted.seal();
            let tip: ChainTip = store.tip().clone();
            let block = tip.next_block(vec![], vec![], rooted.root(), tip.height + 1, time);
            store
                .append_with(&block, None, &[], &writes)
                .expect("append");
        }
        drop(store);
        let store = RedbStore::open(&path).expect("reopen");
        let mut records: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        store
            .visit_state(|k, key, v| records.push((k.to_string(), key.to_vec(), v.to_vec())))
            .expect("visit");
        let mut tree = smart_ledger::state_tree::StateTree::new();
        for (k, key, v) in &records {
            tree.set(k, key, Some(Hash::of(v)));
        }
        let tip_root = store
            .block(store.tip().height)
            .expect("read")
            .map(|b| b.header.state_root);
        assert_eq!(tree.root(), rooted.root(), "history {h}: stored records");
        assert_eq!(
            rooted.root(),
            rooted.state().root(),
            "history {h}: from scratch"
        );
        if let Some(r) = tip_root {
            assert_eq!(r, rooted.root(), "history {h}: the tip's header");
        }
        let loaded = State::from_records(
            records
                .iter()
                .map(|(k, key, v)| (k.as_str(), key.as_slice(), v.as_slice())),
        )
        .expect("load");
        assert_eq!(loaded.canonical_bytes(), rooted.state().canonical_bytes());
    }
}
