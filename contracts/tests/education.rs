//! CertifiedPeople / Education in the VM: a transcript that meets the
//! framework issues the Certified token at once; a failed vision test
//! revokes it and a passed one renews it; a course grants its Training or
//! Safety token; nobody records their own education; a token a person
//! revoked is not brought back by the framework.

mod common;

use common::*;
use smart_contracts::RefusalCode as Code;
use smart_contracts::action::Action;
use smart_contracts::education::{self, EducationRecord, ExamPart, NdtMethod};
use smart_contracts::model::Effect;
use smart_contracts::state::TokenKind;
use smart_ledger::{Role, SmartId};

fn record(person: &str, record: EducationRecord) -> Action {
    Action::RecordEducation {
        person: id(person),
        record,
    }
}

fn exam(part: ExamPart, score: u8) -> EducationRecord {
    EducationRecord::Exam {
        method: NdtMethod::Ut,
        level: 2,
        part,
        score,
    }
}

fn eye(near_vision: bool) -> EducationRecord {
    EducationRecord::EyeTest {
        near_vision,
        color: true,
    }
}

/// The Certified:NDT-UT-L2 token the framework gave `who`, if any.
fn ut2(s: &Shop, who: &str) -> Option<smart_contracts::state::Token> {
    let tid = education::token_id("NDT-UT-L2", &id(who));
    s.state.tokens.get(&tid).cloned()
}

