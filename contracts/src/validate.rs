//! Semantic checks of a contract that parsed: references, cycles, roles,
//! tokens, limits and money. Reports the first problem with its field path.

use std::collections::{BTreeMap, BTreeSet};

use smart_ledger::Role;

use crate::error::ErrorKind;
use crate::model::{Contract, Effect, Event, Limit};
use crate::state::TokenKind;

/// Largest amount of money in one effect: $10,000,000.00.
pub const MAX_AMOUNT_CENTS: u64 = 1_000_000_000;
/// Most steps in one contract.
pub const MAX_STEPS: usize = 256;

/// One semantic problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Field path, e.g. `steps[2].after[0]`.
    pub path: String,
    /// Kind of mistake.
    pub kind: ErrorKind,
    /// What is wrong and what was expected.
    pub message: String,
}

fn issue(
    path: impl Into<String>,
    kind: ErrorKind,
    message: impl Into<String>,
) -> Result<(), Issue> {
    Err(Issue {
        path: path.into(),
        kind,
        message: message.into(),
    })
}

/// Is `id` lowercase letters, digits and `-`, starting with a letter or digit, at most 64 chars?
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses `Kind:scope` into a token kind and scope.
pub fn parse_token_requirement(text: &str) -> Option<(TokenKind, &str)> {
    let (kind, scope) = text.split_once(':')?;
    let kind = TokenKind::from_name(kind.trim())?;
    let scope = scope.trim();
    (!scope.is_empty() && scope.len() <= 64 && !scope.contains(char::is_whitespace))
        .then_some((kind, scope))
}

