//! Which txs a job's audit pack holds.
//!
//! The VM judges a job's tx on: the author's identity, roles and tokens;
//! the job and its pinned contract version; the equipment (registration,
//! calibration, lockouts); the documents on file for the job and shop-wide;
//! API credentials (client requests); the hub set; ledger time. Other jobs'
//! steps change none of these (their effects touch interlocks, invoices and
//! payouts, which no step reads), except a station's lockout of equipment,
//! which is kept whatever job it names.

use smart_contracts::Action;
use smart_contracts::action::ClientAction;
use smart_contracts::station::{Fact, StationRecord};
use smart_ledger::{SignedTx, TxKind};

/// What a tx is to a job's pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relevance {
    /// A tx of the job itself (opening, steps, its documents, client
    /// requests and station decisions about it).
    Job,
    /// A tx the job's rules read (see the module docs).
    Context,
    /// Nothing the job's decisions depend on: another job's txs, evidence
    /// records (access logs, alerts), advisory suggestions, payloads that do not decode (refused,
    /// they changed nothing).
    Unrelated,
}

/// What `tx` is to job `job`'s pack.
pub fn relevance(tx: &SignedTx, job: &str) -> Relevance {
    let body = tx.body();
    let of_job = |j: Option<&str>| match j {
        Some(j) if j == job => Relevance::Job,
        Some(_) => Relevance::Unrelated,
        None => Relevance::Context,
    };
    match body.kind {
        TxKind::AccessLogBatch
        | TxKind::Alert
        | TxKind::Refusal
        | TxKind::DevFiller
        | TxKind::Suggestion => Relevance::Unrelated,
        TxKind::Membership => Relevance::Context,
        TxKind::Station => match StationRecord::decode(&body.payload.0) {
            Err(_) => Relevance::Unrelated,
            Ok(r) => match (&r.fact, r.job.as_deref()) {
                (_, Some(j)) if j == job => Relevance::Job,
                (Some(Fact::LockOut { .. }), _) => Relevance::Context,
                (_, j) => of_job(j),
            },
        },
        TxKind::Identity
        | TxKind::Token
        | TxKind::Contract
        | TxKind::JobAction
        | TxKind::Document
        | TxKind::Equipment => match Action::decode(&body.payload.0) {
            Err(_) => Relevance::Unrelated,
            Ok(action) => match action {
                Action::OpenJob { job: j, .. } | Action::CompleteStep { job: j, .. } => {
                    of_job(Some(&j))
                }
                Action::FileDocument { job: j, .. } => of_job(j.as_deref()),
                Action::ClientRequest { request, .. } => match request {
                    ClientAction::FileDocument { job: j, .. } => of_job(j.as_deref()),
                    ClientAction::ApproveStep { job: j, .. } => of_job(Some(&j)),
                },
                _ => Relevance::Context,
            },
        },
    }
}

/// A short description of a tx for people (the report's lines).
pub fn describe(tx: &SignedTx) -> String {
    let body = tx.body();
    if body.kind == TxKind::Station {
        return match StationRecord::decode(&body.payload.0) {
            Ok(r) => format!(
                "{} at {}: {:?} {}",
                r.module.name(),
                r.station,
                r.verdict,
                r.what
            ),
            Err(_) => "station record (malformed)".into(),
        };
    }
    match Action::decode(&body.payload.0) {
        Err(_) => format!("{:?} (payload does not decode)", body.kind),
        Ok(Action::OpenJob { job, contract, .. }) => format!("open {job} under {contract}"),
        Ok(Action::CompleteStep {
            step, measurements, ..
        }) => {
            let m: Vec<String> = measurements
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if m.is_empty() {
                format!("step {step}")
            } else {
                format!("step {step} {}", m.join(" "))
            }
        }
        Ok(Action::FileDocument {
            doc_type, title, ..
        }) => format!("file {doc_type:?} \"{title}\""),
        Ok(Action::ClientRequest { request, .. }) => match request {
            ClientAction::FileDocument {
                doc_type, title, ..
            } => format!("client files {doc_type:?} \"{title}\""),
            ClientAction::ApproveStep { step, .. } => format!("client approves step {step}"),
        },
        Ok(other) => {
            let text = format!("{other:?}");
            text.split([' ', '{', '('])
                .next()
                .unwrap_or("action")
                .into()
        }
    }
}
