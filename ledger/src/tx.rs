//! Transactions: what an actor signs.
//!
//! A tx is kept as the exact bytes its author signed (`body_bytes`) plus the
//! signature; the decoded body is derived from those bytes and never
//! re-encoded for hashing or verification.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::codec::{self, DecodeError, MAX_TX_BYTES};
use crate::hash::Hash;
use crate::id::{Keypair, Signature, SignatureError, SmartId};

/// Milliseconds since the Unix epoch (UTC). Ledger time is the leader's
/// stamp on a block; a tx's own timestamp is evidence, never trusted for a rule.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// What kind of action a tx records. The ledger treats the payload as
/// opaque; the contract VM interprets it by kind.
///
/// Append new kinds at the end only: the variant index is part of the
/// canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum TxKind {
    /// Register or change an identity (person, client, peer) and its roles.
    Identity,
    /// Issue, revoke or renew a token (Access, Audit, Certified, Training, Safety, Utility).
    Token,
    /// Propose, approve or activate a contract version.
    Contract,
    /// A step of a job at a station (scan, pre-check, test, measurement, sign-off, …).
    JobAction,
    /// A document (PO, material cert, report) by content hash.
    Document,
    /// A batch of access-log records (gateway API calls, station badge-ins).
    AccessLogBatch,
    /// An alert (safety, equivocation, calibration overdue).
    Alert,
    /// A signed refusal recorded by a node that said "no".
    Refusal,
    /// Equipment registration, calibration and lockout.
    Equipment,
    /// Hub-set membership change (add or remove a hub).
    Membership,
    /// Development-only filler used by `smart ledger generate` and benches.
    DevFiller,
    /// A station specialist's decision (module, verdict, and the fact it establishes).
    Station,
    /// An advisory finding of SMART-AI Central (it changes no rule).
    Suggestion,
}

impl TxKind {
    /// Every kind, in canonical order.
    pub const ALL: [TxKind; 13] = [
        TxKind::Identity,
        TxKind::Token,
        TxKind::Contract,
        TxKind::JobAction,
        TxKind::Document,
        TxKind::AccessLogBatch,
        TxKind::Alert,
        TxKind::Refusal,
        TxKind::Equipment,
        TxKind::Membership,
        TxKind::DevFiller,
        TxKind::Station,
        TxKind::Suggestion,
    ];
}

/// A reference to the contract version a tx acts under.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ContractRef {
    /// Contract id, e.g. `po-4471-heat-treat`.
    pub id: String,
    /// Version number.
    pub version: u32,
}

/// The signed content of a tx.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TxBody {
    /// The chain this tx is for (hash of the genesis): a tx cannot be replayed on another chain.
    pub chain_id: Hash,
    /// Who signed it.
    pub author: SmartId,
    /// What kind of action it records.
    pub kind: TxKind,
    /// Kind-specific content, interpreted by the contract VM.
    pub payload: Bytes,
    /// The author's own clock when signing (evidence only).
    pub author_time: Timestamp,
    /// Where it was signed (station, hub), if known.
    pub location: Option<String>,
    /// The contract version this action is taken under, if any.
    pub contract: Option<ContractRef>,
    /// Distinguishes otherwise identical actions by one author.
    pub nonce: u64,
}

/// A signed tx as it travels and is stored: the author's exact bytes and the
/// signature over them.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedTx {
    body_bytes: Vec<u8>,
    signature: Signature,
    body: TxBody,
    hash: Hash,
    /// RFC 9162 leaf hash, computed once: blocks, the chain rules and the
    /// store all need it.
    leaf: Hash,
}

impl fmt::Debug for SignedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTx")
            .field("hash", &self.hash)
            .field("author", &self.body.author)
            .field("kind", &self.body.kind)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct SignedTxWire {
    body: Bytes,
    signature: Signature,
}

impl SignedTx {
    /// Signs `body` with `key`. The body's author must be the key's id.
    pub fn sign(body: TxBody, key: &Keypair) -> Result<SignedTx, TxError> {
        if body.author != key.id() {
            return Err(TxError::AuthorMismatch {
                author: body.author,
                signer: key.id(),
            });
        }
        let body_bytes = codec::encode_versioned(&body);
        if body_bytes.len() + 64 + 8 > MAX_TX_BYTES {
            return Err(TxError::Decode(DecodeError::TooLarge {
                what: "tx",
                len: body_bytes.len() + 64,
                limit: MAX_TX_BYTES,
            }));
        }
        let signature = key.sign(&body_bytes);
        Ok(SignedTx::assemble(body_bytes, signature, body))
    }

