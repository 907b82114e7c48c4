//! A small shop for VM tests: named actors, real encoded actions, ledger time.
#![allow(dead_code)]

use std::collections::BTreeMap;

use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::refusal::timestamp_of;
use smart_contracts::simulate::actor_key;
use smart_contracts::state::{Identity, TokenKind};
use smart_contracts::{Applied, RefusalCode, State, TxInput, apply};
use smart_ledger::{Hash, Outcome, Role, SmartId, Timestamp};

pub const PO: &str = include_str!("../../examples/smart-client-po.yaml");

pub struct Shop {
    pub state: State,
    pub now: Timestamp,
}

pub fn id(name: &str) -> SmartId {
    actor_key(name).id()
}

pub fn at(day: u32, hour: u32) -> Timestamp {
    timestamp_of(2026, 11, day, hour, 0)
}

pub fn meas(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

impl Shop {
    /// People with one role each, named after the role.
    pub fn new() -> Shop {
        let mut state = State::default();
        for (name, role) in [
            ("admin", Role::Admin),
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("pm", Role::ProjectManager),
            ("tech", Role::Technician),
            ("tech-2", Role::Technician),
            ("acme", Role::Client),
            ("globex", Role::Client),
        ] {
            state
                .identities
                .insert(id(name), Identity::new(name, [role]));
        }
        Shop {
            state,
            now: at(2, 7),
        }
    }

    /// Applies `action` by `who` at the current time (then moves time 1 minute on).
    pub fn act(&mut self, who: &str, action: Action) -> Applied {
        let payload = action.encode();
        let applied = apply(
            &mut self.state,
            &TxInput {
                author: id(who),
                kind: action.kind(),
                payload: &payload,
                time: self.now,
                tx_hash: smart_ledger::Hash::ZERO,
            },
        );
        self.now = Timestamp(self.now.0 + 60_000);
        applied
    }

    pub fn ok(&mut self, who: &str, action: Action) -> Applied {
        let debug = format!("{action:?}");
        let applied = self.act(who, action);
        assert_eq!(applied.outcome, Outcome::Accepted, "{who}: {debug}");
        applied
    }

    /// Applies and expects a refusal with `code`; returns the reason. Also
    /// checks the refusal changed nothing.
    pub fn refused(&mut self, who: &str, action: Action, code: RefusalCode) -> String {
        let before = self.state.clone();
        let debug = format!("{action:?}");
        let applied = self.act(who, action);
        match applied.outcome {
            Outcome::Refused { code: c, reason } => {
                assert_eq!(c, code.number(), "{who}: {debug}: {reason}");
                if code != RefusalCode::MeasurementOutOfLimits {
                    let mut after = self.state.clone();
                    after.time = before.time;
                    assert_eq!(after, before, "a refusal changed the state: {debug}");
                }
                reason
            }
            Outcome::Accepted => panic!("{who}: {debug} was accepted, expected {code:?}"),
        }
    }

    pub fn propose_and_approve(&mut self, yaml: &str) {
        self.ok("admin", Action::ProposeContract { yaml: yaml.into() });
        let c = smart_contracts::parse_contract("t", yaml).expect("valid");
        for (who, role) in [
            ("admin", Role::Admin),
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("pm", Role::ProjectManager),
        ] {
            self.ok(
                who,
                Action::ApproveContract {
                    id: c.id.clone(),
                    version: c.version,
                    role,
                },
            );
        }
    }

    pub fn token(
        &mut self,
        token: &str,
        holder: &str,
        kind: TokenKind,
        scope: &str,
        expires: Timestamp,
    ) {
        self.ok(
            "compliance",
            Action::IssueToken {
                token: token.into(),
                holder: id(holder),
                kind,
                scope: scope.into(),
                expires,
            },
        );
    }

    pub fn doc(&mut self, who: &str, n: u8, doc_type: DocumentType, job: Option<&str>) {
        self.ok(
            who,
            Action::FileDocument {
                hash: Hash([n; 32]),
                doc_type,
                job: job.map(str::to_string),
                title: format!("doc {n}"),
            },
        );
    }

    /// Everything the PO example needs: tokens, equipment, shop documents,
    /// the contract active, and job `job-1` open for acme with its PO and cert.
    pub fn po_ready() -> Shop {
        let mut s = Shop::new();
        let far = timestamp_of(2027, 12, 31, 0, 0);
        s.token("t-recv", "tech", TokenKind::Access, "receiving", far);
        s.token(
            "t-furn",
            "tech",
            TokenKind::Training,
            "furnace-operation",
            far,
        );
        s.token("t-safe", "tech", TokenKind::Safety, "furnace-3", far);
        s.token(
            "t-ht",
            "tech",
            TokenKind::Certified,
            "heat-treat-operator",
            far,
        );
        s.token(
            "t-hrc",
            "tech",
            TokenKind::Certified,
            "hardness-testing",
            far,
        );
        s.token("q-insp", "qa", TokenKind::Certified, "qa-inspector", far);
        for e in ["furnace-3", "quench-tank-1", "rockwell-2"] {
            s.ok(
                "admin",
                Action::RegisterEquipment {
                    id: e.into(),
                    description: e.into(),
                    calibration_due: far,
                },
            );
        }
        s.doc("compliance", 1, DocumentType::SafetyDoc, None);
        s.doc("compliance", 2, DocumentType::Procedure, None);
        s.doc("compliance", 3, DocumentType::EnvironmentalLog, None);
        s.propose_and_approve(PO);
        s.ok(
            "pm",
            Action::OpenJob {
                job: "job-1".into(),
                contract: "po-4471-heat-treat".into(),
                client: id("acme"),
                parts: vec!["P-1".into()],
            },
        );
        s.doc("acme", 10, DocumentType::ClientPo, Some("job-1"));
        s.doc("acme", 11, DocumentType::MaterialCert, Some("job-1"));
        s
    }

    pub fn step(&mut self, who: &str, step: &str, m: BTreeMap<String, i64>) -> Applied {
        self.act(
            who,
            Action::CompleteStep {
                job: "job-1".into(),
                step: step.into(),
                station: None,
                measurements: m,
            },
        )
    }

    pub fn step_ok(&mut self, who: &str, step: &str, m: BTreeMap<String, i64>) {
        let a = self.step(who, step, m);
        assert_eq!(a.outcome, Outcome::Accepted, "{who} {step}");
    }

    pub fn step_refused(
        &mut self,
        who: &str,
        step: &str,
        m: BTreeMap<String, i64>,
        code: RefusalCode,
    ) -> String {
        self.refused(
            who,
            Action::CompleteStep {
                job: "job-1".into(),
                step: step.into(),
                station: None,
                measurements: m,
            },
            code,
        )
    }

    /// Lets ledger time reach `at`: any tx carries it (a spare equipment
    /// registration here); returns what fired.
    pub fn pass_time(&mut self, at: Timestamp, spare: &str) -> Applied {
        self.now = at;
        self.act(
            "admin",
            Action::RegisterEquipment {
                id: spare.into(),
                description: "x".into(),
                calibration_due: timestamp_of(2027, 1, 1, 0, 0),
            },
        )
    }

    /// Runs the PO job up to (not including) `stop`.
    pub fn run_until(&mut self, stop: &str) {
        for (who, step, m) in po_plan() {
            if step == stop {
                return;
            }
            self.step_ok(who, step, m);
        }
    }
}

/// The PO job's steps in order: who performs each, with passing measurements.
pub fn po_plan() -> [(&'static str, &'static str, BTreeMap<String, i64>); 9] {
    [
        ("tech", "receive-parts", meas(&[("part_count", 120)])),
        ("tech", "pre-check", meas(&[])),
        (
            "tech",
            "harden",
            meas(&[("soak_temp", 845), ("soak_time", 60), ("quench_delay", 10)]),
        ),
        (
            "tech",
            "temper",
            meas(&[("temper_temp", 540), ("temper_time", 120)]),
        ),
        (
            "tech",
            "hardness-test",
            meas(&[("hardness_min", 37), ("hardness_max", 39)]),
        ),
        ("qa", "qa-signoff", meas(&[])),
        ("qa", "report", meas(&[])),
        ("acme", "client-approval", meas(&[])),
        ("pm", "invoice", meas(&[])),
    ]
}
