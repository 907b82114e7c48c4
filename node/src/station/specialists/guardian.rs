//! Guardian and LogisticsNode: parts received against the PO, released
//! from the station only when every floor step is done, shipped after release.

use smart_contracts::State;
use smart_contracts::model::{DocumentType, Step};
use smart_contracts::station::{Fact, Module};
use smart_ledger::Role;

use super::*;

/// The steps whose performance happens on the floor (not a client's or a
/// project manager's approval): what the Guardian requires before release.
pub(super) fn floor_step(step: &Step) -> bool {
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
