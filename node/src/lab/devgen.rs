//! DEVELOPMENT ONLY: a ledger generator.
//!
//! Until hub consensus exists there is no way to make a real ledger, and
//! verify, prove and the benchmarks need one. This signs realistic filler
//! txs with the people's real keys, builds blocks with the real chain rules,
//! certifies each with the hub keys of the init folder and appends them to
//! the peer's real store. Its txs are of kind `DevFiller` so they can never
//! be mistaken for shop actions.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{
    Block, BlockCert, Bytes, Genesis, Keypair, PeerRole, SignedTx, Timestamp, TxBody, TxKind,
};

use crate::peer::folders::find_key;

/// The keys that sign a dev ledger.
#[derive(Debug)]
pub(crate) struct DevSigners {
    pub authors: Vec<Keypair>,
    pub hubs: Vec<Keypair>,
}

impl DevSigners {
    /// Loads the people's and hubs' keys of `genesis` from an init folder.
    pub fn load(root: &Path, genesis: &Genesis) -> Result<DevSigners> {
        let authors = genesis
            .members
            .iter()
            .map(|m| find_key(root, &m.name))
            .collect::<Result<Vec<_>>>()?;
        let hubs = genesis
            .peers
            .iter()
            .filter(|p| p.role == PeerRole::Hub)
            .map(|p| find_key(root, &p.name))
            .collect::<Result<Vec<_>>>()?;
        if authors.is_empty() || hubs.is_empty() {
            bail!("the genesis lists no people or no hubs");
        }
        Ok(DevSigners { authors, hubs })
    }
}

/// A 256-byte payload that reads like a furnace reading.
fn filler_payload(n: u64) -> Bytes {
    let mut text = format!(
        "{{\"job\":\"JOB-{:05}\",\"station\":\"station-{}\",\"step\":\"soak\",\"temp_c\":{},\"minutes\":{}}}",
        n / 64,
        n % 6 + 1,
        840 + n % 11,
        60 + n % 5
    )
    .into_bytes();
    text.resize(256, b' ');
    Bytes(text)
}

/// Signs `count` filler txs starting at sequence number `first`.
pub(crate) fn sign_txs(
    genesis: &Genesis,
    signers: &DevSigners,
    first: u64,
    count: usize,
) -> Result<Vec<SignedTx>> {
    let chain_id = genesis.chain_id();
    (0..count as u64)
        .map(|i| {
            let n = first + i;
            let key = &signers.authors[(n % signers.authors.len() as u64) as usize];
            let body = TxBody {
                chain_id,
                author: key.id(),
                kind: TxKind::DevFiller,
                payload: filler_payload(n),
                author_time: Timestamp(1_790_000_000_000 + n),
                location: Some(format!("station-{}", n % 6 + 1)),
                contract: None,
                nonce: n,
            };
            Ok(SignedTx::sign(body, key)?)
        })
        .collect()
}

/// Runs `txs` through the contract VM (outcomes and state root are the
/// real ones, so every replica re-computes the same block), certifies it
/// with every hub key and durably appends it with the state.
pub(crate) fn append_block(
    store: &mut RedbStore,
    signers: &DevSigners,
    state: &mut smart_contracts::RootedState,
    txs: Vec<SignedTx>,
) -> Result<Block> {
    let time = Timestamp(store.tip().time.0.max(1_790_000_000_000) + 1000);
    append_block_at(store, signers, state, txs, time)
}

/// [`append_block`] at the ledger time `time` (never before the tip's).
pub(crate) fn append_block_at(
    store: &mut RedbStore,
    signers: &DevSigners,
    state: &mut smart_contracts::RootedState,
    txs: Vec<SignedTx>,
    time: Timestamp,
) -> Result<Block> {
    Ok(append_block_timed(store, signers, state, txs, time)?.0)
}

/// Where a block's apply time went: the VM, the state root (the write set
/// into the state tree), and the durable write of block, certificate and
/// changed records.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BlockTiming {
    pub vm: std::time::Duration,
    pub root: std::time::Duration,
    pub write: std::time::Duration,
    /// The write's parts, as the store timed them.
    pub write_parts: smart_ledger::store::AppendParts,
    pub txs: usize,
}

/// [`append_block_at`], timing each part.
pub(crate) fn append_block_timed(
    store: &mut RedbStore,
    signers: &DevSigners,
    state: &mut smart_contracts::RootedState,
    txs: Vec<SignedTx>,
    time: Timestamp,
) -> Result<(Block, BlockTiming)> {
    let tip = store.tip().clone();
    let count = txs.len();
    let t = std::time::Instant::now();
    let (outcomes, _) = smart_contracts::vm::apply_block(state.state_mut(), &txs, time);
    let vm = t.elapsed();
    let t = std::time::Instant::now();
    let writes = state.seal();
    let root = state.root();
    let root_time = t.elapsed();
    let block = tip.next_block(txs, outcomes, root, tip.height + 1, time);
    let mut cert = BlockCert::new(&block.header);
    for hub in &signers.hubs {
        cert.sign(hub);
    }
    let t = std::time::Instant::now();
    store.append_with(&block, Some(&cert), &[], &writes)?;
    let write = t.elapsed();
    Ok((
        block,
        BlockTiming {
            vm,
            root: root_time,
            write,
            write_parts: store.last_append_parts(),
            txs: count,
        },
    ))
}

/// A development ledger's genesis, the signers of its init folder (`keys`,
/// default: the parent of `data`) and its store; `block_size` checked.
pub(crate) fn open_dev(
    data: &Path,
    keys: Option<&Path>,
    block_size: usize,
) -> Result<(Genesis, DevSigners, RedbStore)> {
    if block_size == 0 || block_size > smart_ledger::codec::MAX_BLOCK_TXS {
        bail!(
            "--block-size must be between 1 and {}",
            smart_ledger::codec::MAX_BLOCK_TXS
        );
    }
    let folder = crate::peer::folders::PeerFolder::new(data);
    let genesis = folder.genesis()?;
    let root = match keys {
        Some(k) => k.to_path_buf(),
        None => data
            .canonicalize()?
            .parent()
            .context("--data has no parent folder; give --keys")?
            .to_path_buf(),
    };
    let signers = DevSigners::load(&root, &genesis)?;
    let store = folder.open_store()?;
    Ok((genesis, signers, store))
}

pub(crate) fn generate(
    data: &Path,
    txs: u64,
    block_size: usize,
    keys: Option<&Path>,
    print_durable: bool,
) -> Result<()> {
    let (genesis, signers, mut store) = open_dev(data, keys, block_size)?;
    let certified = smart_consensus::stored::tip_header(&store)?;
    let mut state = smart_consensus::stored::open_state(&mut store, certified.as_ref())?;
    let mut left = txs;
    let stdout = std::io::stdout();
    while left > 0 {
        let n = left.min(block_size as u64) as usize;
        let batch = sign_txs(&genesis, &signers, store.tip().acc.size(), n)?;
        let block = append_block(&mut store, &signers, &mut state, batch)?;
        left -= n as u64;
        if print_durable {
            let mut out = stdout.lock();
            writeln!(out, "durable {}", block.header.height)?;
            out.flush()?;
        }
    }
    let tip = store.tip();
    eprintln!(
        "DEV ledger: {} blocks, {} txs, tip {}",
        tip.height,
        tip.acc.size(),
        tip.hash
    );
    Ok(())
}
