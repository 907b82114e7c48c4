//! The redb store: atomic durable appends, reads by height and tx hash,
//! reopen, refusals of blocks that do not follow, proofs from disk, and
//! hub certificates.

use smart_ledger::merkle::{self, MemoryTree};
use smart_ledger::store::{BlockStore, RedbStore, StoreError};
use smart_ledger::*;

struct Net {
    genesis: Genesis,
    hubs: Vec<Keypair>,
    admin: Keypair,
}

fn net() -> Net {
    let hubs: Vec<Keypair> = (0..3u8).map(|i| Keypair::from_seed([i + 10; 32])).collect();
    let admin = Keypair::from_seed([7; 32]);
    let genesis = Genesis {
        chain_name: "store-test".into(),
        created: Timestamp(1),
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
            id: admin.id(),
            roles: vec![Role::Admin],
        }],
    };
    Net {
        genesis,
        hubs,
        admin,
    }
}

impl Net {
    fn txs(&self, first: u64, n: u64) -> Vec<SignedTx> {
        (first..first + n)
            .map(|nonce| {
                let body = TxBody {
                    chain_id: self.genesis.chain_id(),
                    author: self.admin.id(),
                    kind: TxKind::JobAction,
                    payload: Bytes(format!("step {nonce}").into_bytes()),
                    author_time: Timestamp(nonce),
                    location: None,
                    contract: None,
                    nonce,
                };
                SignedTx::sign(body, &self.admin).expect("sign")
            })
            .collect()
    }

    fn block_after(&self, tip: &ChainTip, txs: Vec<SignedTx>) -> (Block, BlockCert) {
        let outcomes = vec![Outcome::Accepted; txs.len()];
        let block = tip.next_block(
            txs,
            outcomes,
            Hash::of(b"state"),
            tip.height,
            Timestamp(tip.height * 10),
        );
        let mut cert = BlockCert::new(&block.header);
        for h in &self.hubs[..2] {
            cert.sign(h);
        }
        (block, cert)
    }
}

#[test]
fn append_read_reopen_and_prove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let n = net();
    let mut all = Vec::new();
    {
        let mut store = RedbStore::open_or_create(&path, &n.genesis).expect("create");
        for h in 0..10u64 {
            let txs = n.txs(h * 7, 1 + h % 7);
            all.extend(txs.iter().cloned());
            let (block, cert) = n.block_after(store.tip(), txs);
            store.append(&block, Some(&cert)).expect("append");
        }
    }
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(store.tip().height, 10);
    assert_eq!(store.tip().acc.size(), all.len() as u64);
    let tree = MemoryTree::from_leaves(all.iter().map(SignedTx::leaf_hash));
    assert_eq!(store.tip().acc.root(), tree.root());
    let size = tree.size();
    for (i, tx) in all.iter().enumerate() {
        let loc = store
            .locate_tx(&tx.hash())
            .expect("locate")
            .expect("present");
        assert_eq!(loc.leaf_index, i as u64);
        let block = store.block(loc.height).expect("read").expect("block");
        assert_eq!(block.txs[loc.position as usize], *tx);
        let path = store.inclusion_proof(loc.leaf_index, size).expect("proof");
        assert_eq!(
            path,
            merkle::inclusion_proof(&tree, i as u64, size).expect("memory proof")
        );
        assert!(merkle::verify_inclusion(
            &tx.leaf_hash(),
            loc.leaf_index,
            size,
            &path,
            &tree.root()
        ));
    }
    for old in 1..=size {
        let proof = store.consistency_proof(old, size).expect("consistency");
        let old_root = store.root_at(old).expect("root");
        assert!(merkle::verify_consistency(
            old,
            size,
            &old_root,
            &tree.root(),
            &proof
        ));
    }
    assert!(
        store
            .locate_tx(&Hash::of(b"nothing"))
            .expect("locate")
            .is_none()
    );
    assert!(store.block(11).expect("read").is_none());
    assert!(matches!(
        store.inclusion_proof(0, size + 1),
        Err(StoreError::Proof(_))
    ));
    let report = audit::verify_ledger(&store, |_, _| {}).expect("intact");
    assert_eq!(report.txs, size);
}

