//! Bad input: random and truncated bytes never panic and never allocate
//! beyond the decoder's limit (nor more than a small multiple of the input);
//! forged signatures, wrong chains and unknown authors are refused with a
//! clear error.
#![allow(unsafe_code)] // the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use smart_ledger::codec::{MAX_BLOCK_BYTES, MAX_CERT_BYTES, MAX_GENESIS_BYTES, MAX_TX_BYTES};
use smart_ledger::id::SignatureError;
use smart_ledger::*;

/// Counts this thread's live heap bytes and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| {
            let now = l.get() + layout.size();
            l.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes allocated by `f` on this thread, above what was live before.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

/// Every decoder that takes bytes from outside, with its limit.
/// (name, size limit, decode function).
type Decoder = (&'static str, usize, fn(&[u8]));

fn decoders() -> Vec<Decoder> {
    vec![
        ("tx", MAX_TX_BYTES, |b| drop(SignedTx::decode(b))),
        ("block", MAX_BLOCK_BYTES, |b| drop(Block::decode(b))),
        ("cert", MAX_CERT_BYTES, |b| drop(BlockCert::decode(b))),
        ("genesis", MAX_GENESIS_BYTES, |b| drop(Genesis::decode(b))),
        ("genesis-json", MAX_GENESIS_BYTES, |b| {
            drop(Genesis::from_json(&String::from_utf8_lossy(b)))
        }),
        ("proof-json", 16 << 20, |b| {
            drop(serde_json::from_slice::<proof::TxProof>(b))
        }),
    ]
}

fn check_bounded(name: &str, limit: usize, decode: fn(&[u8]), input: &[u8]) {
    let peak = peak_of(|| decode(input));
    let linear = 8 * input.len() + 16 * 1024;
    assert!(
        peak <= limit,
        "{name}: {peak} bytes allocated for a {}-byte input, over the limit {limit}",
        input.len()
    );
    assert!(
        peak <= linear,
        "{name}: {peak} bytes allocated for a {}-byte input (amplification)",
        input.len()
    );
}

fn network() -> (Genesis, Vec<Keypair>) {
    let keys: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
    let genesis = Genesis {
        chain_name: "test".into(),
        created: Timestamp(1),
        peers: (0..3)
            .map(|i| GenesisPeer {
                name: format!("hub-{i}"),
                id: keys[i].id(),
                role: PeerRole::Hub,
            })
            .collect(),
        members: vec![GenesisMember {
            name: "admin".into(),
            id: keys[3].id(),
            roles: vec![Role::Admin],
        }],
    };
    (genesis, keys)
}

fn sample_tx(genesis: &Genesis, key: &Keypair, nonce: u64) -> SignedTx {
    let body = TxBody {
        chain_id: genesis.chain_id(),
        author: key.id(),
        kind: TxKind::JobAction,
        payload: Bytes(b"{\"job\":\"JOB-1\",\"step\":\"pre-check\"}".to_vec()),
        author_time: Timestamp(1_790_000_000_000),
        location: Some("station-3".into()),
        contract: Some(ContractRef {
            id: "po-4471".into(),
            version: 2,
        }),
        nonce,
    };
    SignedTx::sign(body, key).expect("sign")
}

/// Valid encodings of every decoded type, to truncate and mutate.
fn valid_encodings() -> Vec<(&'static str, Vec<u8>)> {
    let (genesis, keys) = network();
    let txs: Vec<SignedTx> = (0..3).map(|n| sample_tx(&genesis, &keys[3], n)).collect();
    let tip = ChainTip::genesis(genesis.chain_id());
    let block = tip.next_block(
        txs.clone(),
        vec![
            Outcome::Accepted,
            Outcome::Refused {
                code: 7,
                reason: "token expired".into(),
            },
            Outcome::Accepted,
        ],
        Hash::ZERO,
        1,
        Timestamp(5),
    );
    let mut cert = BlockCert::new(&block.header);
    for k in &keys[..3] {
        cert.sign(k);
    }
    vec![
        ("tx", txs[0].encode()),
        ("block", block.encode()),
        ("cert", cert.encode()),
        ("genesis", genesis.canonical_bytes()),
        ("genesis-json", genesis.to_json().into_bytes()),
    ]
}

#[test]
fn truncations_and_byte_flips_of_valid_encodings_never_panic_or_overallocate() {
    let decoders = decoders();
    for (name, bytes) in valid_encodings() {
        let (_, limit, decode) = decoders
            .iter()
            .find(|(n, ..)| *n == name)
            .copied()
            .expect("decoder");
        for cut in 0..bytes.len() {
            check_bounded(name, limit, decode, &bytes[..cut]);
        }
        for pos in 0..bytes.len() {
            let mut b = bytes.clone();
            b[pos] ^= 0xff;
            check_bounded(name, limit, decode, &b);
        }
    }
}

#[test]
fn the_allocation_counter_sees_decoding() {
    let (name, bytes) = valid_encodings().swap_remove(1);
    assert_eq!(name, "block");
    let peak = peak_of(|| drop(Block::decode(&bytes).expect("valid block")));
    assert!(
        peak >= bytes.len(),
        "counted only {peak} bytes for a {}-byte block",
        bytes.len()
    );
}

#[test]
fn huge_length_prefixes_do_not_allocate() {
    // A version byte, then a varint claiming ~2^63 elements or bytes.
    let mut evil = vec![1u8];
    evil.extend_from_slice(&[0xff; 9]);
    evil.push(0x7f);
    for (name, limit, decode) in decoders() {
        check_bounded(name, limit, decode, &evil);
        check_bounded(name, limit, decode, &evil[1..]);
    }
}

#[test]
fn oversized_inputs_are_refused_before_decoding() {
    let big = vec![0u8; MAX_TX_BYTES + 1];
    let err = SignedTx::decode(&big).expect_err("oversized");
    assert!(err.to_string().contains("over the limit"), "{err}");
    let err = BlockCert::decode(&vec![1u8; MAX_CERT_BYTES + 1]).expect_err("oversized");
    assert!(err.to_string().contains("over the limit"), "{err}");
}

#[test]
fn valid_encodings_round_trip() {
    let (genesis, keys) = network();
    let tx = sample_tx(&genesis, &keys[3], 9);
    let back = SignedTx::decode(&tx.encode()).expect("decode");
    assert_eq!(back, tx);
    assert_eq!(back.hash(), tx.hash());
    assert_eq!(
        Genesis::decode(&genesis.canonical_bytes()).expect("genesis"),
        genesis
    );
    assert_eq!(
        Genesis::from_json(&genesis.to_json())
            .expect("json")
            .chain_id(),
        genesis.chain_id()
    );
}

#[test]
fn non_canonical_and_trailing_bytes_are_refused() {
    let (genesis, keys) = network();
    let tx = sample_tx(&genesis, &keys[3], 1);
    let mut trailing = tx.encode();
    trailing.push(0);
    assert!(SignedTx::decode(&trailing).is_err());
    // An overlong varint for the nonce inside the signed body bytes.
    let mut body = tx.body_bytes().to_vec();
    let last = body.len() - 1; // nonce 1 is the final byte 0x01
    body[last] = 0x81;
    body.push(0x00);
    let err = SignedTx::from_parts(body, *tx.signature()).expect_err("overlong varint");
    assert!(
        err.to_string().contains("canonical") || err.to_string().contains("malformed"),
        "{err}"
    );
}

#[test]
fn forged_signature_wrong_chain_and_unknown_author_are_refused() {
    let (genesis, keys) = network();
    let chain = genesis.chain_id();
    let known = |id: &SmartId| genesis.knows(id);
    let tx = sample_tx(&genesis, &keys[3], 1);
    tx.check_admission(&chain, known)
        .expect("a good tx is admitted");

    // Forged: the admin's body, signed by someone else.
    let forger = Keypair::from_seed([99; 32]);
    let forged = SignedTx::from_parts(tx.body_bytes().to_vec(), forger.sign(tx.body_bytes()))
        .expect("decodes");
    let err = forged.check_admission(&chain, known).expect_err("forged");
    assert_eq!(
        err,
        TxError::Signature(SignatureError::Invalid(keys[3].id()))
    );
    assert!(err.to_string().contains("does not verify"), "{err}");

    // Any flipped signature bit.
    for bit in [0usize, 100, 300, 511] {
        let mut sig = *tx.signature();
        sig.0[bit / 8] ^= 1 << (bit % 8);
        let bad = SignedTx::from_parts(tx.body_bytes().to_vec(), sig).expect("decodes");
        assert!(bad.check_admission(&chain, known).is_err(), "bit {bit}");
    }

    // Wrong chain.
    let other = Hash::of(b"another shop");
    let err = tx.check_admission(&other, known).expect_err("wrong chain");
    assert!(matches!(err, TxError::WrongChain { .. }), "{err}");
    assert!(err.to_string().contains("is for chain"), "{err}");

    // Unknown author, even with a valid signature of their own.
    let stranger = Keypair::from_seed([42; 32]);
    let body = TxBody {
        author: stranger.id(),
        ..tx.body().clone()
    };
    let theirs = SignedTx::sign(body, &stranger).expect("sign");
    let err = theirs
        .check_admission(&chain, known)
        .expect_err("unknown author");
    assert_eq!(err, TxError::UnknownAuthor(stranger.id()));
    assert!(err.to_string().contains("not a known identity"), "{err}");

    // A key can only sign its own body.
    assert!(matches!(
        SignedTx::sign(tx.body().clone(), &stranger),
        Err(TxError::AuthorMismatch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_or_overallocate(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
        for (name, limit, decode) in decoders() {
            check_bounded(name, limit, decode, &bytes);
            // And with a valid version byte in front, to reach the body decoders.
            let mut versioned = vec![1u8];
            versioned.extend_from_slice(&bytes);
            check_bounded(name, limit, decode, &versioned);
        }
    }
}
