//! The station specialists: what each module decides at the point of
//! operation, as pure functions of the contract state (no I/O, no clock:
//! the time is passed in). The kiosk (`kiosk.rs`) signs and records what
//! they decide; every decision becomes a [`StationRecord`] with the
//! module's name in the ledger.
//!
//! The contract VM stays the one authority on the rules: to judge a step the
//! modules dry-run the operator's action through the VM on a copy of the
//! station's provisional state, and the refusal's code says which module
//! speaks for it (a missing document is the ComplianceNode's, an overdue
//! survey the StandardsNode's, a lockout the MaintenanceNode's, a
//! measurement the QANode's). What the VM does not know — the e-stop, the
//! door, the part on the bench — the station modules check first.

mod gatekeeper;
mod guardian;
mod qa;
mod query;
mod status;
#[cfg(test)]
mod tests;
mod upkeep;

pub use gatekeeper::*;
pub use guardian::*;
pub use qa::*;
pub use query::*;
pub use status::*;
pub use upkeep::*;

use std::collections::BTreeMap;

use serde::Serialize;
use smart_contracts::model::Step;
use smart_contracts::refusal::RefusalCode;
use smart_contracts::state::{Interlock, Job};
use smart_contracts::station::{Fact, Module, StationRecord, Verdict};
use smart_contracts::{Action, State, vm};
use smart_ledger::{Hash, Outcome, Role, SmartId, Timestamp};

/// How a station is set up (`smart run --equipment … --logistics`); kept in
/// the folder as `station.json` so a stopped station's modules read the same.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct StationConfig {
    /// The station's name (its peer name in the genesis).
    pub name: String,
    /// Equipment this station drives; the first is its interlock.
    pub equipment: Vec<String>,
    /// Receives and ships parts (LogisticsNode).
    pub logistics: bool,
}

impl StationConfig {
    /// The interlock the station's relay follows.
    pub fn interlock(&self) -> String {
        self.equipment
            .first()
            .cloned()
            .unwrap_or_else(|| self.name.clone())
    }
}

/// The station's inputs and outputs as the modules see them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IoView {
    /// The relay lets the equipment run.
    pub unlocked: bool,
    /// The alarm light.
    pub alarm: bool,
    /// An e-stop is latched (until cleared).
    pub latched: bool,
    /// The door is open.
    pub door_open: bool,
}

/// Who is at the station and what is on the bench.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// The operator badged in.
    pub operator: Option<SmartId>,
    /// The job selected.
    pub job: Option<String>,
    /// The part scanned (a serial of the job).
    pub part: Option<String>,
    /// Measurements entered for the next step (QANode), by name.
    pub draft: BTreeMap<String, i64>,
    /// When the interlock last unlocked (ms), for equipment minutes.
    pub unlocked_at: Option<u64>,
}

/// One module's decision, before the station signs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The module.
    pub module: Module,
    /// Allowed or refused.
    pub verdict: Verdict,
    /// What was asked or done.
    pub what: String,
    /// Why (refusals name the rule and the missing evidence).
    pub reason: String,
    /// What an allowed decision establishes.
    #[serde(skip)]
    pub fact: Option<Fact>,
}

impl Decision {
    /// An allowed decision.
    pub fn allow(module: Module, what: impl Into<String>) -> Decision {
        Decision {
            module,
            verdict: Verdict::Allowed,
            what: what.into(),
            reason: String::new(),
            fact: None,
        }
    }

    /// A refusal.
    pub fn refuse(module: Module, what: impl Into<String>, reason: impl Into<String>) -> Decision {
        Decision {
            module,
            verdict: Verdict::Refused,
            what: what.into(),
            reason: reason.into(),
            fact: None,
        }
    }

    /// With a fact.
    pub fn with(mut self, fact: Fact) -> Decision {
        self.fact = Some(fact);
        self
    }

    /// With a reason (a remark on an allowed decision).
    pub fn because(mut self, reason: impl Into<String>) -> Decision {
        self.reason = reason.into();
        self
    }

    /// Refused?
    pub fn refused(&self) -> bool {
        self.verdict == Verdict::Refused
    }

    /// The record the station signs.
    pub fn record(&self, station: &str, session: &Session) -> StationRecord {
        StationRecord {
            module: self.module,
            station: station.to_string(),
            verdict: self.verdict,
            job: session.job.clone(),
            operator: session.operator,
            what: self.what.clone(),
            reason: self.reason.clone(),
            fact: self.fact.clone(),
        }
    }
}

/// The roles that work at a station.
const FLOOR_ROLES: [Role; 4] = [Role::Technician, Role::Qa, Role::Compliance, Role::Admin];

/// The job and its pinned contract step list.
pub fn pinned_steps<'s>(state: &'s State, job: &Job) -> Option<&'s [Step]> {
    state
        .contracts
        .get(&job.contract)?
        .get(&job.version)
        .map(|v| v.contract.steps.as_slice())
}

/// A limit for people: `835..855`, `≥ 60`, `≤ 15`.
pub fn limit_text(lo: i64, hi: i64) -> String {
    match (lo == i64::MIN, hi == i64::MAX) {
        (true, true) => "any".into(),
        (true, false) => format!("≤ {hi}"),
        (false, true) => format!("≥ {lo}"),
        (false, false) => format!("{lo}..{hi}"),
    }
}

/// The module that answers for a VM refusal at the point of operation.
pub fn module_of(code: u16) -> Module {
    const fn n(c: RefusalCode) -> u16 {
        c as u16
    }
    match code {
        c if c == n(RefusalCode::DocumentMissing) => Module::ComplianceNode,
        c if c == n(RefusalCode::CalibrationOverdue) => Module::StandardsNode,
        c if c == n(RefusalCode::EquipmentLockedOut) || c == n(RefusalCode::UnknownEquipment) => {
            Module::MaintenanceNode
        }
        c if c == n(RefusalCode::MeasurementMissing)
            || c == n(RefusalCode::MeasurementOutOfLimits) =>
        {
            Module::QaNode
        }
        _ => Module::Gatekeeper,
    }
}

/// Dry-runs an action through the VM on a copy of `state` (for a step, a
/// copy of only what judging it reads: [`State::scoped_to_step`]).
pub fn dry_run(state: &State, author: SmartId, action: &Action, at: Timestamp) -> Outcome {
    let payload = action.encode();
    let mut copy = match action {
        Action::CompleteStep { job, .. } => state.scoped_to_step(job, &author),
        _ => state.clone(),
    };
    vm::apply(
        &mut copy,
        &vm::TxInput {
            author,
            kind: action.kind(),
            payload: &payload,
            time: at,
            tx_hash: Hash::ZERO,
        },
    )
    .outcome
}

impl Decision {
    fn retitled(mut self, what: String) -> Decision {
        self.what = what;
        self
    }
}

/// The interlock as the state sets it.
pub fn interlock_state(state: &State, cfg: &StationConfig) -> &'static str {
    match state.interlocks.get(&cfg.interlock()) {
        Some(Interlock::Unlocked) => "unlocked by the contract",
        Some(Interlock::Locked) => "locked by the contract",
        None => "locked (no contract has unlocked it)",
    }
}
