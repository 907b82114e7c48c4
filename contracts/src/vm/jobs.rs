//! Jobs: opening a job under a contract's active version, and completing
//! its steps (roles, order, tokens, documents, equipment, measurements),
//! which fires the contract's effects, invoices and payments.

use std::collections::{BTreeMap, BTreeSet};

use smart_ledger::{Hash, Role, SmartId, Timestamp};

use super::actor::{Actor, check_id, require_active_client, require_token};
use super::effects::{fire_event, run_effect};
use super::maintenance::record_service;
use super::tx::Fired;
use crate::model::{DocumentType, Event, Step, Template};
use crate::refusal::{Refusal, RefusalCode as Code, format_time};
use crate::state::{Job, JobStatus, State, StepRecord};
use crate::validate::parse_token_requirement;

/// Opens a job under its contract's active version (Admin or
/// ProjectManager), with its delivery window's deadline; the arguments are
/// the fields of `Action::OpenJob`, plus the tx it came in.
#[allow(clippy::too_many_arguments)]
pub(super) fn open_job(
    state: &mut State,
    actor: &Actor<'_>,
    job: String,
    contract: String,
    client: SmartId,
    parts: Vec<String>,
    tx_hash: Hash,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::ProjectManager], "open a job")?;
    check_id(&job, "job id")?;
    if state.jobs.contains_key(&job) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("job {job} already exists"),
        ));
    }
    let (version, cv) = state.active_version(&contract).ok_or_else(|| {
        Refusal::new(
            Code::ContractNotActive,
            format!("contract {contract} has no active version"),
        )
    })?;
    let window = cv
        .contract
        .delivery
        .as_ref()
        .map(|d| u64::from(d.window_hours) * 3_600_000);
    // A service job is the shop's own: its "client" is the person who owns
    // it (any active identity); every other job is for a client account.
    if cv.contract.template == Template::SmartMaintenance {
        if state.active(&client).is_none() {
            return Err(Refusal::new(
                Code::UnknownIdentity,
                format!(
                    "no active identity {} owns this service job",
                    client.short()
                ),
            ));
        }
    } else {
        require_active_client(state, &client)?;
    }
    let deadline = window.map(|w| Timestamp(state.time.0.saturating_add(w)));
    if let Some(d) = deadline {
        state.deadlines.insert((d, job.clone()));
    }
    state.jobs.insert(
        job.clone(),
        Job {
            contract,
            version,
            client,
            parts,
            assigned_at: state.time,
            deadline,
            steps: BTreeMap::new(),
            nonconformances: 0,
            status: JobStatus::Open,
            completed_at: None,
            events: BTreeSet::new(),
            opened_in: tx_hash,
        },
    );
    fire_event(state, &job, Event::JobAssigned, fired);
    Ok(())
}

/// The pinned contract step of a job, cloned out so state can change.
fn pinned_step(state: &State, job: &Job, step: &str) -> Result<Step, Refusal> {
    let cv = state
        .contracts
        .get(&job.contract)
        .and_then(|v| v.get(&job.version))
        .ok_or_else(|| {
            Refusal::new(
                Code::ContractNotActive,
                format!(
                    "contract {} version {} is missing",
                    job.contract, job.version
                ),
            )
        })?;
    cv.contract
        .steps
        .iter()
        .find(|s| s.id == step)
        .cloned()
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownStep,
                format!(
                    "{} version {} has no step {step}",
                    job.contract, job.version
                ),
            )
        })
}

/// Completes a step of a job: checked against the job's pinned contract,
/// then recorded; its effects and events fire.
pub(super) fn complete_step(
    state: &mut State,
    actor: &Actor<'_>,
    job_id: &str,
    step_id: &str,
    station: Option<String>,
    measurements: BTreeMap<String, i64>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let step = allowed_step(state, actor, job_id, step_id)?;
    check_requirements(state, actor, job_id, step_id, &step)?;
    check_measurements(state, job_id, step_id, &step, &measurements)?;
    // Accepted: record, then fire effects.
    let record = StepRecord {
        by: actor.id,
        at: state.time,
        station,
        measurements,
    };
    record_step(state, job_id, step_id, &step, record, fired)
}

