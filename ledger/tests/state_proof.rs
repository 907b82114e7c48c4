//! State proof files: every present record proves its value and every
//! absent one its absence, offline, from the file and the chain id; no
//! mutation of a proof (path, value, key, kind, height, header, signature,
//! chain) verifies, except a proof of absence re-aimed at another address
//! that is just as absent (its path ends on the same empty slot); a proof across
//! a hub-set change verifies with the hub set at its height.

use std::collections::BTreeMap;

use proptest::prelude::*;
use smart_ledger::membership::HubChange;
use smart_ledger::state_proof::{HubSetChange, STATE_PROOF_FORMAT, StateProofFile};
use smart_ledger::state_tree::StateTree;
use smart_ledger::*;

const KINDS: [&str; 3] = ["jobs", "tokens", "equipment"];

struct Chain {
    genesis: Genesis,
    hubs: Vec<Keypair>,
    admin: Keypair,
}

fn chain() -> Chain {
    let hubs: Vec<Keypair> = (0..3u8).map(|i| Keypair::from_seed([i + 40; 32])).collect();
    let admin = Keypair::from_seed([9; 32]);
    let genesis = Genesis {
        chain_name: "state-proof-test".into(),
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
    Chain {
        genesis,
        hubs,
        admin,
    }
}

fn certify(block: &Block, signers: &[&Keypair]) -> BlockCert {
    let mut cert = BlockCert::new(&block.header);
    for k in signers {
        cert.sign(k);
    }
    cert
}

type Records = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

fn tree_of(records: &Records) -> StateTree {
    let mut tree = StateTree::new();
    for ((kind, key), value) in records {
        tree.set(kind, key, Some(Hash::of(value)));
    }
    tree
}

/// The proof of `(kind, key)` in `records` at `header`.
fn proof_of(
    c: &Chain,
    records: &Records,
    tree: &StateTree,
    changes: Vec<HubSetChange>,
    (block, cert): (&Block, &BlockCert),
    kind: &'static str,
    key: &[u8],
) -> StateProofFile {
    let value = records.get(&(kind, key.to_vec())).cloned();
    let proof = tree
        .prove(kind, key, value.as_ref().map(|v| Hash::of(v)), |path| {
            records
                .iter()
                .find(|((k, key), _)| state_tree::path_of(k, key) == *path)
                .map(|((k, key), v)| (k.to_string(), key.clone(), Hash::of(v)))
        })
        .expect("prove");
    StateProofFile {
        format: STATE_PROOF_FORMAT.into(),
        chain_id: c.genesis.chain_id(),
        genesis: c.genesis.clone(),
        hub_changes: changes,
        header: block.header.clone(),
        cert: cert.clone(),
        kind: kind.into(),
        key: Bytes(key.to_vec()),
        value: value.map(Bytes),
        proof,
    }
}

fn records() -> impl Strategy<Value = Records> {
    prop::collection::btree_map(
        (0usize..3, prop::collection::vec(any::<u8>(), 1..6)),
        prop::collection::vec(any::<u8>(), 0..20),
        1..40,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|((k, key), v)| ((KINDS[k], key), v))
            .collect()
    })
}

/// Every way to change a verifying proof; each must make it fail.
fn mutations(p: &StateProofFile) -> Vec<(&'static str, StateProofFile)> {
    let mut out = Vec::new();
    let mut m = p.clone();
    if let Some(s) = m.proof.siblings.first_mut() {
        s.0[0] ^= 1;
        out.push(("path", m));
    }
    let mut m = p.clone();
    m.value = match &m.value {
        Some(v) => {
            let mut v = v.0.clone();
            v.push(1);
            Some(Bytes(v))
        }
        None => Some(Bytes(b"invented".to_vec())),
    };
    out.push(("value", m));
    let mut m = p.clone();
    m.key.0.push(0xee);
    out.push(("key", m));
    let mut m = p.clone();
    m.kind = "tokens-x".into();
    out.push(("kind", m));
    let mut m = p.clone();
    m.header.height += 1;
    out.push(("height", m));
    let mut m = p.clone();
    m.header.state_root.0[3] ^= 1;
    out.push(("header", m));
    let mut m = p.clone();
    m.cert.signatures[0].signature.0[9] ^= 1;
    out.push(("signature", m));
    let mut m = p.clone();
    m.cert.signatures.truncate(1);
    out.push(("too few signatures", m));
    let mut m = p.clone();
    m.chain_id.0[0] ^= 1;
    out.push(("chain", m));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn present_and_absent_records_prove_and_no_mutation_verifies(
        recs in records(),
        absent in prop::collection::vec(any::<u8>(), 6..9),
    ) {
        let c = chain();
        let tree = tree_of(&recs);
        let tip = ChainTip::genesis(c.genesis.chain_id());
        let block = tip.next_block(vec![], vec![], tree.root(), 1, Timestamp(5));
        let signers: Vec<&Keypair> = c.hubs.iter().take(2).collect();
        let cert = certify(&block, &signers);
        let chain_id = c.genesis.chain_id();
        let mut files: Vec<StateProofFile> = recs
            .keys()
            .map(|(kind, key)| proof_of(&c, &recs, &tree, vec![], (&block, &cert), kind, key))
            .collect();
        files.push(proof_of(&c, &recs, &tree, vec![], (&block, &cert), "jobs", &absent));
        for file in &files {
            let proven = file.verify(Some(&chain_id)).expect("verifies");
            prop_assert_eq!(&proven.value, &file.value);
            prop_assert_eq!(proven.height, 1);
            // Through JSON, as the file is written.
            let text = serde_json::to_string(file).expect("json");
            let back: StateProofFile = serde_json::from_str(&text).expect("parse");
            prop_assert!(back.verify(Some(&chain_id)).is_ok());
            for (what, m) in mutations(file) {
                match m.verify(Some(&chain_id)) {
                    Err(_) => {}
                    // The only mutation that may still verify: another address
                    // that shares the absent key's path to an empty slot
                    // (so it is absent too). A mutation never proves a
                    // falsehood, and a present record's proof never moves.
                    Ok(p) => {
                        prop_assert!(
                            (what == "key" || what == "kind") && file.value.is_none(),
                            "mutated {} verified", what
                        );
                        let kind: &str = &p.kind;
                        let truth = recs
                            .iter()
                            .find(|((k, key), _)| *k == kind && key.as_slice() == p.key.0.as_slice())
                            .map(|(_, v)| v.clone());
                        prop_assert_eq!(p.value.map(|b| b.0), truth, "a mutated proof proved a falsehood");
                    }
                }
            }
        }
        let other_chain = Hash::of(b"another chain");
        prop_assert!(files[0].verify(Some(&other_chain)).is_err());
    }
}

