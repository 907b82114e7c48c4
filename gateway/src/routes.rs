//! The route table and its handlers.
//!
//! [`ROUTES`] is the whole API: the router is built from it (a route missing
//! from the table cannot be served), `/api/openapi.json` is generated from
//! it, and a test checks that every route is a read, an upload or auth.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use smart_contracts::State;
use smart_contracts::action::{Action, ClientAction};
use smart_ledger::proof::TxProof;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Bytes, Hash, Keypair, Outcome, SignedTx, SmartId, Timestamp, TxBody, TxKind};

use crate::access_log::{AccessLog, AccessRecord};
use crate::anomaly::{Anomalies, Finding};
use crate::auth::{AuthError, Credential};
use crate::limits::{ConnectionLimit, RateLimit};
use crate::uploads::{self, UploadError};
use crate::{Backend, GatewayConfig, GatewayError, Submitted};

/// What a route may do. There is no kind for "act on a job": the API
/// cannot start, change or cancel anything inside the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Reads (GET), never a ledger write.
    Read,
    /// A client upload (a document, or an approval the contract gives the
    /// client), relayed as a `ClientRequest` tx the VM judges.
    Upload,
    /// Signing in and out.
    Auth,
}

/// One route.
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern (axum syntax).
    pub path: &'static str,
    /// What it does.
    pub kind: RouteKind,
    /// Whether a credential is needed.
    pub auth: bool,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    kind: RouteKind,
    auth: bool,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        kind,
        auth,
        summary,
    }
}

/// The whole API.
pub const ROUTES: &[RouteSpec] = &[
    route(
        "GET",
        "/",
        RouteKind::Read,
        false,
        "The client dashboard (HTML).",
    ),
    route(
        "GET",
        "/health",
        RouteKind::Read,
        false,
        "Liveness and the tip height.",
    ),
    route(
        "GET",
        "/api/openapi.json",
        RouteKind::Read,
        false,
        "This API, as OpenAPI 3.1.",
    ),
    route(
        "POST",
        "/api/session",
        RouteKind::Auth,
        false,
        "Sign in: checks a credential and sets the session cookie.",
    ),
    route(
        "DELETE",
        "/api/session",
        RouteKind::Auth,
        false,
        "Sign out: clears the session cookie.",
    ),
    route(
        "GET",
        "/api/whoami",
        RouteKind::Read,
        true,
        "The client account the credential acts for.",
    ),
    route(
        "GET",
        "/api/contracts",
        RouteKind::Read,
        true,
        "The client's contracts (one per job).",
    ),
    route(
        "GET",
        "/api/contracts/{job}",
        RouteKind::Read,
        true,
        "One contract: its YAML and proofs (signed tx, inclusion proof, block certificates) to verify offline.",
    ),
    route(
        "GET",
        "/api/jobs",
        RouteKind::Read,
        true,
        "LiveStatus snapshot: every job's steps, done and next.",
    ),
    route(
        "GET",
        "/api/events",
        RouteKind::Read,
        true,
        "LiveStatus stream (server-sent events); resumes after Last-Event-ID without gaps.",
    ),
    route(
        "POST",
        "/api/uploads",
        RouteKind::Upload,
        true,
        "Upload a document (PO, certification, feedback, approval); answers a receipt.",
    ),
    route(
        "POST",
        "/api/jobs/{job}/steps/{step}/approve",
        RouteKind::Upload,
        true,
        "Approve a step the contract gives the client (e.g. the report).",
    ),
    route(
        "GET",
        "/api/receipts/{tx}",
        RouteKind::Read,
        true,
        "A receipt: pending, or committed with its proof.",
    ),
];

/// The gateway's shared state.
#[derive(Debug)]
pub struct App<B> {
    backend: Arc<B>,
    config: GatewayConfig,
    key: Arc<Keypair>,
    chain_id: Hash,
    access: AccessLog,
    rate: RateLimit,
    /// Txs relayed but not yet seen in a block: tx → credential id.
    pending: Mutex<HashMap<Hash, String>>,
    anomalies: Anomalies,
}

