//! The `smart` peer and operator CLI, as a library the binary and tests share.
//!
//! # Layout (imports point down this list, never up)
//! - [`cli`]: the command line: one file per command family, each owning its clap enum.
//! - [`lab`]: development and testnet tools (bench, chaos, demo, devgen, localnet).
//! - [`hub`]: the hub role: openraft over libp2p, blocks published, queries answered.
//! - [`gateway`]: the gateway role: a replica serving SMART-API.
//! - [`station`]: the station role: replica, kiosk, outbox, station I/O, modules.
//! - [`services`]: what hubs answer from the ledger (history, HubQuery, advisor, upkeep).
//! - [`peer`]: what every role shares (folders, metrics, backup hook, shutdown).
//! - [`p2p`]: the libp2p swarm, wire types, gossip notices, the request client.

pub mod cli;
pub mod gateway;
pub mod hub;
pub mod lab;
pub mod p2p;
pub mod peer;
pub mod services;
pub mod station;
