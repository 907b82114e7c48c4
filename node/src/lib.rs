//! The `smart` peer and operator CLI, as a library the binary and tests share.
//!
//! # Layout
//! - `cli`: the command line (clap) and dispatch.
//! - `folders`: the on-disk layout `smart init` writes (peer folders, people's keys).
//! - `init`: `smart init` and `smart keygen`.
//! - `contract_cmd`: `smart contract validate|simulate`.
//! - `ledger_cmd`: `smart ledger verify|show|prove|generate` and `smart proof verify`.
//! - `devgen`: the development-only ledger generator (real keys, real store).
//! - `bench`: `smart bench ledger`.
//! - `localnet`: an init folder as a network of processes (`smart-testnet`).
//! - `demo`: the shop day (shop set-up once per network, a job day per run).
//! - `backup`: `smart backup` and `smart restore`.
//! - `chaos`: `smart testnet chaos`, fault injection under load.
//! - `specialists`: the station modules' decisions (pure); `kiosk`: the station's screen and API;
//!   `vision`: QR codes; `station_cmd`: `smart station|modules|ask`.
//! - `testnet_cmd`: `smart testnet up` (the README's main command) and `smart demo`.

pub mod admin_cmd;
pub mod advisor;
pub mod audit_cmd;
pub mod backup;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod client_cmd;
pub mod contract_cmd;
pub mod demo;
pub mod devgen;
pub mod folders;
pub mod growth;
pub mod hub_cmd;
pub mod hub_query;
pub mod id_cmd;
pub mod init;
pub mod kiosk;
pub mod ledger_cmd;
pub mod localnet;
pub mod maintenance_cmd;
pub mod metrics;
pub mod outbox;
pub mod p2p;
mod progress;
pub mod projects;
pub mod run;
pub mod specialists;
pub mod station;
pub mod station_cmd;
pub mod station_io;
pub mod submit;
pub mod testnet_cmd;
pub mod upkeep;
pub mod vision;