    /// Rebuilds a tx from the signed bytes and signature (does not verify the
    /// signature: see [`SignedTx::check_admission`]).
    pub fn from_parts(body_bytes: Vec<u8>, signature: Signature) -> Result<SignedTx, TxError> {
        let body: TxBody = codec::decode_versioned("tx body", &body_bytes, MAX_TX_BYTES)?;
        Ok(SignedTx::assemble(body_bytes, signature, body))
    }

    fn assemble(body_bytes: Vec<u8>, signature: Signature, body: TxBody) -> SignedTx {
        let hash = Hash::of(&body_bytes);
        let leaf = crate::merkle::leaf_hash(&leaf_data(&hash, &signature));
        SignedTx {
            body_bytes,
            signature,
            body,
            hash,
            leaf,
        }
    }

    /// Decodes a tx from its wire encoding, with the size limit.
    pub fn decode(bytes: &[u8]) -> Result<SignedTx, TxError> {
        let wire: SignedTxWire = codec::decode_plain("tx", bytes, MAX_TX_BYTES)?;
        SignedTx::from_parts(wire.body.0, wire.signature)
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_plain(self)
    }

    /// The decoded body.
    pub fn body(&self) -> &TxBody {
        &self.body
    }

    /// The exact bytes the author signed.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// The author's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The tx hash: blake3 of the signed bytes. Dedupe key and id of a tx.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The author.
    pub fn author(&self) -> SmartId {
        self.body.author
    }

    /// The data of this tx's Merkle leaf: tx hash ‖ signature, so a proof
    /// binds both what was said and who signed it.
    pub fn leaf_data(&self) -> [u8; 96] {
        leaf_data(&self.hash, &self.signature)
    }

    /// The RFC 9162 leaf hash of this tx: H(0x00 ‖ leaf data).
    pub fn leaf_hash(&self) -> Hash {
        self.leaf
    }

    /// Strictly verifies the author's signature.
    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.body
            .author
            .verify(&self.body_bytes, &self.signature)
            .map_err(TxError::Signature)
    }

    /// The checks any peer makes before it accepts a tx from outside: it is
    /// for this chain, the author is a known identity, and the signature is
    /// valid (strict rule).
    pub fn check_admission(
        &self,
        chain_id: &Hash,
        is_known: impl Fn(&SmartId) -> bool,
    ) -> Result<(), TxError> {
        if &self.body.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: *chain_id,
                found: self.body.chain_id,
            });
        }
        if !is_known(&self.body.author) {
            return Err(TxError::UnknownAuthor(self.body.author));
        }
        self.verify_signature()
    }
}

/// The wire form borrowed from a [`SignedTx`], so encoding a block does not
/// copy every tx. Same encoding as [`SignedTxWire`].
#[derive(Serialize)]
struct SignedTxWireRef<'a> {
    body: crate::bytes::BytesRef<'a>,
    signature: Signature,
}

impl Serialize for SignedTx {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SignedTxWireRef {
            body: crate::bytes::BytesRef(&self.body_bytes),
            signature: self.signature,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SignedTx {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = SignedTxWire::deserialize(d)?;
        SignedTx::from_parts(wire.body.0, wire.signature).map_err(serde::de::Error::custom)
    }
}

fn leaf_data(hash: &Hash, signature: &Signature) -> [u8; 96] {
    let mut out = [0u8; 96];
    out[..32].copy_from_slice(&hash.0);
    out[32..].copy_from_slice(&signature.0);
    out
}

/// A tx is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode.
    #[error("tx does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// Signed for another chain.
    #[error("tx is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: Hash,
        /// The tx's chain id.
        found: Hash,
    },
    /// The author is not a registered identity.
    #[error("tx author {0} is not a known identity on this chain")]
    UnknownAuthor(SmartId),
    /// The signature does not verify.
    #[error("tx signature refused: {0}")]
    Signature(SignatureError),
    /// Asked to sign a body whose author is another key.
    #[error("body author {author} is not the signing key {signer}")]
    AuthorMismatch {
        /// The body's author.
        author: SmartId,
        /// The key that was to sign.
        signer: SmartId,
    },
}
