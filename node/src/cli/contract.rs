//! `smart contract validate` and `smart contract simulate`.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use smart_contracts::simulate;
use smart_contracts::{Contract, State, parse_contract};
use smart_ledger::store::BlockStore;

use crate::peer::folders::PeerFolder;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// The contract versions a peer holds, with status and approvals (PolicyNodeStorage; offline).
    List {
        /// The peer's folder.
        #[arg(long)]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Parse and check contract files; exit 0 when every one is valid.
    Validate {
        /// Contract YAML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a contract against a history (YAML events), or against a real
    /// ledger with --against to list past jobs it would decide differently.
    Simulate {
        /// The contract YAML.
        contract: PathBuf,
        /// The history file (see contracts/README.md).
        #[arg(long, required_unless_present = "against")]
        events: Option<PathBuf>,
        /// A peer's data folder whose ledger to replay.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: ContractCommand) -> Result<ExitCode> {
    match cmd {
        ContractCommand::Validate { files, json } => validate(&files, json),
        ContractCommand::List { data, json } => crate::cli::station::contract_list(&data, json),
        ContractCommand::Simulate {
            contract,
            events,
            against,
            json,
        } => {
            let (contract, yaml) = load(&contract)?;
            match (events, against) {
                (Some(events), _) => simulate_history(&contract, &yaml, &events, json),
                (None, Some(dir)) => simulate_against(&contract, &yaml, &dir, json),
                (None, None) => bail!("give --events FILE or --against DIR"),
            }
        }
    }
}

fn read_text(path: &Path, limit: u64) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > limit {
        bail!(
            "{}: {} bytes is over the limit of {limit}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads and checks a contract file.
pub(crate) fn load(path: &Path) -> Result<(Contract, String)> {
    let yaml = read_text(path, smart_contracts::parse::MAX_CONTRACT_BYTES as u64)?;
    let contract = parse_contract(&path.display().to_string(), &yaml)?;
    Ok((contract, yaml))
}

fn validate(files: &[std::path::PathBuf], json: bool) -> Result<ExitCode> {
    let mut all_ok = true;
    let mut results = Vec::new();
    for f in files {
        let shown = f.display().to_string();
        let result = read_text(f, smart_contracts::parse::MAX_CONTRACT_BYTES as u64)
            .map_err(|e| format!("{shown}: {e:#}"))
            .and_then(|text| parse_contract(&shown, &text).map_err(|e| e.to_string()));
        match &result {
            Ok(c) => {
                if !json {
                    println!(
                        "ok    {shown}: {} v{} ({:?}, {} steps)",
                        c.id,
                        c.version,
                        c.template,
                        c.steps.len()
                    );
                }
                results.push(serde_json::json!({"file": shown, "valid": true, "id": c.id, "version": c.version}));
            }
            Err(e) => {
                all_ok = false;
                if !json {
                    println!("ERROR {e}");
                }
                results.push(serde_json::json!({"file": shown, "valid": false, "error": e}));
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn simulate_history(
    contract: &Contract,
    yaml: &str,
    events: &Path,
    json: bool,
) -> Result<ExitCode> {
    let text = read_text(events, 4 * 1024 * 1024)?;
    let file = events.display().to_string();
    let history = simulate::parse_history(&file, &text)?;
    let sim = simulate::run(&file, contract, yaml, &history)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sim)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} v{} against {} ({} events)",
        contract.id,
        contract.version,
        file,
        sim.events.len()
    );
    for e in &sim.events {
        let outcome = match &e.outcome {
            smart_ledger::Outcome::Accepted => "accepted".to_string(),
            smart_ledger::Outcome::Refused { code, reason } => format!("REFUSED [{code}] {reason}"),
        };
        println!(
            "{:>3} {} {:<11} {:<18} {outcome}",
            e.index, e.at, e.by, e.action
        );
        for f in &e.effects {
            println!("      -> {} {:?}", f.cause, f.effect);
        }
    }
    print_summary(&sim.state);
    println!("state root {}", sim.state_root);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(state: &State) {
    for (id, job) in &state.jobs {
        println!(
            "job {id}: {:?}, {} of its steps done, {} nonconformance(s)",
            job.status,
            job.steps.len(),
            job.nonconformances
        );
    }
    print_money(state, "");
    for (station, lock) in &state.interlocks {
        println!("interlock {station}: {lock:?}");
    }
}

fn simulate_against(contract: &Contract, yaml: &str, dir: &Path, json: bool) -> Result<ExitCode> {
    let store = PeerFolder::new(dir).open_existing_store()?;
    let mut blocks = Vec::new();
    for h in 1..=store.tip().height {
        blocks.push(
            store
                .block(h)?
                .with_context(|| format!("block {h} missing"))?,
        );
    }
    let history = blocks.iter().flat_map(|b| {
        b.txs
            .iter()
            .zip(&b.outcomes)
            .map(move |(t, o)| (t, b.header.leader_time, o))
    });
    let impacted = simulate::impact(
        State::from_genesis(store.genesis()),
        contract,
        yaml,
        history,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&impacted)?);
    } else if impacted.is_empty() {
        println!(
            "{} v{} would have decided every past job of {} the same way ({} blocks replayed)",
            contract.id,
            contract.version,
            contract.id,
            blocks.len()
        );
    } else {
        println!(
            "{} v{} would have decided {} past action(s) differently:",
            contract.id,
            contract.version,
            impacted.len()
        );
        for i in &impacted {
            println!(
                "  job {} tx {}: recorded {:?}, candidate {:?}",
                i.job, i.tx, i.recorded, i.candidate
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Invoices and payments of a state, one line each, in dollars and cents.
pub(crate) fn print_money(state: &State, indent: &str) {
    let usd = |cents: u64| format!("{}.{:02} USD", cents / 100, cents % 100);
    for i in &state.invoices {
        println!(
            "{indent}invoice  {} {}: {} to {}",
            i.job,
            i.milestone,
            usd(i.amount_cents),
            state.name_of(&i.client)
        );
    }
    for p in &state.payments {
        println!(
            "{indent}{:?}   {} {}: {} to {}",
            p.kind,
            p.job,
            p.step,
            usd(p.amount_cents),
            state.name_of(&p.to)
        );
    }
}
