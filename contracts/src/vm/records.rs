//! Putting things on file: documents (for a job or shop-wide) and
//! advisors' suggestions.

use smart_ledger::{Hash, Role, Timestamp};

use super::actor::{Actor, check_id};
use crate::model::DocumentType;
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::{Document, State, Suggestion};

/// Files a document (by hash) for a job or shop-wide: staff for any job,
/// a client only for its own; shop-wide documents only staff.
pub(super) fn file_document(
    state: &mut State,
    actor: &Actor<'_>,
    hash: Hash,
    doc_type: DocumentType,
    job: Option<String>,
    title: String,
) -> Result<(), Refusal> {
    if state.documents.contains_key(&hash) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("document {} is already on file", hash.short()),
        ));
    }
    let staff = actor.has_any(&[
        Role::Admin,
        Role::Technician,
        Role::Qa,
        Role::ProjectManager,
        Role::Compliance,
    ]);
    match &job {
        Some(j) => {
            let job_rec = state
                .jobs
                .get(j)
                .ok_or_else(|| Refusal::new(Code::UnknownJob, format!("no job {j}")))?;
            if !staff && job_rec.client != actor.id {
                return Err(Refusal::new(
                    Code::NotClientOfJob,
                    format!("{} is not the client of job {j}", actor.name),
                ));
            }
        }
        None if !staff => {
            return Err(Refusal::new(
                Code::RoleRequired,
                "only shop staff may file shop-wide documents",
            ));
        }
        None => {}
    }
    state.documents_on_file.insert((job.clone(), doc_type));
    state.documents.insert(
        hash,
        Document {
            doc_type,
            job,
            title,
            filed_by: actor.id,
            filed_at: state.time,
        },
    );
    Ok(())
}

/// An Advisor's suggestion at ledger time `at`: what was found and what
/// it is based on.
pub(super) fn suggest(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    finding: String,
    based_on: String,
    at: Timestamp,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Advisor], "record a suggestion")?;
    check_id(&id, "suggestion id")?;
    if state.suggestions.contains_key(&id) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("suggestion {id} is already recorded"),
        ));
    }
    if finding.trim().is_empty() || based_on.trim().is_empty() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "a suggestion says what was found and what it is based on",
        ));
    }
    state.suggestions.insert(
        id,
        Suggestion {
            by: actor.id,
            finding,
            based_on,
            at,
        },
    );
    Ok(())
}
