//! `smart state prove`: a self-contained proof of a contract state record
//! at a certified height, checked offline by `smart proof verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use smart_contracts::State;

use crate::peer::folders::PeerFolder;
use crate::peer::proofs::CertifiedState;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Prove that a record of the contract state had a value, or did not
    /// exist, in the state certified at a height. Writes a JSON proof that
    /// `smart proof verify` checks offline.
    Prove {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// The record: KIND/ID, e.g. `tokens/tech-7:heat-treat-operator`,
        /// `equipment/furnace-3`, `jobs/J-1007`, `identities/<SMART-ID>`,
        /// `hex:` before an ID gives the key's raw bytes.
        #[arg(long)]
        key: String,
        /// The certified height (default: the tip).
        #[arg(long)]
        height: Option<u64>,
        /// Write the proof here (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: StateCommand) -> Result<ExitCode> {
    let StateCommand::Prove {
        data,
        key,
        height,
        out,
    } = cmd;
    let Some((kind, id)) = key.split_once('/') else {
        bail!(
            "--key must be KIND/ID, e.g. jobs/J-1007 (kinds: {})",
            State::kinds().join(", ")
        );
    };
    if !State::kinds().contains(&kind) {
        bail!(
            "no record kind {kind:?} in the contract state (kinds: {})",
            State::kinds().join(", ")
        );
    }
    let store = PeerFolder::new(&data).open_existing_store()?;
    let certified = CertifiedState::at(&store, height)?;
    let key_bytes = certified.key_of(kind, id);
    let proof = certified.prove(kind, &key_bytes)?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    let what = match &proof.value {
        Some(v) => format!("has a value ({} bytes)", v.0.len()),
        None => "does not exist".to_string(),
    };
    match out {
        Some(path) => {
            std::fs::write(&path, text)?;
            eprintln!(
                "{} {what} in the state certified at height {}; proof in {}",
                smart_ledger::state_tree::record_name(kind, &key_bytes),
                proof.header.height,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
