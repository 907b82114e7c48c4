//! HubQuery: plain-language questions across the whole ledger, answered by
//! a hub from its state and its blocks (`smart ask --data HUB_DIR`).
//!
//! A small grammar, listed in [`QUESTIONS`]; anything else is answered with
//! that list. Answers say what they are based on.

use std::collections::BTreeMap;

use smart_contracts::State;
use smart_contracts::education::{self, NdtMethod};
use smart_contracts::refusal::{format_date, format_time};
use smart_contracts::state::{JobStatus, TokenKind};
use smart_ledger::{Outcome, Timestamp};

use crate::services::history::{Decision, History, Incident, resolve_job};

/// The questions HubQuery understands (case and punctuation are ignored).
pub const QUESTIONS: [&str; 17] = [
    "which jobs are late [this week]",
    "which certifications expire in N days",
    "which tokens does PERSON hold",
    "what does PERSON need for NDT-METHOD-LEVEL",
    "what renewals are due in N days",
    "why was job JOB refused [at step STEP]",
    "what is the status of job JOB",
    "what was paid for job JOB",
    "what is refused most [by rule|station|person]",
    "what incidents happened in N days",
    "how is the shop doing",
    "what do clients say",
    "what is the status of project PROJECT",
    "which jobs are staged",
    "what maintenance is due",
    "what should we order",
    "what does smart-ai suggest",
];

const DAY_MS: u64 = 86_400_000;

/// Answers `question` at wall-clock time `now` from the hub's `state` and
/// the ledger's job `history`.
pub fn ask(
    state: &State,
    ledger: &History,
    now: Timestamp,
    question: &str,
) -> Result<String, String> {
    let q: String = question
        .to_lowercase()
        .chars()
        .map(|c| if c == '?' || c == ',' { ' ' } else { c })
        .collect();
    let words: Vec<&str> = q.split_whitespace().collect();
    let history = ledger.decisions.as_slice();
    let unknown = || {
        format!(
            "I do not understand {question:?}. I understand: {}",
            QUESTIONS.join("; ")
        )
    };
    match words.as_slice() {
        ["which", "jobs", "are", "late"] | ["jobs", "late"] => Ok(late(state, now, None)),
        ["which", "jobs", "are", "late", "this", "week"] | ["jobs", "late", "this", "week"] => {
            Ok(late(state, now, Some(7)))
        }
        ["which", kind, "expire", "in", n, "days"] => {
            let days: u64 = n.parse().map_err(|_| unknown())?;
            let kind = match *kind {
                "certifications" => Some(TokenKind::Certified),
                "tokens" => None,
                _ => return Err(unknown()),
            };
            Ok(expiring(state, now, kind, days))
        }
        ["which", "tokens", "does", person, "hold"] => tokens_of(state, now, person),
        ["what", "does", person, "need", "for", scope] => needs(state, now, person, scope),
        ["what", "renewals", "are", "due", "in", n, "days"] => {
            let days: u64 = n.parse().map_err(|_| unknown())?;
            Ok(renewals(state, now, days))
        }
        ["why", "was", "job", job, "refused"] => Ok(refusals(state, history, job, None)?),
        ["why", "was", "job", job, "refused", "at", "step", step] => {
            Ok(refusals(state, history, job, Some(step))?)
        }
        ["what", "is", "the", "status", "of", "job", job] => status(state, job),
        ["what", "was", "paid", "for", "job", job] => paid(state, job),
        ["what", "is", "refused", "most"] | ["what", "is", "refused", "most", "by", "rule"] => {
            Ok(most_refused(history))
        }
        ["what", "is", "refused", "most", "by", "station"] => {
            Ok(refused_by_station(state, history))
        }
        ["what", "is", "refused", "most", "by", "person"] => Ok(refused_by_person(history)),
        ["what", "incidents", "happened", "in", n, "days"] => {
            let days: u64 = n.parse().map_err(|_| unknown())?;
            Ok(incidents(&ledger.incidents, now, days))
        }
        ["how", "is", "the", "shop", "doing"] => {
            Ok(crate::services::growth::report(state, now).describe())
        }
        ["what", "do", "clients", "say"] => Ok(crate::services::growth::feedback(state).describe()),
        ["what", "is", "the", "status", "of", "project", id] => {
            crate::services::projects::project_status(state, now, id)
        }
        ["which", "jobs", "are", "staged"] => {
            Ok(crate::services::projects::describe_staging(state))
        }
        ["what", "maintenance", "is", "due"] => Ok(crate::services::upkeep::describe_maintenance(
            &crate::services::upkeep::maintenance(state, ledger, now),
        )),
        ["what", "should", "we", "order"] => Ok(crate::services::upkeep::describe_procurement(
            state,
            &crate::services::upkeep::procurement(state, ledger, now),
        )),
        ["what", "does", "smart-ai" | "smart-ai-central", "suggest"] => Ok(suggestions(state)),
        _ => Err(unknown()),
    }
}

