//! The gateway role: a replica of the chain, not a station (no outbox, no
//! kiosk, no station I/O), that serves SMART-API over HTTPS and forwards
//! the txs clients submit to the hubs.

mod backend;
mod replica;
mod run;

pub use replica::GatewayReplica;
pub use run::run;

/// What the gateway serves.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The public HTTPS address.
    pub https: std::net::SocketAddr,
    /// TLS certificate (PEM).
    pub cert: std::path::PathBuf,
    /// TLS key (PEM).
    pub key: std::path::PathBuf,
    /// Requests per second per client.
    pub rate: u32,
}
