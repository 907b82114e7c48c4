//! Blocks, per-tx outcomes and hub certificates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_CERT_BYTES};
use crate::hash::Hash;
use crate::id::{Keypair, Signature, SignatureError, SmartId};
use crate::merkle;
use crate::tx::{SignedTx, Timestamp};

/// What happened to one tx in a block. Peers must agree on it bit for bit,
/// so a refusal is plain data: a stable code and an explanation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied to the state.
    Accepted,
    /// Recorded but not applied.
    Refused {
        /// A stable machine-readable code (see the contracts crate's table).
        code: u16,
        /// What rule refused it and what evidence was missing.
        reason: String,
    },
}

/// The header every hub signs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The chain (genesis hash).
    pub chain_id: Hash,
    /// 1 for the first block after genesis.
    pub height: u64,
    /// Hash of the previous header; the chain id for height 1.
    pub prev_hash: Hash,
    /// Merkle root (RFC 9162) of this block's tx leaves.
    pub tx_root: Hash,
    /// blake3 of the encoded outcomes, one per tx.
    pub outcomes_hash: Hash,
    /// The state root after applying this block (from the contract VM).
    pub state_root: Hash,
    /// Number of txs in the whole ledger after this block.
    pub ledger_size: u64,
    /// Merkle root over every tx in the ledger after this block: inclusion
    /// and consistency proofs are checked against it.
    pub ledger_root: Hash,
    /// The consensus log index this block was cut from.
    pub consensus_index: u64,
    /// Ledger time: the leader's clock, never earlier than the previous block's.
    pub leader_time: Timestamp,
}

impl BlockHeader {
    /// The block hash: blake3 of the canonical header bytes.
    pub fn hash(&self) -> Hash {
        Hash::of(&codec::encode_versioned(self))
    }

    /// The message a hub signs to certify this header.
    pub fn cert_message(header_hash: &Hash) -> [u8; 48] {
        let mut m = [0u8; 48];
        m[..16].copy_from_slice(CERT_DOMAIN);
        m[16..].copy_from_slice(&header_hash.0);
        m
    }
}

crate::bounded::bounded_vec_fn!(block_txs, SignedTx, MAX_BLOCK_TXS, "txs");
crate::bounded::bounded_vec_fn!(block_outcomes, Outcome, MAX_BLOCK_TXS, "outcomes");
crate::bounded::bounded_vec_fn!(
    cert_signatures,
    HubSignature,
    MAX_CERT_SIGNATURES,
    "signatures"
);

/// Most hub signatures one certificate may carry.
pub const MAX_CERT_SIGNATURES: usize = 512;

/// Domain separation of hub signatures (cannot collide with tx bytes, which
/// start with a format version byte of 1).
const CERT_DOMAIN: &[u8; 16] = b"smart/blockcert1";

/// A block: header, txs in order, and one outcome per tx.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The txs, in ledger order.
    #[serde(deserialize_with = "block_txs")]
    pub txs: Vec<SignedTx>,
    /// One outcome per tx.
    #[serde(deserialize_with = "block_outcomes")]
    pub outcomes: Vec<Outcome>,
}

impl Block {
    /// The header hash.
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Decodes with the size limits and checks the block's internal
    /// structure: one outcome per tx, tx root and outcomes hash match.
    pub fn decode(bytes: &[u8]) -> Result<Block, DecodeError> {
        let block: Block = codec::decode_versioned("block", bytes, MAX_BLOCK_BYTES)?;
        block.check_structure()?;
        Ok(block)
    }

    /// The Merkle root of a list of txs.
    pub fn tx_root_of(txs: &[SignedTx]) -> Hash {
        let leaves: Vec<Hash> = txs.iter().map(SignedTx::leaf_hash).collect();
        merkle::root_of(&leaves)
    }

    /// The outcomes hash.
    pub fn outcomes_hash_of(outcomes: &[Outcome]) -> Hash {
        Hash::of(&codec::encode_plain(&outcomes))
    }

    /// Every tx's signature (batch verification, each strictly on its own
    /// when the batch fails): the first that fails, by position.
    pub fn check_signatures(&self) -> Result<(), TxSignatureError> {
        let triples: Vec<_> = self
            .txs
            .iter()
            .map(|t| (t.author(), t.body_bytes(), *t.signature()))
            .collect();
        crate::id::verify_many(&triples).map_err(|(position, source)| TxSignatureError {
            height: self.header.height,
            position,
            source,
        })
    }

    /// Internal consistency of a block (no signatures, no chain context).
    pub fn check_structure(&self) -> Result<(), DecodeError> {
        let invalid = |reason: String| DecodeError::Invalid {
            what: "block",
            reason,
        };
        if self.txs.len() > MAX_BLOCK_TXS {
            return Err(invalid(format!(
                "{} txs, the limit is {MAX_BLOCK_TXS}",
                self.txs.len()
            )));
        }
        if self.txs.len() != self.outcomes.len() {
            return Err(invalid(format!(
                "{} txs but {} outcomes",
                self.txs.len(),
                self.outcomes.len()
            )));
        }
        if Block::tx_root_of(&self.txs) != self.header.tx_root {
            return Err(invalid("tx root does not match the txs".into()));
        }
        if Block::outcomes_hash_of(&self.outcomes) != self.header.outcomes_hash {
            return Err(invalid("outcomes hash does not match the outcomes".into()));
        }
        Ok(())
    }
}