fn late(state: &State, now: Timestamp, within_days: Option<u64>) -> String {
    let since = within_days.map(|d| now.0.saturating_sub(d * DAY_MS));
    let mut lines = Vec::new();
    for (id, job) in &state.jobs {
        let Some(deadline) = job.deadline else {
            continue;
        };
        if deadline.0 > now.0 || since.is_some_and(|s| deadline.0 < s) {
            continue;
        }
        match (job.status, job.completed_at) {
            (JobStatus::Completed, Some(done)) if done <= deadline => {}
            (JobStatus::Completed, Some(done)) => lines.push(format!(
                "{id}: completed {} , {} h after its delivery window closed ({})",
                format_time(done),
                (done.0 - deadline.0) / 3_600_000,
                format_time(deadline)
            )),
            _ => lines.push(format!(
                "{id}: still open; its delivery window closed {} ({} of {} steps done)",
                format_time(deadline),
                job.steps.len(),
                state
                    .contracts
                    .get(&job.contract)
                    .and_then(|v| v.get(&job.version))
                    .map_or(0, |c| c.contract.steps.len())
            )),
        }
    }
    let scope = match within_days {
        Some(d) => format!("whose delivery window closed in the last {d} days"),
        None => "whose delivery window has closed".into(),
    };
    if lines.is_empty() {
        format!(
            "no job {scope} is late (based on each job's delivery window and completion time in the ledger)"
        )
    } else {
        format!("late jobs {scope}:\n{}", lines.join("\n"))
    }
}