/// Checks everything a parsed contract must satisfy.
pub fn validate(c: &Contract) -> Result<(), Issue> {
    if !is_valid_id(&c.id) {
        issue(
            "id",
            ErrorKind::BadId,
            format!(
                "{:?} is not a valid id: expected lowercase letters, digits and '-' (at most 64)",
                c.id
            ),
        )?;
    }
    if c.version == 0 {
        issue(
            "version",
            ErrorKind::BadVersion,
            "version must be 1 or higher",
        )?;
    }
    if c.steps.is_empty() {
        issue(
            "steps",
            ErrorKind::NoSteps,
            "a contract needs at least one step",
        )?;
    }
    if c.steps.len() > MAX_STEPS {
        issue(
            "steps",
            ErrorKind::TooLarge,
            format!("{} steps; at most {MAX_STEPS}", c.steps.len()),
        )?;
    }
    for (i, r) in c.references.iter().enumerate() {
        if !is_valid_id(&r.id) || r.version == 0 || r.id == c.id {
            issue(
                format!("references[{i}]"),
                ErrorKind::BadReference,
                format!(
                    "reference {}@{} must name another contract by a valid id and a version ≥ 1",
                    r.id, r.version
                ),
            )?;
        }
    }
    if let Some(d) = &c.delivery
        && (d.window_hours == 0 || d.window_hours > 24 * 366)
    {
        issue(
            "delivery.window_hours",
            ErrorKind::BadDeliveryWindow,
            "expected 1 to 8784 hours",
        )?;
    }

    // Steps: ids, performers, tokens, equipment, limits, effects.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in c.steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        if !is_valid_id(&s.id) {
            issue(
                format!("{at}.id"),
                ErrorKind::BadId,
                format!(
                    "{:?} is not a valid step id: expected lowercase letters, digits and '-'",
                    s.id
                ),
            )?;
        }
        if index.insert(&s.id, i).is_some() {
            issue(
                format!("{at}.id"),
                ErrorKind::DuplicateStep,
                format!("step id {:?} is used twice", s.id),
            )?;
        }
        if s.by.is_empty() {
            issue(
                format!("{at}.by"),
                ErrorKind::NoPerformer,
                format!(
                    "no role may perform step {:?}: list at least one role",
                    s.id
                ),
            )?;
        }
        for (j, t) in s.requires.tokens.iter().enumerate() {
            if parse_token_requirement(t).is_none() {
                issue(
                    format!("{at}.requires.tokens[{j}]"),
                    ErrorKind::BadToken,
                    format!(
                        "{t:?}: expected Kind:scope with Kind one of Access, Audit, Certified, Training, Safety, Utility"
                    ),
                )?;
            }
        }
        for (j, e) in s.requires.equipment.iter().enumerate() {
            if !is_valid_id(e) {
                issue(
                    format!("{at}.requires.equipment[{j}]"),
                    ErrorKind::BadId,
                    format!("{e:?} is not a valid equipment id"),
                )?;
            }
        }
        let mut names = BTreeSet::new();
        for (j, l) in s.measurements.iter().enumerate() {
            check_limit(&format!("{at}.measurements[{j}]"), l)?;
            if !names.insert(&l.name) {
                issue(
                    format!("{at}.measurements[{j}].name"),
                    ErrorKind::DuplicateMeasurement,
                    format!("measurement {:?} is listed twice", l.name),
                )?;
            }
        }
    }
    // Prerequisites.
    for (i, s) in c.steps.iter().enumerate() {
        for (j, a) in s.after.iter().enumerate() {
            if a == &s.id {
                issue(
                    format!("steps[{i}].after[{j}]"),
                    ErrorKind::SelfPrerequisite,
                    format!("step {:?} cannot come after itself", s.id),
                )?;
            }
            if !index.contains_key(a.as_str()) {
                let known: Vec<&str> = index.keys().copied().collect();
                issue(
                    format!("steps[{i}].after[{j}]"),
                    ErrorKind::UnknownStep,
                    format!("no step {a:?}; expected one of {}", known.join(", ")),
                )?;
            }
        }
    }
    check_cycles(c, &index)?;

    // Effects and triggers.
    for (i, s) in c.steps.iter().enumerate() {
        for (j, e) in s.effects.iter().enumerate() {
            check_effect(&format!("steps[{i}].effects[{j}]"), e, &index)?;
        }
    }
    let mut emitted: BTreeMap<Event, usize> = BTreeMap::new();
    for (i, s) in c.steps.iter().enumerate() {
        if let Some(ev) = s.emits {
            if matches!(
                ev,
                Event::JobAssigned | Event::DeliveryWindowClosed | Event::JobCompleted
            ) {
                issue(
                    format!("steps[{i}].emits"),
                    ErrorKind::UnknownName,
                    format!("{ev:?} is raised by the ledger, not by a step"),
                )?;
            }
            if let Some(first) = emitted.insert(ev, i) {
                issue(
                    format!("steps[{i}].emits"),
                    ErrorKind::DuplicateEvent,
                    format!("steps[{first}] already emits {ev:?}"),
                )?;
            }
        }
    }
    for (i, t) in c.triggers.iter().enumerate() {
        if t.on == Event::DeliveryWindowClosed && c.delivery.is_none() {
            issue(
                format!("triggers[{i}].on"),
                ErrorKind::NoDeliveryWindow,
                "delivery_window_closed needs a `delivery: {window_hours: N}` section",
            )?;
        }
        for (j, e) in t.effects.iter().enumerate() {
            check_effect(&format!("triggers[{i}].effects[{j}]"), e, &index)?;
        }
    }

    // A step only a client may perform needs a client party.
    let has_client_party = c.parties.iter().any(|p| p.role == Role::Client);
    if let Some(i) = c.steps.iter().position(|s| s.by.contains(&Role::Client))
        && !has_client_party
    {
        issue(
            format!("steps[{i}].by"),
            ErrorKind::ClientStepWithoutClient,
            "a step the Client performs needs a party with role Client",
        )?;
    }
    Ok(())
}

fn check_limit(at: &str, l: &Limit) -> Result<(), Issue> {
    let range = l.min.is_some() || l.max.is_some();
    let nominal = l.target.is_some() || l.tolerance.is_some();
    if range && nominal {
        issue(
            at,
            ErrorKind::BadLimit,
            format!("{}: give min/max or target/tolerance, not both", l.name),
        )?;
    }
    if !range && !nominal {
        issue(
            at,
            ErrorKind::BadLimit,
            format!(
                "{}: no limits; expected min and/or max, or target and tolerance",
                l.name
            ),
        )?;
    }
    if nominal && (l.target.is_none() || l.tolerance.is_none()) {
        issue(
            at,
            ErrorKind::BadLimit,
            format!("{}: target and tolerance go together", l.name),
        )?;
    }
    if let (Some(min), Some(max)) = (l.min, l.max)
        && min > max
    {
        issue(
            format!("{at}.min"),
            ErrorKind::InvertedLimit,
            format!("{}: min {min} is above max {max}", l.name),
        )?;
    }
    if let Some(tol) = l.tolerance
        && tol < 0
    {
        issue(
            format!("{at}.tolerance"),
            ErrorKind::InvertedLimit,
            format!("{}: tolerance {tol} is negative", l.name),
        )?;
    }
    if !is_valid_name(&l.name) {
        issue(
            format!("{at}.name"),
            ErrorKind::BadId,
            format!("{:?}: expected letters, digits and '_'", l.name),
        )?;
    }
    Ok(())
}

