//! Hub services on the command line: HubQuery (`smart ask` on a hub's
//! folder) and the SMART-Pay export for accounting (`smart pay export`).

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use smart_contracts::State;
use smart_contracts::refusal::format_time;
use smart_contracts::state::PaymentKind;
use smart_ledger::store::BlockStore as _;
use smart_ledger::{Keypair, PeerRole};

use crate::peer::backup::StoreView;
use crate::services::query::{self, cents};

#[derive(Debug, Subcommand)]
pub enum PayCommand {
    /// Invoices, payouts and bonuses as CSV for accounting, exact to the cent.
    Export {
        /// A hub's (or any full peer's) folder.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the CSV (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// A running peer's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
}

/// Is `data` a hub's folder (its key is a hub of the genesis)?
pub fn is_hub(data: &Path) -> Result<bool> {
    let folder = crate::peer::folders::PeerFolder::new(data);
    let genesis = folder.genesis()?;
    let key = Keypair::read_file(&data.join(crate::peer::folders::PEER_KEY_FILE))
        .with_context(|| format!("the peer key of {}", data.display()))?;
    Ok(genesis
        .peers
        .iter()
        .any(|p| p.id == key.id() && p.role == PeerRole::Hub))
}

/// `smart ask --data HUB_DIR QUESTION`: exit 0 answered, 3 not understood.
pub fn ask(data: &Path, question: &str, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    let (state, history, _) = hub_view(data, metrics)?;
    match query::ask(&state, &history, wall_clock(&state), question) {
        Ok(a) => {
            println!("{a}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(3))
        }
    }
}

/// One CSV field, quoted when it must be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The invoices and payments of `state` as CSV (one header line, then one
/// line per record in ledger order: invoices, then payments).
pub fn pay_csv(state: &State) -> String {
    let mut out = String::from("kind,job,for,party,party_id,amount,currency_cents,ledger_time\n");
    let mut row = |kind: &str, job: &str, what: &str, id: &smart_ledger::SmartId, c: u64, at| {
        let cols = [
            kind.to_string(),
            field(job),
            field(what),
            field(&state.name_of(id)),
            id.to_string(),
            cents(c),
            c.to_string(),
            format_time(at),
        ];
        out.push_str(&cols.join(","));
        out.push('\n');
    };
    for i in &state.invoices {
        row(
            "invoice",
            &i.job,
            &i.milestone,
            &i.client,
            i.amount_cents,
            i.at,
        );
    }
    for p in &state.payments {
        let kind = match p.kind {
            PaymentKind::Payout => "payout",
            PaymentKind::Bonus => "bonus",
        };
        row(kind, &p.job, &p.step, &p.to, p.amount_cents, p.at);
    }
    out
}

/// `smart pay export --data DIR --out FILE [--metrics ADDR]`.
pub fn pay_export(data: &Path, out: &Path, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    if out.exists() {
        bail!(
            "{} exists; an export never overwrites a file",
            out.display()
        );
    }
    let (state, height) = hub_state(data, metrics)?;
    let csv = pay_csv(&state);
    std::fs::write(out, &csv).with_context(|| format!("writing {}", out.display()))?;
    let invoiced: u64 = state.invoices.iter().map(|i| i.amount_cents).sum();
    let paid: u64 = state.payments.iter().map(|p| p.amount_cents).sum();
    println!(
        "{}: {} invoices ({}), {} payouts and bonuses ({}) at block {}",
        out.display(),
        state.invoices.len(),
        cents(invoiced),
        state.payments.len(),
        cents(paid),
        height
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a hub's state at its tip, and the tip's height, without the
/// history scan (a running hub writes a copy).
pub(crate) fn hub_state(data: &Path, metrics: Option<SocketAddr>) -> Result<(State, u64)> {
    let view = StoreView::open(data, metrics)?;
    let state = crate::peer::replica::tip_state(view.store())?;
    Ok((state, view.store().tip().height))
}

/// Reads a hub's state and job history (a running hub writes a copy).
pub(crate) fn hub_view(
    data: &Path,
    metrics: Option<SocketAddr>,
) -> Result<(State, crate::services::history::History, u64)> {
    let view = StoreView::open(data, metrics)?;
    let state = crate::peer::replica::tip_state(view.store())?;
    let history = crate::services::history::history(view.store(), &state)?;
    Ok((state, history, view.store().tip().height))
}

/// Now, never before the ledger time of `state`.
pub(crate) fn wall_clock(state: &State) -> smart_ledger::Timestamp {
    smart_ledger::Timestamp(smart_ledger::clock::now_ms().max(state.time.0))
}

/// `smart modules --data HUB_DIR [--metrics ADDR] [--json]`.
pub fn modules(data: &Path, metrics: Option<SocketAddr>, json: bool) -> Result<ExitCode> {
    let (state, history, height) = hub_view(data, metrics)?;
    let list = crate::services::modules::hub_modules(&state, &history, height, wall_clock(&state));
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for m in &list {
            println!("{:<18} {}", m.name, m.state);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `smart advise --data HUB_DIR [--metrics ADDR] [--record HUB_ADDR --key FILE] [--json]`:
/// prints the findings; with `record`, submits the ones not yet in the
/// ledger as `Suggest` txs. Exit 1 when a suggestion was refused.
pub fn advise(
    data: &Path,
    metrics: Option<SocketAddr>,
    record: Option<(libp2p::Multiaddr, std::path::PathBuf)>,
    json: bool,
) -> Result<ExitCode> {
    let (state, history, height) = hub_view(data, metrics)?;
    let mut found = crate::services::advisor::findings(&state, &history.decisions);
    found.extend(crate::services::upkeep::findings(
        &state,
        &history,
        wall_clock(&state),
    ));
    found.extend(crate::services::advisor::api_findings(&history));
    let new: Vec<&crate::services::advisor::Finding> = found
        .iter()
        .filter(|f| !state.suggestions.contains_key(&f.id))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({ "height": height, "findings": found, "new": new.len() })
        );
    } else {
        println!(
            "{} findings over {} job decisions at block {height} ({} not yet recorded):",
            found.len(),
            history.decisions.len(),
            new.len()
        );
        for f in &found {
            println!("{}  {}\n    based on {}", f.id, f.finding, f.based_on);
        }
    }
    let Some((hub, key_file)) = record else {
        return Ok(ExitCode::SUCCESS);
    };
    let key = Keypair::read_file(&key_file)
        .with_context(|| format!("the Advisor key {}", key_file.display()))?;
    let actions: Vec<smart_contracts::Action> = new
        .into_iter()
        .map(|f| smart_contracts::Action::Suggest {
            id: f.id.clone(),
            finding: f.finding.clone(),
            based_on: f.based_on.clone(),
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let refused = rt.block_on(crate::cli::submit::submit_actions(hub, &key, actions))?;
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs one `smart pay` command.
pub(crate) fn pay(cmd: PayCommand) -> Result<ExitCode> {
    match cmd {
        PayCommand::Export { data, out, metrics } => {
            crate::cli::hub::pay_export(&data, &out, metrics)
        }
    }
}
