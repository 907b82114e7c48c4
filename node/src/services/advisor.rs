//! SMART-AI Central (advisory only): plain statistics over the ledger's job
//! decisions. Each finding says what it is based on; `smart advise --record`
//! writes findings as `Suggest` txs signed by the Advisor identity, whose
//! only permission in the VM is to record suggestions. It never acts: a
//! person may turn a suggestion into a contract proposal.

use std::collections::BTreeMap;

use serde::Serialize;
use smart_contracts::State;
use smart_ledger::{Hash, Outcome, Timestamp};

use crate::services::history::Decision;

/// Fewest refusals of one rule at one step that make a finding.
const MIN_REFUSALS: usize = 2;
/// Fewest jobs whose step waits make a delay finding.
const MIN_JOBS: usize = 2;
/// The shortest median wait that makes a delay finding (one minute).
const MIN_DELAY_MS: u64 = 60_000;
/// Fewest decisions at a station to compare its two halves.
const MIN_STATION_DECISIONS: usize = 6;
/// How much the refused share must rise from the first half of a station's
/// decisions to the second to be reported (percentage points).
const RISE_POINTS: u64 = 20;

/// One advisory finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id of the finding's subject (`sg-` and 12 hex digits): the
    /// same subject is recorded once however often the analysis runs.
    pub id: String,
    /// What was found.
    pub finding: String,
    /// What it is based on.
    pub based_on: String,
}

/// A finding's stable id from its subject.
pub(crate) fn subject_id(subject: &str) -> String {
    let hex = Hash::of(subject.as_bytes()).to_string();
    format!("sg-{}", &hex[..12])
}

/// Every finding over `history` (the ledger's job decisions) and `state`.
pub fn findings(state: &State, history: &[Decision]) -> Vec<Finding> {
    let mut out = most_refused_rules(history);
    out.extend(slowest_step(state));
    out.extend(rising_station_refusals(history));
    out
}

/// Fewest API calls of one credential before its refused share is judged.
const MIN_API_CALLS: usize = 20;
/// The refused (4xx) share of a credential's calls that is a finding (percent).
const API_REFUSED_PERCENT: usize = 25;

/// Anomalies in API use: credentials with a high share of refused calls in
/// the gateways' access logs, and the gateways' own anomaly flags.
pub fn api_findings(ledger: &crate::services::history::History) -> Vec<Finding> {
    let mut by_client: BTreeMap<&str, (usize, BTreeMap<u16, usize>)> = BTreeMap::new();
    for (_, client, status) in &ledger.api_calls {
        let e = by_client.entry(client.as_str()).or_default();
        e.0 += 1;
        if (400..500).contains(status) {
            *e.1.entry(*status).or_default() += 1;
        }
    }
    let mut out: Vec<Finding> = by_client
        .into_iter()
        .filter_map(|(client, (calls, refused))| {
            let n: usize = refused.values().sum();
            (calls >= MIN_API_CALLS && n * 100 >= calls * API_REFUSED_PERCENT).then(|| {
                let statuses = refused
                    .iter()
                    .map(|(s, k)| format!("{s}: {k}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Finding {
                    id: subject_id(&format!("api-refused:{client}:{calls}")),
                    finding: format!(
                        "API caller {client} was refused {n} of its {calls} calls ({}%)",
                        n * 100 / calls
                    ),
                    based_on: format!(
                        "the gateways' access logs in the ledger: {calls} calls by {client}, refused {statuses}"
                    ),
                }
            })
        })
        .collect();
    let mut flags: BTreeMap<(&str, &str), Vec<Timestamp>> = BTreeMap::new();
    for (at, kind, caller) in &ledger.api_flags {
        flags
            .entry((caller.as_str(), kind.as_str()))
            .or_default()
            .push(*at);
    }
    out.extend(flags.into_iter().map(|((caller, kind), times)| {
        let last = times.iter().max().copied().unwrap_or_default();
        Finding {
            id: subject_id(&format!("api-flag:{caller}:{kind}:{}", times.len())),
            finding: format!(
                "the gateway flagged {kind} for API caller {caller} {} times",
                times.len()
            ),
            based_on: format!(
                "{} AnomalyFlagged alerts signed by the gateway, the last at {}",
                times.len(),
                smart_contracts::refusal::format_time(last)
            ),
        }
    }));
    out
}

fn block_span(ds: &[&Decision]) -> String {
    let lo = ds.iter().map(|d| d.height).min().unwrap_or(0);
    let hi = ds.iter().map(|d| d.height).max().unwrap_or(0);
    if lo == hi {
        format!("block {lo}")
    } else {
        format!("blocks {lo}..{hi}")
    }
}

/// The rules (refusal code at a step) refused most, with an example cause.
fn most_refused_rules(history: &[Decision]) -> Vec<Finding> {
    let refused: Vec<&Decision> = history
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Refused { .. }))
        .collect();
    let mut by_rule: BTreeMap<(u16, String), Vec<&Decision>> = BTreeMap::new();
    for d in &refused {
        if let Outcome::Refused { code, .. } = &d.outcome {
            let step = d.step.clone().unwrap_or_else(|| "open".into());
            by_rule.entry((*code, step)).or_default().push(d);
        }
    }
    let mut rules: Vec<((u16, String), Vec<&Decision>)> = by_rule
        .into_iter()
        .filter(|(_, ds)| ds.len() >= MIN_REFUSALS)
        .collect();
    rules.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    rules
        .into_iter()
        .take(3)
        .map(|((code, step), ds)| {
            let example = match &ds[ds.len() - 1].outcome {
                Outcome::Refused { reason, .. } => reason.clone(),
                Outcome::Accepted => String::new(),
            };
            let mut jobs: Vec<&str> = ds.iter().map(|d| d.job.as_str()).collect();
            jobs.sort_unstable();
            jobs.dedup();
            let mut people: Vec<&str> = ds.iter().map(|d| d.who.as_str()).collect();
            people.sort_unstable();
            people.dedup();
            Finding {
                id: subject_id(&format!("refused:{code}:{step}")),
                finding: format!(
                    "step {step} is refused often under rule [{code}]: {} of {} refused job decisions, in {} jobs, by {}; latest cause: {example}",
                    ds.len(),
                    refused.len(),
                    jobs.len(),
                    people.join(", ")
                ),
                based_on: format!(
                    "the {} refused job decisions in the ledger; this rule's in {}",
                    refused.len(),
                    block_span(&ds)
                ),
            }
        })
        .collect()
}

