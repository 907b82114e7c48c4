//! Audit packs from a real redb store whose blocks are made by the contract
//! VM and certified by hub keys, as the hubs make them: export, verify,
//! every flipped byte detected, a hot-swapped contract, a dishonest export.

use std::collections::BTreeMap;

use smart_audit::export::export;
use smart_audit::verify::verify;
use smart_audit::{AuditError, AuditPack, verify_pack};
use smart_contracts::action::Action;
use smart_contracts::simulate::actor_key;
use smart_contracts::state::TokenKind;
use smart_contracts::{State, vm};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{
    BlockCert, Bytes, Genesis, GenesisMember, GenesisPeer, Hash, Keypair, Outcome, PeerRole, Role,
    SignedTx, Timestamp, TxBody,
};

/// A small contract: two steps and an invoice, so a pack stays small.
fn anneal(version: u32, tolerance: i64) -> String {
    format!(
        r#"id: anneal-7
version: {version}
template: SmartClientPO
title: "Anneal 7 brackets"
parties:
  - {{ role: Client, name: acme }}
steps:
  - id: soak
    title: Soak
    by: [Technician]
    requires:
      tokens: ["Certified:heat-treat-operator"]
    measurements:
      - {{ name: soak_temp, unit: degC, target: 845, tolerance: {tolerance} }}
  - id: invoice
    title: Invoice
    by: [ProjectManager]
    after: [soak]
    effects:
      - invoice: {{ milestone: final, amount_cents: 12345 }}
"#
    )
}

struct Ledger {
    _dir: tempfile::TempDir,
    store: RedbStore,
    state: State,
    hubs: Vec<Keypair>,
    chain: Hash,
    nonce: u64,
}

