//! ClientManager and Projects on the command line.
//!
//! - `smart client add` registers a client account (Admin) and issues its
//!   first gateway credential: the secret is written to a file for the
//!   client (mode 0600, never overwritten); the ledger keeps only its hash.
//! - `smart client credential` / `smart client revoke` issue and revoke
//!   further credentials (Admin, Project Manager).
//! - `smart client list` shows the accounts from a hub's ledger.
//! - `smart project set` plans a client's project: milestones over its jobs.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use smart_contracts::Action;
use smart_contracts::state::{JobStatus, Milestone};
use smart_ledger::{Keypair, Role, SmartId};

use crate::cli::id::{Signer, parse_date};
use crate::services::query::cents;

/// `smart client ...`.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client account and issue its first gateway credential (Admin).
    Add {
        #[command(flatten)]
        signer: Signer,
        /// Unique account name.
        #[arg(long)]
        name: String,
        /// The organisation.
        #[arg(long)]
        organisation: String,
        /// Write the account's new key here (mode 0600, never overwritten).
        #[arg(long)]
        new_key: PathBuf,
        /// Write the credential for the client here (mode 0600, never overwritten).
        #[arg(long)]
        credential_out: PathBuf,
    },
    /// Issue another gateway credential to a client account (Admin, Project Manager).
    Credential {
        #[command(flatten)]
        signer: Signer,
        /// The client account's SMART-ID.
        #[arg(long)]
        client: SmartId,
        /// Write the credential here (mode 0600, never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a gateway credential by its id (Admin, Project Manager, or its client).
    Revoke {
        #[command(flatten)]
        signer: Signer,
        /// The credential id (the part after `smart_`).
        #[arg(long)]
        credential: String,
    },
    /// The client accounts in a hub's ledger: credentials, jobs, invoices.
    List {
        /// The hub's folder.
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<SocketAddr>,
    },
}

/// `smart project ...`.
#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create or replace a client's project plan (Admin, Project Manager).
    Set {
        #[command(flatten)]
        signer: Signer,
        /// Project id.
        #[arg(long)]
        id: String,
        /// The client account's SMART-ID.
        #[arg(long)]
        client: SmartId,
        /// Title.
        #[arg(long)]
        title: String,
        /// A milestone: `ID:YYYY-MM-DD:JOB[,JOB...][:TITLE]` (repeatable, in order).
        #[arg(long = "milestone", required = true)]
        milestones: Vec<String>,
    },
}

/// Parses `ID:YYYY-MM-DD:JOB,JOB[:TITLE]`.
pub fn parse_milestone(text: &str) -> Result<Milestone> {
    let mut parts = text.splitn(4, ':');
    let (Some(id), Some(due), Some(jobs)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("{text:?} is not ID:YYYY-MM-DD:JOB[,JOB...][:TITLE]");
    };
    let jobs: Vec<String> = jobs
        .split(',')
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Milestone {
        id: id.to_string(),
        title: parts.next().unwrap_or(id).to_string(),
        due: parse_date(due)?,
        jobs,
    })
}

/// Writes a secret for a person: mode 0600, never over an existing file.
fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{} (a credential is never overwritten)", path.display()))?;
    f.write_all(format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A new credential for `client`: the action that records its hash, after
/// its text is safely in `out`.
fn credential_for(client: SmartId, out: &Path) -> Result<Action> {
    let (text, cred, secret_hash) =
        smart_gateway::auth::Credential::mint().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_secret(out, &text)?;
    println!(
        "credential {} for {} in {} (the ledger keeps only its hash)",
        cred.id,
        client.short(),
        out.display()
    );
    Ok(Action::IssueApiCredential {
        id: cred.id,
        client,
        secret_hash,
    })
}

fn list(data: &Path, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    let (state, height) = crate::cli::hub::hub_state(data, metrics)?;
    let clients: Vec<_> = state
        .identities
        .iter()
        .filter(|(_, i)| i.roles.contains(&Role::Client))
        .collect();
    println!("{} client accounts at block {height}", clients.len());
    for (id, who) in clients {
        let creds = state
            .credentials
            .values()
            .filter(|c| c.client == *id && c.revoked_at.is_none())
            .count();
        let jobs: Vec<_> = state.jobs.values().filter(|j| j.client == *id).collect();
        let done = jobs
            .iter()
            .filter(|j| j.status == JobStatus::Completed)
            .count();
        let invoiced: u64 = state
            .invoices
            .iter()
            .filter(|i| i.client == *id)
            .map(|i| i.amount_cents)
            .sum();
        let projects = state.projects.values().filter(|p| p.client == *id).count();
        println!(
            "{} ({}, {}{}): {creds} live credentials, {} jobs ({done} completed), {projects} projects, invoiced {}",
            who.name,
            who.organisation.as_deref().unwrap_or("-"),
            id.short(),
            if who.active { "" } else { ", inactive" },
            jobs.len(),
            cents(invoiced)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `smart client` command; exit 1 when the VM refused something.
pub fn client(cmd: ClientCommand) -> Result<ExitCode> {
    match cmd {
        ClientCommand::Add {
            signer,
            name,
            organisation,
            new_key,
            credential_out,
        } => {
            if new_key.exists() {
                bail!("{} exists; a key is never overwritten", new_key.display());
            }
            let key = Keypair::generate()?;
            key.write_file(&new_key)
                .with_context(|| format!("writing {}", new_key.display()))?;
            println!(
                "client account {name}: SMART-ID {} in {}",
                key.id(),
                new_key.display()
            );
            let register = Action::RegisterIdentity {
                id: key.id(),
                name,
                roles: vec![Role::Client],
                organisation: Some(organisation),
            };
            let issue = credential_for(key.id(), &credential_out)?;
            crate::cli::submit::command_runtime()?.block_on(signer.submit(vec![register, issue]))
        }
        ClientCommand::Credential {
            signer,
            client,
            out,
        } => {
            let issue = credential_for(client, &out)?;
            crate::cli::submit::command_runtime()?.block_on(signer.submit(vec![issue]))
        }
        ClientCommand::Revoke { signer, credential } => crate::cli::submit::command_runtime()?
            .block_on(signer.submit(vec![Action::RevokeApiCredential { id: credential }])),
        ClientCommand::List { data, metrics } => list(&data, metrics),
    }
}

/// Runs a `smart project` command; exit 1 when the VM refused it.
pub fn project(cmd: ProjectCommand) -> Result<ExitCode> {
    match cmd {
        ProjectCommand::Set {
            signer,
            id,
            client,
            title,
            milestones,
        } => {
            let milestones = milestones
                .iter()
                .map(|m| parse_milestone(m))
                .collect::<Result<Vec<_>>>()?;
            crate::cli::submit::command_runtime()?.block_on(signer.submit(vec![
                Action::SetProject {
                    id,
                    client,
                    title,
                    milestones,
                },
            ]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_parse_or_say_their_form() {
        let m = parse_milestone("first-article:2027-01-15:job-1,job-2:First article").expect("ok");
        assert_eq!(m.id, "first-article");
        assert_eq!(m.jobs, ["job-1", "job-2"]);
        assert_eq!(m.title, "First article");
        let m = parse_milestone("lot-2:2027-02-01:job-3").expect("ok");
        assert_eq!(m.title, "lot-2");
        for bad in ["lot-2", "lot-2:2027-02-01", "lot-2:tomorrow:job-3"] {
            assert!(parse_milestone(bad).is_err(), "{bad}");
        }
    }
}
