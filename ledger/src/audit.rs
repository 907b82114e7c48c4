//! Full verification of a stored ledger: every record's stored hash, every
//! block's structure, chain link, accumulator, certificate, and every tx
//! signature (batch verification on all cores, strict re-check to name a bad
//! one). Stops at the first failure and names its height and tx.

use serde::Serialize;

use crate::block::Block;
use crate::chain::ChainTip;
use crate::hash::Hash;
use crate::id::{self, Signature, SmartId};
use crate::store::{BlockStore, RedbStore};

/// Blocks read and chain-checked before their signatures are verified together.
const WINDOW_TXS: usize = 8192;

/// What an intact ledger holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The chain id.
    pub chain_id: Hash,
    /// Blocks checked.
    pub blocks: u64,
    /// Txs checked.
    pub txs: u64,
    /// Tip hash.
    pub tip_hash: Hash,
    /// Ledger root at the tip.
    pub ledger_root: Hash,
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("block {height}{}: {reason}", tx.map(|(p, h)| format!(", tx {p} ({h})")).unwrap_or_default())]
pub struct AuditFailure {
    /// Height of the bad block.
    pub height: u64,
    /// Position and hash of the bad tx, when a tx is to blame.
    pub tx: Option<(usize, Hash)>,
    /// What is wrong.
    pub reason: String,
}

/// A run of consecutive blocks that passed every check but signatures, and
/// the structural failure that ended it, if any.
struct Window {
    blocks: Vec<Block>,
    last_height: u64,
    failure: Option<AuditFailure>,
}

/// Verifies the whole ledger in `store`. `progress(done_blocks, total_blocks)`
/// is called as it goes.
///
/// A reader thread reads, decodes and chain-checks windows of blocks while
/// the signatures of the previous window are batch-verified on every core.
pub fn verify_ledger<S: BlockStore + Sync>(
    store: &S,
    mut progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    let target = store.tip().height;
    std::thread::scope(|scope| {
        let (sender, windows) = std::sync::mpsc::sync_channel::<Window>(1);
        let reader = scope.spawn(move || read_windows(store, target, sender));
        for window in windows {
            verify_window_signatures(&window.blocks)?;
            if let Some(f) = window.failure {
                return Err(f);
            }
            progress(window.last_height, target);
        }
        let tip = reader.join().map_err(|_| AuditFailure {
            height: 0,
            tx: None,
            reason: "reader thread panicked".into(),
        })?;
        Ok(AuditReport {
            chain_id: tip.chain_id,
            blocks: tip.height,
            txs: tip.acc.size(),
            tip_hash: tip.hash,
            ledger_root: tip.acc.root(),
        })
    })
}

/// Reads blocks 1..=target in windows, checking records, structure, chain
/// links, the accumulator and certificates. Stops after the first failure
/// (or when the receiver hangs up) and returns the tip it reached.
fn read_windows(
    store: &impl BlockStore,
    target: u64,
    sender: std::sync::mpsc::SyncSender<Window>,
) -> ChainTip {
    let genesis = store.genesis();
    // The hub set that must certify the next block: genesis hubs, changed by
    // accepted membership txs.
    let mut hubs: std::collections::BTreeSet<SmartId> = genesis.hubs().into_iter().collect();
    let mut tip = ChainTip::genesis(genesis.chain_id());
    let mut height = 1u64;
    while height <= target {
        let mut window = Window {
            blocks: Vec::new(),
            last_height: height - 1,
            failure: None,
        };
        let mut txs_in_window = 0usize;
        while height <= target && txs_in_window < WINDOW_TXS {
            let hub_list: Vec<SmartId> = hubs.iter().copied().collect();
            match check_block(store, &tip, &hub_list, height) {
                Ok((block, next)) => {
                    hubs = crate::membership::hub_set_after(&block, hubs);
                    tip = next;
                    txs_in_window += block.txs.len();
                    window.blocks.push(block);
                    window.last_height = height;
                    height += 1;
                }
                Err(f) => {
                    window.failure = Some(f);
                    break;
                }
            }
        }
        let failed = window.failure.is_some();
        if sender.send(window).is_err() || failed {
            break;
        }
    }
    tip
}

