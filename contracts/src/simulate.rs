//! Simulation: run a contract against a recorded or hand-written history.
//!
//! A history file (YAML) names its actors and lists events:
//!
//! ```yaml
//! actors:                       # name: roles; SMART-IDs are derived from the names
//!   admin: [Admin]
//!   tech-7: [Technician]
//!   acme: [Client]
//! events:
//!   - at: 2026-11-02T08:00      # ledger time, UTC
//!     by: admin
//!     do:
//!       issue_token: { token: t1, holder: "@tech-7", kind: Certified, scope: NDT-UT-L2, expires: @2027-03-01 }
//! ```
//!
//! `@name` stands for the SMART-ID of actor `name`; `@YYYY-MM-DD` and
//! `@YYYY-MM-DDTHH:MM` (unquoted) for a ledger time. The contract under test
//! is installed as the active version before the first event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smart_ledger::{Hash, Keypair, Outcome, Role, SignedTx, SmartId, Timestamp};

use crate::action::Action;
use crate::model::Contract;
use crate::refusal::{format_time, timestamp_of};
use crate::state::{ContractVersion, Identity, State, VersionStatus};
use crate::vm::{self, Fired, TxInput};

/// A history, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Actors and their roles at the start.
    pub actors: BTreeMap<String, Vec<Role>>,
    /// Events in order.
    pub events: Vec<Event>,
}

/// One event of a history.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Ledger time (ms since the epoch, or `YYYY-MM-DDTHH:MM`).
    pub at: TimeText,
    /// The acting actor's name.
    pub by: String,
    /// The action.
    #[serde(rename = "do")]
    pub action: Action,
}

/// A time written as ms or as `YYYY-MM-DD[THH:MM]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum TimeText {
    /// Milliseconds since the epoch.
    Millis(u64),
    /// A UTC date and time.
    Text(String),
}

impl TimeText {
    fn resolve(&self) -> Option<Timestamp> {
        match self {
            TimeText::Millis(ms) => Some(Timestamp(*ms)),
            TimeText::Text(t) => parse_time(t),
        }
    }
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (also with a space).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let t = text.trim();
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (h, min) = match time {
        Some(tm) => {
            let (h, mi) = tm.split_once(':')?;
            (h.parse().ok()?, mi.get(..2).unwrap_or(mi).parse().ok()?)
        }
        None => (0, 0),
    };
    if h > 23 || min > 59 {
        return None;
    }
    Some(timestamp_of(y, m, day, h, min))
}

/// The key of a simulated actor: derived from its name, so a history always
/// gives the same SMART-IDs.
pub fn actor_key(name: &str) -> Keypair {
    Keypair::from_seed(Hash::of_parts(&[b"smart-simulate:", name.as_bytes()]).0)
}

/// A history could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimulateError {
    /// The YAML did not parse.
    #[error("history {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// An event names an unknown actor or a bad time.
    #[error("history {file}: event {index}: {message}")]
    Event {
        /// The file.
        file: String,
        /// Event number (0-based).
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// Replaces `@name` with SMART-IDs and `@date` with ms.
fn substitute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | 'T')))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        if token.is_empty() {
            out.push('@');
        } else if token.as_bytes().first().is_some_and(u8::is_ascii_digit) && token.len() >= 10 {
            match parse_time(&token.replace('T', " ")) {
                Some(t) => out.push_str(&t.0.to_string()),
                None => out.push_str(&rest[i..i + 1 + end]),
            }
        } else {
            out.push_str(&actor_key(token).id().to_string());
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Reads a history file's text.
pub fn parse_history(file: &str, text: &str) -> Result<History, SimulateError> {
    if text.len() > 4 * 1024 * 1024 {
        return Err(SimulateError::Parse {
            file: file.into(),
            message: "history over 4 MiB".into(),
        });
    }
    serde_saphyr::from_str(&substitute(text)).map_err(|e| SimulateError::Parse {
        file: file.into(),
        message: e.to_string().lines().next().unwrap_or("").to_string(),
    })
}

/// One event's result.
#[derive(Clone, Debug, Serialize)]
pub struct EventResult {
    /// Event number.
    pub index: usize,
    /// Ledger time.
    pub at: String,
    /// Actor.
    pub by: String,
    /// The action's name.
    pub action: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Effects that fired.
    pub effects: Vec<Fired>,
    /// State root after the event.
    pub state_root: Hash,
}

/// A whole simulation.
#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    /// Per event.
    pub events: Vec<EventResult>,
    /// The final state.
    pub state: State,
    /// Its root.
    pub state_root: Hash,
}

