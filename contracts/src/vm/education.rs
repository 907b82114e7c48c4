//! CertifiedPeople / Education in the VM: recording transcript entries and
//! letting the certification framework issue, renew or revoke tokens.

use std::collections::BTreeSet;

use smart_ledger::{Role, SmartId, Timestamp};

use super::actor::{Actor, check_id, role_list};
use super::identity::justified_by;
use super::tx::Fired;
use crate::education::{self, EducationRecord};
use crate::model::Effect;
use crate::refusal::{Refusal, RefusalCode as Code, format_date};
use crate::state::{State, Token, TokenKind};
use crate::transcript::{EyeTest, Transcript};

/// CertifiedPeople / Education: records a transcript entry, then lets the
/// framework issue, renew or revoke the person's tokens at once.
pub(super) fn record_education(
    state: &mut State,
    actor: &Actor<'_>,
    person: SmartId,
    record: EducationRecord,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(
        &[Role::Admin, Role::Compliance, Role::Qa],
        "record training, experience, examinations or vision tests",
    )?;
    if actor.id == person {
        return Err(Refusal::new(
            Code::ConflictOfInterest,
            format!(
                "{} may not record their own training, experience, examinations or vision tests",
                actor.name
            ),
        ));
    }
    let holder = state.active(&person).ok_or_else(|| {
        Refusal::new(
            Code::UnknownIdentity,
            format!("no active identity {}", person.short()),
        )
    })?;
    let (name, roles) = (holder.name.clone(), holder.roles.clone());
    let now = state.time;
    let course_token = check_record(&record, &name, &roles, now)?;
    write_transcript(state.education.entry(person).or_default(), record, now);
    if let Some((kind, course, until)) = course_token {
        grant(state, person, kind, &course, until, fired);
    }
    certify(state, person, &roles, fired);
    Ok(())
}

/// A course token: its kind, the course (its scope) and when it expires.
type CourseToken = (TokenKind, String, Timestamp);

/// Checks a record before it is written to `name`'s transcript (who holds
/// `roles`); for a course that grants a token, that token.
fn check_record(
    record: &EducationRecord,
    name: &str,
    roles: &BTreeSet<Role>,
    now: Timestamp,
) -> Result<Option<CourseToken>, Refusal> {
    let in_range = |v: u32, max: u32, what: &str| {
        if (1..=max).contains(&v) {
            Ok(())
        } else {
            Err(Refusal::new(
                Code::InvalidArgument,
                format!("{what} must be 1 to {max}, not {v}"),
            ))
        }
    };
    match record {
        EducationRecord::Training {
            course,
            hours,
            grants,
            valid_days,
            ..
        } => {
            check_id(course, "course id")?;
            in_range(*hours, 1_000, "course hours")?;
            if let Some(kind) = grants {
                if !matches!(kind, TokenKind::Training | TokenKind::Safety) {
                    return Err(Refusal::new(
                        Code::InvalidArgument,
                        format!("a course grants a Training or Safety token, not {kind:?}"),
                    ));
                }
                in_range(*valid_days, 3_650, "days a course token is valid")?;
                if !justified_by(*kind, roles) {
                    return Err(Refusal::new(
                        Code::RoleRequired,
                        format!(
                            "{kind:?} tokens go to Technicians and QA; {name} holds {}",
                            role_list(roles.iter())
                        ),
                    ));
                }
                let until = Timestamp(now.0.saturating_add(u64::from(*valid_days) * 86_400_000));
                return Ok(Some((*kind, course.clone(), until)));
            }
        }
        EducationRecord::Experience { hours, .. } => in_range(*hours, 2_000, "experience hours")?,
        EducationRecord::Exam {
            method,
            level,
            score,
            ..
        } => {
            if education::requirement(*method, *level).is_none() {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("the framework certifies levels 1 and 2, not {level}"),
                ));
            }
            if *score > 100 {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("a score is a percentage, not {score}"),
                ));
            }
        }
        EducationRecord::EyeTest { .. } => {}
    }
    Ok(None)
}

