//! What a client reads: its contracts with proofs, its jobs' live status.

use crate::Backend;
use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use smart_contracts::State;
use smart_ledger::proof::TxProof;
use smart_ledger::{Hash, SmartId};
use std::sync::Arc;

use super::*;

pub(super) fn job_summary(state: &State, id: &str, job: &smart_contracts::state::Job) -> Value {
    let title = state
        .contracts
        .get(&job.contract)
        .and_then(|v| v.get(&job.version))
        .map(|cv| cv.contract.title.clone());
    json!({
        "job": id,
        "contract": job.contract,
        "version": job.version,
        "title": title,
        "status": format!("{:?}", job.status),
        "assigned_at": job.assigned_at.0,
        "deadline": job.deadline.map(|d| d.0),
        "opened_in": job.opened_in.to_string(),
    })
}

pub(super) async fn contracts<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let me = authenticate(&app, &headers)?;
    Ok(Json(app.backend.read(|state, _| {
        let list: Vec<Value> = state
            .jobs
            .iter()
            .filter(|(_, j)| j.client == me.client)
            .map(|(id, j)| job_summary(state, id, j))
            .collect();
        json!({ "contracts": list })
    })))
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such job for this account")
}

pub(super) async fn contract<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let me = authenticate(&app, &headers)?;
    app.backend.read(|state, store| {
        let job = state
            .jobs
            .get(&job_id)
            .filter(|j| j.client == me.client)
            .ok_or_else(not_found)?;
        let cv = state
            .contracts
            .get(&job.contract)
            .and_then(|v| v.get(&job.version))
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "the job's contract is missing"))?;
        let prove = |h: &Hash| {
            TxProof::build(store, h, None).map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the proof is not ready yet: {e}"),
                )
            })
        };
        let opening = prove(&job.opened_in)?;
        let version = prove(&cv.proposed_in)?;
        Ok(Json(json!({
            "job": job_summary(state, &job_id, job),
            "contract": { "id": job.contract, "version": job.version, "yaml": cv.yaml,
                          "yaml_hash": cv.yaml_hash.to_string(),
                          "approvals": cv.approvals.iter().map(|(r, id)| json!({"role": format!("{r:?}"), "by": id.to_string()})).collect::<Vec<_>>() },
            "chain_id": app.chain_id.to_string(),
            "proofs": { "job_opened": opening, "contract_proposed": version },
            "verify": "Save a proof as a file and run `smart proof verify FILE --chain CHAIN_ID`: it checks the signatures, the block certificate and the inclusion in the ledger, offline.",
        })))
    })
}

/// Each of the client's jobs with its steps in contract order.
pub(super) fn live_status(state: &State, client: &SmartId) -> Value {
    let jobs: Vec<Value> = state
        .jobs
        .iter()
        .filter(|(_, j)| j.client == *client)
        .map(|(id, job)| {
            let steps: Vec<Value> = state
                .contracts
                .get(&job.contract)
                .and_then(|v| v.get(&job.version))
                .map(|cv| {
                    cv.contract
                        .steps
                        .iter()
                        .map(|s| {
                            let done = job.steps.get(&s.id);
                            let ready = s.after.iter().all(|a| job.steps.contains_key(a));
                            json!({
                                "id": s.id,
                                "title": s.title,
                                "state": if done.is_some() { "done" } else if ready { "next" } else { "waiting" },
                                "at": done.map(|d| d.at.0),
                                "yours": s.by.contains(&smart_ledger::Role::Client),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut v = job_summary(state, id, job);
            v["steps"] = Value::Array(steps);
            v
        })
        .collect();
    json!({ "height_time": state.time.0, "jobs": jobs })
}

pub(super) async fn jobs<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let me = authenticate(&app, &headers)?;
    let height = *app.backend.tip().borrow();
    Ok(Json(app.backend.read(|state, _| {
        let mut v = live_status(state, &me.client);
        v["height"] = json!(height);
        v
    })))
}