/// The step `step_id` of job `job_id`, if `actor` may perform it now: the
/// job is open, the step not yet done, the actor holds one of its roles (a
/// client only on its own job) and the steps before it are complete.
fn allowed_step(
    state: &State,
    actor: &Actor<'_>,
    job_id: &str,
    step_id: &str,
) -> Result<Step, Refusal> {
    let job = state
        .jobs
        .get(job_id)
        .ok_or_else(|| Refusal::new(Code::UnknownJob, format!("no job {job_id}")))?;
    if job.status == JobStatus::Completed {
        return Err(Refusal::new(
            Code::JobClosed,
            format!("job {job_id} is complete"),
        ));
    }
    let step = pinned_step(state, job, step_id)?;
    if job.steps.contains_key(step_id) {
        return Err(Refusal::new(
            Code::StepAlreadyComplete,
            format!("step {step_id} of job {job_id} is already complete"),
        ));
    }
    // Roles, and a client only on its own job.
    actor.require_any(&step.by, &format!("perform step {step_id}"))?;
    let staff_role = step
        .by
        .iter()
        .any(|r| *r != Role::Client && actor.roles.contains(r));
    if !staff_role && job.client != actor.id {
        return Err(Refusal::new(
            Code::NotClientOfJob,
            format!("{} is not the client of job {job_id}", actor.name),
        ));
    }
    // Step order.
    for before in &step.after {
        if !job.steps.contains_key(before) {
            return Err(Refusal::new(
                Code::PrerequisiteIncomplete,
                format!("step {step_id} needs step {before} complete first"),
            ));
        }
    }
    Ok(step)
}

/// The step's requirements at ledger time: the actor's tokens, documents on
/// file, equipment calibrated and not locked out.
fn check_requirements(
    state: &State,
    actor: &Actor<'_>,
    job_id: &str,
    step_id: &str,
    step: &Step,
) -> Result<(), Refusal> {
    // Tokens at ledger time.
    for t in &step.requires.tokens {
        if let Some((kind, scope)) = parse_token_requirement(t) {
            require_token(state, actor, kind, scope)?;
        }
    }
    // Documents on file for the job or shop-wide.
    for d in &step.requires.documents {
        if !state
            .documents_on_file
            .contains(&(Some(job_id.to_string()), *d))
            && !state.documents_on_file.contains(&(None, *d))
        {
            return Err(Refusal::new(
                Code::DocumentMissing,
                format!(
                    "step {step_id} needs a {} document on file for job {job_id}",
                    doc_name(*d)
                ),
            ));
        }
    }
    // Equipment calibrated and not locked out.
    for e in &step.requires.equipment {
        let eq = state.equipment.get(e).ok_or_else(|| {
            Refusal::new(
                Code::UnknownEquipment,
                format!("step {step_id} needs equipment {e}, which is not registered"),
            )
        })?;
        if let Some(why) = &eq.locked_out {
            return Err(Refusal::new(
                Code::EquipmentLockedOut,
                format!("{e} is locked out: {why}"),
            ));
        }
        if eq.calibration_due <= state.time {
            return Err(Refusal::new(
                Code::CalibrationOverdue,
                format!(
                    "{e} calibration was due {}",
                    format_time(eq.calibration_due)
                ),
            ));
        }
    }
    Ok(())
}

/// Every measurement the step limits is given and within its limits; one
/// outside them counts against the job's first pass (and is refused).
fn check_measurements(
    state: &mut State,
    job_id: &str,
    step_id: &str,
    step: &Step,
    measurements: &BTreeMap<String, i64>,
) -> Result<(), Refusal> {
    for limit in &step.measurements {
        let Some(&value) = measurements.get(&limit.name) else {
            return Err(Refusal::new(
                Code::MeasurementMissing,
                format!("step {step_id} needs measurement {}", limit.name),
            ));
        };
        let (low, high) = limit.bounds();
        if value < low || value > high {
            if let Some(j) = state.jobs.get_mut(job_id) {
                j.nonconformances += 1;
            }
            let unit = serde_json::to_value(limit.unit)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(Refusal::new(
                Code::MeasurementOutOfLimits,
                format!(
                    "{} = {value} {unit} is outside {} for step {step_id}",
                    limit.name,
                    range_text(low, high, &unit)
                ),
            ));
        }
    }
    Ok(())
}