#[test]
fn blocks_that_do_not_follow_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = net();
    let mut store =
        RedbStore::open_or_create(&dir.path().join("l.redb"), &n.genesis).expect("create");
    let (b1, c1) = n.block_after(store.tip(), n.txs(0, 3));
    store.append(&b1, Some(&c1)).expect("append");
    let tip = store.tip().clone();

    // Same block again: wrong height.
    assert!(matches!(
        store.append(&b1, None),
        Err(StoreError::Chain(ChainError::Height { .. }))
    ));
    // Broken link.
    let (mut b2, _) = n.block_after(&tip, n.txs(3, 2));
    b2.header.prev_hash = Hash::of(b"elsewhere");
    assert!(matches!(
        store.append(&b2, None),
        Err(StoreError::Chain(ChainError::Link { .. }))
    ));
    // Ledger root that does not match the txs.
    let (mut b2, _) = n.block_after(&tip, n.txs(3, 2));
    b2.header.ledger_root = Hash::ZERO;
    assert!(matches!(
        store.append(&b2, None),
        Err(StoreError::Chain(ChainError::Accumulator { .. }))
    ));
    // Tx root that does not match the txs.
    let (mut b2, _) = n.block_after(&tip, n.txs(3, 2));
    b2.txs.swap(0, 1);
    assert!(matches!(store.append(&b2, None), Err(StoreError::Block(_))));
    // A tx already in the ledger.
    let (b2, _) = n.block_after(&tip, n.txs(2, 2));
    assert!(matches!(
        store.append(&b2, None),
        Err(StoreError::DuplicateTx { height: 1, .. })
    ));
    // Time going backwards.
    let (mut b2, _) = n.block_after(&tip, n.txs(3, 1));
    b2.header.leader_time = Timestamp(0);
    let mut later = tip.clone();
    later.time = Timestamp(100);
    assert!(matches!(
        later.check_next(&b2),
        Err(ChainError::Time { .. })
    ));

    assert_eq!(store.tip(), &tip, "a refused append leaves the tip alone");
    assert!(
        store
            .locate_tx(&n.txs(3, 1)[0].hash())
            .expect("locate")
            .is_none()
    );
    audit::verify_ledger(&store, |_, _| {}).expect("still intact");
}

#[test]
fn a_store_refuses_another_chains_genesis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.redb");
    let n = net();
    drop(RedbStore::open_or_create(&path, &n.genesis).expect("create"));
    let mut other = n.genesis.clone();
    other.chain_name = "another shop".into();
    assert!(matches!(
        RedbStore::open_or_create(&path, &other),
        Err(StoreError::WrongChain { .. })
    ));
    assert!(matches!(
        RedbStore::open(&dir.path().join("missing.redb")),
        Err(StoreError::Uninitialised(_))
    ));
}

#[test]
fn certificates_need_a_majority_of_the_hub_set() {
    let n = net();
    let hub_set = n.genesis.hubs();
    let tip = ChainTip::genesis(n.genesis.chain_id());
    let (block, _) = n.block_after(&tip, n.txs(0, 1));
    let mut cert = BlockCert::new(&block.header);
    cert.sign(&n.hubs[0]);
    assert!(matches!(
        cert.check_final(&block.header, &hub_set),
        Err(block::CertError::NoMajority {
            valid: 1,
            hubs: 3,
            needed: 2
        })
    ));
    // The same hub twice still counts once.
    let dup = cert.signatures[0].clone();
    cert.signatures.push(dup);
    assert!(!cert.is_final(&block.header, &hub_set));
    // A non-hub's signature does not count.
    cert.sign(&n.admin);
    assert!(!cert.is_final(&block.header, &hub_set));
    cert.sign(&n.hubs[2]);
    assert!(cert.is_final(&block.header, &hub_set));
    // A forged hub signature is refused, not skipped.
    let mut forged = cert.clone();
    forged
        .signatures
        .iter_mut()
        .find(|s| s.hub == n.hubs[2].id())
        .expect("sig")
        .signature = n.admin.sign(b"x");
    assert!(matches!(
        forged.check_final(&block.header, &hub_set),
        Err(block::CertError::Signature(_))
    ));
    // A certificate for another header.
    let (other, _) = n.block_after(&tip, n.txs(1, 1));
    assert!(matches!(
        cert.check_final(&other.header, &hub_set),
        Err(block::CertError::WrongHeader { .. })
    ));
}

