//! SMART ledger core: the Custodian.
//!
//! # Layout
//! - [`hash`]: blake3 digests.
//! - [`codec`]: the one binary encoding (version byte + postcard) and its size limits.
//! - [`id`]: SMART-IDs (ed25519 keys), signatures, key files, the signature acceptance rule.
//! - [`tx`]: signed transactions, kept as the exact bytes the author signed.
//! - [`block`]: blocks, per-tx outcomes, hub certificates, equivocation evidence.
//! - [`merkle`]: the RFC 9162 Merkle accumulator, inclusion and consistency proofs.
//! - [`chain`]: the rules that link a block to its predecessor.
//! - [`genesis`]: the genesis document and chain id.
//! - [`membership`]: hub-set changes and the hub set at each height.
//! - [`proof`]: self-contained proof bundles an auditor checks offline.
//! - [`state_tree`]: the authenticated map over the contract state's records
//!   (incremental root, proofs of a record's value or absence).
//! - [`clock`]: the one wall clock, read only at the edges (stamping).
//! - `store` (feature `store`, default): the redb-backed durable store.
//! - `audit` (feature `store`): full verification of a stored ledger.
//!
//! Everything except `clock`, `store` and `audit` is pure: no I/O, no clock, no
//! randomness (key generation and key files aside), so every peer computes
//! the same bytes.

pub mod block;
pub(crate) mod bounded;
pub(crate) mod bytes;
pub mod chain;
pub mod clock;
pub mod codec;
pub mod genesis;
pub mod hash;
pub mod id;
pub mod membership;
pub mod merkle;
pub mod proof;
pub mod state_proof;
pub mod state_tree;
pub mod tx;

#[cfg(feature = "store")]
pub mod audit;
#[cfg(feature = "store")]
pub mod store;

pub use block::{
    Block, BlockCert, BlockHeader, Equivocation, HubSignature, Outcome, TxSignatureError,
};
pub use bytes::{Bytes, ParseBytesError};
pub use chain::{ChainError, ChainTip};
pub use genesis::{Genesis, GenesisMember, GenesisPeer, PeerRole, Role};
pub use hash::Hash;
pub use id::{Keypair, Signature, SmartId};
pub use tx::{ContractRef, SignedTx, Timestamp, TxBody, TxError, TxKind};
