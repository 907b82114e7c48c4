//! The job history the hubs read from their blocks beyond the state: every
//! job decision (opening, steps, client approvals) and every incident
//! (alerts, lockouts, SafetyNode records), and how a question names a job.

use smart_contracts::State;
use smart_contracts::action::{Action, ClientAction};
use smart_contracts::station::{Fact, Module, StationRecord};
use smart_ledger::store::BlockStore;
use smart_ledger::{Outcome, Timestamp, TxKind};

/// A step or client decision of a job, as the ledger recorded it.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Block height.
    pub height: u64,
    /// Ledger time of the block.
    pub time: Timestamp,
    /// Who (name from the state).
    pub who: String,
    /// The job.
    pub job: String,
    /// The step, for a step.
    pub step: Option<String>,
    /// The station it was done at, when the tx names one.
    pub station: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
}

/// A safety or equipment incident the ledger recorded (SafetyCentral).
#[derive(Clone, Debug)]
pub struct Incident {
    /// Block height.
    pub height: u64,
    /// Ledger time of the block.
    pub time: Timestamp,
    /// Who or which station.
    pub who: String,
    /// What happened.
    pub what: String,
}

/// What HubQuery reads from the blocks beyond the state: every job decision
/// (opening, steps, client approvals) and every incident (alerts, lockouts,
/// SafetyNode records).
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Job decisions, in ledger order.
    pub decisions: Vec<Decision>,
    /// Incidents, in ledger order.
    pub incidents: Vec<Incident>,
    /// Equipment runs recorded by stations: (time, equipment, cycles, minutes).
    pub usage: Vec<(Timestamp, String, u32, u32)>,
    /// Consumables used, recorded by stations: (time, item, quantity).
    pub consumed: Vec<(Timestamp, String, u32)>,
    /// API calls from the gateways' access logs: (time, credential or `-`, HTTP status).
    pub api_calls: Vec<(Timestamp, String, u16)>,
    /// The gateways' advisory anomaly flags: (time, kind, caller).
    pub api_flags: Vec<(Timestamp, String, String)>,
}

/// The API calls of an access-log batch (a gateway's JSON records).
fn access_records(payload: &[u8]) -> Vec<smart_gateway::access_log::AccessRecord> {
    serde_json::from_slice(payload).unwrap_or_default()
}

/// The kind and caller of a gateway's `AnomalyFlagged` alert, if it is one.
fn anomaly_flag(payload: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let f = v.get("AnomalyFlagged")?;
    Some((
        f.get("kind")?.as_str()?.to_string(),
        f.get("caller")?.as_str()?.to_string(),
    ))
}

/// Most characters of an alert's text an incident keeps.
const INCIDENT_TEXT: usize = 200;

/// Reads the job decisions and incidents of every block in `store`.
pub fn history<S: BlockStore>(
    store: &S,
    state: &State,
) -> Result<History, smart_ledger::store::StoreError> {
    let mut out = History::default();
    for height in 1..=store.tip().height {
        let Some(block) = store.block(height)? else {
            continue;
        };
        let time = block.header.leader_time;
        for (tx, outcome) in block.txs.iter().zip(&block.outcomes) {
            let who = state.name_of(&tx.author());
            let payload = &tx.body().payload.0;
            let incident = |what: String| Incident {
                height,
                time,
                who: who.clone(),
                what,
            };
            match tx.body().kind {
                TxKind::AccessLogBatch if state.gateways.contains(&tx.author()) => {
                    out.api_calls.extend(
                        access_records(payload)
                            .into_iter()
                            .map(|r| (Timestamp(r.at_ms), r.client, r.status)),
                    );
                    continue;
                }
                TxKind::Alert => {
                    if state.gateways.contains(&tx.author())
                        && let Some((kind, caller)) = anomaly_flag(payload)
                    {
                        out.api_flags.push((time, kind, caller));
                    }
                    let text: String = String::from_utf8_lossy(payload)
                        .chars()
                        .take(INCIDENT_TEXT)
                        .collect();
                    out.incidents.push(incident(format!("alert: {text}")));
                    continue;
                }
                TxKind::Station => {
                    let record = StationRecord::decode(payload)
                        .ok()
                        .filter(|_| *outcome == Outcome::Accepted);
                    match record.as_ref().and_then(|r| r.fact.as_ref()) {
                        Some(Fact::EquipmentUsed {
                            equipment,
                            cycles,
                            minutes,
                        }) => out.usage.push((time, equipment.clone(), *cycles, *minutes)),
                        Some(Fact::Consumed { item, quantity }) => {
                            out.consumed.push((time, item.clone(), *quantity))
                        }
                        _ => {}
                    }
                    if let Some(r) = record
                        && (r.module == Module::SafetyNode
                            || matches!(r.fact, Some(Fact::LockOut { .. })))
                    {
                        let why = if r.reason.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", r.reason)
                        };
                        out.incidents.push(Incident {
                            who: r.station.clone(),
                            ..incident(format!("{}: {}{why}", r.module.name(), r.what))
                        });
                    }
                    continue;
                }
                _ => {}
            }
            let (job, step, station) = match Action::decode(payload) {
                Ok(Action::LockOut { id, reason }) if *outcome == Outcome::Accepted => {
                    out.incidents
                        .push(incident(format!("locked out {id}: {reason}")));
                    continue;
                }
                Ok(Action::OpenJob { job, .. }) => (job, None, None),
                Ok(Action::CompleteStep {
                    job, step, station, ..
                }) => (job, Some(step), station),
                Ok(Action::ClientRequest {
                    request: ClientAction::ApproveStep { job, step },
                    ..
                }) => (job, Some(step), None),
                _ => continue,
            };
            out.decisions.push(Decision {
                height,
                time,
                who,
                job,
                step,
                station,
                outcome: outcome.clone(),
            });
        }
    }
    Ok(out)
}

/// A job named in a question: its id, or the only job whose id ends with it (`42` → `job-42`).
pub fn resolve_job(state: &State, word: &str) -> Result<String, String> {
    if state.jobs.contains_key(word) {
        return Ok(word.to_string());
    }
    let matches: Vec<&String> = state
        .jobs
        .keys()
        .filter(|j| j.ends_with(&format!("-{word}")))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no job {word}")),
        many => Err(format!(
            "{word} could be any of {}",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
