//! Building a job's audit pack from a peer's store.

use std::collections::BTreeSet;

use smart_ledger::membership::hub_set_after;
use smart_ledger::merkle::{self, MemoryTree};
use smart_ledger::store::{BlockStore, StoreError};
use smart_ledger::{BlockCert, SignedTx, SmartId};

use crate::pack::{AuditPack, PACK_FORMAT, PackBlock, PackStateProof, PackTx};
use crate::scope::{Relevance, relevance};
use smart_contracts::action::Action;
use smart_contracts::{RootedState, State, vm};

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
    // The whole state, replayed block by block with its tree, for the state
    // proofs of what the job's steps relied on.
    let mut rooted = RootedState::new(State::from_genesis(&genesis));
    let mut state_proofs = Vec::new();
    for height in 1..=store.tip().height {
        let block = store
            .block(height)?
            .ok_or_else(|| ExportError::Corrupt(format!("block {height} missing below the tip")))?;
        vm::apply_block(rooted.state_mut(), &block.txs, block.header.leader_time);
        rooted.seal();
        if rooted.root() != block.header.state_root {
            return Err(ExportError::Corrupt(format!(
                "block {height}: the replayed state's root differs from the certified one"
            )));
        }
        state_proofs.extend(relied_on_proofs(&rooted, &block, job)?);
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
    let anchor_height = blocks[last].header.height;
    state_proofs.retain(|p| p.height <= anchor_height);
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
        state_proofs,
    })
}

/// Proofs of the records each accepted step of `job` in `block` relied on,
/// in the state after the block.
fn relied_on_proofs(
    rooted: &RootedState,
    block: &smart_ledger::Block,
    job: &str,
) -> Result<Vec<PackStateProof>, ExportError> {
    let mut out = Vec::new();
    for (tx, outcome) in block.txs.iter().zip(&block.outcomes) {
        if *outcome != smart_ledger::Outcome::Accepted || relevance(tx, job) != Relevance::Job {
            continue;
        }
        let Ok(Action::CompleteStep { job: j, step, .. }) = Action::decode(&tx.body().payload.0)
        else {
            continue;
        };
        if j != job {
            continue;
        }
        for (kind, key) in vm::relied_on(rooted.state(), job, &step, &tx.author()) {
            let proof = rooted.prove(kind, &key).ok_or_else(|| {
                ExportError::Corrupt(format!(
                    "block {}: {kind} could not be proven",
                    block.header.height
                ))
            })?;
            out.push(PackStateProof {
                height: block.header.height,
                step: step.clone(),
                kind: kind.to_string(),
                value: rooted.state().record(kind, &key).map(smart_ledger::Bytes),
                key: smart_ledger::Bytes(key),
                proof,
            });
        }
    }
    Ok(out)
}
