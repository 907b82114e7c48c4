//! What the station holds and how its modules stand: the pinned contracts
//! (PolicyNodeStorage) and each module's status for the kiosk and `smart station`.

use serde::Serialize;
use smart_contracts::State;
use smart_contracts::refusal::format_date;
use smart_contracts::station::{Module, Verdict};

use super::*;

/// A contract pinned on this node (PolicyNodeStorage).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PinnedContract {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Proposed, Active or Superseded.
    pub status: String,
    /// Its template.
    pub template: String,
    /// Title.
    pub title: String,
    /// blake3 of the YAML as approved.
    pub yaml_hash: String,
    /// Approvals: role → approver's name.
    pub approvals: Vec<(String, String)>,
    /// Open jobs pinned to this version.
    pub jobs: Vec<String>,
}

/// PolicyNodeStorage: every contract version this node holds.
pub fn contracts(state: &State) -> Vec<PinnedContract> {
    let mut out = Vec::new();
    for (id, versions) in &state.contracts {
        for (n, v) in versions {
            out.push(PinnedContract {
                id: id.clone(),
                version: *n,
                status: format!("{:?}", v.status),
                template: format!("{:?}", v.contract.template),
                title: v.contract.title.clone(),
                yaml_hash: v.yaml_hash.to_string(),
                approvals: v
                    .approvals
                    .iter()
                    .map(|(r, who)| (format!("{r:?}"), state.name_of(who)))
                    .collect(),
                jobs: state
                    .jobs
                    .iter()
                    .filter(|(_, j)| j.contract == *id && j.version == *n)
                    .map(|(j, _)| j.clone())
                    .collect(),
            });
        }
    }
    out
}

/// What the station knows beyond the ledger state, for [`modules`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct StationStatus {
    /// Outbox entries waiting for the hubs.
    pub outbox_pending: u64,
    /// Offline decisions the ledger overturned.
    pub overturned: u64,
    /// The I/O.
    pub io: IoView,
    /// Status broadcasts sent.
    pub info_sent: u64,
    /// Alerts broadcast.
    pub alerts_sent: u64,
    /// Questions answered.
    pub questions: u64,
}

/// One module's line in `smart modules`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ModuleStatus {
    /// Its name.
    pub name: String,
    /// What it holds now.
    pub state: String,
    /// Decisions it recorded at this station (allowed, refused).
    pub allowed: u64,
    /// Refusals.
    pub refused: u64,
}

/// Every module running on this station, with its state.
pub fn modules(
    state: &State,
    cfg: &StationConfig,
    session: &Session,
    status: &StationStatus,
) -> Vec<ModuleStatus> {
    let count = |m: Module, v: Verdict| {
        state
            .floor
            .decisions
            .get(&(cfg.name.clone(), m, v))
            .copied()
            .unwrap_or(0)
    };
    let interlock = cfg.interlock();
    Module::ALL
        .iter()
        .map(|m| {
            let text = match m {
                Module::Gatekeeper => format!(
                    "operator {}, job {}, interlock {} {}",
                    session
                        .operator
                        .map_or("none".into(), |o| state.name_of(&o)),
                    session.job.as_deref().unwrap_or("none"),
                    interlock,
                    if status.io.unlocked {
                        "unlocked"
                    } else {
                        "locked"
                    }
                ),
                Module::Guardian => {
                    let released = state
                        .floor
                        .parts
                        .values()
                        .filter(|p| p.released.as_ref().is_some_and(|r| r.0 == cfg.name))
                        .count();
                    format!("{released} jobs released here")
                }
                Module::PolicyNodeStorage => {
                    let list = contracts(state);
                    let active = list.iter().filter(|c| c.status == "Active").count();
                    format!("{} contract versions, {active} active", list.len())
                }
                Module::HandoffNode => format!(
                    "{} pending in the outbox, {} overturned",
                    status.outbox_pending, status.overturned
                ),
                Module::Vision => format!(
                    "part on the bench: {}",
                    session.part.as_deref().unwrap_or("none")
                ),
                Module::QaNode => format!("{} measurements entered", session.draft.len()),
                Module::InventoryNode => {
                    let low: Vec<&String> = state
                        .floor
                        .stock
                        .iter()
                        .filter(|(_, s)| s.needs_reorder())
                        .map(|(i, _)| i)
                        .collect();
                    format!(
                        "{} items stocked, {} below reorder point",
                        state.floor.stock.len(),
                        low.len()
                    )
                }
                Module::MaintenanceNode => cfg
                    .equipment
                    .iter()
                    .map(|e| equipment_line(state, e))
                    .collect::<Vec<_>>()
                    .join("; "),
                Module::SafetyNode => format!(
                    "e-stop {}, door {}, alarm {}",
                    if status.io.latched {
                        "latched"
                    } else {
                        "clear"
                    },
                    if status.io.door_open {
                        "open"
                    } else {
                        "closed"
                    },
                    if status.io.alarm { "on" } else { "off" }
                ),
                Module::LogisticsNode => {
                    if cfg.logistics {
                        "receiving and shipping here".into()
                    } else {
                        "not configured on this station".into()
                    }
                }
                Module::ComplianceNode => {
                    format!("{} documents on file", state.documents.len())
                }
                Module::StandardsNode => {
                    let overdue = cfg
                        .equipment
                        .iter()
                        .filter(|e| {
                            state
                                .equipment
                                .get(*e)
                                .is_some_and(|q| q.calibration_due <= state.time)
                        })
                        .count();
                    format!("{overdue} surveys overdue on this station's equipment")
                }
                Module::InfoBroadcast => format!("{} status broadcasts sent", status.info_sent),
                Module::AlertBroadcast => format!("{} alerts broadcast", status.alerts_sent),
                Module::NodeQuery => format!("{} questions answered", status.questions),
            };
            ModuleStatus {
                name: m.name().to_string(),
                state: text,
                allowed: count(*m, Verdict::Allowed),
                refused: count(*m, Verdict::Refused),
            }
        })
        .collect()
}

pub(super) fn equipment_line(state: &State, e: &str) -> String {
    match state.equipment.get(e) {
        None => format!("{e}: not registered"),
        Some(q) => {
            let usage = state.floor.usage.get(e).cloned().unwrap_or_default();
            format!(
                "{e}: calibration due {}, {} cycles, {} min{}",
                format_date(q.calibration_due),
                usage.cycles,
                usage.minutes,
                q.locked_out
                    .as_ref()
                    .map_or(String::new(), |r| format!(", LOCKED OUT ({r})"))
            )
        }
    }
}