/// One hub's signature over a header hash.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HubSignature {
    /// The hub.
    pub hub: SmartId,
    /// Its signature over [`BlockHeader::cert_message`].
    pub signature: Signature,
}

/// Hub signatures over one header.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockCert {
    /// Height of the certified header.
    pub height: u64,
    /// The certified header hash.
    pub header_hash: Hash,
    /// Signatures, at most one per hub.
    #[serde(deserialize_with = "cert_signatures")]
    pub signatures: Vec<HubSignature>,
}

/// A tx in a block whose signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {height} tx {position}: {source}")]
pub struct TxSignatureError {
    /// The block's height.
    pub height: u64,
    /// The tx's position in the block.
    pub position: usize,
    /// Why it was refused.
    pub source: SignatureError,
}

/// A certificate does not make a block final.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The certificate is for another header.
    #[error("certificate is for header {found}, the block's header is {expected}")]
    WrongHeader {
        /// The block's header hash.
        expected: Hash,
        /// The certificate's header hash.
        found: Hash,
    },
    /// A signature does not verify.
    #[error("certificate signature refused: {0}")]
    Signature(SignatureError),
    /// Too few hubs of the set signed.
    #[error("{valid} of {hubs} hubs signed; a majority needs {needed}")]
    NoMajority {
        /// Distinct valid hub signatures.
        valid: usize,
        /// Size of the hub set.
        hubs: usize,
        /// Signatures needed.
        needed: usize,
    },
}

impl BlockCert {
    /// An empty certificate for a header.
    pub fn new(header: &BlockHeader) -> BlockCert {
        BlockCert {
            height: header.height,
            header_hash: header.hash(),
            signatures: Vec::new(),
        }
    }

    /// Adds `hub`'s signature (replacing an earlier one by the same hub).
    pub fn sign(&mut self, hub: &Keypair) {
        let signature = hub.sign(&BlockHeader::cert_message(&self.header_hash));
        self.signatures.retain(|s| s.hub != hub.id());
        self.signatures.push(HubSignature {
            hub: hub.id(),
            signature,
        });
        self.signatures.sort_by_key(|s| s.hub);
    }

    /// Checks the certificate against `header` and the hub set: every
    /// signature by a hub of the set must verify, and more than half of the
    /// set must have signed. Signatures by keys outside the set are ignored.
    pub fn check_final(&self, header: &BlockHeader, hub_set: &[SmartId]) -> Result<(), CertError> {
        let expected = header.hash();
        if self.header_hash != expected || self.height != header.height {
            return Err(CertError::WrongHeader {
                expected,
                found: self.header_hash,
            });
        }
        let set: BTreeSet<&SmartId> = hub_set.iter().collect();
        let message = BlockHeader::cert_message(&self.header_hash);
        let mut signed = BTreeSet::new();
        for s in &self.signatures {
            if !set.contains(&s.hub) || signed.contains(&s.hub) {
                continue;
            }
            s.hub
                .verify(&message, &s.signature)
                .map_err(CertError::Signature)?;
            signed.insert(s.hub);
        }
        let needed = set.len() / 2 + 1;
        if signed.len() < needed {
            return Err(CertError::NoMajority {
                valid: signed.len(),
                hubs: set.len(),
                needed,
            });
        }
        Ok(())
    }

    /// Whether a majority of `hub_set` validly signed `header`.
    pub fn is_final(&self, header: &BlockHeader, hub_set: &[SmartId]) -> bool {
        self.check_final(header, hub_set).is_ok()
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Decodes with the size limit.
    pub fn decode(bytes: &[u8]) -> Result<BlockCert, DecodeError> {
        codec::decode_versioned("certificate", bytes, MAX_CERT_BYTES)
    }
}

/// Two different headers at one height signed by one hub: proof that the
/// hub equivocated. Kept as evidence; anyone can check it offline.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Equivocation {
    /// The hub.
    pub hub: SmartId,
    /// One signed header.
    pub first: (BlockHeader, Signature),
    /// Another signed header at the same height.
    pub second: (BlockHeader, Signature),
}

impl Equivocation {
    /// True when both signatures verify, the heights match and the headers differ.
    pub fn is_proven(&self) -> bool {
        let (a, sa) = &self.first;
        let (b, sb) = &self.second;
        a.height == b.height
            && a != b
            && self
                .hub
                .verify(&BlockHeader::cert_message(&a.hash()), sa)
                .is_ok()
            && self
                .hub
                .verify(&BlockHeader::cert_message(&b.hash()), sb)
                .is_ok()
    }
}