#[test]
fn two_headers_at_one_height_signed_by_one_hub_are_equivocation() {
    let n = net();
    let tip = ChainTip::genesis(n.genesis.chain_id());
    let (a, _) = n.block_after(&tip, n.txs(0, 1));
    let (b, _) = n.block_after(&tip, n.txs(1, 1));
    let hub = &n.hubs[1];
    let sign = |h: &BlockHeader| hub.sign(&BlockHeader::cert_message(&h.hash()));
    let evidence = Equivocation {
        hub: hub.id(),
        first: (a.header.clone(), sign(&a.header)),
        second: (b.header.clone(), sign(&b.header)),
    };
    assert!(evidence.is_proven());
    let same = Equivocation {
        second: evidence.first.clone(),
        ..evidence.clone()
    };
    assert!(!same.is_proven(), "one header twice is not equivocation");
    let framed = Equivocation {
        hub: n.hubs[0].id(),
        ..evidence
    };
    assert!(!framed.is_proven(), "another hub cannot be framed");
}

#[test]
fn a_snapshot_is_the_store_as_it_was_when_taken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let n = net();
    let mut store = RedbStore::open_or_create(&path, &n.genesis).expect("create");
    store.set_deferred_durability(true);
    for h in 0..5u64 {
        let (block, cert) = n.block_after(store.tip(), n.txs(h * 10, 3));
        store.append(&block, Some(&cert)).expect("append");
    }
    store
        .put_app_records(&[("state", b"at five".as_slice())])
        .expect("app record");
    let snap = store.snapshot().expect("snapshot");
    let tip_then = store.tip().clone();
    // The store goes on after the snapshot was taken.
    for h in 5..8u64 {
        let (block, cert) = n.block_after(store.tip(), n.txs(h * 10, 3));
        store.append(&block, Some(&cert)).expect("append");
    }
    let copy = dir.path().join("backup.redb");
    snap.write_to(&copy).expect("write");
    assert_eq!(snap.height(), 5);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        2,
        "only the store and its copy: no partial file left"
    );
    let restored = RedbStore::open(&copy).expect("open the copy");
    assert_eq!(restored.tip(), &tip_then);
    assert_eq!(
        restored.app_record("state").expect("read").as_deref(),
        Some(b"at five".as_slice())
    );
    let report = audit::verify_ledger(&restored, |_, _| {}).expect("intact");
    assert_eq!((report.blocks, report.txs), (5, 15));
    // A backup never overwrites a file.
    assert!(snap.write_to(&copy).is_err());
    assert_eq!(store.tip().height, 8);
}

