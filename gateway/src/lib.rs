//! SMART-API: the gateway's HTTPS window onto the shop.
//!
//! Clients read their contracts (with proofs they can check offline),
//! watch their jobs live, upload documents and approve what their contract
//! gives them to approve. Nothing else: no route can create, start, change
//! or cancel a job or a contract (see [`routes::ROUTES`] and its test).
//!
//! The gateway knows nothing of Raft. It reaches the peer it runs in
//! through [`Backend`], which the peer runtime implements: a consistent read
//! of the contract state and the ledger store, the tip height to watch, and
//! a way to submit a signed tx.
//!
//! # Layout
//! - [`auth`]: API credentials (the ledger keeps only a hash of the secret).
//! - [`client`]: a small HTTPS client of the API (demo, bench, tests).
//! - [`routes`]: the route table (router, OpenAPI and the no-trigger test
//!   all come from it) and the handlers.
//! - [`uploads`]: streamed, hashed, size-limited, type-checked uploads.
//! - [`access_log`]: every call, batched into signed ledger txs.
//! - [`anomaly`]: advisory flags on API use (auth-failure bursts, rate
//!   spikes, unusual uploads).
//! - [`tls`]: certificates (self-signed when none is given).
//! - [`limits`]: connection and per-client rate limits.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use smart_contracts::State;
use smart_ledger::store::RedbStore;
use smart_ledger::{Bytes, Outcome};

pub mod access_log;
pub mod anomaly;
pub mod auth;
pub mod client;
pub mod limits;
pub mod routes;
pub mod tls;
pub mod uploads;

pub use routes::{App, serve};

/// What became of a submitted tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// In a block, with the VM's outcome.
    Included {
        /// Block height.
        height: u64,
        /// Accepted or refused.
        outcome: Outcome,
    },
    /// It was already in the ledger.
    Duplicate {
        /// Where.
        height: u64,
    },
    /// Not admitted by the hubs.
    Rejected(String),
}

/// The peer, as the gateway sees it.
pub trait Backend: Send + Sync + 'static {
    /// Runs `f` on a consistent view: the contract state at the store's tip.
    fn read<R>(&self, f: impl FnOnce(&State, &RedbStore) -> R) -> R;
    /// The tip height, watched.
    fn tip(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Submits a signed tx to the hubs; answers once it is in a block (or
    /// refused). `Err` when no hub could be reached.
    fn submit(&self, tx: Bytes) -> impl Future<Output = Result<Submitted, String>> + Send;
    /// Raises an internal alert (the AlertBroadcast topic). Default: only logged.
    fn broadcast_alert(&self, text: String) {
        tracing::warn!(%text, "alert");
    }
}

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where uploads are kept (content-addressed by blake3).
    pub uploads_dir: PathBuf,
    /// Largest upload.
    pub max_upload_bytes: u64,
    /// Largest JSON body.
    pub max_json_bytes: usize,
    /// Time limit of one request (uploads and event streams excepted).
    pub request_timeout: Duration,
    /// Time limit of the TLS handshake and of reading request headers.
    pub handshake_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Requests per second per client (burst: twice that).
    pub client_rate: u32,
    /// How long an upload or approval waits for its block before answering
    /// 202 (the receipt resolves later).
    pub commit_wait: Duration,
    /// Anomaly flags raised (shared with the peer's metrics).
    pub anomalies_flagged: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The last calls (shared with the peer's staff dashboard).
    pub recent_calls: crate::access_log::RecentCalls,
}

impl GatewayConfig {
    /// Defaults, with uploads under `dir`.
    pub fn new(uploads_dir: PathBuf) -> GatewayConfig {
        GatewayConfig {
            uploads_dir,
            max_upload_bytes: 16 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 4096,
            client_rate: 200,
            commit_wait: Duration::from_secs(5),
            anomalies_flagged: Default::default(),
            recent_calls: Default::default(),
        }
    }
}

/// The gateway failed to start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A certificate or key could not be read or made.
    #[error("TLS: {0}")]
    Tls(String),
    /// The address could not be bound, or a folder made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