/// The step jobs wait longest for: the median time from the previous
/// completed step (or the job's opening) to this step's completion.
fn slowest_step(state: &State) -> Option<Finding> {
    let mut waits: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for job in state.jobs.values() {
        let mut done: Vec<(&str, u64)> = job
            .steps
            .iter()
            .map(|(s, r)| (s.as_str(), r.at.0))
            .collect();
        done.sort_by_key(|(_, at)| *at);
        let mut before = job.assigned_at.0;
        for (step, at) in done {
            waits
                .entry(step)
                .or_default()
                .push(at.saturating_sub(before));
            before = at;
        }
    }
    let (step, w) = waits
        .into_iter()
        .filter(|(_, w)| w.len() >= MIN_JOBS)
        .map(|(step, mut w)| {
            w.sort_unstable();
            (step, w)
        })
        .max_by_key(|(_, w)| w[w.len() / 2])?;
    let m = w[w.len() / 2];
    if m < MIN_DELAY_MS {
        // Steps that follow each other within a minute delay nothing.
        return None;
    }
    Some(Finding {
        id: subject_id(&format!("slowest:{step}")),
        finding: format!(
            "step {step} delays jobs most: a median of {} min from the step before it (longest {} min)",
            m / 60_000,
            w.last().copied().unwrap_or(0) / 60_000
        ),
        based_on: format!(
            "the completion times of step {step} in {} jobs and of the step before it (or the job's opening)",
            w.len()
        ),
    })
}