/// Every check of one block except its tx signatures.
fn check_block(
    store: &impl BlockStore,
    tip: &ChainTip,
    hubs: &[SmartId],
    height: u64,
) -> Result<(Block, ChainTip), AuditFailure> {
    let fail = |reason: String| AuditFailure {
        height,
        tx: None,
        reason,
    };
    let block = match store.block(height) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(fail("missing from the store".into())),
        Err(e) => return Err(fail(e.to_string())),
    };
    let (next, _) = tip.check_next(&block).map_err(|e| fail(e.to_string()))?;
    match store.cert(height) {
        Ok(Some(cert)) => cert
            .check_final(&block.header, hubs)
            .map_err(|e| fail(format!("certificate: {e}")))?,
        Ok(None) => return Err(fail("certificate: missing".into())),
        Err(e) => return Err(fail(format!("certificate: {e}"))),
    }
    if let Some((position, tx)) = block
        .txs
        .iter()
        .enumerate()
        .find(|(_, tx)| tx.body().chain_id != tip.chain_id)
    {
        return Err(AuditFailure {
            height,
            tx: Some((position, tx.hash())),
            reason: "tx is for another chain".into(),
        });
    }
    Ok((block, next))
}

/// One tx signature to check: author, signed bytes, signature, and where
/// the tx is (height, position, hash) to name it if it fails.
type SignatureItem<'a> = (SmartId, &'a [u8], Signature, u64, usize, Hash);

/// Batch-verifies every tx signature of a window, split across the cores.
fn verify_window_signatures(window: &[Block]) -> Result<(), AuditFailure> {
    let items: Vec<SignatureItem<'_>> = window
        .iter()
        .flat_map(|b| {
            b.txs.iter().enumerate().map(|(p, tx)| {
                (
                    tx.author(),
                    tx.body_bytes(),
                    *tx.signature(),
                    b.header.height,
                    p,
                    tx.hash(),
                )
            })
        })
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = items.len().div_ceil(threads).max(1);
    let failures: Vec<Option<AuditFailure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let triples: Vec<(SmartId, &[u8], Signature)> =
                        part.iter().map(|(a, m, s, ..)| (*a, *m, *s)).collect();
                    id::verify_many(&triples).err().map(|(i, e)| {
                        let (_, _, _, height, position, hash) = part[i];
                        AuditFailure {
                            height,
                            tx: Some((position, hash)),
                            reason: e.to_string(),
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Some(AuditFailure {
                        height: 0,
                        tx: None,
                        reason: "verifier thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    // Chunks are in ledger order, so the first failure is the earliest.
    match failures.into_iter().flatten().next() {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// What the stored contract state holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateReport {
    /// Records checked.
    pub records: u64,
    /// The root of the state tree over them.
    pub state_root: Hash,
    /// The block whose certified state root it equals (0: the genesis state).
    pub height: u64,
}

/// Recomputes the state root from every stored state record (each one
/// re-checked against the hash it was stored under: a damaged one is named)
/// and compares it with `certified`'s state root, the header of the block
/// the stored state belongs to (none: the store holds the genesis state).
pub fn verify_state(
    store: &RedbStore,
    certified: Option<&crate::block::BlockHeader>,
) -> Result<StateReport, AuditFailure> {
    let height = certified.map_or(0, |h| h.height);
    let fail = |reason: String| AuditFailure {
        height,
        tx: None,
        reason,
    };
    let mut tree = crate::state_tree::TreeLoader::new();
    let records = store
        .visit_state(|kind, key, value| tree.add(kind, key, &Hash::of(value)))
        .map_err(|e| fail(e.to_string()))?;
    let state_root = tree.finish().root();
    if let Some(header) = certified
        && header.state_root != state_root
    {
        return Err(fail(format!(
            "the stored state records ({records}) hash to state root {state_root}, but the block certifies {}: a record was added, removed or replaced",
            header.state_root
        )));
    }
    Ok(StateReport {
        records,
        state_root,
        height,
    })
}
