//! SMART hub consensus.
//!
//! # Layout
//! - [`types`]: the openraft type configuration: batches in, receipts out.
//! - [`log_store`]: the Raft log and vote in redb, durable before acknowledged.
//! - [`machine`]: the state machine: admission, dedupe, the contract VM, one
//!   signed block per batch, certificates from other hubs' signatures,
//!   snapshots with block catch-up.
//! - [`transport`]: hub-to-hub messages behind a trait, and openraft's network over it.
//! - [`hub`]: a running hub: Raft, batching of submissions, forwarding to the leader.
//! - [`verified`]: signatures this hub already checked (each hub checks each once).
//! - [`memory`]: an in-memory transport that can isolate hubs, for deterministic tests.
//!
//! Consensus is the one place that joins the VM and the store. It knows no
//! sockets: the node crate carries [`transport::Transport`] over libp2p.

// openraft's traits fix the error type (`StorageError`, ~224 bytes); boxing
// it in our helpers would only add conversions at every trait boundary.
#![allow(clippy::result_large_err)]

pub mod hub;
pub mod log_store;
pub mod machine;
pub mod memory;
pub mod stored;
pub mod transport;
pub mod types;
pub mod verified;

pub use hub::{Hub, HubConfig, SubmitError};
pub use transport::{Transport, TransportError};
pub use types::{Batch, BatchResult, HubNode, TxReceipt, TxVerdict, TypeConfig, node_id};
