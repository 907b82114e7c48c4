//! What a client may write: documents uploaded (streamed, hashed, size-
//! and type-checked), approvals its contract gives it, and receipts of
//! what it submitted. Each is signed by the gateway and sent to a hub.

use crate::uploads::{self, UploadError};
use crate::{Backend, Submitted};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use smart_contracts::action::{Action, ClientAction};
use smart_ledger::proof::TxProof;
use smart_ledger::store::BlockStore;
use smart_ledger::{Bytes, Hash, Outcome, SignedTx, Timestamp, TxBody};
use std::sync::Arc;
use std::time::Instant;

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct UploadQuery {
    doc_type: String,
    job: Option<String>,
    title: Option<String>,
    /// Feedback only: the client's rating, 1 to 5 (recorded in the title).
    rating: Option<u8>,
}

pub(super) fn clean_title(t: Option<String>) -> Result<String, ApiError> {
    let t = t.unwrap_or_else(|| "upload".into());
    if t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "title: at most 200 characters, no control characters",
        ));
    }
    Ok(t)
}

impl<B: Backend> App<B> {
    /// Signs a client request as the gateway and submits it, waiting a
    /// little for its block. `Ok(None)`: not in a block yet (pending).
    async fn relay(
        &self,
        me: &Caller,
        request: ClientAction,
    ) -> Result<(Hash, Option<Submitted>), ApiError> {
        let action = Action::ClientRequest {
            credential: me.credential.clone(),
            request,
        };
        let body = TxBody {
            chain_id: self.chain_id,
            author: self.key.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(smart_ledger::clock::now_ms()),
            location: Some("gateway".into()),
            contract: None,
            nonce: smart_ledger::clock::now_ms().wrapping_mul(1_000_000) ^ u64::from(rand_u32()),
        };
        let tx = SignedTx::sign(body, &self.key).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("signing: {e}"))
        })?;
        let hash = tx.hash();
        {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.len() >= MAX_PENDING {
                p.clear();
            }
            p.insert(hash, me.credential.clone());
        }
        let submitted = tokio::time::timeout(
            self.config.commit_wait,
            self.backend.submit(Bytes(tx.encode())),
        )
        .await;
        match submitted {
            Err(_) => Ok((hash, None)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a client request could not reach a hub yet");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the shop's hubs cannot be reached right now; try again",
                ))
            }
            Ok(Ok(s)) => Ok((hash, Some(s))),
        }
    }
}

pub(super) fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

/// The answer to an upload or approval.
pub(super) fn relayed(hash: Hash, submitted: Option<Submitted>, extra: Value) -> Response {
    let mut v = extra;
    v["tx"] = json!(hash.to_string());
    let status = match submitted {
        None => {
            v["status"] = json!("pending");
            StatusCode::ACCEPTED
        }
        Some(Submitted::Included { height, outcome }) => {
            v["status"] = json!("committed");
            v["height"] = json!(height);
            v["outcome"] = outcome_json(&outcome);
            if outcome == Outcome::Accepted {
                StatusCode::CREATED
            } else {
                StatusCode::CONFLICT
            }
        }
        Some(Submitted::Duplicate { height }) => {
            v["status"] = json!("committed");
            v["height"] = json!(height);
            StatusCode::OK
        }
        Some(Submitted::Rejected(why)) => {
            v["status"] = json!("rejected");
            v["error"] = json!(why);
            StatusCode::BAD_GATEWAY
        }
    };
    (status, Json(v)).into_response()
}

pub(super) type UploadChecked = (
    Caller,
    smart_contracts::model::DocumentType,
    String,
    Option<String>,
);

/// Everything about an upload that can be refused before its body is read.
pub(super) fn check_upload<B: Backend>(
    app: &Arc<App<B>>,
    headers: &HeaderMap,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<UploadChecked, ApiError> {
    let me = authenticate(app, headers)?;
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let doc_type = uploads::parse_type(&q.doc_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "doc_type must be one of {}",
                uploads::CLIENT_TYPES
                    .iter()
                    .map(|t| uploads::type_name(*t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let mut title = clean_title(q.title)?;
    match (q.rating, doc_type) {
        (None, _) => {}
        (Some(r), smart_contracts::model::DocumentType::Feedback) if (1..=5).contains(&r) => {
            title = smart_contracts::model::feedback_title(r, &title);
        }
        (Some(_), smart_contracts::model::DocumentType::Feedback) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "rating: 1 to 5"));
        }
        (Some(_), _) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "rating: only feedback carries a rating",
            ));
        }
    }
    if let Some(job) = &q.job {
        let mine = app
            .backend
            .read(|state, _| state.jobs.get(job).is_some_and(|j| j.client == me.client));
        if !mine {
            return Err(not_found());
        }
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > app.config.max_upload_bytes
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "uploads are limited to {} bytes",
                app.config.max_upload_bytes
            ),
        ));
    }
    Ok((me, doc_type, title, q.job))
}