fn alerts(applied: &smart_contracts::Applied) -> Vec<String> {
    applied
        .effects
        .iter()
        .filter_map(|f| match &f.effect {
            Effect::Alert(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn train_ut(s: &mut Shop, who: &str) {
    s.ok(
        "qa",
        record(
            who,
            EducationRecord::Training {
                course: "ut-level-2".into(),
                hours: 80,
                method: Some(NdtMethod::Ut),
                grants: None,
                valid_days: 365,
            },
        ),
    );
    s.ok(
        "qa",
        record(
            who,
            EducationRecord::Experience {
                method: NdtMethod::Ut,
                hours: 840,
            },
        ),
    );
}

#[test]
fn a_complete_transcript_issues_the_certification_and_the_vision_test_keeps_it() {
    let mut s = Shop::new();
    train_ut(&mut s, "tech");
    s.ok("qa", record("tech", exam(ExamPart::General, 82)));
    s.ok("qa", record("tech", exam(ExamPart::Specific, 85)));
    assert_eq!(ut2(&s, "tech"), None, "no practical and no vision test yet");
    s.ok("qa", record("tech", exam(ExamPart::Practical, 90)));
    assert_eq!(ut2(&s, "tech"), None, "no vision test yet");
    let tested_at = s.now;
    let applied = s.ok("compliance", record("tech", eye(true)));
    let token = ut2(&s, "tech").expect("issued");
    assert_eq!(token.kind, TokenKind::Certified);
    assert_eq!(token.scope, "NDT-UT-L2");
    assert_eq!(
        token.expires.0,
        tested_at.0 + education::EYE_TEST_MS,
        "lapses with the vision test"
    );
    assert!(
        alerts(&applied)
            .iter()
            .any(|a| a.contains("Certified:NDT-UT-L2 issued to tech")),
        "{:?}",
        applied.effects
    );

    // A failed vision test revokes it at once, naming why.
    s.ok("compliance", record("tech", eye(false)));
    let (_, why) = ut2(&s, "tech").and_then(|t| t.revoked).expect("revoked");
    assert!(
        why.starts_with("CertifiedPeople: no longer qualified") && why.contains("near vision"),
        "{why}"
    );
    // Passing again renews the same token.
    let applied = s.ok("compliance", record("tech", eye(true)));
    let token = ut2(&s, "tech").expect("token");
    assert_eq!(token.revoked, None);
    assert!(alerts(&applied).iter().any(|a| a.contains("renewed")));
    assert_eq!(
        s.state.tokens_of(&id("tech")).count(),
        1,
        "one token, renewed"
    );
}

#[test]
fn a_failed_examination_or_composite_holds_the_certification_back() {
    let mut s = Shop::new();
    train_ut(&mut s, "tech");
    s.ok("compliance", record("tech", eye(true)));
    for (part, score) in [
        (ExamPart::General, 75),
        (ExamPart::Specific, 75),
        (ExamPart::Practical, 75),
    ] {
        s.ok("qa", record("tech", exam(part, score)));
    }
    assert_eq!(ut2(&s, "tech"), None, "composite 75 % is below 80 %");
    s.ok("qa", record("tech", exam(ExamPart::Practical, 95)));
    assert!(ut2(&s, "tech").is_some(), "composite 81 %");
}

#[test]
fn courses_grant_training_and_safety_tokens_to_the_floor_only() {
    let mut s = Shop::new();
    let safety = |grants: TokenKind| EducationRecord::Training {
        course: "furnace-safety".into(),
        hours: 4,
        method: None,
        grants: Some(grants),
        valid_days: 365,
    };
    let applied = s.ok("compliance", record("tech-2", safety(TokenKind::Safety)));
    let tid = education::token_id("furnace-safety", &id("tech-2"));
    let t = s.state.tokens[&tid].clone();
    assert_eq!(
        (t.kind, t.scope.as_str()),
        (TokenKind::Safety, "furnace-safety")
    );
    assert_eq!(t.expires.0, t.issued.0 + 365 * 86_400_000);
    assert!(!alerts(&applied).is_empty());
    // Not to a project manager, and never a Certified token by a course.
    let why = s.refused(
        "compliance",
        record("pm", safety(TokenKind::Safety)),
        Code::RoleRequired,
    );
    assert!(why.contains("Technicians and QA"), "{why}");
    s.refused(
        "compliance",
        record("tech-2", safety(TokenKind::Certified)),
        Code::InvalidArgument,
    );
}

#[test]
fn nobody_records_their_own_education_and_only_trainers_record_it() {
    let mut s = Shop::new();
    let why = s.refused("qa", record("qa", eye(true)), Code::ConflictOfInterest);
    assert!(why.contains("their own"), "{why}");
    s.refused("tech-2", record("tech", eye(true)), Code::RoleRequired);
    s.refused(
        "qa",
        Action::RecordEducation {
            person: SmartId([9; 32]),
            record: eye(true),
        },
        Code::UnknownIdentity,
    );
    s.refused(
        "qa",
        record(
            "tech",
            EducationRecord::Exam {
                method: NdtMethod::Pt,
                level: 3,
                part: ExamPart::General,
                score: 90,
            },
        ),
        Code::InvalidArgument,
    );
    s.refused(
        "qa",
        record("tech", exam(ExamPart::General, 101)),
        Code::InvalidArgument,
    );
    // The framework's token ids cannot be taken by hand.
    let why = s.refused(
        "admin",
        Action::IssueToken {
            token: education::token_id("NDT-UT-L2", &id("tech")),
            holder: id("tech"),
            kind: TokenKind::Certified,
            scope: "NDT-UT-L2".into(),
            expires: at(30, 0),
        },
        Code::InvalidArgument,
    );
    assert!(why.contains("certification framework"), "{why}");
}

#[test]
fn a_token_peopleops_revoked_stays_revoked_and_a_rotation_keeps_the_transcript() {
    let mut s = Shop::new();
    train_ut(&mut s, "tech");
    for part in ExamPart::ALL {
        s.ok("qa", record("tech", exam(part, 90)));
    }
    s.ok("compliance", record("tech", eye(true)));
    assert!(ut2(&s, "tech").is_some_and(|t| t.revoked.is_none()));
    // Moved off the floor: PeopleOps revokes; back on the floor, a new
    // vision test does not bring the revoked token back.
    s.ok(
        "admin",
        Action::SetRoles {
            id: id("tech"),
            roles: vec![Role::ProjectManager],
        },
    );
    s.ok(
        "admin",
        Action::SetRoles {
            id: id("tech"),
            roles: vec![Role::Technician],
        },
    );
    s.ok("compliance", record("tech", eye(true)));
    let (_, why) = ut2(&s, "tech").and_then(|t| t.revoked).expect("revoked");
    assert!(why.starts_with("PeopleOps"), "{why}");

    // tech-2 qualifies, then rotates keys: the transcript moves with the
    // identity and the next record renews the same token.
    train_ut(&mut s, "tech-2");
    for part in ExamPart::ALL {
        s.ok("qa", record("tech-2", exam(part, 90)));
    }
    s.ok("compliance", record("tech-2", eye(true)));
    let new = id("tech-2-new");
    s.ok("tech-2", Action::RotateKey { new_id: new });
    assert!(s.state.education.contains_key(&new));
    s.ok(
        "compliance",
        Action::RecordEducation {
            person: new,
            record: eye(true),
        },
    );
    assert_eq!(
        s.state.tokens_of(&new).count(),
        1,
        "the same token, renewed"
    );
}

#[test]
fn a_state_with_examinations_writes_and_reads_as_json() {
    let mut s = Shop::new();
    train_ut(&mut s, "tech");
    for (part, score) in [
        (ExamPart::General, 82),
        (ExamPart::Specific, 85),
        (ExamPart::Practical, 90),
    ] {
        s.ok("qa", record("tech", exam(part, score)));
    }
    s.ok("compliance", record("tech", eye(true)));
    let json = serde_json::to_string(&s.state).expect("the state as JSON");
    let back: smart_contracts::State = serde_json::from_str(&json).expect("the state from JSON");
    assert_eq!(back, s.state);
    assert_eq!(back.root(), s.state.root());
    let bytes = postcard::to_allocvec(&s.state).expect("postcard");
    let back: smart_contracts::State = postcard::from_bytes(&bytes).expect("from postcard");
    assert_eq!(back, s.state);
}
