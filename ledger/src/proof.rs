//! Self-contained proofs an auditor checks offline, with nothing but the
//! proof file and the chain id they already trust.
//!
//! A [`TxProof`] carries:
//! - the genesis (so the hub set is known and hashes to the chain id),
//! - the signed tx (its author's signature is checked),
//! - the certified block that holds it, with the tx's path to the block's
//!   tx root and every outcome of the block (so the tx's outcome is proven),
//! - the tx's path in the ledger-wide Merkle tree to the root of a later
//!   certified header (RFC 9162 inclusion),
//! - optionally a consistency proof from an earlier tree size the auditor
//!   recorded to that header's tree (RFC 9162 consistency).

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockCert, BlockHeader, Outcome};
use crate::genesis::Genesis;
use crate::hash::Hash;
use crate::merkle;
use crate::tx::SignedTx;

/// Format tag of [`TxProof`] files.
pub const TX_PROOF_FORMAT: &str = "smart-tx-proof/1";

/// The block that holds the tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPart {
    /// Its header.
    pub header: BlockHeader,
    /// Hub signatures over it.
    pub cert: BlockCert,
    /// The tx's position in the block.
    pub position: u64,
    /// Number of txs in the block.
    pub tx_count: u64,
    /// Path from the tx's leaf to the header's tx root.
    pub path: Vec<Hash>,
    /// Every outcome of the block, in order.
    pub outcomes: Vec<Outcome>,
}

/// The tx in the ledger-wide tree at a certified header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPart {
    /// A certified header (usually the tip when the proof was made).
    pub header: BlockHeader,
    /// Hub signatures over it.
    pub cert: BlockCert,
    /// The tx's leaf index in the ledger.
    pub leaf_index: u64,
    /// Path to `header.ledger_root` in the tree of `header.ledger_size` leaves.
    pub path: Vec<Hash>,
}

/// The ledger at an earlier size is a prefix of the ledger at the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyPart {
    /// The earlier tree size.
    pub old_size: u64,
    /// The earlier root (compare it with what you recorded then).
    pub old_root: Hash,
    /// RFC 9162 consistency proof to the header's tree.
    pub path: Vec<Hash>,
}

/// A proof that a tx is in the ledger with a given outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxProof {
    /// Always [`TX_PROOF_FORMAT`].
    pub format: String,
    /// The chain the proof is for.
    pub chain_id: Hash,
    /// The chain's genesis document.
    pub genesis: Genesis,
    /// The tx.
    pub tx: SignedTx,
    /// Its block.
    pub block: BlockPart,
    /// Its place in the ledger-wide tree.
    pub ledger: LedgerPart,
    /// Optional consistency with an earlier tree.
    pub consistency: Option<ConsistencyPart>,
}

/// What a verified proof establishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenTx {
    /// The chain.
    pub chain_id: Hash,
    /// The tx hash.
    pub tx_hash: Hash,
    /// Its block height.
    pub height: u64,
    /// Its outcome.
    pub outcome: Outcome,
    /// The ledger size it was proven in.
    pub ledger_size: u64,
    /// The ledger root it was proven against.
    pub ledger_root: Hash,
    /// The earlier (size, root) proven consistent, if any.
    pub consistent_with: Option<(u64, Hash)>,
}

/// A proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proof does not verify: {0}")]
pub struct ProofFailure(pub String);

/// The chain a proof file is for: its format is the one expected
/// (`(found, expected)`), its genesis hashes to the chain id it claims, and
/// to the chain id the auditor trusts (`expected`), when given.
pub(crate) fn check_chain(
    (found, format): (&str, &str),
    genesis: &Genesis,
    claimed: &Hash,
    expected: Option<&Hash>,
) -> Result<Hash, ProofFailure> {
    if found != format {
        return Err(ProofFailure(format!("unknown format {found:?}")));
    }
    let chain_id = genesis.chain_id();
    if chain_id != *claimed {
        return Err(ProofFailure(format!(
            "genesis hashes to {chain_id}, the proof claims chain {claimed}"
        )));
    }
    if let Some(expected) = expected
        && *expected != chain_id
    {
        return Err(ProofFailure(format!(
            "proof is for chain {chain_id}, expected {expected}"
        )));
    }
    Ok(chain_id)
}