/// State records are written with their block, read back re-checked,
/// removed, replaced as a whole, and visited kind by kind; the tree over
/// them has the root `verify_state` recomputes.
#[test]
fn state_records_are_stored_with_their_block_and_verified_against_the_root() {
    use smart_ledger::state_tree::StateTree;
    use smart_ledger::store::RecordWrite;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let n = net();
    let mut store = RedbStore::open_or_create(&path, &n.genesis).expect("create");
    let write = |kind: &'static str, key: &str, value: Option<&str>| RecordWrite {
        kind,
        key: key.as_bytes().to_vec(),
        value: value.map(|v| v.as_bytes().to_vec()),
    };
    let mut tree = StateTree::new();
    let apply = |tree: &mut StateTree, writes: &[RecordWrite]| {
        for w in writes {
            tree.set(w.kind, &w.key, w.value.as_ref().map(|v| Hash::of(v)));
        }
    };
    let first = [
        write("jobs", "j1", Some("open")),
        write("jobs", "j2", Some("open")),
        write("tokens", "t1", Some("live")),
    ];
    apply(&mut tree, &first);
    let certify = |block: &Block| {
        let mut c = BlockCert::new(&block.header);
        for h in &n.hubs[..2] {
            c.sign(h);
        }
        c
    };
    let (mut block, _) = n.block_after(store.tip(), n.txs(0, 1));
    block.header.state_root = tree.root();
    let cert = certify(&block);
    store
        .append_with(&block, Some(&cert), &[], &first)
        .expect("append");
    let second = [
        write("jobs", "j1", Some("closed")),
        write("jobs", "j2", None),
    ];
    apply(&mut tree, &second);
    let (mut block2, _) = n.block_after(store.tip(), n.txs(1, 1));
    block2.header.state_root = tree.root();
    let cert2 = certify(&block2);
    let t = std::time::Instant::now();
    store
        .append_with(&block2, Some(&cert2), &[], &second)
        .expect("append");
    let whole = t.elapsed();
    // The write's parts were timed inside it: together, no longer than it.
    let parts = store.last_append_parts();
    let sum = parts.begin + parts.tx_index + parts.block + parts.state + parts.commit;
    assert!(
        !parts.commit.is_zero() && sum <= whole,
        "{parts:?} in {whole:?}"
    );
    drop(store);

    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        store.state_record("jobs", b"j1").expect("read"),
        Some(b"closed".to_vec())
    );
    assert_eq!(store.state_record("jobs", b"j2").expect("read"), None);
    assert_eq!(store.state_record("nothing", b"x").expect("read"), None);
    let mut seen = Vec::new();
    let count = store
        .visit_state(|kind, key, value| seen.push((kind.to_string(), key.to_vec(), value.to_vec())))
        .expect("visit");
    assert_eq!(count, 2);
    let report = audit::verify_state(&store, Some(&block2.header)).expect("intact");
    assert_eq!(report.state_root, tree.root());
    // Against another block's root: refused, with both roots named.
    let err = audit::verify_state(&store, Some(&block.header)).expect_err("wrong root");
    assert!(err.reason.contains("certifies"), "{err}");
    drop(store);

    // A whole state replaced (a snapshot installed): only its records remain.
    let mut store = RedbStore::open(&path).expect("reopen");
    store
        .replace_state(&[write("jobs", "j9", Some("open"))], &[])
        .expect("replace");
    assert_eq!(store.visit_state(|_, _, _| {}).expect("visit"), 1);
    assert_eq!(store.state_record("tokens", b"t1").expect("read"), None);
}

/// A store written by an earlier build (no state-format mark: the whole
/// state was one record and the state root its hash) is refused at open
/// with a message that says so, never misread.
#[test]
fn a_store_in_the_earlier_state_format_is_refused_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let n = net();
    {
        let mut store = RedbStore::open_or_create(&path, &n.genesis).expect("create");
        let (block, cert) = n.block_after(store.tip(), n.txs(0, 2));
        store.append(&block, Some(&cert)).expect("append");
    }
    {
        // What an earlier build left: no format mark.
        let db = redb::Database::open(&path).expect("redb");
        let txn = db.begin_write().expect("write");
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
                .expect("meta");
            meta.remove("state_format").expect("remove");
        }
        txn.commit().expect("commit");
    }
    let err = RedbStore::open(&path).expect_err("refused");
    assert!(
        matches!(err, StoreError::OldFormat { found: 1, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("earlier build")
            && text.contains(&format!("format {}", smart_ledger::store::STATE_FORMAT)),
        "{text}"
    );
    let err = RedbStore::open_or_create(&path, &n.genesis).expect_err("refused");
    assert!(matches!(err, StoreError::OldFormat { .. }), "{err}");
    {
        // What the build before this one left: format 2.
        let db = redb::Database::open(&path).expect("redb");
        let txn = db.begin_write().expect("write");
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
                .expect("meta");
            let mut sealed = smart_ledger::Hash::of(&2u32.to_be_bytes()).0.to_vec();
            sealed.extend_from_slice(&2u32.to_be_bytes());
            meta.insert("state_format", sealed.as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
    let err = RedbStore::open(&path).expect_err("refused");
    assert!(
        matches!(err, StoreError::OldFormat { found: 2, .. }),
        "{err}"
    );
}
