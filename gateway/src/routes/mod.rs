//! The route table and its handlers.
//!
//! [`ROUTES`] is the whole API: the router is built from it (a route missing
//! from the table cannot be served), `/api/openapi.json` is generated from
//! it, and a test checks that every route is a read, an upload or auth.

mod events;
mod openapi;
mod reads;
mod session;
#[cfg(test)]
mod tests;
mod writes;

pub use openapi::openapi_document;

use events::*;
use openapi::*;
use reads::*;
use session::*;
use writes::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};
use smart_ledger::store::BlockStore;
use smart_ledger::{Hash, Keypair};

use crate::access_log::AccessLog;
use crate::anomaly::Anomalies;
use crate::auth::AuthError;
use crate::limits::{ConnectionLimit, RateLimit};
use crate::{Backend, GatewayConfig, GatewayError};

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
