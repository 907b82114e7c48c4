//! Full verification of a stored ledger: every record's stored hash, every
//! block's structure, chain link, accumulator, certificate, and every tx
//! signature (batch verification on all cores, strict re-check to name a bad
//! one). Stops at the first failure and names its height and tx.

use serde::Serialize;

use crate::block::Block;
use crate::chain::ChainTip;
use crate::hash::Hash;
use crate::id::{self, Signature, SmartId};
use crate::store::BlockStore;

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

/// Verifies the whole ledger in `store`. `progress(done_blocks, total_blocks)`
/// is called as it goes.
pub fn verify_ledger(
    store: &impl BlockStore,
    mut progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    let genesis = store.genesis();
    let hubs = genesis.hubs();
    let target = store.tip().height;
    let mut tip = ChainTip::genesis(genesis.chain_id());
    let mut height = 1u64;
    while height <= target {
        // Read and chain-check a window of blocks.
        let mut window: Vec<Block> = Vec::new();
        let mut txs_in_window = 0usize;
        let mut structural: Option<AuditFailure> = None;
        while height <= target && txs_in_window < WINDOW_TXS {
            let fail = |reason: String| AuditFailure {
                height,
                tx: None,
                reason,
            };
            let block = match store.block(height) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    structural = Some(fail("missing from the store".into()));
                    break;
                }
                Err(e) => {
                    structural = Some(fail(e.to_string()));
                    break;
                }
            };
            let next = match tip.check_next(&block) {
                Ok((next, _)) => next,
                Err(e) => {
                    structural = Some(fail(e.to_string()));
                    break;
                }
            };
            let cert_check = match store.cert(height) {
                Ok(Some(cert)) => cert
                    .check_final(&block.header, &hubs)
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("no certificate".into()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(reason) = cert_check {
                structural = Some(fail(format!("certificate: {reason}")));
                break;
            }
            if let Some((position, tx)) = block
                .txs
                .iter()
                .enumerate()
                .find(|(_, tx)| tx.body().chain_id != tip.chain_id)
            {
                structural = Some(AuditFailure {
                    height,
                    tx: Some((position, tx.hash())),
                    reason: "tx is for another chain".into(),
                });
                break;
            }
            tip = next;
            txs_in_window += block.txs.len();
            window.push(block);
            height += 1;
        }
        verify_window_signatures(&window)?;
        if let Some(f) = structural {
            return Err(f);
        }
        progress(height - 1, target);
    }
    Ok(AuditReport {
        chain_id: tip.chain_id,
        blocks: tip.height,
        txs: tip.acc.size(),
        tip_hash: tip.hash,
        ledger_root: tip.acc.root(),
    })
}

/// Batch-verifies every tx signature of a window, split across the cores.
fn verify_window_signatures(window: &[Block]) -> Result<(), AuditFailure> {
    let items: Vec<(SmartId, &[u8], Signature, u64, usize, Hash)> = window
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
