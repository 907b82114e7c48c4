//! Development and testnet tools: benchmarks, chaos, the demo shop day, the
//! development ledger generator and local networks of processes. Nothing
//! in a production role imports this room.

pub mod bench;
pub mod chaos;
pub mod demo;
pub mod devgen;
pub mod history;
pub mod localnet;
