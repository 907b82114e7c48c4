//! The chain rules that link one block to the next: height, previous hash,
//! ledger time, and the ledger-wide Merkle accumulator. Pure: the store and
//! the verifier both use [`ChainTip::check_next`], so what is appended and
//! what is audited follow one definition.

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockHeader, Outcome};
use crate::hash::Hash;
use crate::merkle::{Accumulator, CompletedNode};
use crate::tx::{SignedTx, Timestamp};

/// Where the chain stands: the last block and the accumulator after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// The chain id.
    pub chain_id: Hash,
    /// Height of the last block (0 = only genesis).
    pub height: u64,
    /// Hash of the last header (the chain id at height 0).
    pub hash: Hash,
    /// Ledger time of the last block.
    pub time: Timestamp,
    /// Accumulator over every tx so far.
    pub acc: Accumulator,
}

/// A block does not follow the tip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Block for another chain.
    #[error("block {height} is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// Height of the block.
        height: u64,
        /// This chain.
        expected: Hash,
        /// The block's chain id.
        found: Hash,
    },
    /// Not the next height.
    #[error("expected block {expected}, got block {found}")]
    Height {
        /// Next height.
        expected: u64,
        /// The block's height.
        found: u64,
    },
    /// The previous-hash link is broken.
    #[error("block {height} does not link to block {}: prev hash {found}, expected {expected}", height - 1)]
    Link {
        /// Height of the block.
        height: u64,
        /// Hash of the previous header.
        expected: Hash,
        /// The block's prev hash.
        found: Hash,
    },
    /// Ledger time went backwards.
    #[error("block {height}: ledger time {found} is earlier than the previous block's {previous}")]
    Time {
        /// Height of the block.
        height: u64,
        /// Previous block's time.
        previous: Timestamp,
        /// This block's time.
        found: Timestamp,
    },
    /// The ledger size or root in the header is not what the txs give.
    #[error("block {height}: ledger accumulator mismatch ({detail})")]
    Accumulator {
        /// Height of the block.
        height: u64,
        /// Which value differs.
        detail: String,
    },
}

impl ChainTip {
    /// The tip of a chain with only its genesis.
    pub fn genesis(chain_id: Hash) -> ChainTip {
        ChainTip {
            chain_id,
            height: 0,
            hash: chain_id,
            time: Timestamp(0),
            acc: Accumulator::new(),
        }
    }

    /// Checks that `block` follows this tip and returns the tip after it, with
    /// the perfect Merkle subtrees it completes (for the store to keep).
    pub fn check_next(&self, block: &Block) -> Result<(ChainTip, Vec<CompletedNode>), ChainError> {
        let h = &block.header;
        if h.chain_id != self.chain_id {
            return Err(ChainError::WrongChain {
                height: h.height,
                expected: self.chain_id,
                found: h.chain_id,
            });
        }
        if h.height != self.height + 1 {
            return Err(ChainError::Height {
                expected: self.height + 1,
                found: h.height,
            });
        }
        if h.prev_hash != self.hash {
            return Err(ChainError::Link {
                height: h.height,
                expected: self.hash,
                found: h.prev_hash,
            });
        }
        if h.leader_time < self.time {
            return Err(ChainError::Time {
                height: h.height,
                previous: self.time,
                found: h.leader_time,
            });
        }
        let mut acc = self.acc.clone();
        let mut completed = Vec::with_capacity(block.txs.len() * 2);
        for tx in &block.txs {
            acc.push(tx.leaf_hash(), |n| completed.push(n));
        }
        if acc.size() != h.ledger_size {
            return Err(ChainError::Accumulator {
                height: h.height,
                detail: format!(
                    "header says {} txs, the chain has {}",
                    h.ledger_size,
                    acc.size()
                ),
            });
        }
        if acc.root() != h.ledger_root {
            return Err(ChainError::Accumulator {
                height: h.height,
                detail: format!("header root {}, computed {}", h.ledger_root, acc.root()),
            });
        }
        let tip = ChainTip {
            chain_id: self.chain_id,
            height: h.height,
            hash: h.hash(),
            time: h.leader_time,
            acc,
        };
        Ok((tip, completed))
    }

    /// Builds the next block from txs already judged (one outcome each).
    /// Ledger time is clamped to never go backwards.
    pub fn next_block(
        &self,
        txs: Vec<SignedTx>,
        outcomes: Vec<Outcome>,
        state_root: Hash,
        consensus_index: u64,
        leader_time: Timestamp,
    ) -> Block {
        let mut acc = self.acc.clone();
        for tx in &txs {
            acc.push(tx.leaf_hash(), |_| {});
        }
        let header = BlockHeader {
            chain_id: self.chain_id,
            height: self.height + 1,
            prev_hash: self.hash,
            tx_root: Block::tx_root_of(&txs),
            outcomes_hash: Block::outcomes_hash_of(&outcomes),
            state_root,
            ledger_size: acc.size(),
            ledger_root: acc.root(),
            consensus_index,
            leader_time: leader_time.max(self.time),
        };
        Block {
            header,
            txs,
            outcomes,
        }
    }
}
