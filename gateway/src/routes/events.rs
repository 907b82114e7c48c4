//! Server-sent events: each new block's changes to the caller's jobs,
//! with a replay from a height the client names.

use crate::Backend;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use smart_contracts::State;
use smart_contracts::action::Action;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Outcome, SignedTx, SmartId, TxKind};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// The job a tx acts on, and what it does, if it is a job or document action.
pub(super) fn job_change(tx: &SignedTx) -> Option<(String, String)> {
    if !matches!(tx.body().kind, TxKind::JobAction | TxKind::Document) {
        return None;
    }
    let describe = |a: &Action| -> Option<(String, String)> {
        match a {
            Action::OpenJob { job, .. } => Some((job.clone(), "job opened".into())),
            Action::CompleteStep { job, step, .. } => {
                Some((job.clone(), format!("step {step} completed")))
            }
            Action::FileDocument {
                job: Some(job),
                doc_type,
                title,
                ..
            } => Some((job.clone(), format!("{doc_type:?} filed: {title}"))),
            _ => None,
        }
    };
    match Action::decode(&tx.body().payload.0).ok()? {
        Action::ClientRequest { request, .. } => describe(&request.into_action()),
        a => describe(&a),
    }
}

/// The client's changes in block `height`.
pub(super) fn block_changes(
    state: &State,
    store: &RedbStore,
    height: u64,
    client: &SmartId,
) -> Vec<Value> {
    let Ok(Some(block)) = store.block(height) else {
        return Vec::new();
    };
    block
        .txs
        .iter()
        .zip(&block.outcomes)
        .filter_map(|(tx, outcome)| {
            let (job, what) = job_change(tx)?;
            let mine = state.jobs.get(&job).is_some_and(|j| j.client == *client);
            mine.then(|| {
                json!({
                    "job": job,
                    "what": what,
                    "tx": tx.hash().to_string(),
                    "outcome": outcome_json(outcome),
                    "time": block.header.leader_time.0,
                })
            })
        })
        .collect()
}

pub(super) fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Accepted => json!("accepted"),
        Outcome::Refused { code, reason } => json!({"refused": {"code": code, "reason": reason}}),
    }
}

/// Blocks replayed for one resuming stream before it is told to reload.
pub(super) const MAX_REPLAY_BLOCKS: u64 = 100_000;

#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    after: Option<u64>,
}

pub(super) async fn events<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let me = authenticate(&app, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(query.after);
    let mut tip = app.backend.tip();
    let now = *tip.borrow_and_update();
    let start = match resume {
        Some(h) if h <= now => h,
        _ => now,
    };
    let app2 = app.clone();
    let first = if resume.is_none() || now.saturating_sub(start) > MAX_REPLAY_BLOCKS {
        let snapshot = app.backend.read(|state, _| live_status(state, &me.client));
        Some(
            Event::default()
                .event("snapshot")
                .id(now.to_string())
                .json_data(snapshot)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let mut cursor = if first.is_some() { now } else { start };
    // One producer per stream; it stops when the client goes away (the
    // channel closes) or the peer stops.
    let (out, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        if let Some(e) = first
            && out.send(e).await.is_err()
        {
            return;
        }
        loop {
            let top = *tip.borrow_and_update();
            while cursor < top {
                cursor += 1;
                let h = cursor;
                let changes = app2
                    .backend
                    .read(|state, store| block_changes(state, store, h, &me.client));
                if !changes.is_empty() {
                    let e = Event::default()
                        .event("jobs")
                        .id(h.to_string())
                        .json_data(json!({"height": h, "changes": changes}))
                        .unwrap_or_default();
                    if out.send(e).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                changed = tip.changed() => if changed.is_err() { return },
                _ = out.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|e| (Ok::<_, std::convert::Infallible>(e), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