/// Reads and discards up to `limit` bytes of a body.
pub(super) async fn drain(body: Body, limit: usize) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while seen < limit {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.len(),
            _ => break,
        }
    }
}

pub(super) async fn upload<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let checked = check_upload(&app, &headers, query);
    let (me, doc_type, title, job) = match checked {
        Ok(c) => c,
        Err(e) => {
            // Read a small body to its end before answering, so the client
            // sees the answer rather than a reset stream.
            if e.0 != StatusCode::PAYLOAD_TOO_LARGE {
                drain(body, 64 * 1024).await;
            }
            return Err(e);
        }
    };
    let stored = uploads::store(&app.config.uploads_dir, body, app.config.max_upload_bytes)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            UploadError::Unsupported(_) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
            }
            UploadError::Empty | UploadError::Body(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            UploadError::Io(_) => {
                tracing::error!(error = %e, "storing an upload");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the upload could not be stored",
                )
            }
        })?;
    if let Some(f) = app
        .anomalies
        .upload(&me.credential, stored.bytes, Instant::now())
    {
        app.flag(f);
    }
    let request = ClientAction::FileDocument {
        hash: stored.hash,
        doc_type,
        job,
        title,
    };
    let relay = app.relay(&me, request).await;
    let failure = match &relay {
        Err(e) => Some(e.1.clone()),
        Ok((_, Some(Submitted::Rejected(why)))) => Some(why.clone()),
        Ok(_) => None,
    };
    if let Some(why) = failure {
        // Not recorded in the ledger: do not keep the bytes either (unless
        // the same document is already on file).
        let known = app
            .backend
            .read(|state, _| state.documents.contains_key(&stored.hash));
        if !known {
            let _ = tokio::fs::remove_file(&stored.path).await;
        }
        tracing::warn!(error = %why, "upload not relayed");
    }
    let (hash, submitted) = relay?;
    let mut r = relayed(
        hash,
        submitted,
        json!({
            "document": stored.hash.to_string(),
            "bytes": stored.bytes,
            "content_type": stored.content_type,
        }),
    );
    r.extensions_mut().insert(BodyHash(stored.hash));
    Ok(r)
}

pub(super) async fn approve<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
    Path((job_id, step_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let me = authenticate(&app, &headers)?;
    app.backend.read(|state, _| {
        let job = state
            .jobs
            .get(&job_id)
            .filter(|j| j.client == me.client)
            .ok_or_else(not_found)?;
        let step = state
            .contracts
            .get(&job.contract)
            .and_then(|v| v.get(&job.version))
            .and_then(|cv| cv.contract.steps.iter().find(|s| s.id == step_id))
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "no such step in this job's contract")
            })?;
        if !step.by.contains(&smart_ledger::Role::Client) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("step {step_id} is performed by the shop, not by the client"),
            ));
        }
        if job.steps.contains_key(&step_id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("step {step_id} is already complete"),
            ));
        }
        Ok(())
    })?;
    let (hash, submitted) = app
        .relay(
            &me,
            ClientAction::ApproveStep {
                job: job_id.clone(),
                step: step_id.clone(),
            },
        )
        .await?;
    Ok(relayed(
        hash,
        submitted,
        json!({ "job": job_id, "step": step_id }),
    ))
}

pub(super) async fn receipt<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
    Path(tx): Path<String>,
) -> Result<Response, ApiError> {
    let me = authenticate(&app, &headers)?;
    let hash: Hash = tx
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "tx must be 64 hex digits"))?;
    let committed = app.backend.read(|state, store| -> Result<Option<Value>, ApiError> {
        let Ok(Some(loc)) = store.locate_tx(&hash) else {
            return Ok(None);
        };
        let block = store
            .block(loc.height)
            .ok()
            .flatten()
            .ok_or_else(not_found)?;
        let tx = block.txs.get(loc.position as usize).ok_or_else(not_found)?;
        let mine = matches!(
            Action::decode(&tx.body().payload.0),
            Ok(Action::ClientRequest { credential, .. })
                if state.credentials.get(&credential).is_some_and(|c| c.client == me.client)
        );
        if !mine {
            return Err(not_found());
        }
        let outcome = block.outcomes.get(loc.position as usize).cloned();
        let proof = TxProof::build(store, &hash, None).ok();
        Ok(Some(json!({
            "tx": hash.to_string(),
            "status": if proof.is_some() { "committed" } else { "committed, certificate pending" },
            "height": loc.height,
            "outcome": outcome.as_ref().map(outcome_json),
            "proof": proof,
        })))
    })?;
    if let Some(v) = committed {
        app.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash);
        return Ok(Json(v).into_response());
    }
    let pending_for_me = app
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&hash)
        .is_some_and(|c| *c == me.credential);
    if pending_for_me {
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({"tx": hash.to_string(), "status": "pending"})),
        )
            .into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such receipt for this account",
        ))
    }
}