/// Writes a checked record to a transcript at ledger time `now`.
fn write_transcript(t: &mut Transcript, record: EducationRecord, now: Timestamp) {
    match record {
        EducationRecord::Training {
            course,
            hours,
            method,
            ..
        } => {
            if let Some(m) = method {
                let h = t.training_hours.entry(m).or_default();
                *h = h.saturating_add(hours);
            }
            t.courses.insert(course, (hours, now));
        }
        EducationRecord::Experience { method, hours } => {
            let h = t.experience_hours.entry(method).or_default();
            *h = h.saturating_add(hours);
        }
        EducationRecord::Exam {
            method,
            level,
            part,
            score,
        } => {
            t.exams.insert((method, level, part), (score, now));
        }
        EducationRecord::EyeTest { near_vision, color } => {
            t.eye_test = Some(EyeTest {
                at: now,
                near_vision,
                color,
            });
        }
    }
}

/// Assesses every certification `person` has started: issues or renews the
/// `Certified` token of each that qualifies, and revokes the framework's
/// token of each that no longer does (e.g. a failed vision test).
fn certify(state: &mut State, person: SmartId, roles: &BTreeSet<Role>, fired: &mut Vec<Fired>) {
    if !justified_by(TokenKind::Certified, roles) {
        return;
    }
    let Some(t) = state.education.get(&person) else {
        return;
    };
    let now = state.time;
    let verdicts: Vec<(String, Result<Timestamp, Vec<String>>)> = education::started(t)
        .into_iter()
        .map(|(m, l)| {
            let verdict = match education::assess(t, m, l, now) {
                Ok(until) if until <= now => {
                    Err(vec!["the certification period has ended".to_string()])
                }
                v => v,
            };
            (education::scope(m, l), verdict)
        })
        .collect();
    for (scope, verdict) in verdicts {
        match verdict {
            Ok(until) => grant(state, person, TokenKind::Certified, &scope, until, fired),
            Err(missing) => {
                if let Some(id) = framework_token(state, &person, TokenKind::Certified, &scope)
                    && let Some(tok) = state.tokens.get_mut(&id)
                    && tok.revoked.is_none()
                    && tok.expires > now
                {
                    let why = format!(
                        "{} no longer qualified: {}",
                        education::FRAMEWORK_REVOCATION,
                        missing.join("; ")
                    );
                    tok.revoked = Some((now, why.clone()));
                    fired.push(Fired {
                        job: None,
                        cause: "CertifiedPeople".into(),
                        effect: Effect::Alert(format!("{scope} token {id} revoked: {why}")),
                    });
                }
            }
        }
    }
}

/// The token the framework issued to `holder` for `kind:scope`, if any.
fn framework_token(
    state: &State,
    holder: &SmartId,
    kind: TokenKind,
    scope: &str,
) -> Option<String> {
    state
        .tokens_for(holder, kind, scope)
        .map(|(id, _)| id)
        .filter(|id| education::is_framework_token(id))
        .min()
        .map(str::to_string)
}

/// Issues the framework's `kind:scope` token to `holder` until `until`, or
/// renews the one it issued before. A token a person revoked stays revoked
/// (Admin or Compliance issue a new one).
fn grant(
    state: &mut State,
    holder: SmartId,
    kind: TokenKind,
    scope: &str,
    until: Timestamp,
    fired: &mut Vec<Fired>,
) {
    let now = state.time;
    let name = state.name_of(&holder);
    let label = format!("{}:{scope}", kind.name());
    let existing = framework_token(state, &holder, kind, scope);
    let id = existing
        .clone()
        .unwrap_or_else(|| education::token_id(scope, &holder));
    match existing.and_then(|id| state.tokens.get(&id)) {
        Some(t)
            if t.revoked
                .as_ref()
                .is_some_and(|(_, why)| !why.starts_with(education::FRAMEWORK_REVOCATION)) => {}
        Some(t) if t.revoked.is_none() && t.expires == until => {}
        Some(_) => {
            state.change_token(&id, |t| {
                t.revoked = None;
                t.issued = now;
                t.expires = until;
            });
            fired.push(Fired {
                job: None,
                cause: "CertifiedPeople".into(),
                effect: Effect::Alert(format!(
                    "{label} of {name} renewed until {} (token {id})",
                    format_date(until)
                )),
            });
        }
        None => {
            state.add_token(
                id.clone(),
                Token {
                    holder,
                    kind,
                    scope: scope.to_string(),
                    issued: now,
                    expires: until,
                    revoked: None,
                },
            );
            fired.push(Fired {
                job: None,
                cause: "CertifiedPeople".into(),
                effect: Effect::Alert(format!(
                    "{label} issued to {name} until {} (token {id})",
                    format_date(until)
                )),
            });
        }
    }
}