/// Most relayed txs remembered as pending.
const MAX_PENDING: usize = 100_000;

impl<B: Backend> App<B> {
    /// The gateway over `backend`, signing relayed requests with `key`.
    pub fn new(backend: Arc<B>, key: Keypair, config: GatewayConfig) -> Arc<App<B>> {
        let chain_id = backend.read(|_, store| store.genesis().chain_id());
        let key = Arc::new(key);
        let access = crate::access_log::start(
            backend.clone(),
            key.clone(),
            chain_id,
            config.recent_calls.clone(),
        );
        Arc::new(App {
            anomalies: Anomalies::new(config.anomalies_flagged.clone()),
            rate: RateLimit::new(config.client_rate),
            backend,
            config,
            key,
            chain_id,
            access,
            pending: Mutex::new(HashMap::new()),
        })
    }
}

/// An API error: a status and a message (JSON `{"error": …}`).
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(status, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        tracing::warn!(reason = %e, "authentication refused");
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid API credential is required",
        )
    }
}

/// The credential a request presents: `Authorization: Bearer …` or the
/// session cookie.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix("smart_credential=")
                .map(str::to_string)
        })
}

/// The authenticated caller.
#[derive(Clone, Debug)]
struct Caller {
    credential: String,
    client: SmartId,
}

fn authenticate<B: Backend>(app: &Arc<App<B>>, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let text = presented(headers).ok_or(AuthError::Missing)?;
    let checked = Credential::parse(&text).and_then(|cred| {
        app.backend
            .read(|state, _| cred.check(state))
            .map(|c| (cred, c))
    });
    match checked {
        Ok((cred, client)) => Ok(Caller {
            credential: cred.id,
            client,
        }),
        Err(e) => {
            let caller = Credential::parse(&text)
                .map(|c| c.id)
                .unwrap_or_else(|_| "-".into());
            if let Some(f) = app.anomalies.auth_failure(&caller, Instant::now()) {
                app.flag(f);
            }
            Err(e.into())
        }
    }
}

impl<B: Backend> App<B> {
    /// Records an advisory anomaly flag: an `AnomalyFlagged` alert tx signed
    /// by the gateway, and an alert on the AlertBroadcast topic.
    fn flag(self: &Arc<Self>, finding: Finding) {
        let text = serde_json::to_string(&json!({ "AnomalyFlagged": finding, "advisory": true }))
            .unwrap_or_default();
        tracing::warn!(%text, "API anomaly flagged (advisory)");
        self.backend.broadcast_alert(text.clone());
        let app = self.clone();
        tokio::spawn(async move {
            let body = TxBody {
                chain_id: app.chain_id,
                author: app.key.id(),
                kind: TxKind::Alert,
                payload: Bytes(text.into_bytes()),
                author_time: Timestamp(smart_ledger::clock::now_ms()),
                location: Some("gateway".into()),
                contract: None,
                nonce: smart_ledger::clock::now_ms().wrapping_mul(1_000_000)
                    ^ u64::from(rand_u32()),
            };
            match SignedTx::sign(body, &app.key) {
                Ok(tx) => {
                    if let Err(e) = app.backend.submit(Bytes(tx.encode())).await {
                        tracing::warn!(error = %e, "the anomaly flag could not be recorded yet");
                    }
                }
                Err(e) => tracing::error!(error = %e, "signing an anomaly flag"),
            }
        });
    }

