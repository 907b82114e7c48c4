//! The audit pack file: `[version] ‖ postcard(AuditPack)`, canonical (the
//! decoder re-encodes and compares), at most [`MAX_PACK_BYTES`].

use serde::{Deserialize, Serialize};
use smart_ledger::codec::{self, DecodeError};
use smart_ledger::{BlockCert, BlockHeader, Genesis, Hash, Outcome, SignedTx};

/// Format tag of audit packs.
pub const PACK_FORMAT: &str = "smart-audit-pack/2";

/// Largest pack a verifier reads (a job with its context is far smaller).
pub const MAX_PACK_BYTES: usize = 512 * 1024 * 1024;

/// One tx of a block, with its path to the block's tx root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackTx {
    /// Its position in the block.
    pub position: u64,
    /// The signed tx.
    pub tx: SignedTx,
    /// RFC 9162 path from its leaf to the header's tx root (the block's
    /// size is the number of outcomes).
    pub path: Vec<Hash>,
}

/// A certified block, with the txs of it the pack needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackBlock {
    /// Its header.
    pub header: BlockHeader,
    /// Hub signatures over the header: only hubs of the set at its height.
    pub cert: BlockCert,
    /// Every outcome of the block, in order (their hash is in the header).
    pub outcomes: Vec<Outcome>,
    /// The block's txs the pack needs, by increasing position.
    pub txs: Vec<PackTx>,
}

/// A state record an accepted step of the job relied on (the token that
/// let its performer do it, a document on file, a piece of equipment and
/// its calibration), proven in the state certified by the pack block at
/// `height` (the step's block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackStateProof {
    /// The pack block whose state root the proof leads to.
    pub height: u64,
    /// The step.
    pub step: String,
    /// The record's kind.
    pub kind: String,
    /// Its key's canonical bytes.
    pub key: smart_ledger::Bytes,
    /// Its value's canonical bytes (none: it did not exist).
    pub value: Option<smart_ledger::Bytes>,
    /// Its path in the state tree.
    pub proof: smart_ledger::state_tree::StateProof,
}

/// An audit pack of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPack {
    /// Always [`PACK_FORMAT`].
    pub format: String,
    /// The chain's genesis.
    pub genesis: Genesis,
    /// The job.
    pub job: String,
    /// Blocks by increasing height; the last is the pack's anchor.
    pub blocks: Vec<PackBlock>,
    /// For each tx of the job, in ledger order: its RFC 9162 path in the
    /// ledger-wide tree at the anchor's ledger size.
    pub ledger_paths: Vec<Vec<Hash>>,
    /// The records the job's accepted steps relied on, proven in the state
    /// at each step's block, in ledger order.
    pub state_proofs: Vec<PackStateProof>,
}

impl AuditPack {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Reads a pack's bytes: size limit, version, canonical form.
    pub fn decode(bytes: &[u8]) -> Result<AuditPack, DecodeError> {
        codec::decode_versioned("audit pack", bytes, MAX_PACK_BYTES)
    }
}
