//! CertifiedPeople and Education: a person's transcript (training hours,
//! supervised experience, examinations, vision tests) and the certification
//! framework that turns a complete transcript into a `Certified` token.
//!
//! The framework follows the shape of NAS 410 for NDT personnel: per method
//! and level, minimum classroom training and supervised experience hours;
//! general, specific and practical examinations each passed at 70 % or more
//! with a composite of 80 % or more; a near-vision test within the last
//! year and a passed colour-perception test. A certification lasts five
//! years from its last examination and lapses with the vision test. The
//! hours below are this shop's written practice (the minimums it applies);
//! everything here is pure, so every peer reaches the same verdict.

use serde::{Deserialize, Serialize};
use smart_ledger::{SmartId, Timestamp};

use crate::state::TokenKind;
pub use crate::transcript::{ExamPart, EyeTest, NdtMethod, Transcript};

/// One record on a person's transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EducationRecord {
    /// A course completed: its hours count toward `method`; with `grants`,
    /// a Training or Safety token for the course, valid `valid_days`.
    Training {
        /// Course id, e.g. `furnace-safety` (also the token's scope).
        course: String,
        /// Classroom hours.
        hours: u32,
        /// The NDT method the hours count toward.
        method: Option<NdtMethod>,
        /// The token the course grants (Training or Safety).
        grants: Option<TokenKind>,
        /// How long that token is valid, in days.
        valid_days: u32,
    },
    /// Supervised experience in a method.
    Experience {
        /// Method.
        method: NdtMethod,
        /// Hours.
        hours: u32,
    },
    /// An examination result.
    Exam {
        /// Method.
        method: NdtMethod,
        /// Level 1 or 2.
        level: u8,
        /// Which examination.
        part: ExamPart,
        /// Score in percent.
        score: u8,
    },
    /// A vision test.
    EyeTest {
        /// Near-vision acuity passed.
        near_vision: bool,
        /// Colour perception passed.
        color: bool,
    },
}

/// Minimum hours for a method and level (cumulative, so level 2 includes level 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Classroom training hours.
    pub training_hours: u32,
    /// Supervised experience hours.
    pub experience_hours: u32,
}

/// Each examination passes at this score or more.
pub const PASS_EACH: u8 = 70;
/// The average of the three passes at this score or more.
pub const PASS_COMPOSITE: u8 = 80;
/// A certification is valid this long after its last examination (5 years).
pub const CERTIFICATION_MS: u64 = 5 * 365 * 86_400_000;
/// A near-vision test is valid this long (1 year).
pub const EYE_TEST_MS: u64 = 365 * 86_400_000;
/// Levels the framework certifies.
pub const LEVELS: [u8; 2] = [1, 2];

/// The shop's minimum hours for `method` at `level` (1 or 2).
pub fn requirement(method: NdtMethod, level: u8) -> Option<Requirement> {
    let (t1, e1, t2, e2) = match method {
        NdtMethod::Ut | NdtMethod::Rt | NdtMethod::Et => (40, 210, 80, 840),
        NdtMethod::Pt | NdtMethod::Mt => (16, 130, 24, 270),
    };
    match level {
        1 => Some(Requirement {
            training_hours: t1,
            experience_hours: e1,
        }),
        2 => Some(Requirement {
            training_hours: t2,
            experience_hours: e2,
        }),
        _ => None,
    }
}

/// The token scope of a certification, e.g. `NDT-UT-L2`.
pub fn scope(method: NdtMethod, level: u8) -> String {
    format!("NDT-{}-L{level}", method.name())
}

/// The id of the token the framework issues to `holder` for a course or a
/// certification scope (lowercase, stable: a renewal updates the same token).
pub fn token_id(what: &str, holder: &SmartId) -> String {
    let who: String = holder.as_bytes()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{TOKEN_PREFIX}{}-{who}", what.to_ascii_lowercase())
}

/// Every token the framework issues has an id starting with this.
pub const TOKEN_PREFIX: &str = "edu-";

/// Was the token with this id issued by the framework?
pub fn is_framework_token(id: &str) -> bool {
    id.starts_with(TOKEN_PREFIX)
}

/// What renews a live token: for the framework's tokens a vision test
/// (when the certification lapses with the last one), recertification, or
/// repeating the course; any other token is re-issued by Admin or Compliance.
pub fn renewal(state: &crate::state::State, id: &str, t: &crate::state::Token) -> String {
    let framework = is_framework_token(id);
    let eye_due = state
        .education
        .get(&t.holder)
        .and_then(|tr| tr.eye_test)
        .map(|e| e.at.0.saturating_add(EYE_TEST_MS));
    match t.kind {
        TokenKind::Certified if framework && eye_due == Some(t.expires.0) => {
            "a vision test (it lapses with the last one)".to_string()
        }
        TokenKind::Certified if framework => {
            "recertification: the general, specific and practical examinations".to_string()
        }
        TokenKind::Training | TokenKind::Safety if framework => {
            format!("repeat the course {}", t.scope)
        }
        _ => "a new token from Admin or Compliance".to_string(),
    }
}

/// Days ahead a person is reminded of their expiring tokens.
pub const REMIND_DAYS: u64 = 30;

/// The reminders for `holder` at `now`: each live token expiring within
/// [`REMIND_DAYS`], with its date and what renews it.
pub fn reminders(state: &crate::state::State, holder: &SmartId, now: Timestamp) -> Vec<String> {
    let until = now.0.saturating_add(REMIND_DAYS * 86_400_000);
    state
        .tokens_of(holder)
        .filter(|(_, t)| t.revoked.is_none() && t.expires.0 > now.0 && t.expires.0 <= until)
        .map(|(id, t)| {
            format!(
                "{}:{} expires {}: renew by {}",
                t.kind.name(),
                t.scope,
                crate::refusal::format_date(t.expires),
                renewal(state, id, t)
            )
        })
        .collect()
}

