//! The options every peer role starts with (`smart run`).

use std::path::PathBuf;

use libp2p::Multiaddr;
use smart_consensus::HubConfig;

/// Options of `smart run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The peer's folder.
    pub data: PathBuf,
    /// Where to listen.
    pub listen: Multiaddr,
    /// Other peers (`/ip4/.../tcp/.../p2p/PEERID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Hub tunables.
    pub config: HubConfig,
    /// Where to serve /metrics and /health.
    pub metrics: Option<std::net::SocketAddr>,
    /// Gateway: the public HTTPS address.
    pub https: std::net::SocketAddr,
    /// Gateway: certificate and key files (default: the folder's self-signed pair).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Gateway: requests per second per client.
    pub api_rate: u32,
    /// Nodes: blocks behind at which a certified state snapshot is installed first.
    pub snapshot_gap: u64,
    /// Nodes: equipment this station drives (the first is its interlock).
    pub equipment: Vec<String>,
    /// Nodes: receives and ships parts.
    pub logistics: bool,
    /// Nodes: the kiosk's loopback address.
    pub kiosk: std::net::SocketAddr,
    /// Nodes: the most actions the outbox holds while no hub takes them.
    pub outbox_limit: u64,
}
