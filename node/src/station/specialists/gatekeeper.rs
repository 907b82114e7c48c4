//! Gatekeeper: who may badge in, which part is on the bench (Vision's
//! label), whether a step may be performed here and what performing it
//! records (unlock, lock, the MaintenanceNode's usage count).

use serde::Serialize;
use smart_contracts::model::{Effect, Step};
use smart_contracts::refusal::format_time;
use smart_contracts::station::{Fact, Module};
use smart_contracts::{Action, State};
use smart_ledger::{Outcome, SmartId, Timestamp};
use std::collections::BTreeMap;

use super::*;

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

/// A part label as Vision reads it from a QR code: `SMART-PART|job=J|serial=S`.
pub fn part_label(job: &str, serial: &str) -> String {
    format!("SMART-PART|job={job}|serial={serial}")
}

pub(super) fn parse_label(text: &str) -> Option<(String, String)> {
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
pub(super) fn parts_summary(parts: &[String]) -> String {
    match parts {
        [] => "no parts".into(),
        [first, .., last] if parts.len() > 4 => {
            format!("{first} … {last}, {} parts", parts.len())
        }
        _ => parts.join(", "),
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

pub(super) fn complete_action(
    step: &Step,
    job: &str,
    station: &str,
    draft: &BTreeMap<String, i64>,
) -> Action {
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