/// The reason the framework gives when it revokes its own token; such a
/// token is issued again once the transcript qualifies again.
pub const FRAMEWORK_REVOCATION: &str = "CertifiedPeople:";

/// Is the transcript enough for `method` at `level` at time `now`? `Ok`
/// with the certification's expiry, or `Err` with what is missing.
pub fn assess(
    t: &Transcript,
    method: NdtMethod,
    level: u8,
    now: Timestamp,
) -> Result<Timestamp, Vec<String>> {
    let Some(req) = requirement(method, level) else {
        return Err(vec![format!(
            "level {level} is not certified by this framework (levels 1 and 2)"
        )]);
    };
    let mut missing = Vec::new();
    let trained = t.training_hours.get(&method).copied().unwrap_or(0);
    if trained < req.training_hours {
        missing.push(format!(
            "{} of {} classroom hours in {}",
            trained,
            req.training_hours,
            method.name()
        ));
    }
    let practised = t.experience_hours.get(&method).copied().unwrap_or(0);
    if practised < req.experience_hours {
        missing.push(format!(
            "{} of {} experience hours in {}",
            practised,
            req.experience_hours,
            method.name()
        ));
    }
    let mut total = 0u32;
    let mut last_exam = Timestamp(0);
    for part in ExamPart::ALL {
        match t.exams.get(&(method, level, part)) {
            None => missing.push(format!("no {part:?} examination")),
            Some((score, at)) => {
                total += u32::from(*score);
                last_exam = last_exam.max(*at);
                if *score < PASS_EACH {
                    missing.push(format!(
                        "{part:?} examination scored {score} % (pass: {PASS_EACH} %)"
                    ));
                }
            }
        }
    }
    if missing.iter().all(|m| !m.contains("examination")) && total < 3 * u32::from(PASS_COMPOSITE) {
        missing.push(format!(
            "composite {} % (pass: {PASS_COMPOSITE} %)",
            total / 3
        ));
    }
    let eye_valid = match t.eye_test {
        None => {
            missing.push("no vision test".into());
            None
        }
        Some(e) if !e.near_vision || !e.color => {
            missing.push(format!(
                "the last vision test failed ({})",
                if e.near_vision {
                    "colour perception"
                } else {
                    "near vision"
                }
            ));
            None
        }
        Some(e) => {
            let until = Timestamp(e.at.0.saturating_add(EYE_TEST_MS));
            if until <= now {
                missing.push("the vision test is over a year old".into());
            }
            Some(until)
        }
    };
    match eye_valid {
        Some(eye) if missing.is_empty() => Ok(Timestamp(
            last_exam.0.saturating_add(CERTIFICATION_MS).min(eye.0),
        )),
        _ => Err(missing),
    }
}

/// The (method, level) pairs a transcript has started: any examination taken.
pub fn started(t: &Transcript) -> Vec<(NdtMethod, u8)> {
    let mut out: Vec<(NdtMethod, u8)> = t.exams.keys().map(|(m, l, _)| (*m, *l)).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn qualified(at: Timestamp) -> Transcript {
        let mut t = Transcript::default();
        t.training_hours.insert(NdtMethod::Ut, 80);
        t.experience_hours.insert(NdtMethod::Ut, 840);
        for (part, score) in ExamPart::ALL.into_iter().zip([82, 85, 90]) {
            t.exams.insert((NdtMethod::Ut, 2, part), (score, at));
        }
        t.eye_test = Some(EyeTest {
            at,
            near_vision: true,
            color: true,
        });
        t
    }

    #[test]
    fn a_complete_transcript_certifies_until_the_vision_test_lapses() {
        let at = Timestamp(1_000 * DAY);
        let t = qualified(at);
        assert_eq!(
            assess(&t, NdtMethod::Ut, 2, at),
            Ok(Timestamp(at.0 + EYE_TEST_MS))
        );
        assert!(
            assess(&t, NdtMethod::Ut, 1, at).is_err(),
            "no level 1 exams"
        );
        let later = Timestamp(at.0 + EYE_TEST_MS + DAY);
        let why = assess(&t, NdtMethod::Ut, 2, later).expect_err("lapsed");
        assert_eq!(why, ["the vision test is over a year old"]);
    }

    #[test]
    fn each_missing_requirement_is_named() {
        let at = Timestamp(1_000 * DAY);
        let mut t = qualified(at);
        t.experience_hours.insert(NdtMethod::Ut, 500);
        t.exams
            .insert((NdtMethod::Ut, 2, ExamPart::Practical), (65, at));
        t.eye_test = Some(EyeTest {
            at,
            near_vision: false,
            color: true,
        });
        let why = assess(&t, NdtMethod::Ut, 2, at).expect_err("missing");
        assert_eq!(
            why,
            [
                "500 of 840 experience hours in UT",
                "Practical examination scored 65 % (pass: 70 %)",
                "the last vision test failed (near vision)"
            ]
        );
        // Each part passes but the composite does not.
        let mut t = qualified(at);
        for part in ExamPart::ALL {
            t.exams.insert((NdtMethod::Ut, 2, part), (75, at));
        }
        assert_eq!(
            assess(&t, NdtMethod::Ut, 2, at),
            Err(vec!["composite 75 % (pass: 80 %)".to_string()])
        );
    }

    #[test]
    fn token_ids_are_valid_and_stable() {
        let id = SmartId([0xab; 32]);
        let t = token_id("NDT-UT-L2", &id);
        assert_eq!(t, "edu-ndt-ut-l2-abababab");
        assert!(crate::validate::is_valid_id(&t));
    }
}
