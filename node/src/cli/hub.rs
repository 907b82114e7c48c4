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

/// One hub service's line in `smart modules`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HubModule {
    /// Its name.
    pub name: &'static str,
    /// What it holds now.
    pub state: String,
}

/// The hub services and what each holds, from a hub's `state` at `height`
/// and the ledger's job `history`.
pub fn hub_modules(
    state: &State,
    ledger: &crate::services::history::History,
    height: u64,
    now: smart_ledger::Timestamp,
) -> Vec<HubModule> {
    let history = &ledger.decisions;
    use smart_contracts::state::VersionStatus;
    use smart_ledger::Role;
    let soon = now.0.saturating_add(30 * 86_400_000);
    let live = |t: &&smart_contracts::state::Token| t.revoked.is_none() && t.expires.0 > now.0;
    let tokens: Vec<_> = state.tokens.values().filter(live).collect();
    let framework: Vec<_> = state
        .tokens
        .iter()
        .filter(|(id, t)| smart_contracts::education::is_framework_token(id) && live(t))
        .map(|(_, t)| t)
        .collect();
    let versions: Vec<VersionStatus> = state
        .contracts
        .values()
        .flat_map(|v| v.values().map(|c| c.status))
        .collect();
    let count = |s: VersionStatus| versions.iter().filter(|v| **v == s).count();
    let refused = history
        .iter()
        .filter(|d| matches!(d.outcome, smart_ledger::Outcome::Refused { .. }))
        .count();
    let invoiced: u64 = state.invoices.iter().map(|i| i.amount_cents).sum();
    let paid: u64 = state.payments.iter().map(|p| p.amount_cents).sum();
    let active = state.identities.values().filter(|i| i.active);
    let clients = active
        .clone()
        .filter(|i| i.roles.contains(&Role::Client))
        .count();
    let line = |name, state: String| HubModule { name, state };
    vec![
        line(
            "Consensus",
            format!("block {height}, {} hubs in the set", state.hubs.len()),
        ),
        line(
            "TokenAccessLayer",
            format!(
                "{} active identities, {} live tokens, {} expire within 30 days",
                active.count(),
                tokens.len(),
                tokens.iter().filter(|t| t.expires.0 <= soon).count()
            ),
        ),
        line(
            "CertifiedPeople",
            format!(
                "{} transcripts, {} live tokens from the framework ({} certifications)",
                state.education.len(),
                framework.len(),
                framework
                    .iter()
                    .filter(|t| t.kind == smart_contracts::state::TokenKind::Certified)
                    .count()
            ),
        ),
        line(
            "ClientManager",
            format!(
                "{clients} client accounts, {} API credentials live",
                state
                    .credentials
                    .values()
                    .filter(|c| c.revoked_at.is_none())
                    .count()
            ),
        ),
        line("HandoffCentral", {
            let list = crate::services::projects::staging(state);
            let staged = list
                .iter()
                .filter(|(_, h)| matches!(h, crate::services::projects::Handoff::Staged { .. }))
                .count();
            format!(
                "{} open client jobs, {staged} staged for the floor",
                list.len()
            )
        }),
        line(
            "Projects",
            format!(
                "{} projects, {} milestones",
                state.projects.len(),
                state
                    .projects
                    .values()
                    .map(|p| p.milestones.len())
                    .sum::<usize>()
            ),
        ),
        line(
            "PolicyCentral",
            format!(
                "{} contract versions: {} active, {} awaiting approval, {} superseded",
                versions.len(),
                count(VersionStatus::Active),
                count(VersionStatus::Proposed),
                count(VersionStatus::Superseded)
            ),
        ),
        line("SMART-Admin", awaiting_approval(state)),
        line(
            "ComplianceCentral",
            format!("{} job decisions, {refused} refused", history.len()),
        ),
        line("StandardsCentral", {
            let active_of = |t: smart_contracts::model::Template| {
                state
                    .contracts
                    .values()
                    .flat_map(|v| v.values())
                    .filter(|c| c.status == VersionStatus::Active && c.contract.template == t)
                    .count()
            };
            let overdue = state
                .equipment
                .values()
                .filter(|e| e.calibration_due.0 <= now.0)
                .count();
            let due_soon = state
                .equipment
                .values()
                .filter(|e| e.calibration_due.0 > now.0 && e.calibration_due.0 <= soon)
                .count();
            format!(
                "{} standards contracts active; {} equipment: {overdue} calibrations overdue, {due_soon} due within 30 days",
                active_of(smart_contracts::model::Template::SmartStandards),
                state.equipment.len()
            )
        }),
        line("QACentral", {
            let out_of_limits = history
                .iter()
                .filter(|d| {
                    matches!(d.outcome, smart_ledger::Outcome::Refused { code, .. }
                        if code == smart_contracts::RefusalCode::MeasurementOutOfLimits.number())
                })
                .count();
            let with_nc = state
                .jobs
                .values()
                .filter(|j| j.nonconformances > 0)
                .count();
            format!(
                "{out_of_limits} out-of-limit measurements refused; {with_nc} of {} jobs with a nonconformance",
                state.jobs.len()
            )
        }),
        line(
            "SafetyCentral",
            format!(
                "{} incidents recorded, {} in the last 7 days",
                ledger.incidents.len(),
                ledger
                    .incidents
                    .iter()
                    .filter(|i| i.time.0 >= now.0.saturating_sub(7 * 86_400_000))
                    .count()
            ),
        ),
        line(
            "Growth/Feedback",
            crate::services::growth::summary(state, now),
        ),
        line("MaintenanceHub", {
            let list = crate::services::upkeep::maintenance(state, ledger, now);
            format!(
                "{} equipment planned, {} due, {} service jobs open",
                list.len(),
                list.iter().filter(|m| m.due()).count(),
                list.iter().filter(|m| m.open_job.is_some()).count()
            )
        }),
        line("InventoryHub", {
            let list = crate::services::upkeep::procurement(state, ledger, now);
            format!(
                "{} items stocked, {} to order",
                state.floor.stock.len(),
                list.len()
            )
        }),
        line(
            "SMART-Pay",
            format!(
                "{} invoices ({}), {} payouts and bonuses ({})",
                state.invoices.len(),
                cents(invoiced),
                state.payments.len(),
                cents(paid)
            ),
        ),
        line(
            "SMART-AI Central",
            format!(
                "{} suggestions recorded (advisory only)",
                state.suggestions.len()
            ),
        ),
        line(
            "HubQuery",
            format!("{} question forms", query::QUESTIONS.len()),
        ),
        line(
            "AuditCentral",
            format!("{} jobs can be exported as audit packs", state.jobs.len()),
        ),
    ]
}

/// SMART-Admin's line: the proposed versions and the roles each still needs.
fn awaiting_approval(state: &State) -> String {
    use smart_contracts::state::VersionStatus;
    let waiting: Vec<String> = state
        .contracts
        .iter()
        .flat_map(|(id, versions)| versions.iter().map(move |(n, v)| (id, n, v)))
        .filter(|(_, _, v)| v.status == VersionStatus::Proposed)
        .map(|(id, n, v)| {
            let missing: Vec<String> = state
                .governance
                .approvers
                .iter()
                .filter(|r| !v.approvals.contains_key(r))
                .map(|r| format!("{r:?}"))
                .collect();
            format!("{id} v{n} needs {}", missing.join(", "))
        })
        .collect();
    if waiting.is_empty() {
        "nothing awaits approval (`smart admin deploy BUNDLE` proposes a release)".into()
    } else {
        format!(
            "{} awaiting approval: {}",
            waiting.len(),
            waiting.join("; ")
        )
    }
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
    let list = hub_modules(&state, &history, height, wall_clock(&state));
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
