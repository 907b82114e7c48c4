//! MaintenanceHub on the command line: `smart maintenance plan` sets an
//! equipment's interval (Admin, Compliance); `smart maintenance schedule`
//! reads a hub's ledger and opens a service job for each equipment that is
//! due (Admin, Project Manager); the job's completion resets the count.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use smart_contracts::Action;
use smart_ledger::Keypair;

use crate::cli::id::Signer;

/// `smart maintenance ...`.
#[derive(Subcommand, Debug)]
pub enum MaintenanceCommand {
    /// Plan an equipment's maintenance: a service job under a
    /// SmartMaintenance contract every N cycles or M minutes run.
    Plan {
        #[command(flatten)]
        signer: Signer,
        /// Equipment id.
        #[arg(long)]
        equipment: String,
        /// The SmartMaintenance contract id.
        #[arg(long)]
        contract: String,
        /// Cycles between services (0: not by cycles).
        #[arg(long, default_value_t = 0)]
        every_cycles: u32,
        /// Minutes run between services (0: not by minutes).
        #[arg(long, default_value_t = 0)]
        every_minutes: u32,
    },
    /// Open a service job for each planned equipment that is due now or
    /// within 7 days at its recent rate and has none open.
    Schedule {
        /// The hub's folder (its ledger is read).
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<SocketAddr>,
        #[command(flatten)]
        signer: Signer,
    },
}

/// Runs a `smart maintenance` command; exit 1 when the VM refused something.
pub fn run(cmd: MaintenanceCommand) -> Result<ExitCode> {
    let (signer, actions) = match cmd {
        MaintenanceCommand::Plan {
            signer,
            equipment,
            contract,
            every_cycles,
            every_minutes,
        } => (
            signer,
            vec![Action::SetMaintenancePlan {
                equipment,
                contract,
                every_cycles,
                every_minutes,
            }],
        ),
        MaintenanceCommand::Schedule {
            data,
            metrics,
            signer,
        } => {
            let (state, history, height) = crate::cli::hub::hub_view(&data, metrics)?;
            let now = crate::cli::hub::wall_clock(&state);
            let owner = Keypair::read_file(&signer.key)
                .with_context(|| format!("the key {}", signer.key.display()))?
                .id();
            let list = crate::services::upkeep::maintenance(&state, &history, now);
            println!(
                "{} planned equipment at block {height}, {} due",
                list.len(),
                list.iter().filter(|m| m.due()).count()
            );
            let mut actions = Vec::new();
            for m in list.iter().filter(|m| m.due()) {
                if let Some(job) = &m.open_job {
                    println!("  {}: service job {job} already open", m.equipment);
                    continue;
                }
                let n = (1..)
                    .map(|n| format!("service-{}-{n}", m.equipment))
                    .find(|id| !state.jobs.contains_key(id))
                    .unwrap_or_default();
                println!(
                    "  {}: opening {n} under {} ({})",
                    m.equipment,
                    m.contract,
                    m.describe()
                );
                actions.push(Action::OpenJob {
                    job: n,
                    contract: m.contract.clone(),
                    client: owner,
                    parts: vec![m.equipment.clone()],
                });
            }
            (signer, actions)
        }
    };
    crate::cli::submit::command_runtime()?.block_on(signer.submit(actions))
}