    /// Anomaly flags raised so far.
    pub fn anomalies_flagged(&self) -> u64 {
        self.anomalies
            .flagged
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Builds the router from [`ROUTES`].
pub fn router<B: Backend>(app: Arc<App<B>>) -> Result<axum::Router, String> {
    let mut router = axum::Router::new();
    let mut by_path: Vec<(&str, MethodRouter<Arc<App<B>>>)> = Vec::new();
    for r in ROUTES {
        let m = handler::<B>(r.method, r.path)
            .ok_or_else(|| format!("no handler for {} {}", r.method, r.path))?;
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(m),
            None => by_path.push((r.path, m)),
        }
    }
    for (path, m) in by_path {
        router = router.route(path, m);
    }
    let limit = app.config.max_json_bytes;
    Ok(router
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::<B>,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(app))
}

fn handler<B: Backend>(method: &str, path: &str) -> Option<MethodRouter<Arc<App<B>>>> {
    Some(match (method, path) {
        ("GET", "/") => get(dashboard),
        ("GET", "/health") => get(health::<B>),
        ("GET", "/api/openapi.json") => get(openapi),
        ("POST", "/api/session") => post(sign_in::<B>),
        ("DELETE", "/api/session") => axum::routing::delete(sign_out),
        ("GET", "/api/whoami") => get(whoami::<B>),
        ("GET", "/api/contracts") => get(contracts::<B>),
        ("GET", "/api/contracts/{job}") => get(contract::<B>),
        ("GET", "/api/jobs") => get(jobs::<B>),
        ("GET", "/api/events") => get(events::<B>),
        ("POST", "/api/uploads") => {
            post(upload::<B>).layer(axum::extract::DefaultBodyLimit::disable())
        }
        ("POST", "/api/jobs/{job}/steps/{step}/approve") => post(approve::<B>),
        ("GET", "/api/receipts/{tx}") => get(receipt::<B>),
        _ => return None,
    })
}

/// A response extension: the hash of an uploaded body, for the access log.
#[derive(Clone, Copy, Debug)]
struct BodyHash(Hash);

/// Rate limit, time limit and access log around every call.
async fn guard<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into());
    let method = request.method().to_string();
    let client = presented(request.headers())
        .and_then(|t| Credential::parse(&t).ok())
        .map(|c| c.id)
        .unwrap_or_else(|| "-".into());
    let bytes_in = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if client != "-"
        && let Some(f) = app.anomalies.request(&client, Instant::now())
    {
        app.flag(f);
    }
    // A client's bucket is its credential; calls without one share a bucket
    // per remote address, so one noisy address cannot starve the others.
    let bucket = if client == "-" {
        request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| format!("address {}", c.0.ip()))
            .unwrap_or_else(|| client.clone())
    } else {
        client.clone()
    };
    let response = if !app.rate.allow(&bucket) {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()
    } else if route == "/api/events" || route == "/api/uploads" {
        // Streams: their own limits (body size, keep-alive) apply.
        next.run(request).await
    } else {
        match tokio::time::timeout(app.config.request_timeout, next.run(request)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the request took too long")
                .into_response(),
        }
    };
    app.access
        .record(AccessRecord {
            at_ms: smart_ledger::clock::now_ms(),
            client,
            method,
            route,
            status: response.status().as_u16(),
            bytes_in,
            body_hash: response.extensions().get::<BodyHash>().map(|b| b.0),
        })
        .await;
    response
}

async fn dashboard() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
        )],
        Html(include_str!("dashboard.html")),
    )
}

async fn health<B: Backend>(AxState(app): AxState<Arc<App<B>>>) -> Json<Value> {
    let height = *app.backend.tip().borrow();
    Json(
        json!({ "ok": true, "height": height, "chain_id": app.chain_id.to_string(),
                 "anomalies_flagged": app.anomalies_flagged() }),
    )
}

/// The OpenAPI document, generated from [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "maxLength": 128}}))
            .chain(query_params(r))
            .collect();
        let mut responses = serde_json::Map::new();
        let ok = match (r.method, r.path) {
            ("GET", "/") => {
                json!({"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}})
            }
            ("GET", "/api/events") => {
                json!({"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}})
            }
            ("POST", "/api/session") | ("DELETE", "/api/session") => json!({"description": "Done"}),
            _ => {
                json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}})
            }
        };
        let ok_code = if r.path == "/api/session" {
            "204"
        } else {
            "200"
        };
        responses.insert(ok_code.into(), ok);
        let error = json!({"description": "Error", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}});
        let mut codes = vec!["400", "429"];
        if r.auth {
            codes.extend(["401", "404"]);
        }
        if r.kind == RouteKind::Upload {
            codes.extend(["202", "403", "409", "413", "415"]);
        }
        for c in codes {
            responses.insert(c.into(), error.clone());
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.to_lowercase(), r.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if r.auth {
            op["security"] = json!([{"bearer": []}, {"cookie": []}]);
        }
        if r.method == "POST" && r.path == "/api/session" {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["credential"],
                "properties": {"credential": {"type": "string", "maxLength": 200}}}}}});
        }
        if r.path == "/api/uploads" {
            op["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "SMART-API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The shop's read-only window for clients: contracts with proofs, live job status, uploads and approvals. Nothing here can start, change or cancel a job."},
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "smart_credential"}}},
    })
}