/// Live tokens (of `kind`, or every kind) expiring within `days` of `now`,
/// soonest first, each as one line: `DATE KIND:SCOPE of HOLDER expires TIME`
/// and what `detail` adds.
fn expiring_lines(
    state: &State,
    now: Timestamp,
    kind: Option<TokenKind>,
    days: u64,
    detail: impl Fn(&str, &smart_contracts::state::Token) -> String,
) -> Vec<String> {
    let until = now.0.saturating_add(days.saturating_mul(DAY_MS));
    let mut lines: Vec<(Timestamp, String)> = state
        .tokens
        .iter()
        .filter(|(_, t)| kind.is_none_or(|k| t.kind == k))
        .filter(|(_, t)| t.revoked.is_none() && t.expires.0 > now.0 && t.expires.0 <= until)
        .map(|(id, t)| {
            let line = format!(
                "{} {}:{} of {} expires {}{}",
                format_date(t.expires),
                t.kind.name(),
                t.scope,
                state.name_of(&t.holder),
                format_time(t.expires),
                detail(id, t)
            );
            (t.expires, line)
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

fn expiring(state: &State, now: Timestamp, kind: Option<TokenKind>, days: u64) -> String {
    let lines = expiring_lines(state, now, kind, days, |id, _| format!(" (token {id})"));
    let what = kind.map_or("tokens", |_| "certifications");
    if lines.is_empty() {
        format!("no {what} expire in the next {days} days")
    } else {
        format!(
            "{} {what} expire in the next {days} days:\n{}",
            lines.len(),
            lines.join("\n")
        )
    }
}

/// The identity named `person` (case-insensitive).
fn person_named<'s>(
    state: &'s State,
    person: &str,
) -> Result<(smart_ledger::SmartId, &'s smart_contracts::state::Identity), String> {
    state
        .identities
        .iter()
        .find(|(_, i)| i.name.eq_ignore_ascii_case(person))
        .map(|(id, i)| (*id, i))
        .ok_or_else(|| format!("no identity named {person}"))
}

/// CertifiedPeople: what `person` still needs for a certification scope
/// such as `NDT-UT-L2`, from their transcript in the ledger.
fn needs(state: &State, now: Timestamp, person: &str, scope: &str) -> Result<String, String> {
    let (id, identity) = person_named(state, person)?;
    let bad = || format!("{scope:?} is not a certification scope like NDT-UT-L2");
    let parts: Vec<&str> = scope.split('-').collect();
    let ["ndt", method, level] = parts.as_slice() else {
        return Err(bad());
    };
    let method = NdtMethod::from_name(method).ok_or_else(bad)?;
    let level: u8 = level
        .strip_prefix('l')
        .and_then(|l| l.parse().ok())
        .ok_or_else(bad)?;
    let scope = education::scope(method, level);
    let empty = education::Transcript::default();
    let t = state.education.get(&id).unwrap_or(&empty);
    let based_on = format!(
        "based on {}'s transcript: {} classroom and {} experience hours in {}, {} examinations, vision test {}",
        identity.name,
        t.training_hours.get(&method).copied().unwrap_or(0),
        t.experience_hours.get(&method).copied().unwrap_or(0),
        method.name(),
        t.exams
            .keys()
            .filter(|(m, l, _)| *m == method && *l == level)
            .count(),
        t.eye_test
            .map_or("none".to_string(), |e| format!("of {}", format_date(e.at)))
    );
    Ok(match education::assess(t, method, level, now) {
        Ok(until) => format!(
            "{} qualifies for {scope} until {} ({based_on})",
            identity.name,
            format_date(until)
        ),
        Err(missing) => format!(
            "{} needs for {scope}:\n{}\n({based_on})",
            identity.name,
            missing
                .iter()
                .map(|m| format!("- {m}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    })
}

/// Reminders: every live token expiring within `days`, with what renews it.
fn renewals(state: &State, now: Timestamp, days: u64) -> String {
    let lines = expiring_lines(state, now, None, days, |id, t| {
        format!("; renew by {}", education::renewal(state, id, t))
    });
    if lines.is_empty() {
        return format!("no renewals are due in the next {days} days");
    }
    format!(
        "{} renewals are due in the next {days} days:\n{}",
        lines.len(),
        lines.join("\n")
    )
}

fn tokens_of(state: &State, now: Timestamp, person: &str) -> Result<String, String> {
    let (id, identity) = person_named(state, person)?;
    let lines: Vec<String> = state
        .tokens_of(&id)
        .map(|(t, tok)| {
            let status = match &tok.revoked {
                Some((at, why)) => format!("revoked {}: {why}", format_time(*at)),
                None if tok.expires.0 <= now.0 => format!("expired {}", format_date(tok.expires)),
                None => format!("live until {}", format_date(tok.expires)),
            };
            format!("{}:{} (token {t}) {status}", tok.kind.name(), tok.scope)
        })
        .collect();
    let who = format!(
        "{} ({}{})",
        identity.name,
        id.short(),
        if identity.active { "" } else { ", inactive" }
    );
    Ok(if lines.is_empty() {
        format!("{who} holds no tokens")
    } else {
        format!("{who} holds {} tokens:\n{}", lines.len(), lines.join("\n"))
    })
}

fn refusals(
    state: &State,
    history: &[Decision],
    job: &str,
    step: Option<&str>,
) -> Result<String, String> {
    let id = resolve_job(state, job)?;
    // A step by id, or by its number in the job's pinned contract.
    let step = match step {
        None => None,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => {
                let j = &state.jobs[&id];
                let steps = state
                    .contracts
                    .get(&j.contract)
                    .and_then(|v| v.get(&j.version))
                    .map(|c| {
                        c.contract
                            .steps
                            .iter()
                            .map(|s| s.id.clone())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                Some(
                    steps
                        .get(n.wrapping_sub(1))
                        .cloned()
                        .ok_or_else(|| format!("{id}'s contract has {} steps", steps.len()))?,
                )
            }
            Err(_) => Some(s.to_string()),
        },
    };
    let lines: Vec<String> = history
        .iter()
        .filter(|d| d.job == id && (step.is_none() || d.step == step))
        .filter_map(|d| match &d.outcome {
            Outcome::Refused { code, reason } => Some(format!(
                "block {} {} {}: {} — [{code}] {reason}",
                d.height,
                format_time(d.time),
                d.who,
                d.step
                    .as_deref()
                    .map_or("open".to_string(), |s| format!("step {s}")),
            )),
            Outcome::Accepted => None,
        })
        .collect();
    let at = step.map_or(String::new(), |s| format!(" at step {s}"));
    Ok(if lines.is_empty() {
        format!("{id} was never refused{at}")
    } else {
        format!(
            "{id} was refused {} times{at}:\n{}",
            lines.len(),
            lines.join("\n")
        )
    })
}

fn status(state: &State, job: &str) -> Result<String, String> {
    let id = resolve_job(state, job)?;
    let j = &state.jobs[&id];
    let steps: Vec<String> = state
        .contracts
        .get(&j.contract)
        .and_then(|v| v.get(&j.version))
        .map(|c| c.contract.steps.iter().map(|s| s.id.clone()).collect())
        .unwrap_or_default();
    let next = steps.iter().find(|s| !j.steps.contains_key(*s));
    Ok(format!(
        "{id}: {:?} under {} v{}, for {}; {} of {} steps done{}{}",
        j.status,
        j.contract,
        j.version,
        state.name_of(&j.client),
        j.steps.len(),
        steps.len(),
        next.map_or(String::new(), |s| format!("; next: {s}")),
        j.deadline.map_or(String::new(), |d| format!(
            "; delivery window closes {}",
            format_time(d)
        ))
    ))
}

fn paid(state: &State, job: &str) -> Result<String, String> {
    let id = resolve_job(state, job)?;
    let mut lines = Vec::new();
    for i in state.invoices.iter().filter(|i| i.job == id) {
        lines.push(format!(
            "invoice {} to {}: {}",
            i.milestone,
            state.name_of(&i.client),
            cents(i.amount_cents)
        ));
    }
    for p in state.payments.iter().filter(|p| p.job == id) {
        lines.push(format!(
            "{:?} for step {} to {}: {}",
            p.kind,
            p.step,
            state.name_of(&p.to),
            cents(p.amount_cents)
        ));
    }
    Ok(if lines.is_empty() {
        format!("nothing was invoiced or paid for {id} yet")
    } else {
        lines.join("\n")
    })
}

fn most_refused(history: &[Decision]) -> String {
    let mut by_rule: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for d in history {
        if let Outcome::Refused { code, .. } = &d.outcome {
            let step = d.step.clone().unwrap_or_else(|| "open".into());
            *by_rule.entry((*code, step)).or_default() += 1;
        }
    }
    let mut rows: Vec<((u16, String), usize)> = by_rule.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if rows.is_empty() {
        return "no job decision was ever refused".into();
    }
    let total: usize = rows.iter().map(|r| r.1).sum();
    format!(
        "{total} refused job decisions in the ledger, by rule code and step (most first):\n{}",
        rows.iter()
            .take(10)
            .map(|((code, step), n)| format!("{n:>5}  [{code}] at step {step}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// ComplianceCentral: refusals per station — job steps refused there, and
/// the decisions its own modules refused (Gatekeeper, Guardian, ...).
fn refused_by_station(state: &State, history: &[Decision]) -> String {
    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for d in history {
        if matches!(d.outcome, Outcome::Refused { .. }) {
            *steps
                .entry(d.station.clone().unwrap_or_else(|| "(no station)".into()))
                .or_default() += 1;
        }
    }
    let mut modules: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for ((station, module, verdict), n) in &state.floor.decisions {
        if *verdict == smart_contracts::station::Verdict::Refused {
            *modules
                .entry(station.clone())
                .or_default()
                .entry(module.name())
                .or_default() += n;
        }
    }
    let mut rows: Vec<(u64, String)> = steps
        .keys()
        .chain(modules.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|st| {
            let by_vm = steps.get(st).copied().unwrap_or(0) as u64;
            let by_modules = modules.get(st);
            let module_total: u64 = by_modules.map_or(0, |m| m.values().sum());
            let detail = by_modules
                .map(|m| {
                    m.iter()
                        .map(|(name, n)| format!("{name} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            (
                by_vm + module_total,
                format!(
                    "{:>5}  {st}: {by_vm} job steps refused by the contract VM, {module_total} by its modules{}",
                    by_vm + module_total,
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({detail})")
                    }
                ),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if rows.is_empty() {
        return "nothing was refused at any station".into();
    }
    format!(
        "refusals by station (most first; based on the VM's job decisions and the stations' module records):\n{}",
        rows.into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// ComplianceCentral: refused job decisions per person, with their rules.
fn refused_by_person(history: &[Decision]) -> String {
    let mut by: BTreeMap<&str, BTreeMap<u16, usize>> = BTreeMap::new();
    for d in history {
        if let Outcome::Refused { code, .. } = &d.outcome {
            *by.entry(d.who.as_str())
                .or_default()
                .entry(*code)
                .or_default() += 1;
        }
    }
    let mut rows: Vec<(usize, String)> = by
        .into_iter()
        .map(|(who, codes)| {
            let total: usize = codes.values().sum();
            let detail = codes
                .iter()
                .map(|(c, n)| format!("[{c}] {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            (total, format!("{total:>5}  {who}: {detail}"))
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if rows.is_empty() {
        return "no job decision was ever refused".into();
    }
    format!(
        "refused job decisions by person, with rule codes (most first):\n{}",
        rows.into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// SafetyCentral: incidents in the last `days`, newest first, with counts
/// per station or person.
fn incidents(all: &[Incident], now: Timestamp, days: u64) -> String {
    let since = now.0.saturating_sub(days.saturating_mul(DAY_MS));
    let recent: Vec<&Incident> = all.iter().filter(|i| i.time.0 >= since).collect();
    if recent.is_empty() {
        return format!(
            "no incidents in the last {days} days (alerts, lockouts, SafetyNode records)"
        );
    }
    let mut by_who: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &recent {
        *by_who.entry(i.who.as_str()).or_default() += 1;
    }
    let counts = by_who
        .iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} incidents in the last {days} days ({counts}):\n{}",
        recent.len(),
        recent
            .iter()
            .rev()
            .take(20)
            .map(|i| format!(
                "block {} {} {}: {}",
                i.height,
                format_time(i.time),
                i.who,
                i.what
            ))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn suggestions(state: &State) -> String {
    if state.suggestions.is_empty() {
        return "SMART-AI Central has recorded no suggestion (`smart advise --record` records its findings)".into();
    }
    let mut rows: Vec<_> = state.suggestions.iter().collect();
    rows.sort_by_key(|(_, s)| s.at);
    format!(
        "{} suggestions (advisory only; a person may turn one into a contract proposal):\n{}",
        rows.len(),
        rows.iter()
            .map(|(id, s)| format!(
                "{id} {} by {}: {}\n    based on {}",
                format_time(s.at),
                state.name_of(&s.by),
                s.finding,
                s.based_on
            ))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Dollars and cents.
pub fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}
