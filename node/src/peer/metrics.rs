//! `/metrics` (Prometheus text format, prometheus-client) and `/health` on
//! every peer, over a deliberately small HTTP/1.1 responder: one request per
//! connection, 8 KiB of request head at most, 5 s to send it, 64 connections
//! at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What a peer reports: what every peer reports (the testnet reads it
/// too), and its role's own details.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Snapshot {
    /// Height, tip, txs, certified height, Raft, outbox, equivocations.
    #[serde(flatten)]
    pub status: smart_testnet::PeerStatus,
    /// Signatures over headers that differ from this hub's.
    pub conflicts: u64,
    /// Gateway: advisory anomaly flags raised on API use.
    pub anomalies: u64,
    /// Other peers as last heard on the info topic.
    pub peers: Vec<crate::p2p::PeerSeen>,
    /// Recent alerts heard (newest last).
    pub alerts: Vec<String>,
    /// Gateway: the last API calls (time, status, method, route, client), newest last.
    pub api_calls: Vec<String>,
    /// Station: decisions of its modules: (module, verdict, count).
    pub station_decisions: Vec<(String, String, u64)>,
}

/// The peer's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    height: Gauge,
    state_height: Gauge,
    snapshots_installed: Gauge,
    txs: Gauge,
    certified: Gauge,
    term: Gauge,
    is_leader: Gauge,
    voters: Gauge,
    equivocations: Gauge,
    conflicts: Gauge,
    outbox_pending: Gauge,
    overturned: Gauge,
    anomalies: Gauge,
    station_decisions: Family<Vec<(String, String)>, Gauge>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("smart");
        let height = Gauge::default();
        let state_height = Gauge::default();
        let snapshots_installed = Gauge::default();
        let txs = Gauge::default();
        let certified = Gauge::default();
        let term = Gauge::default();
        let is_leader = Gauge::default();
        let voters = Gauge::default();
        let equivocations = Gauge::default();
        let conflicts = Gauge::default();
        let outbox_pending = Gauge::default();
        let overturned = Gauge::default();
        let anomalies = Gauge::default();
        registry.register("ledger_height", "Height of the last block", height.clone());
        registry.register("ledger_txs", "Txs in the ledger", txs.clone());
        registry.register(
            "state_height",
            "Height the contract state belongs to (ahead of ledger_height while a snapshot's blocks are filled in)",
            state_height.clone(),
        );
        registry.register(
            "snapshots_installed",
            "Certified state snapshots this node installed since start",
            snapshots_installed.clone(),
        );
        registry.register(
            "certified_height",
            "Height up to which every certificate is final",
            certified.clone(),
        );
        registry.register("raft_term", "Current Raft term", term.clone());
        registry.register("raft_is_leader", "1 when this hub leads", is_leader.clone());
        registry.register(
            "raft_voters",
            "Raft voters in the membership",
            voters.clone(),
        );
        registry.register(
            "equivocations",
            "Hubs proven to have signed two headers at one height",
            equivocations.clone(),
        );
        registry.register(
            "header_conflicts",
            "Hub signatures over headers that differ from ours",
            conflicts.clone(),
        );
        registry.register(
            "outbox_pending",
            "Station actions decided offline, waiting for a hub",
            outbox_pending.clone(),
        );
        registry.register(
            "outbox_overturned",
            "Station decisions the ledger overturned",
            overturned.clone(),
        );
        registry.register(
            "gateway_anomalies_flagged",
            "Advisory anomaly flags raised on API use (gateway)",
            anomalies.clone(),
        );
        let station_decisions = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "station_decisions",
            "Decisions of this station's modules (Gatekeeper, Vision, ...) by verdict",
            station_decisions.clone(),
        );
        Metrics {
            station_decisions,
            registry,
            height,
            state_height,
            snapshots_installed,
            txs,
            certified,
            term,
            is_leader,
            voters,
            equivocations,
            conflicts,
            outbox_pending,
            overturned,
            anomalies,
        }
    }

    fn update(&self, s: &Snapshot) {
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.height.set(i(s.status.height));
        self.state_height.set(i(s.status.state_height));
        self.snapshots_installed
            .set(i(s.status.snapshots_installed));
        self.txs.set(i(s.status.txs));
        self.certified.set(i(s.status.certified));
        self.term.set(i(s.status.term));
        self.is_leader.set(i64::from(s.status.leader));
        self.voters.set(i(s.status.voters));
        self.equivocations.set(i(s.status.equivocations));
        self.conflicts.set(i(s.conflicts));
        self.outbox_pending.set(i(s.status.outbox_pending));
        self.overturned.set(i(s.status.overturned));
        self.anomalies.set(i(s.anomalies));
        for (module, verdict, n) in &s.station_decisions {
            self.station_decisions
                .get_or_create(&vec![
                    ("module".to_string(), module.clone()),
                    ("verdict".to_string(), verdict.clone()),
                ])
                .set(i(*n));
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The registry, for others to register into (libp2p's metrics).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
}

/// The internal staff dashboard (this peer, Raft, tips, peers, alerts),
/// served on the metrics address, which stays on the internal network.
const STAFF_DASHBOARD: &str = include_str!("staff.html");

/// Serves `/metrics`, `/health`, `/status` (JSON) and `/` (the staff
/// dashboard) on `addr`; `probe` reads the peer's state.
/// Runs the peer's backup hook off the async threads, one backup at a time.
async fn take_backup(
    hook: Option<crate::peer::backup::BackupHook>,
    busy: &std::sync::atomic::AtomicBool,
) -> (&'static str, String) {
    use std::sync::atomic::Ordering;
    let Some(hook) = hook else {
        return (
            "404 Not Found",
            r#"{"error":"this peer takes no backups"}"#.into(),
        );
    };
    if busy.swap(true, Ordering::AcqRel) {
        return (
            "409 Conflict",
            r#"{"error":"a backup is being written"}"#.into(),
        );
    }
    let result = tokio::task::spawn_blocking(move || hook()).await;
    busy.store(false, Ordering::Release);
    match result {
        Ok(Ok((file, height))) => (
            "200 OK",
            serde_json::json!({"file": file, "height": height}).to_string(),
        ),
        Ok(Err(e)) => (
            "500 Internal Server Error",
            serde_json::json!({"error": e}).to_string(),
        ),
        Err(e) => (
            "500 Internal Server Error",
            serde_json::json!({"error": e.to_string()}).to_string(),
        ),
    }
}

/// Serves them on `addr` (see [`serve`]) and announces the address
/// (`metrics http://ADDR/metrics`), as every peer role does at start.
pub async fn publish(
    addr: SocketAddr,
    metrics: Metrics,
    probe: impl Fn() -> Snapshot + Send + Sync + 'static,
    backup: Option<crate::peer::backup::BackupHook>,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context;
    let bound = serve(addr, metrics, probe, backup)
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
    crate::peer::shutdown::announce(&format!("metrics http://{bound}/metrics"));
    Ok(bound)
}

pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    probe: impl Fn() -> Snapshot + Send + Sync + 'static,
    backup: Option<crate::peer::backup::BackupHook>,
) -> std::io::Result<SocketAddr> {
    let backing_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let metrics = Arc::new(metrics);
    let probe = Arc::new(probe);
    let permits = Arc::new(Semaphore::new(64));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                drop(sock);
                continue;
            };
            let metrics = metrics.clone();
            let probe = probe.clone();
            let backup = backup.clone();
            let backing_up = backing_up.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let mut len = 0;
                let read = tokio::time::timeout(Duration::from_secs(5), async {
                    while len < head.len() {
                        let n = sock.read(&mut head[len..]).await?;
                        if n == 0 {
                            break;
                        }
                        len += n;
                        if head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    Ok::<_, std::io::Error>(())
                })
                .await;
                if !matches!(read, Ok(Ok(()))) {
                    return;
                }
                let line = String::from_utf8_lossy(&head[..len])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let (status, kind, body) = if path == "/backup" {
                    let method = line.split_whitespace().next().unwrap_or("");
                    let local = sock
                        .peer_addr()
                        .map(|a| a.ip().is_loopback())
                        .unwrap_or(false);
                    let (status, body) = if method != "POST" {
                        (
                            "405 Method Not Allowed",
                            r#"{"error":"POST only"}"#.to_string(),
                        )
                    } else if !local {
                        tracing::warn!(peer = ?sock.peer_addr().ok(), "refused a backup request from another host");
                        (
                            "403 Forbidden",
                            r#"{"error":"backups are asked for on this host only"}"#.to_string(),
                        )
                    } else {
                        take_backup(backup, &backing_up).await
                    };
                    (status, "application/json", body)
                } else {
                    answer(path, &probe(), &metrics)
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// The answer to a GET of `path` (everything but `/backup`).
fn answer(
    path: &str,
    snapshot: &Snapshot,
    metrics: &Metrics,
) -> (&'static str, &'static str, String) {
    match path {
        "/metrics" => {
            metrics.update(snapshot);
            ("200 OK", "text/plain; version=0.0.4", metrics.render())
        }
        "/health" => {
            let status = if snapshot.status.leader_known {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (
                status,
                "application/json",
                serde_json::to_string(snapshot).unwrap_or_default(),
            )
        }
        "/status" => (
            "200 OK",
            "application/json",
            serde_json::to_string(snapshot).unwrap_or_default(),
        ),
        "/" => (
            "200 OK",
            "text/html; charset=utf-8",
            STAFF_DASHBOARD.to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    }
}