fn query_params(r: &RouteSpec) -> Vec<Value> {
    match r.path {
        "/api/uploads" => vec![
            json!({"name": "doc_type", "in": "query", "required": true, "schema": {"type": "string", "enum": uploads::CLIENT_TYPES.iter().map(|t| uploads::type_name(*t)).collect::<Vec<_>>()}}),
            json!({"name": "job", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 128}}),
            json!({"name": "title", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 200}}),
            json!({"name": "rating", "in": "query", "required": false, "description": "feedback only: 1 to 5", "schema": {"type": "integer", "minimum": 1, "maximum": 5}}),
        ],
        "/api/events" => vec![
            json!({"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}),
        ],
        _ => Vec::new(),
    }
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

#[derive(Debug, Deserialize)]
struct SignIn {
    credential: String,
}

async fn sign_in<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let cred = Credential::parse(&body.credential)?;
    app.backend.read(|state, _| cred.check(state))?;
    let cookie = format!(
        "smart_credential={}; HttpOnly; Secure; SameSite=Strict; Path=/",
        body.credential.trim()
    );
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn sign_out() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "smart_credential=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    r
}

async fn whoami<B: Backend>(
    AxState(app): AxState<Arc<App<B>>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let me = authenticate(&app, &headers)?;
    Ok(Json(app.backend.read(|state, _| {
        let who = state.identities.get(&me.client);
        json!({
            "client": me.client.to_string(),
            "name": who.map(|i| i.name.clone()),
            "organisation": who.and_then(|i| i.organisation.clone()),
            "credential": me.credential,
        })
    })))
}

