//! A peer's `/status` (served on its metrics address), read over plain HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bodies longer than this are refused (the status of a peer is a few KiB).
const MAX_BODY: u64 = 1 << 20;

/// What every peer reports on `/status` and `/health` (the peer adds its
/// role's own details beside these fields), and what a testnet acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerStatus {
    /// The peer's name and role.
    pub name: String,
    /// Tip height.
    pub height: u64,
    /// Tip header hash (hex).
    pub tip: String,
    /// The height the contract state belongs to (ahead of `height` while a
    /// node fills in the blocks behind an installed state snapshot).
    pub state_height: u64,
    /// Nodes: certified state snapshots installed since start.
    pub snapshots_installed: u64,
    /// Txs in the ledger.
    pub txs: u64,
    /// Height up to which certificates are final.
    pub certified: u64,
    /// Hubs: Raft term.
    pub term: u64,
    /// Hubs: this hub leads.
    pub leader: bool,
    /// Hubs: some leader is known.
    pub leader_known: bool,
    /// Hubs: Raft voters.
    pub voters: u64,
    /// Stations: actions decided offline, waiting for a hub.
    pub outbox_pending: u64,
    /// Stations: offline decisions the ledger overturned.
    pub overturned: u64,
    /// Proven equivocations.
    pub equivocations: u64,
}

/// Why a status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Not an HTTP answer with a JSON status.
    #[error("unexpected answer: {0}")]
    Answer(String),
}

/// `GET path` on `addr`; returns the status code and the body.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    within: Duration,
) -> Result<(u16, Vec<u8>), StatusError> {
    http_request(addr, "GET", path, within).await
}

/// `METHOD path` (no body) on `addr`; returns the status code and the body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    within: Duration,
) -> Result<(u16, Vec<u8>), StatusError> {
    http_send(addr, method, path, "text/plain", &[], within).await
}

/// `METHOD path` with a body of `content_type` on `addr`; returns the status code and the body.
pub async fn http_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    within: Duration,
) -> Result<(u16, Vec<u8>), StatusError> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(request.as_bytes()).await?;
        s.write_all(body).await?;
        let mut raw = Vec::new();
        s.take(MAX_BODY + 16 * 1024).read_to_end(&mut raw).await?;
        Ok::<_, StatusError>(raw)
    };
    let raw = tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| StatusError::Timeout(within))??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| StatusError::Answer("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| StatusError::Answer(format!("status line {head:?}")))?;
    Ok((code, raw[split + 4..].to_vec()))
}

/// Reads a peer's `/status`.
pub async fn fetch(metrics: SocketAddr) -> Result<PeerStatus, StatusError> {
    let (code, body) = http_get(metrics, "/status", Duration::from_secs(2)).await?;
    // `/status` answers 503 while a hub knows no leader, with the same body.
    if code != 200 && code != 503 {
        return Err(StatusError::Answer(format!("HTTP {code}")));
    }
    serde_json::from_slice(&body).map_err(|e| StatusError::Answer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_a_status_and_refuses_garbage() {
        let addr = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"height\":7,\"tip\":\"ab\",\"leader_known\":false,\"extra\":[1]}",
        )
        .await;
        let st = fetch(addr).await.expect("status");
        assert_eq!(
            (st.height, st.tip.as_str(), st.leader_known),
            (7, "ab", false)
        );

        let addr = serve_once(b"HTTP/1.1 404 Not Found\r\n\r\n").await;
        assert!(matches!(fetch(addr).await, Err(StatusError::Answer(_))));
        let addr = serve_once(b"garbage without headers").await;
        assert!(matches!(fetch(addr).await, Err(StatusError::Answer(_))));
    }
}
