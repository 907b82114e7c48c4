//! What goes through Raft: batches of signed txs stamped with the leader's
//! time, and what comes back: one receipt per submitted tx.

use std::io::Cursor;

use serde::{Deserialize, Serialize};
use smart_ledger::{Bytes, Hash, Outcome, SmartId, Timestamp};

/// One Raft entry's application data: the txs the leader batched (their
/// exact wire bytes) and the leader's clock when it cut the batch. Ledger
/// time comes from here, never from a follower's clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Signed txs, wire-encoded.
    pub txs: Vec<Bytes>,
    /// The leader's stamp.
    pub leader_time: Timestamp,
}

/// What happened to one submitted tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxVerdict {
    /// In the ledger at this height, with the VM's outcome.
    Included {
        /// Block height.
        height: u64,
        /// Accepted or refused (with code and reason).
        outcome: Outcome,
    },
    /// Already in the ledger (an earlier submission): not applied again.
    Duplicate {
        /// Where it already is.
        height: u64,
    },
    /// Decided by a station node on its own state while no hub was
    /// reachable; waiting in its outbox for a hub to order it.
    Provisional {
        /// The height of the state the decision used.
        based_on: u64,
        /// The station's decision.
        outcome: Outcome,
    },
    /// Not admitted: undecodable, wrong chain, unknown author or bad signature.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Not ordered now: no leader (an election, no quorum), the hub busy or
    /// stopping. Nothing was decided about the tx; sending the same bytes
    /// again, here or to another hub, is safe (hubs de-duplicate by hash).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A receipt for one submitted tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxReceipt {
    /// The tx hash (zero when the bytes did not decode).
    pub tx: Hash,
    /// Its fate.
    pub verdict: TxVerdict,
}

/// The state machine's answer to one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// The block cut for the batch (0 for non-batch entries).
    pub height: u64,
    /// One receipt per tx of the batch, in order.
    pub receipts: Vec<TxReceipt>,
}

/// A hub as Raft knows it: its SMART-ID and where to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HubNode {
    /// SMART-ID (base58).
    pub peer: String,
    /// Address (a multiaddr for the libp2p transport; any label in memory).
    pub addr: String,
}

openraft::declare_raft_types!(
    /// The openraft type configuration of SMART hubs.
    pub TypeConfig:
        D = Batch,
        R = BatchResult,
        NodeId = u64,
        Node = HubNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft node id of a hub: the first 8 bytes of a domain-separated hash
/// of its SMART-ID (stable across restarts, same on every hub).
pub fn node_id(id: &SmartId) -> u64 {
    let h = Hash::of_parts(&[b"smart/raft-node-id/1", &id.0]);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_be_bytes(b)
}

/// Shorthand for openraft's types under our config.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<u64>;
/// A storage error.
pub type StorageError = openraft::StorageError<u64>;
