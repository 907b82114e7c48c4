//! NodeQuery: questions about the local state answered offline (what
//! blocks a job, who may run a piece of equipment, ...).

use crate::services::history::resolve_job;
use smart_contracts::State;
use smart_contracts::refusal::{format_date, format_time};
use smart_contracts::state::VersionStatus;
use smart_ledger::{Role, SmartId, Timestamp};

use super::*;

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

pub(super) fn blocking(state: &State, cfg: &StationConfig, at: Timestamp, job_id: &str) -> String {
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

pub(super) fn who_may_run(state: &State, eq: &str, at: Timestamp) -> String {
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
        state.tokens_of(id).any(|(_, t)| {
            t.kind.name() == kind && t.scope == scope && t.revoked.is_none() && t.expires > at
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