fn is_valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_money(at: &str, cents: u64) -> Result<(), Issue> {
    if cents == 0 || cents > MAX_AMOUNT_CENTS {
        issue(
            at,
            ErrorKind::MoneyOutOfRange,
            format!("{cents} cents: expected 1 to {MAX_AMOUNT_CENTS} cents"),
        )?;
    }
    Ok(())
}

fn check_effect(at: &str, e: &Effect, steps: &BTreeMap<&str, usize>) -> Result<(), Issue> {
    match e {
        Effect::Unlock(s) | Effect::Lock(s) => {
            if !is_valid_id(s) {
                issue(
                    at,
                    ErrorKind::EmptyEffect,
                    format!("{s:?}: expected a station or equipment id"),
                )?;
            }
        }
        Effect::Alert(m) | Effect::Status(m) => {
            if m.trim().is_empty() {
                issue(at, ErrorKind::EmptyEffect, "expected a message")?;
            }
        }
        Effect::Invoice(i) => {
            if i.milestone.trim().is_empty() {
                issue(
                    format!("{at}.invoice.milestone"),
                    ErrorKind::EmptyEffect,
                    "expected a milestone name",
                )?;
            }
            check_money(&format!("{at}.invoice.amount_cents"), i.amount_cents)?;
        }
        Effect::Payout(p) => {
            if !steps.contains_key(p.step.as_str()) {
                issue(
                    format!("{at}.payout.step"),
                    ErrorKind::UnknownPayoutStep,
                    format!("no step {:?} to pay for", p.step),
                )?;
            }
            check_money(&format!("{at}.payout.amount_cents"), p.amount_cents)?;
        }
        Effect::Bonus(b) => {
            if !steps.contains_key(b.step.as_str()) {
                issue(
                    format!("{at}.bonus.step"),
                    ErrorKind::UnknownPayoutStep,
                    format!("no step {:?} to pay a bonus for", b.step),
                )?;
            }
            check_money(&format!("{at}.bonus.amount_cents"), b.amount_cents)?;
        }
    }
    Ok(())
}

/// Finds cycles in `after`, and steps that depend on a cycle (which can
/// never be performed). Reports the first step, in file order, that is
/// either.
fn check_cycles(c: &Contract, index: &BTreeMap<&str, usize>) -> Result<(), Issue> {
    // 0 = unvisited, 1 = on the DFS stack, 2 = done.
    fn visit(
        c: &Contract,
        index: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        i: usize,
    ) -> Result<(), usize> {
        match mark[i] {
            1 => return Err(i),
            2 => return Ok(()),
            _ => {}
        }
        mark[i] = 1;
        for a in &c.steps[i].after {
            if let Some(&j) = index.get(a.as_str()) {
                visit(c, index, mark, j)?;
            }
        }
        mark[i] = 2;
        Ok(())
    }
    for i in 0..c.steps.len() {
        let mut mark = vec![0u8; c.steps.len()];
        if let Err(k) = visit(c, index, &mut mark, i) {
            let id = &c.steps[i].id;
            return if k == i {
                issue(
                    format!("steps[{i}].after"),
                    ErrorKind::Cycle,
                    format!("step {id:?} is part of a cycle of prerequisites"),
                )
            } else {
                issue(
                    format!("steps[{i}].after"),
                    ErrorKind::Unreachable,
                    format!(
                        "step {id:?} can never be performed: it depends on step {:?}, which is part of a cycle",
                        c.steps[k].id
                    ),
                )
            };
        }
    }
    Ok(())
}