/// Records an accepted step and fires its effects and events; the last
/// step completes the job.
fn record_step(
    state: &mut State,
    job_id: &str,
    step_id: &str,
    step: &Step,
    record: StepRecord,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let all_steps = state
        .jobs
        .get(job_id)
        .and_then(|job| state.contracts.get(&job.contract)?.get(&job.version))
        .map(|cv| cv.contract.steps.len())
        .unwrap_or(0);
    let time = state.time;
    let Some(job) = state.jobs.get_mut(job_id) else {
        return Err(Refusal::new(Code::UnknownJob, format!("no job {job_id}")));
    };
    job.steps.insert(step_id.to_string(), record);
    let done = job.steps.len() == all_steps;
    for effect in &step.effects {
        run_effect(state, job_id, &format!("step {step_id}"), effect, fired);
    }
    if let Some(ev) = step.emits {
        fire_event(state, job_id, ev, fired);
    }
    if done {
        if let Some(job) = state.jobs.get_mut(job_id) {
            job.status = JobStatus::Completed;
            job.completed_at = Some(time);
            if let Some(d) = job.deadline {
                state.deadlines.remove(&(d, job_id.to_string()));
            }
        }
        fire_event(state, job_id, Event::JobCompleted, fired);
        record_service(state, job_id, fired);
    }
    Ok(())
}

/// A measurement range as text: `≤ 855 degC`, `≥ 30 min`, `835..855 degC`.
fn range_text(low: i64, high: i64, unit: &str) -> String {
    match (low == i64::MIN, high == i64::MAX) {
        (true, false) => format!("≤ {high} {unit}"),
        (false, true) => format!("≥ {low} {unit}"),
        _ => format!("{low}..{high} {unit}"),
    }
}

/// A document type's name as contracts write it.
fn doc_name(d: DocumentType) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{d:?}"))
}

/// The state records an accepted step of `job_id` relied on, read from the
/// state after its block: for each token the step requires, the token of
/// `actor` that satisfied it; each required document type on file (the
/// job's own, else shop-wide); each required piece of equipment (its
/// calibration). Addresses as `(kind, key)` for state proofs.
pub fn relied_on(
    state: &State,
    job_id: &str,
    step_id: &str,
    actor: &SmartId,
) -> Vec<(&'static str, Vec<u8>)> {
    use smart_ledger::codec::encode_plain as enc;
    let Some(job) = state.jobs.get(job_id) else {
        return Vec::new();
    };
    let Some(step) = state
        .contracts
        .get(&job.contract)
        .and_then(|versions| versions.get(&job.version))
        .and_then(|v| v.contract.steps.iter().find(|s| s.id == step_id))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in &step.requires.tokens {
        let Some((kind, scope)) = parse_token_requirement(t) else {
            continue;
        };
        // The token not revoked with the latest expiry (of those, the
        // last by id).
        let mut live = state
            .tokens_for(actor, kind, scope)
            .filter(|(_, t)| t.revoked.is_none());
        if let Some((first, t)) = live.next() {
            let until = t.expires;
            let id = live
                .take_while(|(_, t)| t.expires == until)
                .last()
                .map_or(first, |(id, _)| id);
            out.push(("tokens", enc(&id.to_string())));
        }
    }
    for d in &step.requires.documents {
        let own = (Some(job_id.to_string()), *d);
        let key = if state.documents_on_file.contains(&own) {
            own
        } else {
            (None, *d)
        };
        out.push(("documents_on_file", enc(&key)));
    }
    for e in &step.requires.equipment {
        out.push(("equipment", enc(e)));
    }
    out
}
