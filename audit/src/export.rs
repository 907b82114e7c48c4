//! Building a job's audit pack from a peer's store.

use std::collections::BTreeSet;

use smart_ledger::membership::hub_set_after;
use smart_ledger::merkle::{self, MemoryTree};
use smart_ledger::store::{BlockStore, StoreError};
use smart_ledger::{BlockCert, SignedTx, SmartId};

use crate::pack::{AuditPack, PACK_FORMAT, PackBlock, PackTx};
use crate::scope::{Relevance, relevance};

/// Why a pack could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger holds no tx of the job.
    #[error("no tx of job {0} is in this ledger")]
    NoSuchJob(String),
    /// A block the pack needs has no certificate yet.
    #[error("block {0} has no certificate yet; export again once it is certified")]
    Uncertified(u64),
    /// The store is inconsistent.
    #[error("{0}")]
    Corrupt(String),
}

/// Makes the audit pack of job `job` from `store`: every block up to the
/// job's last tx that holds a tx of the job or of its context (see
/// [`crate::scope`]), with certificates cut to the hub set at each height,
/// and the job's txs proven in the ledger-wide tree at the last such block.
pub fn export<S: BlockStore>(store: &S, job: &str) -> Result<AuditPack, ExportError> {
    let genesis = store.genesis().clone();
    let mut hubs: BTreeSet<SmartId> = genesis.hubs().into_iter().collect();
    let mut blocks: Vec<PackBlock> = Vec::new();
    let mut last_job_block = None;
    let mut job_leaves = Vec::new();
    for height in 1..=store.tip().height {
        let block = store
            .block(height)?
            .ok_or_else(|| ExportError::Corrupt(format!("block {height} missing below the tip")))?;
        let chosen: Vec<(usize, Relevance)> = block
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| (i, relevance(tx, job)))
            .filter(|(_, r)| *r != Relevance::Unrelated)
            .collect();
        if !chosen.is_empty() {
            let cert = store
                .cert(height)?
                .ok_or(ExportError::Uncertified(height))?;
            let cert = BlockCert {
                signatures: cert
                    .signatures
                    .into_iter()
                    .filter(|s| hubs.contains(&s.hub))
                    .collect(),
                ..cert
            };
            let tree = MemoryTree::from_leaves(block.txs.iter().map(SignedTx::leaf_hash));
            let first_leaf = block
                .header
                .ledger_size
                .checked_sub(block.txs.len() as u64)
                .ok_or_else(|| ExportError::Corrupt(format!("block {height}: ledger size")))?;
            let mut txs = Vec::with_capacity(chosen.len());
            for (i, r) in chosen {
                let path = merkle::inclusion_proof(&tree, i as u64, tree.size())
                    .map_err(|e| ExportError::Corrupt(format!("block {height}: {e:?}")))?;
                if r == Relevance::Job {
                    job_leaves.push(first_leaf + i as u64);
                    last_job_block = Some(blocks.len());
                }
                txs.push(PackTx {
                    position: i as u64,
                    tx: block.txs[i].clone(),
                    path,
                });
            }
            blocks.push(PackBlock {
                header: block.header.clone(),
                cert,
                outcomes: block.outcomes.clone(),
                txs,
            });
        }
        hubs = hub_set_after(&block, hubs);
    }
    let Some(last) = last_job_block else {
        return Err(ExportError::NoSuchJob(job.to_string()));
    };
    blocks.truncate(last + 1);
    let anchor_size = blocks[last].header.ledger_size;
    let ledger_paths = job_leaves
        .iter()
        .map(|leaf| store.inclusion_proof(*leaf, anchor_size))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AuditPack {
        format: PACK_FORMAT.to_string(),
        genesis,
        job: job.to_string(),
        blocks,
        ledger_paths,
    })
}
