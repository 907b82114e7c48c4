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

use std::collections::BTreeMap;

use serde::Serialize;
use smart_contracts::model::{DocumentType, Effect, Step};
use smart_contracts::refusal::{RefusalCode, format_date, format_time};
use smart_contracts::state::{Interlock, Job, VersionStatus};
use smart_contracts::station::{Fact, Module, StationRecord, Verdict};
use smart_contracts::{Action, State, vm};
use smart_ledger::{Hash, Outcome, Role, SmartId, Timestamp};

use crate::services::history::resolve_job;

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

/// Gatekeeper: may this badge open a session here?
pub fn badge(state: &State, id: &SmartId, now: Timestamp) -> Decision {
    let what = format!("badge-in of {}", state.name_of(id));
    match state.identities.get(id) {
        None => Decision::refuse(
            Module::Gatekeeper,
            what,
            format!("{} is not a registered SMART-ID", id.short()),
        ),
        Some(i) if !i.active => Decision::refuse(
            Module::Gatekeeper,
            what,
            format!("{} is deactivated", i.name),
        ),
        Some(i) if !FLOOR_ROLES.iter().any(|r| i.roles.contains(r)) => Decision::refuse(
            Module::Gatekeeper,
            what,
            format!(
                "{} holds none of the floor roles (Technician, QA, Compliance, Admin)",
                i.name
            ),
        ),
        Some(_) => {
            // CertifiedPeople's reminders reach the person where they work.
            let due = smart_contracts::education::reminders(state, id, now);
            let d = Decision::allow(Module::Gatekeeper, what);
            if due.is_empty() {
                d
            } else {
                d.because(format!("reminder: {}", due.join("; ")))
            }
        }
    }
}

/// The job and its pinned contract step list.
pub fn pinned_steps<'s>(state: &'s State, job: &Job) -> Option<&'s [Step]> {
    state
        .contracts
        .get(&job.contract)?
        .get(&job.version)
        .map(|v| v.contract.steps.as_slice())
}

/// A part label as Vision reads it from a QR code: `SMART-PART|job=J|serial=S`.
pub fn part_label(job: &str, serial: &str) -> String {
    format!("SMART-PART|job={job}|serial={serial}")
}

fn parse_label(text: &str) -> Option<(String, String)> {
    let rest = text.trim().strip_prefix("SMART-PART|")?;
    let mut job = None;
    let mut serial = None;
    for field in rest.split('|') {
        match field.split_once('=') {
            Some(("job", v)) if !v.is_empty() => job = Some(v.to_string()),
            Some(("serial", v)) if !v.is_empty() => serial = Some(v.to_string()),
            _ => return None,
        }
    }
    Some((job?, serial?))
}

/// Vision: the part label read from a QR code must name a part of an open
/// job (the selected one, if a job is selected).
pub fn scan(state: &State, selected: Option<&str>, text: &str) -> Decision {
    let Some((job_id, serial)) = parse_label(text) else {
        let shown: String = text.chars().take(60).collect();
        return Decision::refuse(
            Module::Vision,
            "part scan",
            format!("{shown:?} is not a SMART part label (SMART-PART|job=…|serial=…)"),
        );
    };
    let what = format!("part {serial} for {job_id}");
    if let Some(sel) = selected.filter(|s| *s != job_id) {
        return Decision::refuse(
            Module::Vision,
            what,
            format!("wrong part: this part belongs to {job_id}, the station is on {sel}"),
        );
    }
    let Some(job) = state.jobs.get(&job_id) else {
        return Decision::refuse(Module::Vision, what, format!("unknown job {job_id}"));
    };
    if !job.parts.contains(&serial) {
        return Decision::refuse(
            Module::Vision,
            what,
            format!(
                "unknown part: {serial} is not on {job_id}'s PO ({})",
                parts_summary(&job.parts)
            ),
        );
    }
    Decision::allow(Module::Vision, what).with(Fact::PartScanned { serial })
}