impl Ledger {
    fn new() -> Ledger {
        let hubs: Vec<Keypair> = (1..=3u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let genesis = Genesis {
            chain_name: "audit test shop".into(),
            created: Timestamp(1_790_000_000_000),
            peers: hubs
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisPeer {
                    name: format!("hub-{i}"),
                    id: k.id(),
                    role: PeerRole::Hub,
                })
                .collect(),
            members: vec![GenesisMember {
                name: "admin".into(),
                id: actor_key("admin").id(),
                roles: vec![Role::Admin],
            }],
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            RedbStore::open_or_create(&dir.path().join("ledger.redb"), &genesis).expect("store");
        let mut ledger = Ledger {
            _dir: dir,
            state: State::from_genesis(&genesis),
            chain: genesis.chain_id(),
            store,
            hubs,
            nonce: 0,
        };
        let mut people = Vec::new();
        for (name, role) in [
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("pm", Role::ProjectManager),
            ("tech", Role::Technician),
            ("acme", Role::Client),
        ] {
            people.push((
                "admin",
                Action::RegisterIdentity {
                    id: actor_key(name).id(),
                    name: name.into(),
                    roles: vec![role],
                    organisation: None,
                },
            ));
        }
        ledger.block(people);
        ledger
    }

    fn sign(&mut self, who: &str, action: &Action) -> SignedTx {
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain,
            author: actor_key(who).id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(self.nonce),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        SignedTx::sign(body, &actor_key(who)).expect("sign")
    }

    /// One block of these actions, made by the VM, certified by two of the
    /// three hubs (a majority), appended durably.
    fn block(&mut self, actions: Vec<(&str, Action)>) -> Vec<Outcome> {
        let txs: Vec<SignedTx> = actions.iter().map(|(w, a)| self.sign(w, a)).collect();
        self.block_of(txs)
    }

    fn block_of(&mut self, txs: Vec<SignedTx>) -> Vec<Outcome> {
        let tip = self.store.tip().clone();
        let time = Timestamp(tip.time.0.max(1_790_000_000_000) + 60_000);
        let (outcomes, _) = vm::apply_block(&mut self.state, &txs, time);
        let block = tip.next_block(
            txs,
            outcomes.clone(),
            self.state.root(),
            tip.height + 1,
            time,
        );
        let mut cert = BlockCert::new(&block.header);
        for hub in &self.hubs[..2] {
            cert.sign(hub);
        }
        self.store.append(&block, Some(&cert)).expect("append");
        outcomes
    }

    fn approve(&mut self, id: &str, version: u32) {
        let approvals = [
            ("admin", Role::Admin),
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("pm", Role::ProjectManager),
        ]
        .into_iter()
        .map(|(who, role)| {
            (
                who,
                Action::ApproveContract {
                    id: id.into(),
                    version,
                    role,
                },
            )
        })
        .collect();
        assert!(
            self.block(approvals)
                .iter()
                .all(|o| *o == Outcome::Accepted)
        );
    }

    /// The shop: a token for tech, the contract v1 approved.
    fn ready(&mut self) {
        let outcomes = self.block(vec![
            (
                "compliance",
                Action::IssueToken {
                    token: "cert-tech".into(),
                    holder: actor_key("tech").id(),
                    kind: TokenKind::Certified,
                    scope: "heat-treat-operator".into(),
                    expires: Timestamp(1_900_000_000_000),
                },
            ),
            (
                "admin",
                Action::ProposeContract {
                    yaml: anneal(1, 10),
                },
            ),
        ]);
        assert!(
            outcomes.iter().all(|o| *o == Outcome::Accepted),
            "{outcomes:?}"
        );
        self.approve("anneal-7", 1);
    }

    fn open(&mut self, job: &str) {
        let o = self.block(vec![(
            "pm",
            Action::OpenJob {
                job: job.into(),
                contract: "anneal-7".into(),
                client: actor_key("acme").id(),
                parts: vec!["P-1".into()],
            },
        )]);
        assert_eq!(o, vec![Outcome::Accepted]);
    }

    fn soak(&mut self, job: &str, temp: i64) -> Outcome {
        self.block(vec![(
            "tech",
            Action::CompleteStep {
                job: job.into(),
                step: "soak".into(),
                station: None,
                measurements: BTreeMap::from([("soak_temp".to_string(), temp)]),
            },
        )])
        .remove(0)
    }

    fn invoice(&mut self, job: &str) -> Outcome {
        self.block(vec![(
            "pm",
            Action::CompleteStep {
                job: job.into(),
                step: "invoice".into(),
                station: None,
                measurements: BTreeMap::new(),
            },
        )])
        .remove(0)
    }
}

fn refused(o: &Outcome) -> bool {
    matches!(o, Outcome::Refused { .. })
}

#[test]
fn a_pack_verifies_offline_and_re_runs_the_job() {
    let mut l = Ledger::new();
    l.ready();
    l.open("job-1");
    l.open("job-2");
    // Another job's txs and evidence are not in job-1's pack.
    assert_eq!(l.soak("job-2", 845), Outcome::Accepted);
    assert!(refused(&l.soak("job-1", 870)));
    assert!(refused(&l.invoice("job-1")));
    assert_eq!(l.soak("job-1", 850), Outcome::Accepted);
    assert_eq!(l.invoice("job-1"), Outcome::Accepted);
    assert_eq!(l.invoice("job-2"), Outcome::Accepted);

    let pack = export(&l.store, "job-1").expect("export");
    let bytes = pack.encode();
    let report = verify_pack(&bytes, &l.chain).expect("verifies");
    assert_eq!(report.job, "job-1");
    assert_eq!(report.contract, "anneal-7");
    assert_eq!(report.pinned_version, 1);
    assert_eq!(report.pinned_yaml_hash, Hash::of(anneal(1, 10).as_bytes()));
    assert_eq!(report.status, "Completed");
    assert_eq!(report.job_txs.len(), 5, "{:#?}", report.job_txs);
    assert_eq!(report.refused, 2);
    assert_eq!(report.invoiced_cents, 12345);
    assert!(report.job_txs.iter().all(|t| !t.what.contains("job-2")));
    // Registrations (5), token, proposal and 4 approvals.
    assert_eq!(report.context_txs, 11);
    // The last block of the pack is job-1's invoice, not job-2's.
    assert_eq!(report.anchor_height, l.store.tip().height - 1);
    // The accepted soak relied on the technician's token, proven in the
    // certified state at the soak's block.
    assert_eq!(report.relied_on.len(), 1, "{:#?}", report.relied_on);
    let token = &report.relied_on[0];
    assert_eq!(token.step, "soak");
    assert!(token.record.starts_with("tokens/"), "{token:?}");
    assert_eq!(
        token.value.as_ref().map(|v| v["scope"].clone()),
        Some(serde_json::json!("heat-treat-operator"))
    );

    // A state proof dropped, or its value changed, is refused.
    let mut dropped = pack.clone();
    dropped.state_proofs.clear();
    let err = verify(&dropped, &l.chain).expect_err("no proof of the token");
    assert!(err.to_string().contains("proves no value"), "{err}");
    let mut changed = pack.clone();
    if let Some(v) = changed.state_proofs[0].value.as_mut() {
        v.0[2] ^= 1;
    }
    let err = verify(&changed, &l.chain).expect_err("a changed value");
    assert!(err.to_string().contains("state proof"), "{err}");
    let mut moved = pack.clone();
    moved.state_proofs[0].height = 999;
    assert!(verify(&moved, &l.chain).is_err());

    // Another chain's auditor refuses it.
    let err = verify_pack(&bytes, &Hash::of(b"another chain")).expect_err("wrong chain");
    assert!(matches!(err, AuditError::WrongChain { .. }), "{err}");
    // No such job.
    assert!(export(&l.store, "job-9").is_err());
}

#[test]
fn every_flipped_byte_of_a_pack_is_detected() {
    let mut l = Ledger::new();
    l.ready();
    l.open("job-1");
    assert!(refused(&l.soak("job-1", 900)));
    assert_eq!(l.soak("job-1", 845), Outcome::Accepted);
    assert_eq!(l.invoice("job-1"), Outcome::Accepted);
    let bytes = export(&l.store, "job-1").expect("export").encode();
    verify_pack(&bytes, &l.chain).expect("the pack verifies");
    assert!(
        bytes.len() > 4_000,
        "a pack with blocks, certificates and a contract"
    );
    let chain = l.chain;
    let undetected: Vec<usize> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let bytes = &bytes;
                s.spawn(move || {
                    let mut copy = bytes.clone();
                    let mut missed = Vec::new();
                    for i in (w..bytes.len()).step_by(2) {
                        copy[i] ^= 0x01;
                        if verify_pack(&copy, &chain).is_ok() {
                            missed.push(i);
                        }
                        copy[i] ^= 0x01;
                    }
                    missed
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert!(
        undetected.is_empty(),
        "{} of {} flipped bytes went undetected, first at {:?}",
        undetected.len(),
        bytes.len(),
        &undetected[..undetected.len().min(10)]
    );
}

#[test]
fn a_job_keeps_its_pinned_version_when_the_contract_is_hot_swapped() {
    let mut l = Ledger::new();
    l.ready();
    l.open("job-1");
    // Version 2 widens the soak tolerance to 30 degC and becomes active
    // while job-1 runs.
    let o = l.block(vec![(
        "admin",
        Action::ProposeContract {
            yaml: anneal(2, 30),
        },
    )]);
    assert_eq!(o, vec![Outcome::Accepted]);
    l.approve("anneal-7", 2);
    l.open("job-2");
    // 870 is inside v2's limits, outside v1's: job-1 (pinned to v1) is refused.
    assert!(refused(&l.soak("job-1", 870)));
    assert_eq!(l.soak("job-2", 870), Outcome::Accepted);
    assert_eq!(l.soak("job-1", 846), Outcome::Accepted);

    let report = verify_pack(
        &export(&l.store, "job-1").expect("export").encode(),
        &l.chain,
    )
    .expect("verifies");
    assert_eq!(report.pinned_version, 1);
    assert_eq!(report.versions.len(), 2);
    let v2 = &report.versions[1];
    assert_eq!(v2.version, 2);
    assert!(v2.active_from.is_some_and(|h| h > report.opened_at));
    assert!(refused(&report.job_txs[1].outcome), "{:#?}", report.job_txs);

    let report2 = verify_pack(
        &export(&l.store, "job-2").expect("export").encode(),
        &l.chain,
    )
    .expect("verifies");
    assert_eq!(report2.pinned_version, 2);
    assert_eq!(report2.job_txs[1].outcome, Outcome::Accepted);
}

#[test]
fn a_pack_missing_context_fails_the_re_run() {
    let mut l = Ledger::new();
    l.ready();
    l.open("job-1");
    assert_eq!(l.soak("job-1", 845), Outcome::Accepted);
    let mut pack = export(&l.store, "job-1").expect("export");
    // An exporter that leaves out tech's token: the soak step can no longer
    // be accepted on the pack's state, and the re-run says so.
    for b in &mut pack.blocks {
        b.txs
            .retain(|t| !smart_audit::scope::describe(&t.tx).starts_with("IssueToken"));
    }
    pack.blocks.retain(|b| !b.txs.is_empty());
    let err = verify_pack(&pack.encode(), &l.chain).expect_err("incomplete");
    assert!(matches!(err, AuditError::Replay { .. }), "{err}");

    // A tx of another job slipped in is refused too.
    let mut l2 = Ledger::new();
    l2.ready();
    l2.open("job-1");
    l2.open("job-2");
    let mut pack = export(&l2.store, "job-1").expect("export");
    let other = export(&l2.store, "job-2").expect("export");
    let last = other.blocks.last().expect("block").clone();
    pack.blocks.push(last);
    let err = verify_pack(&pack.encode(), &l2.chain).expect_err("unrelated tx");
    assert!(err.to_string().contains("not a tx of job job-1"), "{err}");
}

#[test]
fn garbage_is_refused_without_panicking() {
    let l = Ledger::new();
    for bytes in [&b""[..], b"\x01", b"\x02abc", &[0xff; 64]] {
        assert!(verify_pack(bytes, &l.chain).is_err());
    }
    let _ = AuditPack::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
}