impl TxProof {
    /// Builds the proof of tx `hash` from a store, against the store's tip
    /// (whose certificate must be stored), with a consistency proof from
    /// ledger size `since` when given.
    #[cfg(feature = "store")]
    pub fn build<S: crate::store::BlockStore>(
        store: &S,
        hash: &Hash,
        since: Option<u64>,
    ) -> Result<TxProof, crate::store::StoreError> {
        use crate::store::StoreError;
        let fail = |s: String| StoreError::Proof(s);
        let loc = store
            .locate_tx(hash)?
            .ok_or_else(|| fail(format!("tx {hash} is not in this ledger")))?;
        let certified = |height: u64| -> Result<(Block, BlockCert), StoreError> {
            let block = store
                .block(height)?
                .ok_or_else(|| fail(format!("no block {height}")))?;
            let cert = store
                .cert(height)?
                .ok_or_else(|| fail(format!("block {height} has no certificate yet")))?;
            Ok((block, cert))
        };
        let (block, block_cert) = certified(loc.height)?;
        let tx = block
            .txs
            .get(loc.position as usize)
            .cloned()
            .ok_or_else(|| fail("tx index points outside its block".into()))?;
        let block_part = TxProof::block_part(&block, block_cert, loc.position as usize)
            .ok_or_else(|| fail("building the block path".into()))?;
        let (tip, tip_cert) = certified(store.tip().height)?;
        let size = tip.header.ledger_size;
        let path = store.inclusion_proof(loc.leaf_index, size)?;
        let consistency = match since {
            None => None,
            Some(old) => {
                if old == 0 || old > size {
                    return Err(fail(format!(
                        "the earlier size must be between 1 and the ledger size {size}"
                    )));
                }
                Some(ConsistencyPart {
                    old_size: old,
                    old_root: store.root_at(old)?,
                    path: store.consistency_proof(old, size)?,
                })
            }
        };
        Ok(TxProof {
            format: TX_PROOF_FORMAT.to_string(),
            chain_id: store.genesis().chain_id(),
            genesis: store.genesis().clone(),
            tx,
            block: block_part,
            ledger: LedgerPart {
                header: tip.header,
                cert: tip_cert,
                leaf_index: loc.leaf_index,
                path,
            },
            consistency,
        })
    }

    /// Builds the block part from a stored block.
    pub fn block_part(block: &Block, cert: BlockCert, position: usize) -> Option<BlockPart> {
        let tree = merkle::MemoryTree::from_leaves(block.txs.iter().map(SignedTx::leaf_hash));
        let path = merkle::inclusion_proof(&tree, position as u64, tree.size()).ok()?;
        Some(BlockPart {
            header: block.header.clone(),
            cert,
            position: position as u64,
            tx_count: block.txs.len() as u64,
            path,
            outcomes: block.outcomes.clone(),
        })
    }

    /// Checks every part of the proof. `expected_chain`, when given, is the
    /// chain id the auditor trusts.
    pub fn verify(&self, expected_chain: Option<&Hash>) -> Result<ProvenTx, ProofFailure> {
        let fail = |s: String| Err(ProofFailure(s));
        let chain_id = check_chain(
            (&self.format, TX_PROOF_FORMAT),
            &self.genesis,
            &self.chain_id,
            expected_chain,
        )?;
        let hubs = self.genesis.hubs();
        let tx = &self.tx;
        if tx.body().chain_id != chain_id {
            return fail("tx is for another chain".into());
        }
        tx.verify_signature()
            .map_err(|e| ProofFailure(e.to_string()))?;
        let leaf = tx.leaf_hash();

        // The block that holds it, and the outcome.
        let b = &self.block;
        if b.header.chain_id != chain_id || self.ledger.header.chain_id != chain_id {
            return fail("a header is for another chain".into());
        }
        b.cert
            .check_final(&b.header, &hubs)
            .map_err(|e| ProofFailure(format!("block {}: {e}", b.header.height)))?;
        if !merkle::verify_inclusion(&leaf, b.position, b.tx_count, &b.path, &b.header.tx_root) {
            return fail(format!(
                "tx is not at position {} of block {}",
                b.position, b.header.height
            ));
        }
        if b.outcomes.len() as u64 != b.tx_count
            || Block::outcomes_hash_of(&b.outcomes) != b.header.outcomes_hash
        {
            return fail(format!(
                "outcomes do not match block {}'s outcomes hash",
                b.header.height
            ));
        }
        let outcome = b
            .outcomes
            .get(b.position as usize)
            .cloned()
            .ok_or_else(|| ProofFailure("no outcome for the tx".into()))?;

        // Its place in the whole ledger, at a certified header.
        let l = &self.ledger;
        l.cert
            .check_final(&l.header, &hubs)
            .map_err(|e| ProofFailure(format!("block {}: {e}", l.header.height)))?;
        if l.header.height < b.header.height {
            return fail("ledger header is older than the tx's block".into());
        }
        let first_leaf = b.header.ledger_size.checked_sub(b.tx_count);
        if first_leaf.map(|f| f + b.position) != Some(l.leaf_index) {
            return fail("leaf index does not match the tx's block and position".into());
        }
        if !merkle::verify_inclusion(
            &leaf,
            l.leaf_index,
            l.header.ledger_size,
            &l.path,
            &l.header.ledger_root,
        ) {
            return fail(format!(
                "inclusion path does not lead from leaf {} to the ledger root of block {}",
                l.leaf_index, l.header.height
            ));
        }
        let consistent_with = match &self.consistency {
            None => None,
            Some(c) => {
                if !merkle::verify_consistency(
                    c.old_size,
                    l.header.ledger_size,
                    &c.old_root,
                    &l.header.ledger_root,
                    &c.path,
                ) {
                    return fail(format!(
                        "ledger of size {} is not proven a prefix of the ledger of size {}",
                        c.old_size, l.header.ledger_size
                    ));
                }
                Some((c.old_size, c.old_root))
            }
        };
        Ok(ProvenTx {
            chain_id,
            tx_hash: tx.hash(),
            height: b.header.height,
            outcome,
            ledger_size: l.header.ledger_size,
            ledger_root: l.header.ledger_root,
            consistent_with,
        })
    }
}