/// Stations whose share of refused step decisions rose from the first half
/// of their decisions to the second.
fn rising_station_refusals(history: &[Decision]) -> Vec<Finding> {
    let mut by_station: BTreeMap<&str, Vec<&Decision>> = BTreeMap::new();
    for d in history {
        if let Some(s) = d.station.as_deref() {
            by_station.entry(s).or_default().push(d);
        }
    }
    let share = |ds: &[&Decision]| {
        let refused = ds
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Refused { .. }))
            .count() as u64;
        (refused * 100 / ds.len().max(1) as u64, refused)
    };
    by_station
        .into_iter()
        .filter(|(_, ds)| ds.len() >= MIN_STATION_DECISIONS)
        .filter_map(|(station, ds)| {
            let (first, second) = ds.split_at(ds.len() / 2);
            let ((p1, r1), (p2, r2)) = (share(first), share(second));
            (p2 >= p1 + RISE_POINTS).then(|| Finding {
                id: subject_id(&format!("rising:{station}")),
                finding: format!(
                    "station {station}'s refused share rose from {p1}% to {p2}% of its step decisions"
                ),
                based_on: format!(
                    "{} step decisions at {station} in {}: {r1} of the first {} refused, {r2} of the last {}",
                    ds.len(),
                    block_span(&ds),
                    first.len(),
                    second.len()
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smart_ledger::Timestamp;

    fn d(height: u64, station: &str, step: &str, refused: bool) -> Decision {
        Decision {
            height,
            time: Timestamp(height * 1000),
            who: "tech-7".into(),
            job: format!("job-{}", height % 3),
            step: Some(step.into()),
            station: Some(station.into()),
            outcome: if refused {
                Outcome::Refused {
                    code: 16,
                    reason: "soak_temp out of limits".into(),
                }
            } else {
                Outcome::Accepted
            },
        }
    }

    #[test]
    fn refusals_and_a_rising_station_are_found_and_named_stably() {
        // station-1: 1 of 4 refused, then 3 of 4.
        let history: Vec<Decision> = [false, false, true, false, true, true, false, true]
            .iter()
            .enumerate()
            .map(|(i, r)| d(i as u64 + 1, "station-1", "harden", *r))
            .collect();
        let found = findings(&State::default(), &history);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].finding.contains("4 of 4 refused job decisions"));
        assert!(found[0].based_on.contains("blocks 3..8"));
        assert!(found[1].finding.contains("rose from 25% to 75%"));
        assert_eq!(found, findings(&State::default(), &history));
        assert!(found[0].id.starts_with("sg-") && found[0].id.len() == 15);
    }

    #[test]
    fn a_steady_station_and_single_refusals_make_no_finding() {
        let history: Vec<Decision> = [true, false, false, false, true, false, false, false]
            .iter()
            .enumerate()
            .map(|(i, r)| d(i as u64 + 1, "station-2", "temper", *r))
            .collect();
        let found = findings(&State::default(), &history[..4]);
        assert!(found.is_empty(), "{found:#?}");
        let found = findings(&State::default(), &history);
        // Two refusals of one rule make one finding; the share did not rise.
        assert_eq!(found.len(), 1, "{found:#?}");
    }

    #[test]
    fn api_callers_refused_often_and_gateway_flags_are_findings() {
        let mut ledger = crate::services::history::History::default();
        for i in 0..30u64 {
            let status = if i % 3 == 0 { 401 } else { 200 };
            ledger
                .api_calls
                .push((Timestamp(i), "cred-x".into(), status));
            let quiet = if i == 0 { 404 } else { 200 };
            ledger
                .api_calls
                .push((Timestamp(i), "cred-y".into(), quiet));
        }
        for t in [5, 9] {
            ledger
                .api_flags
                .push((Timestamp(t), "request_rate_spike".into(), "cred-y".into()));
        }
        let found = api_findings(&ledger);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(
            found[0].finding,
            "API caller cred-x was refused 10 of its 30 calls (33%)"
        );
        assert!(found[0].based_on.contains("refused 401: 10"));
        assert_eq!(
            found[1].finding,
            "the gateway flagged request_rate_spike for API caller cred-y 2 times"
        );
        assert_eq!(found, api_findings(&ledger), "stable ids");
    }

    #[test]
    fn a_step_waiting_under_a_minute_is_no_delay_finding() {
        use smart_contracts::state::{Job, JobStatus, StepRecord};
        let job = |wait_ms: u64| {
            let mut steps = BTreeMap::new();
            steps.insert(
                "harden".to_string(),
                StepRecord {
                    by: smart_ledger::SmartId([1; 32]),
                    at: Timestamp(1_000 + wait_ms),
                    station: None,
                    measurements: BTreeMap::new(),
                },
            );
            Job {
                contract: "po".into(),
                version: 1,
                client: smart_ledger::SmartId([2; 32]),
                parts: vec![],
                assigned_at: Timestamp(1_000),
                deadline: None,
                steps,
                nonconformances: 0,
                status: JobStatus::Open,
                completed_at: None,
                events: Default::default(),
                opened_in: Hash::ZERO,
            }
        };
        let mut state = State::default();
        for (id, wait) in [("j1", 20_000), ("j2", 30_000)] {
            state.jobs.insert(id.into(), job(wait));
        }
        assert_eq!(slowest_step(&state), None);
        for (id, wait) in [("j1", 300_000), ("j2", 420_000)] {
            state.jobs.insert(id.into(), job(wait));
        }
        let f = slowest_step(&state).expect("a delay");
        assert!(f.finding.contains("a median of 7 min"), "{}", f.finding);
    }
}
