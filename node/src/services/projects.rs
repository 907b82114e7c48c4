//! Projects and HandoffCentral, from a hub's state.
//!
//! - Projects: a client's milestones over its jobs; a milestone is reached
//!   when its last job completes, on time if by its due date.
//! - HandoffCentral: where each open client job stands between the client
//!   and the floor — waiting for the client's PO, waiting for parts (the
//!   receiving station's LogisticsNode counts them in), or staged for its
//!   next step once the PO is on file and every part has arrived.

use serde::Serialize;
use smart_contracts::State;
use smart_contracts::model::{DocumentType, Template};
use smart_contracts::refusal::{format_date, format_time};
use smart_contracts::state::{Job, JobStatus, Milestone};
use smart_ledger::Timestamp;

/// When a milestone was reached: the completion of its last job.
fn reached(state: &State, m: &Milestone) -> Option<Timestamp> {
    m.jobs
        .iter()
        .map(|j| {
            state
                .jobs
                .get(j)
                .filter(|job| job.status == JobStatus::Completed)
                .and_then(|job| job.completed_at)
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().max())
}

/// HubQuery's answer to "what is the status of project ID".
pub fn project_status(state: &State, now: Timestamp, id: &str) -> Result<String, String> {
    let p = state.projects.get(id).ok_or_else(|| {
        format!(
            "no project {id}; projects: {}",
            state
                .projects
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let mut lines = Vec::new();
    let mut done = 0;
    for m in &p.milestones {
        let complete = m
            .jobs
            .iter()
            .filter(|j| {
                state
                    .jobs
                    .get(*j)
                    .is_some_and(|job| job.status == JobStatus::Completed)
            })
            .count();
        let line = match reached(state, m) {
            Some(at) => {
                done += 1;
                let late = if at.0 > m.due.0 {
                    format!(", {} h late", (at.0 - m.due.0).div_ceil(3_600_000))
                } else {
                    ", on time".to_string()
                };
                format!(
                    "{} ({}): reached {}{late} (due {})",
                    m.id,
                    m.title,
                    format_time(at),
                    format_date(m.due)
                )
            }
            None => format!(
                "{} ({}): {complete} of {} jobs complete, due {}{}",
                m.id,
                m.title,
                m.jobs.len(),
                format_date(m.due),
                if now.0 > m.due.0 { " — OVERDUE" } else { "" }
            ),
        };
        lines.push(line);
    }
    Ok(format!(
        "project {id} for {}: {}; {done} of {} milestones reached (plan set {} by {})\n{}",
        state.name_of(&p.client),
        p.title,
        p.milestones.len(),
        format_date(p.set_at),
        state.name_of(&p.set_by),
        lines.join("\n")
    ))
}

/// Where an open client job stands at the hand-off from client to floor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Handoff {
    /// No client PO on file for it yet.
    AwaitingPo,
    /// The PO is on file; not every part has arrived.
    AwaitingParts {
        /// Parts received.
        received: u32,
        /// Parts the job lists.
        expected: usize,
    },
    /// PO on file and every part received: ready for its next step.
    Staged {
        /// The next step, if any.
        next: Option<String>,
    },
}

/// Every open client job (service jobs are the shop's own) and where it stands.
pub fn staging(state: &State) -> Vec<(String, Handoff)> {
    state
        .jobs
        .iter()
        .filter(|(_, j)| j.status == JobStatus::Open && !is_service(state, j))
        .map(|(id, j)| {
            let po = state
                .documents_on_file
                .contains(&(Some(id.clone()), DocumentType::ClientPo));
            let received = state.floor.parts.get(id).map_or(0, |p| p.received);
            let h = if !po {
                Handoff::AwaitingPo
            } else if (received as usize) < j.parts.len() {
                Handoff::AwaitingParts {
                    received,
                    expected: j.parts.len(),
                }
            } else {
                Handoff::Staged {
                    next: state
                        .contracts
                        .get(&j.contract)
                        .and_then(|v| v.get(&j.version))
                        .and_then(|cv| {
                            cv.contract
                                .steps
                                .iter()
                                .find(|s| !j.steps.contains_key(&s.id))
                                .map(|s| s.id.clone())
                        }),
                }
            };
            (id.clone(), h)
        })
        .collect()
}

fn is_service(state: &State, j: &Job) -> bool {
    state
        .contracts
        .get(&j.contract)
        .and_then(|v| v.get(&j.version))
        .is_some_and(|cv| cv.contract.template == Template::SmartMaintenance)
}

/// HubQuery's answer to "which jobs are staged".
pub fn describe_staging(state: &State) -> String {
    let list = staging(state);
    if list.is_empty() {
        return "no open client jobs".into();
    }
    let lines: Vec<String> = list
        .iter()
        .map(|(id, h)| {
            let client = state
                .jobs
                .get(id)
                .map_or(String::new(), |j| state.name_of(&j.client));
            match h {
                Handoff::AwaitingPo => format!("{id} ({client}): waiting for the client's PO"),
                Handoff::AwaitingParts { received, expected } => format!(
                    "{id} ({client}): PO on file, waiting for parts ({received} of {expected} received)"
                ),
                Handoff::Staged { next } => format!(
                    "{id} ({client}): staged — PO on file, all parts received; next: {}",
                    next.as_deref().unwrap_or("nothing")
                ),
            }
        })
        .collect();
    let staged = list
        .iter()
        .filter(|(_, h)| matches!(h, Handoff::Staged { .. }))
        .count();
    format!(
        "{staged} of {} open client jobs staged (based on the POs on file and the parts the receiving stations counted in):\n{}",
        list.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use smart_contracts::state::{Identity, Project};
    use smart_ledger::{Hash, Role, SmartId};

    const H: u64 = 3_600_000;

    fn job(client: SmartId, done: Option<u64>) -> Job {
        Job {
            contract: "po".into(),
            version: 1,
            client,
            parts: vec!["P-1".into()],
            assigned_at: Timestamp(0),
            deadline: None,
            steps: Default::default(),
            nonconformances: 0,
            status: if done.is_some() {
                JobStatus::Completed
            } else {
                JobStatus::Open
            },
            completed_at: done.map(Timestamp),
            events: Default::default(),
            opened_in: Hash::ZERO,
        }
    }

    #[test]
    fn a_milestone_is_reached_by_its_last_job_on_time_or_late() {
        let mut state = State::default();
        let acme = SmartId([7; 32]);
        state
            .identities
            .insert(acme, Identity::new("acme", [Role::Client]));
        state.jobs.insert("j1".into(), job(acme, Some(10 * H)));
        state.jobs.insert("j2".into(), job(acme, Some(30 * H)));
        state.jobs.insert("j3".into(), job(acme, None));
        let m = |id: &str, due: u64, jobs: &[&str]| Milestone {
            id: id.into(),
            title: id.into(),
            due: Timestamp(due * H),
            jobs: jobs.iter().map(|j| j.to_string()).collect(),
        };
        state.projects.insert(
            "p".into(),
            Project {
                client: acme,
                title: "P".into(),
                milestones: vec![
                    m("early", 40, &["j1", "j2"]),
                    m("late", 20, &["j1", "j2"]),
                    m("open", 50, &["j2", "j3"]),
                ],
                set_by: acme,
                set_at: Timestamp(0),
            },
        );
        let s = project_status(&state, Timestamp(60 * H), "p").expect("status");
        assert!(s.contains("2 of 3 milestones reached"), "{s}");
        assert!(
            s.contains("early (early): reached 1970-01-02 06:00, on time"),
            "{s}"
        );
        assert!(
            s.contains("late (late): reached 1970-01-02 06:00, 10 h late"),
            "{s}"
        );
        assert!(
            s.contains("open (open): 1 of 2 jobs complete, due 1970-01-03 — OVERDUE"),
            "{s}"
        );
        assert!(project_status(&state, Timestamp(0), "q").is_err());
    }
}
