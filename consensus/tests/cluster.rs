//! Hubs in one process over the in-memory router, real redb stores in temp
//! dirs: commits from concurrent submitters, identical blocks on every hub,
//! a verified ledger, isolation and healing, restart from disk, and a wiped
//! hub catching up by snapshot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use smart_consensus::memory::{MemoryTransport, Router};
use smart_consensus::{Hub, HubConfig, HubNode, TxVerdict, node_id};
use smart_contracts::action::Action;
use smart_ledger::store::BlockStore;
use smart_ledger::{
    Bytes, Genesis, GenesisMember, GenesisPeer, Keypair, Outcome, PeerRole, Role, SignedTx,
    Timestamp, TxBody, TxKind,
};

struct Cluster {
    _tmp: tempfile::TempDir,
    router: Router,
    genesis: Genesis,
    keys: Vec<Keypair>,
    dirs: Vec<PathBuf>,
    hubs: Vec<Option<Hub<MemoryTransport>>>,
    admin: Keypair,
    config: HubConfig,
}

impl Cluster {
    async fn start(n: usize, config: HubConfig) -> Cluster {
        Cluster::start_with(n, n, config).await
    }

    /// `total` hub keys, of which the first `n` are in the genesis and
    /// started; the others can be started later and added by membership txs.
    async fn start_with(n: usize, total: usize, config: HubConfig) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let keys: Vec<Keypair> = (0..total)
            .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
            .collect();
        let admin = Keypair::from_seed([100; 32]);
        let genesis = Genesis {
            chain_name: "cluster".into(),
            created: Timestamp(0),
            peers: keys[..n]
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
                id: admin.id(),
                roles: vec![Role::Admin],
            }],
        };
        let dirs: Vec<PathBuf> = (0..total)
            .map(|i| tmp.path().join(format!("hub-{i}")))
            .collect();
        let mut c = Cluster {
            _tmp: tmp,
            router: Router::new(),
            genesis,
            keys,
            dirs,
            hubs: vec![None; total],
            admin,
            config,
        };
        for i in 0..n {
            c.start_hub(i).await;
        }
        let members: BTreeMap<u64, HubNode> = c.keys[..n]
            .iter()
            .map(|k| {
                (
                    node_id(&k.id()),
                    HubNode {
                        peer: k.id().to_string(),
                        addr: "memory".into(),
                    },
                )
            })
            .collect();
        c.hub(0).initialize(members).await.expect("initialize");
        c.leader(Duration::from_secs(10)).await;
        c
    }

    async fn start_hub(&mut self, i: usize) {
        std::fs::create_dir_all(&self.dirs[i]).expect("dir");
        let id = node_id(&self.keys[i].id());
        // A stopped hub's last tasks may still hold its store for a moment.
        let mut attempts = 0;
        let hub = loop {
            match Hub::start(
                &self.dirs[i],
                &self.genesis,
                self.keys[i].clone(),
                self.router.transport(id),
                self.config.clone(),
            )
            .await
            {
                Ok(h) => break h,
                Err(e) if attempts < 100 && e.to_string().contains("already open") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("start hub {i}: {e}"),
            }
        };
        self.router.register(hub.clone());
        self.hubs[i] = Some(hub);
    }

    async fn stop_hub(&mut self, i: usize) {
        if let Some(h) = self.hubs[i].take() {
            self.router.remove(h.id);
            h.shutdown().await;
        }
    }

    fn hub(&self, i: usize) -> &Hub<MemoryTransport> {
        self.hubs[i].as_ref().expect("hub running")
    }

    async fn leader(&self, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            for h in self.hubs.iter().flatten() {
                let leader = h.raft.metrics().borrow().current_leader;
                if let Some(l) = leader
                    && self.hubs.iter().flatten().any(|x| x.id == l)
                {
                    return l;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn tx(&self, nonce: u64) -> Bytes {
        // Alternate real VM actions with evidence records.
        let (kind, payload) = if nonce.is_multiple_of(2) {
            let a = Action::RegisterEquipment {
                id: format!("oven-{nonce}"),
                description: "oven".into(),
                calibration_due: Timestamp(4_000_000_000_000),
            };
            (a.kind(), a.encode())
        } else {
            (
                TxKind::Alert,
                format!("door open at station {nonce}").into_bytes(),
            )
        };
        let body = TxBody {
            chain_id: self.genesis.chain_id(),
            author: self.admin.id(),
            kind,
            payload: Bytes(payload),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &self.admin).expect("sign").encode())
    }

    fn heights(&self) -> Vec<u64> {
        self.hubs
            .iter()
            .flatten()
            .map(|h| h.ledger.lock().expect("lock").store.tip().height)
            .collect()
    }

    async fn converge(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let tips: Vec<_> = self
                .hubs
                .iter()
                .flatten()
                .map(|h| h.ledger.lock().expect("lock").store.tip().clone())
                .collect();
            if tips.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hubs did not converge: {:?}",
                self.heights()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every hub holds identical blocks, and each ledger verifies (certificates included).
    async fn check_identical_and_verified(&self) {
        self.converge(Duration::from_secs(20)).await;
        // Wait for signatures to arrive so every certificate is final.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let hubs: Vec<_> = self.hubs.iter().flatten().collect();
        let tip = hubs[0].ledger.lock().expect("lock").store.tip().height;
        for h in 1..=tip {
            let blocks: Vec<_> = hubs
                .iter()
                .map(|x| {
                    x.ledger
                        .lock()
                        .expect("lock")
                        .store
                        .block(h)
                        .expect("read")
                        .expect("block")
                })
                .collect();
            assert!(
                blocks.windows(2).all(|w| w[0] == w[1]),
                "block {h} differs between hubs"
            );
        }
        for x in &hubs {
            let l = x.ledger.lock().expect("lock");
            let report = smart_ledger::audit::verify_ledger(&l.store, |_, _| {})
                .unwrap_or_else(|f| panic!("hub {}: {f}", x.id));
            assert_eq!(report.blocks, tip);
            assert!(l.conflicts.is_empty() && l.equivocations.is_empty());
        }
    }
}

async fn submit_all(
    cluster: &Cluster,
    nonces: std::ops::Range<u64>,
    submitters: usize,
) -> Vec<(u64, smart_consensus::TxReceipt)> {
    let hubs: Vec<Hub<MemoryTransport>> = cluster.hubs.iter().flatten().cloned().collect();
    let mut tasks = Vec::new();
    let all: Vec<u64> = nonces.collect();
    for (s, chunk) in all
        .chunks(all.len().div_ceil(submitters).max(1))
        .enumerate()
    {
        let hub = hubs[s % hubs.len()].clone();
        let txs: Vec<(u64, Bytes)> = chunk.iter().map(|&n| (n, cluster.tx(n))).collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for (n, tx) in txs {
                loop {
                    match hub.submit(tx.clone()).await {
                        Ok(r) => {
                            out.push((n, r));
                            break;
                        }
                        Err(smart_consensus::SubmitError::Busy) => {
                            tokio::time::sleep(Duration::from_millis(5)).await
                        }
                        Err(e) => panic!("submit {n}: {e}"),
                    }
                }
            }
            out
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.expect("submitter"));
    }
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hubs_commit_from_concurrent_submitters_with_identical_blocks() {
    let cluster = Cluster::start(3, HubConfig::default()).await;
    let receipts = submit_all(&cluster, 0..2000, 16).await;
    assert_eq!(receipts.len(), 2000);
    for (n, r) in &receipts {
        match &r.verdict {
            TxVerdict::Included {
                outcome: Outcome::Accepted,
                ..
            } => {}
            other => panic!("tx {n}: {other:?}"),
        }
    }
    // Resubmitting an acknowledged tx is not applied twice.
    let again = cluster
        .hub(1)
        .submit(cluster.tx(7))
        .await
        .expect("resubmit");
    assert!(
        matches!(again.verdict, TxVerdict::Duplicate { .. }),
        "{again:?}"
    );
    cluster.check_identical_and_verified().await;
    let l = cluster.hub(0).ledger.lock().expect("lock");
    assert_eq!(l.store.tip().acc.size(), 2000);
    assert_eq!(l.state().equipment.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_hub_catches_up_after_healing() {
    let cluster = Cluster::start(3, HubConfig::default()).await;
    submit_all(&cluster, 0..100, 4).await;
    let leader = cluster.leader(Duration::from_secs(5)).await;
    let victim = cluster
        .hubs
        .iter()
        .flatten()
        .find(|h| h.id != leader)
        .expect("follower")
        .id;
    cluster.router.isolate(victim);
    // The other two keep committing (submit only to them).
    let others: Vec<usize> = (0..3).filter(|&i| cluster.hub(i).id != victim).collect();
    for n in 100..300u64 {
        let r = cluster
            .hub(others[(n % 2) as usize])
            .submit(cluster.tx(n))
            .await
            .expect("commit without the isolated hub");
        assert!(matches!(r.verdict, TxVerdict::Included { .. }));
    }
    let stale = cluster
        .hubs
        .iter()
        .flatten()
        .find(|h| h.id == victim)
        .expect("victim")
        .ledger
        .lock()
        .expect("lock")
        .store
        .tip()
        .height;
    cluster.router.heal(victim);
    cluster.check_identical_and_verified().await;
    let caught_up = cluster
        .hub(0)
        .ledger
        .lock()
        .expect("lock")
        .store
        .tip()
        .height;
    assert!(
        caught_up > stale,
        "victim was at {stale}, cluster at {caught_up}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restarted_from_disk_rejoins_and_a_wiped_hub_recovers_by_snapshot() {
    let config = HubConfig {
        snapshot_every: 50,
        keep_logs: 10,
        ..HubConfig::default()
    };
    let mut cluster = Cluster::start(3, config).await;
    submit_all(&cluster, 0..300, 4).await;
    let leader = cluster.leader(Duration::from_secs(5)).await;
    let follower = (0..3)
        .find(|&i| cluster.hub(i).id != leader)
        .expect("follower");

    // Restart from disk.
    cluster.stop_hub(follower).await;
    submit_all(&cluster, 300..400, 2).await;
    cluster.start_hub(follower).await;
    cluster.check_identical_and_verified().await;

    // Wipe and rejoin: the log it needs is purged, so it installs a snapshot
    // and fetches the blocks behind it.
    cluster.stop_hub(follower).await;
    std::fs::remove_dir_all(&cluster.dirs[follower]).expect("wipe");
    submit_all(&cluster, 400..600, 2).await;
    cluster.start_hub(follower).await;
    cluster.check_identical_and_verified().await;
    let snapshot = cluster.hub(follower).raft.metrics().borrow().snapshot;
    assert!(snapshot.is_some(), "the wiped hub installed a snapshot");
    let l = cluster.hub(follower).ledger.lock().expect("lock");
    assert_eq!(l.store.tip().acc.size(), 600);
    assert_eq!(
        l.state().equipment.len(),
        300,
        "the contract state came with the snapshot"
    );
}

impl Cluster {
    fn membership_tx(&self, change: smart_ledger::membership::HubChange, nonce: u64) -> Bytes {
        let body = TxBody {
            chain_id: self.genesis.chain_id(),
            author: self.admin.id(),
            kind: TxKind::Membership,
            payload: Bytes(change.encode()),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &self.admin).expect("sign").encode())
    }

    async fn voters(&self, want: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let leader = self.leader(Duration::from_secs(5)).await;
            let hub = self
                .hubs
                .iter()
                .flatten()
                .find(|h| h.id == leader)
                .expect("leader");
            let voters = hub
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .count();
            if voters == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{voters} voters, expected {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_from_three_to_five_hubs_and_shrink_back_under_load() {
    use smart_ledger::membership::HubChange;
    let mut cluster = Cluster::start_with(3, 5, HubConfig::default()).await;
    // Two hubs outside the genesis start and wait to be added.
    cluster.start_hub(3).await;
    cluster.start_hub(4).await;

    // Load on the genesis hubs throughout.
    let load_hubs: Vec<Hub<MemoryTransport>> = (0..3).map(|i| cluster.hub(i).clone()).collect();
    let txs: Vec<Bytes> = (0..600).map(|n| cluster.tx(n)).collect();
    let load = tokio::spawn(async move {
        let mut ok = 0;
        for (k, tx) in txs.into_iter().enumerate() {
            let r = load_hubs[k % 3]
                .submit(tx)
                .await
                .expect("commit during membership changes");
            if matches!(r.verdict, TxVerdict::Included { .. }) {
                ok += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ok
    });

    // Admin adds hubs 3 and 4: learners, caught up, then voters.
    for (i, n) in [(3usize, 10_000u64), (4, 10_001)] {
        let change = HubChange::Add {
            hub: cluster.keys[i].id(),
            addr: "memory".into(),
        };
        let r = cluster
            .hub(0)
            .submit(cluster.membership_tx(change, n))
            .await
            .expect("add hub");
        assert!(
            matches!(
                r.verdict,
                TxVerdict::Included {
                    outcome: Outcome::Accepted,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    cluster.voters(5, Duration::from_secs(30)).await;
    cluster.converge(Duration::from_secs(30)).await;

    // A non-admin cannot change the hub set.
    let bad = TxBody {
        chain_id: cluster.genesis.chain_id(),
        author: cluster.keys[0].id(),
        kind: TxKind::Membership,
        payload: Bytes(
            HubChange::Remove {
                hub: cluster.keys[1].id(),
            }
            .encode(),
        ),
        author_time: Timestamp(0),
        location: None,
        contract: None,
        nonce: 1,
    };
    let bad = Bytes(
        SignedTx::sign(bad, &cluster.keys[0])
            .expect("sign")
            .encode(),
    );
    let r = cluster.hub(1).submit(bad).await.expect("submit");
    assert!(
        matches!(
            r.verdict,
            TxVerdict::Included {
                outcome: Outcome::Refused { code: 3, .. },
                ..
            }
        ),
        "{r:?}"
    );

    // And back to three.
    for (i, n) in [(3usize, 10_002u64), (4, 10_003)] {
        let change = HubChange::Remove {
            hub: cluster.keys[i].id(),
        };
        let r = cluster
            .hub(1)
            .submit(cluster.membership_tx(change, n))
            .await
            .expect("remove hub");
        assert!(
            matches!(
                r.verdict,
                TxVerdict::Included {
                    outcome: Outcome::Accepted,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    cluster.voters(3, Duration::from_secs(30)).await;
    assert_eq!(
        load.await.expect("load"),
        600,
        "every tx of the load committed"
    );
    cluster.stop_hub(3).await;
    cluster.stop_hub(4).await;
    cluster.check_identical_and_verified().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_signs_two_headers_at_one_height_is_caught_with_evidence() {
    use smart_consensus::transport::SignedHeader;
    use smart_ledger::BlockHeader;
    let cluster = Cluster::start(3, HubConfig::default()).await;
    submit_all(&cluster, 0..20, 2).await;
    cluster.converge(Duration::from_secs(10)).await;
    let witness = cluster.hub(0);
    let liar = &cluster.keys[2];
    // Wait until the liar's honest signature over the tip is in the witness's certificate.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (height, header) = loop {
        {
            let l = witness.ledger.lock().expect("lock");
            let h = l.store.tip().height;
            let cert = l.store.cert(h).expect("read").expect("cert");
            if cert.signatures.iter().any(|s| s.hub == liar.id()) {
                break (h, l.store.block(h).expect("read").expect("block").header);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "signatures never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The liar signs another header at the same height.
    let mut other = header.clone();
    other.state_root = smart_ledger::Hash::of(b"a different state");
    let other_hash = other.hash();
    let forged = SignedHeader {
        height,
        header_hash: other_hash,
        hub: liar.id(),
        signature: liar.sign(&BlockHeader::cert_message(&other_hash)),
        header: Some(other),
    };
    assert!(
        witness.receive_signature(forged).is_err(),
        "a conflicting header is never merged"
    );
    let l = witness.ledger.lock().expect("lock");
    assert_eq!(l.equivocations.len(), 1, "evidence kept");
    let evidence = &l.equivocations[0];
    assert_eq!(evidence.hub, liar.id());
    assert!(
        evidence.is_proven(),
        "anyone can check the evidence offline"
    );
    // The witness's own certificate is untouched and still final.
    assert!(l.is_final(height));
}

/// Each hub checks each signature once: the hub that admitted a tx skips it
/// when applying, the others check it. A forged tx that skipped admission
/// (forwarded by a hub) in the same batch as admitted ones is refused on
/// every hub alike, and the hubs' blocks stay identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_tx_beside_admitted_ones_is_refused_alike_on_every_hub() {
    let cluster = Cluster::start(3, HubConfig::default()).await;
    let leader_id = cluster.leader(Duration::from_secs(10)).await;
    let leader = cluster
        .hubs
        .iter()
        .flatten()
        .find(|h| h.id == leader_id)
        .expect("leader")
        .clone();
    let admitted = cluster.tx(1);
    let forwarded = cluster.tx(2);
    let mut forged = SignedTx::decode(&cluster.tx(3).0).expect("decode");
    let mut sig = *forged.signature();
    sig.0[40] ^= 0x01;
    forged = SignedTx::from_parts(forged.body_bytes().to_vec(), sig).expect("parts");
    let forged = Bytes(forged.encode());
    let own = {
        let leader = leader.clone();
        tokio::spawn(async move { leader.submit(admitted).await })
    };
    let receipts = leader.submit_forwarded(vec![forwarded, forged]).await;
    let own = own.await.expect("task").expect("submit");
    assert!(
        matches!(
            own.verdict,
            TxVerdict::Included {
                outcome: Outcome::Accepted,
                ..
            }
        ),
        "{own:?}"
    );
    assert!(
        matches!(
            receipts[0].verdict,
            TxVerdict::Included {
                outcome: Outcome::Accepted,
                ..
            }
        ),
        "{:?}",
        receipts[0]
    );
    match &receipts[1].verdict {
        TxVerdict::Rejected { reason } => assert!(reason.contains("signature"), "{reason}"),
        other => panic!("forged tx: {other:?}"),
    }
    cluster.check_identical_and_verified().await;
    for h in cluster.hubs.iter().flatten() {
        let l = h.ledger.lock().expect("lock");
        assert_eq!(l.store.tip().acc.size(), 2, "hub {}", h.id);
    }
}

/// The txs of one request are committed in the order given, in one block:
/// a station handing off its outbox has later actions depend on earlier ones
/// (a lockout of an oven it registered just before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_txs_of_one_request_commit_in_order_in_one_block() {
    let cluster = Cluster::start(3, HubConfig::default()).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = cluster
        .hubs
        .iter()
        .flatten()
        .find(|h| h.id != leader)
        .expect("a follower")
        .clone();
    let sign = |action: Action, nonce: u64| {
        let body = TxBody {
            chain_id: cluster.genesis.chain_id(),
            author: cluster.admin.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &cluster.admin).expect("sign").encode())
    };
    let mut txs = Vec::new();
    for k in 0..100u64 {
        let id = format!("ordered-oven-{k}");
        txs.push(sign(
            Action::RegisterEquipment {
                id: id.clone(),
                description: "oven".into(),
                calibration_due: Timestamp(4_000_000_000_000),
            },
            10_000 + 2 * k,
        ));
        txs.push(sign(
            Action::LockOut {
                id,
                reason: "check".into(),
            },
            10_001 + 2 * k,
        ));
    }
    let answers = follower.submit_many(txs).await;
    let mut heights = std::collections::BTreeSet::new();
    for (i, a) in answers.iter().enumerate() {
        match a {
            Ok(r) => match &r.verdict {
                TxVerdict::Included {
                    height,
                    outcome: Outcome::Accepted,
                } => {
                    heights.insert(*height);
                }
                other => panic!("tx {i}: {other:?}"),
            },
            Err(e) => panic!("tx {i}: {e}"),
        }
    }
    assert_eq!(heights.len(), 1, "one request, one block: {heights:?}");
    cluster.check_identical_and_verified().await;
}