fn job_summary(state: &State, id: &str, job: &smart_contracts::state::Job) -> Value {
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

async fn contracts<B: Backend>(
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

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such job for this account")
}

async fn contract<B: Backend>(
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
fn live_status(state: &State, client: &SmartId) -> Value {
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

async fn jobs<B: Backend>(
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

/// The job a tx acts on, and what it does, if it is a job or document action.
fn job_change(tx: &SignedTx) -> Option<(String, String)> {
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
fn block_changes(state: &State, store: &RedbStore, height: u64, client: &SmartId) -> Vec<Value> {
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

fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Accepted => json!("accepted"),
        Outcome::Refused { code, reason } => json!({"refused": {"code": code, "reason": reason}}),
    }
}

/// Blocks replayed for one resuming stream before it is told to reload.
const MAX_REPLAY_BLOCKS: u64 = 100_000;

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<u64>,
}

async fn events<B: Backend>(
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

#[derive(Debug, Deserialize)]
struct UploadQuery {
    doc_type: String,
    job: Option<String>,
    title: Option<String>,
    /// Feedback only: the client's rating, 1 to 5 (recorded in the title).
    rating: Option<u8>,
}

fn clean_title(t: Option<String>) -> Result<String, ApiError> {
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

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

/// The answer to an upload or approval.
fn relayed(hash: Hash, submitted: Option<Submitted>, extra: Value) -> Response {
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

type UploadChecked = (
    Caller,
    smart_contracts::model::DocumentType,
    String,
    Option<String>,
);

/// Everything about an upload that can be refused before its body is read.
fn check_upload<B: Backend>(
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
async fn drain(body: Body, limit: usize) {
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

async fn upload<B: Backend>(
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

async fn approve<B: Backend>(
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

async fn receipt<B: Backend>(
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

/// A running HTTPS server.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Stops the server.
    pub handle: axum_server::Handle,
}

/// Serves the API over HTTPS on `listen` (port 0 picks one).
pub async fn serve<B: Backend>(
    app: Arc<App<B>>,
    listen: SocketAddr,
    tls: axum_server::tls_rustls::RustlsConfig,
) -> Result<Running, GatewayError> {
    let router = router(app.clone()).map_err(|e| GatewayError::Io(std::io::Error::other(e)))?;
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let limit = ConnectionLimit::new(app.config.max_connections);
    let handshake = app.config.handshake_timeout;
    let mut server = axum_server::from_tcp_rustls(listener, tls)
        .map(|a| a.handshake_timeout(handshake).acceptor(limit))
        .handle(handle.clone());
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(handshake);
    server
        .http_builder()
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
        {
            tracing::error!(error = %e, "the HTTPS server stopped");
        }
    });
    let started = Instant::now();
    tracing::info!(%addr, ms = started.elapsed().as_millis() as u64, "SMART-API listening (HTTPS)");
    Ok(Running { addr, handle })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No external triggers, by construction: every route is a read (GET),
    /// an upload relayed for the VM to judge, or auth; the writes are
    /// exactly these three, and no path names an action on a job.
    #[test]
    fn every_route_is_a_read_an_upload_or_auth() {
        let mut writes = Vec::new();
        for r in ROUTES {
            match r.kind {
                RouteKind::Read => assert_eq!(r.method, "GET", "{r:?}"),
                RouteKind::Upload | RouteKind::Auth => writes.push((r.method, r.path)),
            }
            let words: Vec<&str> = r
                .path
                .split(['/', '-', '.', '_', '{', '}'])
                .filter(|w| !w.is_empty())
                .collect();
            for word in [
                "start", "cancel", "modify", "create", "open", "close", "activate", "propose",
                "assign", "invoice", "pay", "complete",
            ] {
                assert!(!words.contains(&word), "{} names an action: {word}", r.path);
            }
        }
        writes.sort();
        assert_eq!(
            writes,
            vec![
                ("DELETE", "/api/session"),
                ("POST", "/api/jobs/{job}/steps/{step}/approve"),
                ("POST", "/api/session"),
                ("POST", "/api/uploads"),
            ]
        );
        // A client request can only carry an upload or a step approval.
        let all = [
            ClientAction::FileDocument {
                hash: Hash::ZERO,
                doc_type: smart_contracts::model::DocumentType::Feedback,
                job: None,
                title: String::new(),
            },
            ClientAction::ApproveStep {
                job: String::new(),
                step: String::new(),
            },
        ];
        for a in all {
            match a {
                ClientAction::FileDocument { .. } | ClientAction::ApproveStep { .. } => {}
            }
        }
    }

    #[test]
    fn every_route_has_a_handler_and_the_openapi_lists_them_all() {
        for r in ROUTES {
            assert!(
                handler::<NoBackend>(r.method, r.path).is_some(),
                "{} {}",
                r.method,
                r.path
            );
        }
        let doc = openapi_document();
        for r in ROUTES {
            assert!(
                doc["paths"][r.path][r.method.to_lowercase()].is_object(),
                "{} {} missing from the OpenAPI document",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn credentials_are_read_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; smart_credential=xyz"),
        );
        assert_eq!(presented(&h).as_deref(), Some("xyz"));
        assert_eq!(presented(&HeaderMap::new()), None);
    }

    /// A backend that is never called (handler construction only).
    struct NoBackend;

    impl Backend for NoBackend {
        fn read<R>(&self, _f: impl FnOnce(&State, &RedbStore) -> R) -> R {
            unreachable!("not called in these tests")
        }
        fn tip(&self) -> tokio::sync::watch::Receiver<u64> {
            tokio::sync::watch::channel(0).1
        }
        async fn submit(&self, _tx: Bytes) -> Result<Submitted, String> {
            Err("offline".into())
        }
    }
}