/// Block 1 adds a fourth hub and removes hub 0; block 2 is certified by
/// the new set only. Its state proof verifies with the change in the file,
/// and not without it; a change whose tx is not in its block is refused.
#[test]
fn a_proof_across_a_hub_set_change_verifies_with_the_set_at_its_height() {
    let c = chain();
    let new_hub = Keypair::from_seed([77; 32]);
    let chain_id = c.genesis.chain_id();
    let membership = |change: HubChange, nonce: u64| {
        let body = TxBody {
            chain_id,
            author: c.admin.id(),
            kind: TxKind::Membership,
            payload: Bytes(change.encode()),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        SignedTx::sign(body, &c.admin).expect("sign")
    };
    let txs = vec![
        membership(
            HubChange::Add {
                hub: new_hub.id(),
                addr: "/ip4/127.0.0.1/tcp/1".into(),
            },
            1,
        ),
        membership(
            HubChange::Remove {
                hub: c.hubs[0].id(),
            },
            2,
        ),
    ];
    let mut records: Records = BTreeMap::new();
    records.insert(("jobs", b"job-1".to_vec()), b"open".to_vec());
    let tree = tree_of(&records);
    let tip = ChainTip::genesis(chain_id);
    let block1 = tip.next_block(
        txs,
        vec![Outcome::Accepted, Outcome::Accepted],
        tree.root(),
        1,
        Timestamp(5),
    );
    let old: Vec<&Keypair> = c.hubs.iter().take(2).collect();
    let cert1 = certify(&block1, &old);
    let (tip1, _) = tip.check_next(&block1).expect("next");
    let block2 = tip1.next_block(vec![], vec![], tree.root(), 2, Timestamp(6));
    // The set at height 2: hubs 1, 2 and the new one. Hubs 1 and new sign.
    let cert2 = certify(&block2, &[&c.hubs[1], &new_hub]);
    let change = HubSetChange::of(&block1, &cert1).expect("a change");
    let file = proof_of(
        &c,
        &records,
        &tree,
        vec![change.clone()],
        (&block2, &cert2),
        "jobs",
        b"job-1",
    );
    let proven = file
        .verify(Some(&chain_id))
        .expect("verifies across the change");
    let mut hubs = vec![c.hubs[1].id(), c.hubs[2].id(), new_hub.id()];
    hubs.sort();
    assert_eq!(proven.hubs, hubs);

    // Without the change, the genesis set does not find a majority.
    let mut without = file.clone();
    without.hub_changes.clear();
    assert!(without.verify(Some(&chain_id)).is_err());
    // A change whose tx path is broken, or a tx moved, is refused.
    let mut broken = file.clone();
    broken.hub_changes[0].txs[0].path[0].0[0] ^= 1;
    assert!(broken.verify(Some(&chain_id)).is_err());
    let mut dropped = file.clone();
    dropped.hub_changes[0].txs.remove(1);
    // Dropping the removal keeps hub 0 in the set: 2 of 4 is not a majority.
    assert!(dropped.verify(Some(&chain_id)).is_err());
    // A change at or after the proven height is refused.
    let mut late = file;
    late.hub_changes[0].header.height = 2;
    assert!(late.verify(Some(&chain_id)).is_err());
}
