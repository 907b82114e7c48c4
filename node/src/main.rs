//! `smart`: one binary for every SMART peer role and the operator CLI.
//!
//! # Layout
//! - `cli`: the command line (clap) and dispatch.
//! - `folders`: the on-disk layout `smart init` writes (peer folders, people's keys).
//! - `init`: `smart init` and `smart keygen`.
//! - `contract_cmd`: `smart contract validate|simulate`.
//! - `ledger_cmd`: `smart ledger verify|show|prove|generate` and `smart proof verify`.
//! - `devgen`: the development-only ledger generator (real keys, real store).
//! - `bench`: `smart bench ledger`.
//! - `demo`: the end-to-end walk-through the README starts with.

mod bench;
mod cli;
mod contract_cmd;
mod demo;
mod devgen;
mod folders;
mod init;
mod ledger_cmd;

fn main() -> std::process::ExitCode {
    cli::main()
}
