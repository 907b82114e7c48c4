//! `smart modules` on a hub: each hub service and what it holds now, read
//! from the state at a height and the ledger's job history.

use smart_contracts::State;
use smart_contracts::model::Template;
use smart_contracts::state::{Token, TokenKind, VersionStatus};
use smart_ledger::{Outcome, Role, Timestamp};

use crate::services::history::History;
use crate::services::projects::{self, Handoff};
use crate::services::query::{self, cents};
use crate::services::{growth, upkeep};

/// A day, in ledger milliseconds.
const DAY_MS: u64 = 86_400_000;

/// One hub service's line in `smart modules`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HubModule {
    /// Its name.
    pub name: &'static str,
    /// What it holds now.
    pub state: String,
}

fn line(name: &'static str, state: String) -> HubModule {
    HubModule { name, state }
}

/// The hub services and what each holds, from a hub's `state` at `height`
/// and the ledger's job `history`.
pub fn hub_modules(state: &State, ledger: &History, height: u64, now: Timestamp) -> Vec<HubModule> {
    let mut lines = vec![line(
        "Consensus",
        format!("block {height}, {} hubs in the set", state.hubs.len()),
    )];
    lines.extend(people(state, now));
    lines.extend(policy(state, ledger, now));
    lines.extend(floor(state, ledger, now));
    lines.extend(money(state));
    lines
}

fn live(now: Timestamp) -> impl Fn(&&Token) -> bool {
    move |t| t.revoked.is_none() && t.expires.0 > now.0
}

/// Identities and tokens, certifications, clients, hand-offs and projects.
fn people(state: &State, now: Timestamp) -> Vec<HubModule> {
    let soon = now.0.saturating_add(30 * DAY_MS);
    let tokens: Vec<&Token> = state.tokens.values().filter(live(now)).collect();
    let framework: Vec<&Token> = state
        .tokens
        .iter()
        .filter(|(id, _)| smart_contracts::education::is_framework_token(id))
        .map(|(_, t)| t)
        .filter(live(now))
        .collect();
    let active = state.identities.values().filter(|i| i.active);
    let clients = active
        .clone()
        .filter(|i| i.roles.contains(&Role::Client))
        .count();
    let staging = projects::staging(state);
    let staged = staging
        .iter()
        .filter(|(_, h)| matches!(h, Handoff::Staged { .. }))
        .count();
    vec![
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
                    .filter(|t| t.kind == TokenKind::Certified)
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
        line(
            "HandoffCentral",
            format!(
                "{} open client jobs, {staged} staged for the floor",
                staging.len()
            ),
        ),
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
    ]
}

/// Contract versions and approvals, compliance, standards and quality.
fn policy(state: &State, ledger: &History, now: Timestamp) -> Vec<HubModule> {
    let versions: Vec<VersionStatus> = state
        .contracts
        .values()
        .flat_map(|v| v.values().map(|c| c.status))
        .collect();
    let count = |s: VersionStatus| versions.iter().filter(|v| **v == s).count();
    let decisions = &ledger.decisions;
    let refused = decisions
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Refused { .. }))
        .count();
    vec![
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
            format!("{} job decisions, {refused} refused", decisions.len()),
        ),
        line("StandardsCentral", standards(state, now)),
        line("QACentral", quality(state, ledger)),
    ]
}

/// StandardsCentral's line: standards contracts and calibrations.
fn standards(state: &State, now: Timestamp) -> String {
    let soon = now.0.saturating_add(30 * DAY_MS);
    let active = state
        .contracts
        .values()
        .flat_map(|v| v.values())
        .filter(|c| {
            c.status == VersionStatus::Active && c.contract.template == Template::SmartStandards
        })
        .count();
    let due = |e: &&smart_contracts::state::Equipment| e.calibration_due.0;
    let overdue = state.equipment.values().filter(|e| due(e) <= now.0).count();
    let due_soon = state
        .equipment
        .values()
        .filter(|e| due(e) > now.0 && due(e) <= soon)
        .count();
    format!(
        "{active} standards contracts active; {} equipment: {overdue} calibrations overdue, {due_soon} due within 30 days",
        state.equipment.len()
    )
}

/// QACentral's line: out-of-limit refusals and jobs with a nonconformance.
fn quality(state: &State, ledger: &History) -> String {
    let out_of_limits = ledger
        .decisions
        .iter()
        .filter(|d| {
            matches!(d.outcome, Outcome::Refused { code, .. }
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
}

/// Safety, growth, maintenance and inventory.
fn floor(state: &State, ledger: &History, now: Timestamp) -> Vec<HubModule> {
    let week_ago = now.0.saturating_sub(7 * DAY_MS);
    let maintenance = upkeep::maintenance(state, ledger, now);
    let orders = upkeep::procurement(state, ledger, now);
    vec![
        line(
            "SafetyCentral",
            format!(
                "{} incidents recorded, {} in the last 7 days",
                ledger.incidents.len(),
                ledger
                    .incidents
                    .iter()
                    .filter(|i| i.time.0 >= week_ago)
                    .count()
            ),
        ),
        line("Growth/Feedback", growth::summary(state, now)),
        line(
            "MaintenanceHub",
            format!(
                "{} equipment planned, {} due, {} service jobs open",
                maintenance.len(),
                maintenance.iter().filter(|m| m.due()).count(),
                maintenance.iter().filter(|m| m.open_job.is_some()).count()
            ),
        ),
        line(
            "InventoryHub",
            format!(
                "{} items stocked, {} to order",
                state.floor.stock.len(),
                orders.len()
            ),
        ),
    ]
}

/// Pay, the advisor, HubQuery and audit packs.
fn money(state: &State) -> Vec<HubModule> {
    let invoiced: u64 = state.invoices.iter().map(|i| i.amount_cents).sum();
    let paid: u64 = state.payments.iter().map(|p| p.amount_cents).sum();
    vec![
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
