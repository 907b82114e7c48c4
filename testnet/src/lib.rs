//! A SMART network of real peer processes on 127.0.0.1.
//!
//! The `smart` binary runs every role; this crate starts, stops, kills,
//! pauses and restarts those processes from one network folder and reads
//! their `/status`, for `smart testnet`, the benchmarks and the fault-injection
//! suite. It knows nothing of Raft or the ledger: it drives processes and
//! reads what they publish.
//!
//! - `layout`: which peers a network has and their fixed ports (`testnet.json`).
//! - `status`: a peer's `/status` over plain HTTP.
//! - `net`: the running processes.
//! - `compose`: the docker compose file and Prometheus config, generated.
//! - `faults`: partitions, through a fault file each peer obeys.

pub mod compose;
pub mod faults;
pub mod layout;
pub mod net;
pub mod status;

use std::path::PathBuf;

pub use faults::{FAULT_FILE_ENV, Faults};
pub use layout::{Layout, PeerKind, PeerSpec};
pub use net::Network;
pub use status::PeerStatus;

/// What can go wrong running a testnet.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// No free port could be found.
    #[error("choosing free ports: {0}")]
    Ports(std::io::Error),
    /// A file of the network folder.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// `testnet.json` is not a layout.
    #[error("{0}: not a testnet layout: {1}")]
    Layout(PathBuf, String),
    /// The layout has no such peer.
    #[error("no peer named {0:?} in this network")]
    UnknownPeer(String),
    /// The peer's process could not be started.
    #[error("starting {0}: {1}")]
    Spawn(String, std::io::Error),
    /// The peer did not announce its address.
    #[error("{0} did not start: {1} (see {2})")]
    NotStarted(String, String, PathBuf),
    /// A condition was not reached in time.
    #[error("{0}")]
    Timeout(String),
}
