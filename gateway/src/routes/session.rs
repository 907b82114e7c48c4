//! Who is calling: the credential presented (a bearer token or the
//! session cookie), the guard every route passes (connection and rate
//! limits, the access log, anomaly flags), signing in and out.

use crate::Backend;
use crate::access_log::AccessRecord;
use crate::anomaly::Finding;
use crate::auth::{AuthError, Credential};
use axum::Json;
use axum::extract::{MatchedPath, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use smart_ledger::{Bytes, Hash, SignedTx, SmartId, Timestamp, TxBody, TxKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::*;

/// The credential a request presents: `Authorization: Bearer …` or the
/// session cookie.
pub(super) fn presented(headers: &HeaderMap) -> Option<String> {
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
pub(super) struct Caller {
    pub(super) credential: String,
    pub(super) client: SmartId,
}

pub(super) fn authenticate<B: Backend>(
    app: &Arc<App<B>>,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
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
    pub(super) fn flag(self: &Arc<Self>, finding: Finding) {
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

/// A response extension: the hash of an uploaded body, for the access log.
#[derive(Clone, Copy, Debug)]
pub(super) struct BodyHash(pub(super) Hash);

/// Rate limit, time limit and access log around every call.
pub(super) async fn guard<B: Backend>(
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

#[derive(Debug, Deserialize)]
pub(super) struct SignIn {
    credential: String,
}

pub(super) async fn sign_in<B: Backend>(
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

pub(super) async fn sign_out() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "smart_credential=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    r
}

pub(super) async fn whoami<B: Backend>(
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