/// Installs `contract` (with its YAML) as the active version in `state`.
pub fn install_active(state: &mut State, contract: &Contract, yaml: &str) {
    let versions = state.contracts.entry(contract.id.clone()).or_default();
    for v in versions.values_mut() {
        if v.status == VersionStatus::Active {
            v.status = VersionStatus::Superseded;
        }
    }
    versions.insert(
        contract.version,
        ContractVersion {
            yaml: yaml.to_string(),
            yaml_hash: Hash::of(yaml.as_bytes()),
            contract: contract.clone(),
            status: VersionStatus::Active,
            proposed_by: actor_key("simulation").id(),
            proposed_in: Hash::ZERO,
            approvals: BTreeMap::new(),
        },
    );
}

/// Runs `history` with `contract` installed as active.
pub fn run(
    file: &str,
    contract: &Contract,
    yaml: &str,
    history: &History,
) -> Result<Simulation, SimulateError> {
    let mut state = State::default();
    for (name, roles) in &history.actors {
        state.identities.insert(
            actor_key(name).id(),
            Identity::new(name.clone(), roles.iter().copied()),
        );
    }
    install_active(&mut state, contract, yaml);
    let mut events = Vec::with_capacity(history.events.len());
    for (index, e) in history.events.iter().enumerate() {
        let err = |message: String| SimulateError::Event {
            file: file.into(),
            index,
            message,
        };
        if !history.actors.contains_key(&e.by) {
            return Err(err(format!("unknown actor {:?}", e.by)));
        }
        let time =
            e.at.resolve()
                .ok_or_else(|| err("bad time: expected ms or YYYY-MM-DDTHH:MM".into()))?;
        let author: SmartId = actor_key(&e.by).id();
        let payload = e.action.encode();
        let applied = vm::apply(
            &mut state,
            &TxInput {
                author,
                kind: e.action.kind(),
                payload: &payload,
                time,
                tx_hash: smart_ledger::Hash::ZERO,
            },
        );
        let action = serde_json::to_value(&e.action)
            .ok()
            .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
            .unwrap_or_default();
        events.push(EventResult {
            index,
            at: format_time(time),
            by: e.by.clone(),
            action,
            outcome: applied.outcome,
            effects: applied.effects,
            state_root: state.root(),
        });
    }
    let state_root = state.root();
    Ok(Simulation {
        events,
        state,
        state_root,
    })
}

/// A past job the candidate would have decided differently.
#[derive(Clone, Debug, Serialize)]
pub struct ImpactedJob {
    /// The job.
    pub job: String,
    /// The tx whose outcome differs.
    pub tx: Hash,
    /// The outcome recorded in the ledger.
    pub recorded: Outcome,
    /// The outcome under the candidate.
    pub candidate: Outcome,
}

/// Replays a ledger's txs (with their block times and recorded outcomes),
/// pinning every job of the candidate's contract id to the candidate, and
/// lists the jobs where an outcome would differ.
pub fn impact<'a>(
    initial: State,
    contract: &Contract,
    yaml: &str,
    history: impl IntoIterator<Item = (&'a SignedTx, Timestamp, &'a Outcome)>,
) -> Vec<ImpactedJob> {
    let mut state = initial;
    let mut impacted = Vec::new();
    for (tx, time, recorded) in history {
        let action = Action::decode(&tx.body().payload.0).ok();
        if let Some(Action::OpenJob { contract: id, .. }) = &action
            && *id == contract.id
        {
            install_active(&mut state, contract, yaml);
        }
        let applied = vm::apply(&mut state, &TxInput::of(tx, time));
        if applied.outcome != *recorded {
            let job = match action {
                Some(Action::OpenJob { job, .. }) | Some(Action::CompleteStep { job, .. }) => job,
                _ => continue,
            };
            impacted.push(ImpactedJob {
                job,
                tx: tx.hash(),
                recorded: recorded.clone(),
                candidate: applied.outcome,
            });
        }
    }
    impacted
}

#[cfg(test)]
mod tests {
    use super::*;

    const PO: &str = include_str!("../examples/smart-client-po.yaml");

    #[test]
    fn a_history_with_an_examination_writes_as_json() {
        let history = parse_history(
            "exam.yaml",
            r#"
actors:
  qa-lee: [QA]
  tech-7: [Technician]
events:
  - { at: 2026-11-02T07:00, by: qa-lee, do: { record_education: { person: "@tech-7", record: { exam: { method: Ut, level: 2, part: General, score: 85 } } } } }
"#,
        )
        .expect("history");
        let contract = crate::parse::parse_contract("po", PO).expect("valid");
        let sim = run("exam.yaml", &contract, PO, &history).expect("runs");
        assert_eq!(sim.events[0].outcome, Outcome::Accepted);
        let json = serde_json::to_value(&sim).expect("the simulation as JSON");
        let tech = actor_key("tech-7").id().to_string();
        assert_eq!(
            json["state"]["education"][&tech]["exams"][0][0],
            serde_json::json!(["Ut", 2, "General"])
        );
        assert_eq!(json["state"]["education"][&tech]["exams"][0][1][0], 85);
    }
}
