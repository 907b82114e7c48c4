//! The kiosk's HTTP side: the JSON API behind the page and `smart station`,
//! the page itself (generated from the pinned contract of the job on the
//! bench), and the loopback server.

use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::*;

#[derive(Deserialize)]
struct BadgeIn {
    badge: String,
}
#[derive(Deserialize)]
struct JobIn {
    job: String,
}
#[derive(Deserialize)]
struct ScanIn {
    text: String,
}
#[derive(Deserialize)]
struct MeasureIn {
    name: String,
    value: i64,
}
#[derive(Deserialize)]
struct StepIn {
    step: String,
}
#[derive(Deserialize)]
struct ConsumeIn {
    item: String,
    quantity: u32,
}
#[derive(Deserialize)]
struct StockIn {
    item: String,
    on_hand: u32,
    reorder_at: u32,
}
#[derive(Deserialize)]
struct ReceiveIn {
    count: u32,
}
#[derive(Deserialize)]
struct AskIn {
    question: String,
}

type K = AxState<Arc<Kiosk>>;

/// Runs a kiosk action off the async threads: it takes the station's lock,
/// runs the VM and writes the outbox (an fsync).
async fn off(action: impl FnOnce() -> Reply + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(action).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The kiosk's routes.
pub fn router(kiosk: Arc<Kiosk>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/view", get(|k: K| async move { Json(k.0.view()) }))
        .route(
            "/api/modules",
            get(|k: K| async move { Json(k.0.modules()) }),
        )
        .route(
            "/api/contracts",
            get(|k: K| async move { Json(k.0.contracts()) }),
        )
        .route(
            "/api/badge",
            post(|k: K, b: Json<BadgeIn>| async move { off(move || k.0.badge(&b.badge)).await }),
        )
        .route(
            "/api/logout",
            post(|k: K| async move { off(move || k.0.logout()).await }),
        )
        .route(
            "/api/job",
            post(|k: K, b: Json<JobIn>| async move { off(move || k.0.select_job(&b.job)).await }),
        )
        .route(
            "/api/scan",
            post(|k: K, b: Json<ScanIn>| async move { off(move || k.0.scan_text(&b.text)).await }),
        )
        .route(
            "/api/scan-image",
            post(|k: K, body: axum::body::Bytes| async move {
                off(move || k.0.scan_image(&body)).await
            }),
        )
        .route(
            "/api/measure",
            post(|k: K, b: Json<MeasureIn>| async move {
                off(move || k.0.measure(&b.name, b.value)).await
            }),
        )
        .route(
            "/api/complete",
            post(|k: K, b: Json<StepIn>| async move { off(move || k.0.complete(&b.step)).await }),
        )
        .route(
            "/api/release",
            post(|k: K| async move { off(move || k.0.release()).await }),
        )
        .route(
            "/api/estop",
            post(|k: K| async move { off(move || k.0.estop()).await }),
        )
        .route(
            "/api/clear",
            post(|k: K| async move { off(move || k.0.clear()).await }),
        )
        .route(
            "/api/consume",
            post(|k: K, b: Json<ConsumeIn>| async move {
                off(move || k.0.consume(&b.item, b.quantity)).await
            }),
        )
        .route(
            "/api/stock",
            post(|k: K, b: Json<StockIn>| async move {
                off(move || k.0.stock(&b.item, b.on_hand, b.reorder_at)).await
            }),
        )
        .route(
            "/api/receive",
            post(|k: K, b: Json<ReceiveIn>| async move { off(move || k.0.receive(b.count)).await }),
        )
        .route(
            "/api/ship",
            post(|k: K| async move { off(move || k.0.ship()).await }),
        )
        .route(
            "/api/ask",
            post(|k: K, b: Json<AskIn>| async move {
                match k.0.ask(&b.question) {
                    Ok(a) => (StatusCode::OK, a).into_response(),
                    Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
                }
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(kiosk)
}

/// The page: generated from the pinned contract of the job on the bench
/// (its steps, their measurements and limits); live state by polling
/// `/api/view`.
async fn page(k: K) -> Response {
    let view = k.0.view();
    let mut steps = String::new();
    for s in &view.steps {
        let mut inputs = String::new();
        for (name, unit, limits, _) in &s.measurements {
            inputs.push_str(&format!(
                "<label>{n} ({u}, {l}) <input type=number id=\"m-{n}\" data-name=\"{n}\"><button onclick=\"measure('{n}')\">enter</button></label>",
                n = esc(name),
                u = esc(unit),
                l = esc(limits),
            ));
        }
        steps.push_str(&format!(
            "<li class=step id=\"step-{id}\" data-step=\"{id}\"><b>{id}</b> — {title} <i>({by})</i> <span class=status id=\"status-{id}\">…</span><div class=why id=\"why-{id}\"></div><div>{inputs}</div><button id=\"do-{id}\" onclick=\"complete('{id}')\">perform</button></li>",
            id = esc(&s.id),
            title = esc(&s.title),
            by = esc(&s.by.join(", ")),
        ));
    }
    let html = include_str!("kiosk.html")
        .replace("{{STATION}}", &esc(&view.station))
        .replace(
            "{{CONTRACT}}",
            &esc(view.contract.as_deref().unwrap_or("no job selected")),
        )
        .replace("{{JOB}}", &esc(view.job.as_deref().unwrap_or("")))
        .replace("{{STEPS}}", &steps);
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Serves the kiosk on `addr` (loopback) and writes the bound address to
/// `ADDR_FILE` in the peer folder.
pub async fn serve(
    kiosk: Arc<Kiosk>,
    addr: std::net::SocketAddr,
    data: &std::path::Path,
) -> std::io::Result<std::net::SocketAddr> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the kiosk serves the station's own screen: {addr} is not a loopback address"),
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    write_whole(data, ADDR_FILE, &bound.to_string())?;
    let config = serde_json::to_string_pretty(&kiosk.cfg).map_err(std::io::Error::other)?;
    write_whole(data, CONFIG_FILE, &config)?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(kiosk)).await {
            tracing::error!(error = %e, "the kiosk stopped");
        }
    });
    Ok(bound)
}