/// A job's parts for an explanation: all of a few, or the first and last of many.
fn parts_summary(parts: &[String]) -> String {
    match parts {
        [] => "no parts".into(),
        [first, .., last] if parts.len() > 4 => {
            format!("{first} … {last}, {} parts", parts.len())
        }
        _ => parts.join(", "),
    }
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

/// A step as the kiosk shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct StepView {
    /// Step id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Roles that may perform it.
    pub by: Vec<String>,
    /// `done`, `unlocked` or `locked`.
    pub status: String,
    /// Who did it, or which module keeps it locked and why.
    pub why: String,
    /// The module that keeps it locked.
    pub module: Option<String>,
    /// Its measurements: name, unit, limits, entered value.
    pub measurements: Vec<(String, String, String, Option<i64>)>,
}

fn complete_action(step: &Step, job: &str, station: &str, draft: &BTreeMap<String, i64>) -> Action {
    Action::CompleteStep {
        job: job.to_string(),
        step: step.id.clone(),
        station: Some(station.to_string()),
        measurements: step
            .measurements
            .iter()
            .filter_map(|l| draft.get(&l.name).map(|v| (l.name.clone(), *v)))
            .collect(),
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

/// What keeps `step` of the session's job from being performed now, module
/// by module (`None`: it may be performed). With `measured`, the QANode
/// judges the draft; without, only the other modules (the kiosk's view).
pub fn blocker(
    state: &State,
    cfg: &StationConfig,
    session: &Session,
    io: &IoView,
    step: &Step,
    at: Timestamp,
    measured: bool,
) -> Option<Decision> {
    let ready = match ready(state, cfg, session, io, step, measured) {
        Ok(Some(ready)) => ready,
        Ok(None) => return None,
        Err(refusal) => return Some(refusal),
    };
    match dry_run(state, ready.operator, &ready.action, at) {
        Outcome::Accepted => None,
        Outcome::Refused { code, reason } => Some(Decision::refuse(
            module_of(code),
            ready.what,
            format!("[{code}] {reason}"),
        )),
    }
}

/// A step the floor's modules let through, ready for the VM's judgement.
#[derive(Clone, Debug)]
pub struct Ready {
    /// Who performs it.
    pub operator: SmartId,
    /// The action to sign and judge.
    pub action: Action,
    /// What it is, for the screen.
    pub what: String,
}

/// Every module's check of `step` that needs no VM (e-stop, door, vision,
/// badge, and with `measured` the QANode): the refusal, or the action for
/// the VM to judge (`None`: no job is selected, or it is not in the state).
pub fn ready(
    state: &State,
    cfg: &StationConfig,
    session: &Session,
    io: &IoView,
    step: &Step,
    measured: bool,
) -> Result<Option<Ready>, Decision> {
    let Some(job_id) = session.job.as_deref() else {
        return Ok(None);
    };
    let what = format!("{job_id} step {}", step.id);
    let drives = |e: &String| cfg.equipment.contains(e);
    if io.latched && step.requires.equipment.iter().any(drives) {
        return Err(Decision::refuse(
            Module::SafetyNode,
            what,
            "e-stop pressed: the station is locked until the incident is cleared",
        ));
    }
    if io.door_open && step.requires.equipment.iter().any(drives) {
        return Err(Decision::refuse(
            Module::SafetyNode,
            what,
            "the cell door is open",
        ));
    }
    if !step.requires.equipment.is_empty() {
        let Some(job) = state.jobs.get(job_id) else {
            return Ok(None);
        };
        if !job.parts.is_empty() {
            match &session.part {
                None => {
                    return Err(Decision::refuse(
                        Module::Vision,
                        what,
                        "scan the part's QR code first",
                    ));
                }
                Some(p) if !job.parts.contains(p) => {
                    return Err(Decision::refuse(
                        Module::Vision,
                        what,
                        format!("part {p} is not a part of {job_id}"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let Some(operator) = session.operator else {
        return Err(Decision::refuse(Module::Gatekeeper, what, "badge in first"));
    };
    let mut draft = session.draft.clone();
    if !measured {
        // Judge everything but the numbers: stand in a value within limits.
        for l in &step.measurements {
            draft.entry(l.name.clone()).or_insert_with(|| l.bounds().0);
        }
    } else if let Some(refusal) = qa_check(step, &session.draft) {
        return Err(refusal.retitled(what));
    }
    let action = complete_action(step, job_id, &cfg.name, &draft);
    Ok(Some(Ready {
        operator,
        action,
        what,
    }))
}

impl Decision {
    fn retitled(mut self, what: String) -> Decision {
        self.what = what;
        self
    }
}

/// QANode: every measurement of the step entered and within its limits.
pub fn qa_check(step: &Step, draft: &BTreeMap<String, i64>) -> Option<Decision> {
    let mut missing = Vec::new();
    for l in &step.measurements {
        let (lo, hi) = l.bounds();
        match draft.get(&l.name) {
            None => missing.push(l.name.clone()),
            Some(v) if *v < lo || *v > hi => {
                return Some(Decision::refuse(
                    Module::QaNode,
                    format!("step {}", step.id),
                    format!("{} = {v} {:?} is outside {lo}..{hi}", l.name, l.unit),
                ));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        None
    } else {
        Some(Decision::refuse(
            Module::QaNode,
            format!("step {}", step.id),
            format!("measurement missing: {}", missing.join(", ")),
        ))
    }
}

/// QANode: a measurement entered for a step of the job, checked against its limit.
pub fn measure(step: &Step, name: &str, value: i64) -> Decision {
    let what = format!("{name} = {value} for step {}", step.id);
    match step.measurements.iter().find(|l| l.name == name) {
        None => Decision::refuse(
            Module::QaNode,
            what,
            format!(
                "step {} measures no {name} (it measures: {})",
                step.id,
                step.measurements
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(l) => {
            let (lo, hi) = l.bounds();
            if value < lo || value > hi {
                Decision::refuse(
                    Module::QaNode,
                    what,
                    format!(
                        "outside the contract's limits {} {:?}",
                        limit_text(lo, hi),
                        l.unit
                    ),
                )
            } else {
                Decision::allow(Module::QaNode, what).because(format!(
                    "within {} {:?}",
                    limit_text(lo, hi),
                    l.unit
                ))
            }
        }
    }
}

/// The steps of the session's job as the kiosk shows them.
pub fn step_views(
    state: &State,
    cfg: &StationConfig,
    session: &Session,
    io: &IoView,
    at: Timestamp,
) -> Vec<StepView> {
    let Some(job) = session.job.as_ref().and_then(|j| state.jobs.get(j)) else {
        return Vec::new();
    };
    let Some(steps) = pinned_steps(state, job) else {
        return Vec::new();
    };
    steps
        .iter()
        .map(|s| {
            let (status, why, module) = match job.steps.get(&s.id) {
                Some(rec) => (
                    "done",
                    format!(
                        "done by {} at {}",
                        state.name_of(&rec.by),
                        format_time(rec.at)
                    ),
                    None,
                ),
                None => match blocker(state, cfg, session, io, s, at, false) {
                    None => ("unlocked", String::new(), None),
                    Some(d) => ("locked", d.reason, Some(d.module.name())),
                },
            };
            StepView {
                id: s.id.clone(),
                title: s.title.clone(),
                by: s.by.iter().map(|r| format!("{r:?}")).collect(),
                status: status.to_string(),
                why,
                module: module.map(str::to_string),
                measurements: s
                    .measurements
                    .iter()
                    .map(|l| {
                        let (lo, hi) = l.bounds();
                        (
                            l.name.clone(),
                            format!("{:?}", l.unit),
                            limit_text(lo, hi),
                            session.draft.get(&l.name).copied(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What completing `step` does at this station, for the records: the
/// Gatekeeper's unlock or lock, and the MaintenanceNode's usage count when
/// the step locks equipment this station drives (a cycle ended).
pub fn completion_records(
    cfg: &StationConfig,
    session: &Session,
    step: &Step,
    now_ms: u64,
) -> Vec<Decision> {
    let job = session.job.clone().unwrap_or_default();
    let mut effects = Vec::new();
    let mut out = Vec::new();
    for e in &step.effects {
        match e {
            Effect::Unlock(x) => effects.push(format!("unlock {x}")),
            Effect::Lock(x) => {
                effects.push(format!("lock {x}"));
                if cfg.equipment.contains(x) {
                    let minutes = session
                        .unlocked_at
                        .map_or(0, |t| now_ms.saturating_sub(t) / 60_000);
                    out.push(
                        Decision::allow(Module::MaintenanceNode, format!("{x} cycle for {job}"))
                            .because(format!("{minutes} min since unlock"))
                            .with(Fact::EquipmentUsed {
                                equipment: x.clone(),
                                cycles: 1,
                                minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
                            }),
                    );
                }
            }
            _ => {}
        }
    }
    let mut gate = Decision::allow(Module::Gatekeeper, format!("{job} step {}", step.id));
    if !effects.is_empty() {
        gate = gate.because(effects.join(", "));
    }
    out.insert(0, gate);
    if !step.measurements.is_empty() {
        let values: Vec<String> = step
            .measurements
            .iter()
            .filter_map(|l| {
                session
                    .draft
                    .get(&l.name)
                    .map(|v| format!("{}={v}", l.name))
            })
            .collect();
        out.insert(
            1,
            Decision::allow(
                Module::QaNode,
                format!("{job} step {} measurements", step.id),
            )
            .because(format!("within limits: {}", values.join(", "))),
        );
    }
    out
}

/// The steps whose performance happens on the floor (not a client's or a
/// project manager's approval): what the Guardian requires before release.
fn floor_step(step: &Step) -> bool {
    step.by
        .iter()
        .any(|r| matches!(r, Role::Technician | Role::Qa))
}

/// Guardian: before the job's parts leave the station, every floor step is
/// done and signed, every measurement recorded, every required document on
/// file. Lists everything missing.
pub fn release(state: &State, job_id: &str) -> Decision {
    let what = format!("release of {job_id}'s parts");
    let Some(job) = state.jobs.get(job_id) else {
        return Decision::refuse(Module::Guardian, what, format!("unknown job {job_id}"));
    };
    let Some(steps) = pinned_steps(state, job) else {
        return Decision::refuse(
            Module::Guardian,
            what,
            "the job's contract is not on this node",
        );
    };
    let mut missing = Vec::new();
    for s in steps.iter().filter(|s| floor_step(s)) {
        match job.steps.get(&s.id) {
            None => {
                let m: Vec<&str> = s.measurements.iter().map(|l| l.name.as_str()).collect();
                if m.is_empty() {
                    missing.push(format!("step {} not done", s.id));
                } else {
                    missing.push(format!(
                        "step {} not done (measurement missing: {})",
                        s.id,
                        m.join(", ")
                    ));
                }
            }
            Some(rec) => {
                for l in &s.measurements {
                    if !rec.measurements.contains_key(&l.name) {
                        missing.push(format!("step {}: measurement missing: {}", s.id, l.name));
                    }
                }
                if !state.identities.contains_key(&rec.by) {
                    missing.push(format!("step {}: signer unknown", s.id));
                }
            }
        }
        for d in &s.requires.documents {
            let on_file = state
                .documents_on_file
                .contains(&(Some(job_id.to_string()), *d))
                || state.documents_on_file.contains(&(None, *d));
            if !on_file {
                missing.push(format!("step {}: document missing: {d:?}", s.id));
            }
        }
    }
    if state
        .floor
        .parts
        .get(job_id)
        .is_some_and(|p| p.released.is_some())
    {
        return Decision::refuse(Module::Guardian, what, "already released");
    }
    if missing.is_empty() {
        Decision::allow(Module::Guardian, what)
            .because("every floor step done and signed, measurements and documents present")
            .with(Fact::Released)
    } else {
        missing.dedup();
        Decision::refuse(
            Module::Guardian,
            what,
            format!("release blocked: {}", missing.join("; ")),
        )
    }
}

/// InventoryNode: a consumable used for the job.
pub fn consume(state: &State, item: &str, quantity: u32) -> Decision {
    let what = format!("{quantity} × {item} used");
    let Some(stock) = state.floor.stock.get(item) else {
        return Decision::refuse(
            Module::InventoryNode,
            what,
            format!("{item} is not stocked here (count it in first)"),
        );
    };
    if quantity == 0 {
        return Decision::refuse(Module::InventoryNode, what, "quantity must be at least 1");
    }
    if i64::from(quantity) > stock.on_hand {
        return Decision::refuse(
            Module::InventoryNode,
            what,
            format!("only {} {item} on hand", stock.on_hand),
        );
    }
    let left = stock.on_hand - i64::from(quantity);
    let d = Decision::allow(Module::InventoryNode, what).with(Fact::Consumed {
        item: item.to_string(),
        quantity,
    });
    if left < stock.reorder_at {
        d.because(format!(
            "reorder: {left} left, reorder point {}",
            stock.reorder_at
        ))
    } else {
        d.because(format!("{left} left"))
    }
}

/// InventoryNode: a stock count or delivery.
pub fn stock(item: &str, on_hand: u32, reorder_at: u32) -> Decision {
    Decision::allow(
        Module::InventoryNode,
        format!("{item}: {on_hand} on hand, reorder at {reorder_at}"),
    )
    .with(Fact::Stocked {
        item: item.to_string(),
        on_hand,
        reorder_at,
    })
}

/// MaintenanceNode: equipment this station drives whose calibration is due
/// by `at` and that is not yet locked out is locked out now.
pub fn overdue(state: &State, cfg: &StationConfig, at: Timestamp) -> Option<Decision> {
    let due: Vec<String> = cfg
        .equipment
        .iter()
        .filter(|e| {
            state
                .equipment
                .get(*e)
                .is_some_and(|q| q.calibration_due <= at && q.locked_out.is_none())
        })
        .cloned()
        .collect();
    if due.is_empty() {
        return None;
    }
    let dates: Vec<String> = due
        .iter()
        .filter_map(|e| {
            state
                .equipment
                .get(e)
                .map(|q| format!("{e} due {}", format_date(q.calibration_due)))
        })
        .collect();
    Some(
        Decision::allow(
            Module::MaintenanceNode,
            format!("calibration overdue: {}", dates.join(", ")),
        )
        .because("locked out until calibrated")
        .with(Fact::LockOut { equipment: due }),
    )
}

/// SafetyNode: an e-stop or an incident locks out the station's equipment.
pub fn incident(cfg: &StationConfig, what: &str) -> Decision {
    Decision::allow(Module::SafetyNode, what.to_string())
        .because("station locked out until the incident is cleared by Admin or Compliance")
        .with(Fact::LockOut {
            equipment: cfg.equipment.clone(),
        })
}

/// LogisticsNode: parts received against the PO.
pub fn receive(state: &State, cfg: &StationConfig, job_id: &str, count: u32) -> Decision {
    let what = format!("receiving {count} parts for {job_id}");
    if !cfg.logistics {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            format!("{} is not a receiving/shipping station", cfg.name),
        );
    }
    let Some(job) = state.jobs.get(job_id) else {
        return Decision::refuse(Module::LogisticsNode, what, format!("unknown job {job_id}"));
    };
    if !state
        .documents_on_file
        .contains(&(Some(job_id.to_string()), DocumentType::ClientPo))
    {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            "no client PO on file for the job",
        );
    }
    let expected = job.parts.len() as u64;
    let already = state.floor.parts.get(job_id).map_or(0, |p| p.received);
    if u64::from(already) + u64::from(count) > expected {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            format!("the PO lists {expected} parts and {already} were already received"),
        );
    }
    Decision::allow(Module::LogisticsNode, what).with(Fact::Received { parts: count })
}

/// LogisticsNode: parts ship with their certificate of conformance, after release.
pub fn ship(state: &State, cfg: &StationConfig, job_id: &str) -> Decision {
    let what = format!("shipping {job_id}");
    if !cfg.logistics {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            format!("{} is not a receiving/shipping station", cfg.name),
        );
    }
    if !state.documents_on_file.contains(&(
        Some(job_id.to_string()),
        DocumentType::CertificateOfConformance,
    )) {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            "no certificate of conformance on file for the job",
        );
    }
    if state
        .floor
        .parts
        .get(job_id)
        .is_none_or(|p| p.released.is_none())
    {
        return Decision::refuse(
            Module::LogisticsNode,
            what,
            "the parts were not released by a Guardian",
        );
    }
    Decision::allow(Module::LogisticsNode, what).with(Fact::Shipped)
}

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

fn equipment_line(state: &State, e: &str) -> String {
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

/// The questions NodeQuery understands (case and punctuation are ignored).
pub const QUESTIONS: [&str; 6] = [
    "what is blocking job JOB",
    "who may run EQUIPMENT [today]",
    "when is EQUIPMENT calibration due",
    "what is the stock of ITEM",
    "which steps of job JOB are done",
    "what is locked out",
];

/// NodeQuery: answers a question about local state, offline.
pub fn ask(
    state: &State,
    cfg: &StationConfig,
    at: Timestamp,
    question: &str,
) -> Result<String, String> {
    let q: String = question
        .to_lowercase()
        .chars()
        .map(|c| if c == '?' || c == ',' { ' ' } else { c })
        .collect();
    let words: Vec<&str> = q.split_whitespace().collect();
    let unknown = || {
        format!(
            "I do not understand {question:?}. I understand: {}",
            QUESTIONS.join("; ")
        )
    };
    match words.as_slice() {
        ["what", "is", "blocking", "job", job] | ["what", "is", "blocking", job] => {
            Ok(blocking(state, cfg, at, &resolve_job(state, job)?))
        }
        ["who", "may", "run", eq] | ["who", "may", "run", eq, "today"] => {
            Ok(who_may_run(state, eq, at))
        }
        ["when", "is", eq, "calibration", "due"] | ["when", "is", eq, "due"] => {
            let e = state
                .equipment
                .get(*eq)
                .ok_or_else(|| format!("no equipment {eq} is registered"))?;
            let days = (e.calibration_due.0 as i128 - at.0 as i128) / 86_400_000;
            Ok(if days < 0 {
                format!(
                    "{eq} calibration was due {} ({} days overdue){}",
                    format_date(e.calibration_due),
                    -days,
                    if e.locked_out.is_some() {
                        "; it is locked out"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "{eq} calibration is due {} (in {days} days)",
                    format_date(e.calibration_due)
                )
            })
        }
        ["what", "is", "the", "stock", "of", item] => {
            let s = state
                .floor
                .stock
                .get(*item)
                .ok_or_else(|| format!("{item} is not stocked"))?;
            Ok(format!(
                "{item}: {} on hand, reorder at {}{}",
                s.on_hand,
                s.reorder_at,
                if s.needs_reorder() {
                    " — REORDER"
                } else {
                    ""
                }
            ))
        }
        ["which", "steps", "of", "job", job, "are", "done"] => {
            let id = resolve_job(state, job)?;
            let j = state.jobs.get(&id).ok_or_else(|| format!("no job {id}"))?;
            if j.steps.is_empty() {
                return Ok(format!("{id}: no step is done yet"));
            }
            Ok(j.steps
                .iter()
                .map(|(s, r)| format!("{s} by {} at {}", state.name_of(&r.by), format_time(r.at)))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        ["what", "is", "locked", "out"] => {
            let locked: Vec<String> = state
                .equipment
                .iter()
                .filter_map(|(e, q)| q.locked_out.as_ref().map(|r| format!("{e}: {r}")))
                .collect();
            Ok(if locked.is_empty() {
                "nothing is locked out".into()
            } else {
                locked.join("\n")
            })
        }
        _ => Err(unknown()),
    }
}

fn blocking(state: &State, cfg: &StationConfig, at: Timestamp, job_id: &str) -> String {
    let Some(job) = state.jobs.get(job_id) else {
        return format!("no job {job_id}");
    };
    let Some(steps) = pinned_steps(state, job) else {
        return format!("{job_id}: its contract is not on this node");
    };
    let Some(next) = steps.iter().find(|s| {
        !job.steps.contains_key(&s.id) && s.after.iter().all(|a| job.steps.contains_key(a))
    }) else {
        return format!("{job_id}: every step is done; nothing blocks it");
    };
    // Judge the next step as each possible performer would be judged at the
    // station, with a part of the job on the bench.
    let session_of = |id: SmartId| Session {
        operator: Some(id),
        job: Some(job_id.to_string()),
        part: job.parts.first().cloned(),
        ..Session::default()
    };
    // Each person who holds a role that may perform it, with what blocks them.
    let candidates: Vec<(SmartId, &str, Option<Decision>)> = state
        .identities
        .iter()
        .filter(|(_, i)| i.active && next.by.iter().any(|r| i.roles.contains(r)))
        .map(|(id, i)| {
            let why = blocker(
                state,
                cfg,
                &session_of(*id),
                &IoView::default(),
                next,
                at,
                false,
            );
            (*id, i.name.as_str(), why)
        })
        .collect();
    if let Some((p, _, _)) = candidates.iter().find(|(_, _, why)| why.is_none()) {
        return format!(
            "{job_id}: next step {} ({}); nothing blocks it: {} may perform it now",
            next.id,
            next.title,
            state.name_of(p)
        );
    }
    let mut reasons: Vec<String> = candidates
        .iter()
        .filter_map(|(_, name, why)| {
            why.as_ref()
                .map(|d| format!("{name}: {} ({})", d.reason, d.module.name()))
        })
        .collect();
    if reasons.is_empty() {
        reasons.push(format!(
            "nobody holds a role that may perform it ({:?})",
            next.by
        ));
    }
    format!(
        "{job_id}: next step {} ({}) is blocked —\n  {}",
        next.id,
        next.title,
        reasons.join("\n  ")
    )
}

fn who_may_run(state: &State, eq: &str, at: Timestamp) -> String {
    let Some(e) = state.equipment.get(eq) else {
        return format!("no equipment {eq} is registered");
    };
    if let Some(r) = &e.locked_out {
        return format!("nobody: {eq} is locked out ({r})");
    }
    if e.calibration_due <= at {
        return format!(
            "nobody: {eq} calibration was due {}",
            format_date(e.calibration_due)
        );
    }
    // Tokens the active contracts require on steps that use this equipment.
    let mut needed: Vec<String> = Vec::new();
    for versions in state.contracts.values() {
        for v in versions
            .values()
            .filter(|v| v.status == VersionStatus::Active)
        {
            for s in v
                .contract
                .steps
                .iter()
                .filter(|s| s.requires.equipment.iter().any(|x| x == eq))
            {
                for t in &s.requires.tokens {
                    if !needed.contains(t) {
                        needed.push(t.clone());
                    }
                }
            }
        }
    }
    let holds = |id: &SmartId, req: &str| {
        let Some((kind, scope)) = req.split_once(':') else {
            return false;
        };
        state.holder_tokens.get(id).is_some_and(|ts| {
            ts.iter().filter_map(|t| state.tokens.get(t)).any(|t| {
                t.kind.name() == kind && t.scope == scope && t.revoked.is_none() && t.expires > at
            })
        })
    };
    let mut may = Vec::new();
    for (id, i) in &state.identities {
        if !i.active || !i.roles.contains(&Role::Technician) {
            continue;
        }
        let any_token = needed.iter().any(|t| holds(id, t));
        if needed.is_empty() || any_token {
            let missing: Vec<&String> = needed.iter().filter(|t| !holds(id, t)).collect();
            if missing.is_empty() {
                may.push(i.name.clone());
            } else {
                may.push(format!(
                    "{} (for some steps; lacks {})",
                    i.name,
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if may.is_empty() {
        format!(
            "nobody holds the tokens {eq}'s steps require ({})",
            needed.join(", ")
        )
    } else {
        format!(
            "{eq} may be run today by: {} (tokens required: {})",
            may.join(", "),
            needed.join(", ")
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use smart_contracts::state::Equipment;

    fn cfg() -> StationConfig {
        StationConfig {
            name: "station-1".into(),
            equipment: vec!["furnace-3".into(), "quench-tank-1".into()],
            logistics: false,
        }
    }

    #[test]
    fn badge_in_reminds_the_operator_of_tokens_expiring_within_30_days() {
        use smart_contracts::state::{Identity, Token, TokenKind};
        let mut state = State::default();
        let tech = SmartId([3; 32]);
        state.identities.insert(
            tech,
            Identity::new("tech-3", [smart_ledger::Role::Technician]),
        );
        let day = 86_400_000;
        let now = Timestamp(1_000 * day);
        for (id, scope, days) in [("t-soon", "furnace-3", 10), ("t-later", "receiving", 90)] {
            state.tokens.insert(
                id.into(),
                Token {
                    holder: tech,
                    kind: TokenKind::Safety,
                    scope: scope.into(),
                    issued: Timestamp(0),
                    expires: Timestamp(now.0 + days * day),
                    revoked: None,
                },
            );
            state
                .holder_tokens
                .entry(tech)
                .or_default()
                .insert(id.into());
        }
        let d = badge(&state, &tech, now);
        assert!(!d.refused());
        assert_eq!(
            d.reason,
            "reminder: Safety:furnace-3 expires 1972-10-07: renew by a new token from Admin or Compliance"
        );
        let d = badge(&state, &tech, Timestamp(now.0 - 100 * day));
        assert_eq!(d.reason, "", "nothing within 30 days");
    }

    #[test]
    fn part_labels_parse_strictly() {
        let label = part_label("job-1", "AA-1");
        assert_eq!(parse_label(&label), Some(("job-1".into(), "AA-1".into())));
        for bad in [
            "AA-1",
            "SMART-PART|job=job-1",
            "SMART-PART|job=|serial=AA-1",
            "SMART-PART|job=job-1|serial=AA-1|extra=1",
            "smart-part|job=job-1|serial=AA-1",
        ] {
            assert_eq!(parse_label(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_vm_refusal_is_answered_by_its_module() {
        for (code, module) in [
            (RefusalCode::DocumentMissing, Module::ComplianceNode),
            (RefusalCode::CalibrationOverdue, Module::StandardsNode),
            (RefusalCode::EquipmentLockedOut, Module::MaintenanceNode),
            (RefusalCode::MeasurementOutOfLimits, Module::QaNode),
            (RefusalCode::TokenExpired, Module::Gatekeeper),
            (RefusalCode::PrerequisiteIncomplete, Module::Gatekeeper),
        ] {
            assert_eq!(module_of(code.number()), module, "{code:?}");
        }
    }

    #[test]
    fn overdue_equipment_this_station_drives_is_locked_out_once() {
        let mut state = State::default();
        for (e, due) in [
            ("furnace-3", 1_000),
            ("quench-tank-1", 9_000),
            ("rockwell-2", 1_000),
        ] {
            state.equipment.insert(
                e.into(),
                Equipment {
                    description: e.into(),
                    calibration_due: Timestamp(due),
                    locked_out: None,
                },
            );
        }
        let d = overdue(&state, &cfg(), Timestamp(5_000)).expect("furnace-3 is overdue");
        assert_eq!(d.module, Module::MaintenanceNode);
        // rockwell-2 is overdue too, but another station drives it.
        assert_eq!(
            d.fact,
            Some(Fact::LockOut {
                equipment: vec!["furnace-3".into()]
            })
        );
        if let Some(e) = state.equipment.get_mut("furnace-3") {
            e.locked_out = Some("overdue".into());
        }
        assert_eq!(overdue(&state, &cfg(), Timestamp(5_000)), None);
    }

    #[test]
    fn limits_and_parts_read_well() {
        assert_eq!(limit_text(835, 855), "835..855");
        assert_eq!(limit_text(60, i64::MAX), "≥ 60");
        assert_eq!(limit_text(i64::MIN, 15), "≤ 15");
        let many: Vec<String> = (1..=120).map(|i| format!("P-{i}")).collect();
        assert_eq!(parts_summary(&many), "P-1 … P-120, 120 parts");
        assert_eq!(parts_summary(&many[..2]), "P-1, P-2");
    }

    #[test]
    fn nodequery_says_what_it_understands() {
        let state = State::default();
        let err = ask(&state, &cfg(), Timestamp(0), "make me a sandwich").expect_err("unknown");
        for q in QUESTIONS {
            assert!(err.contains(q), "{err}");
        }
        assert_eq!(
            ask(&state, &cfg(), Timestamp(0), "What is locked out?").as_deref(),
            Ok("nothing is locked out")
        );
        assert!(ask(&state, &cfg(), Timestamp(0), "what is blocking job 42?").is_err());
    }

    #[test]
    fn logistics_runs_only_where_configured() {
        let state = State::default();
        let d = receive(&state, &cfg(), "job-1", 1);
        assert!(d.refused() && d.reason.contains("not a receiving/shipping station"));
        let d = ship(&state, &cfg(), "job-1");
        assert!(d.refused() && d.reason.contains("not a receiving/shipping station"));
    }
}
