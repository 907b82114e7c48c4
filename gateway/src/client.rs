//! A small SMART-API client over HTTPS (HTTP/1.1 keep-alive), trusting
//! exactly the gateway's certificate. Used by `smart demo`, the gateway
//! benchmark and tests; a client's own tools can use any HTTPS client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes as HttpBytes;
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;

/// A client call failed (not an HTTP error status: those are answers).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The certificate file could not be read.
    #[error("certificate {0}")]
    Certificate(String),
    /// Connecting, TLS or HTTP failed.
    #[error("{0}")]
    Transport(String),
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// Where the gateway is and how to trust it.
#[derive(Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    connector: tokio_rustls::TlsConnector,
    credential: Option<String>,
}

/// One kept-alive connection.
#[derive(Debug)]
pub struct Connection {
    send: SendRequest<Full<HttpBytes>>,
    credential: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiClient({})", self.addr)
    }
}

impl ApiClient {
    /// A client of the gateway at `addr` whose certificate is the PEM file
    /// `cert` (the name checked is `localhost`).
    pub fn new(addr: SocketAddr, cert: &Path) -> Result<ApiClient, ClientError> {
        crate::tls::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(cert)
            .map_err(|e| ClientError::Certificate(format!("{}: {e}", cert.display())))?
        {
            let c = c.map_err(|e| ClientError::Certificate(e.to_string()))?;
            roots
                .add(c)
                .map_err(|e| ClientError::Certificate(e.to_string()))?;
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ApiClient {
            addr,
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            credential: None,
        })
    }

    /// The same client, presenting `credential`.
    pub fn with_credential(mut self, credential: &str) -> ApiClient {
        self.credential = Some(credential.to_string());
        self
    }

    /// Opens a connection (TLS, HTTP/1.1).
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(transport)?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("localhost").map_err(transport)?;
        let tls = self.connector.connect(name, tcp).await.map_err(transport)?;
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(transport)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            send,
            credential: self.credential.clone(),
        })
    }

    /// One request on a fresh connection.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), ClientError> {
        self.connect().await?.call(method, path, body).await
    }
}

impl Connection {
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<hyper::Request<Full<HttpBytes>>, ClientError> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(c) = &self.credential {
            req = req.header("authorization", format!("Bearer {c}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.body(Full::new(HttpBytes::from(body)))
            .map_err(transport)
    }

    /// A request; the answer's status and JSON body (`Null` when not JSON).
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), ClientError> {
        let req = self.request(method, path, body, &[])?;
        self.send.ready().await.map_err(transport)?;
        let res = self.send.send_request(req).await.map_err(transport)?;
        let status = res.status().as_u16();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(transport)?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Opens the event stream, after height `after` when given (else it
    /// starts with a snapshot of the current status).
    pub async fn open_events(mut self, after: Option<u64>) -> Result<EventStream, ClientError> {
        let last = after.map(|a| a.to_string());
        let mut extra = vec![("accept", "text/event-stream")];
        if let Some(l) = &last {
            extra.push(("last-event-id", l.as_str()));
        }
        let req = self.request("GET", "/api/events", Vec::new(), &extra)?;
        self.send.ready().await.map_err(transport)?;
        let res = self.send.send_request(req).await.map_err(transport)?;
        if res.status() != 200 {
            return Err(ClientError::Transport(format!("events: {}", res.status())));
        }
        Ok(EventStream {
            body: res.into_body(),
            buf: String::new(),
            _send: self.send,
        })
    }

    /// Opens the event stream and hands each event (`event`, `id`, `data`) to
    /// `on_event` until it returns false or the stream ends.
    pub async fn events(
        self,
        after: Option<u64>,
        mut on_event: impl FnMut(&str, &str, &str) -> bool,
    ) -> Result<(), ClientError> {
        let mut stream = self.open_events(after).await?;
        while let Some(e) = stream.next().await? {
            if !on_event(&e.event, &e.id, &e.data) {
                break;
            }
        }
        Ok(())
    }
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEvent {
    /// Its type (`snapshot`, `jobs`).
    pub event: String,
    /// Its id (a ledger height).
    pub id: String,
    /// Its data (JSON).
    pub data: String,
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    body: hyper::body::Incoming,
    buf: String,
    _send: SendRequest<Full<HttpBytes>>,
}

impl EventStream {
    /// The next event; `None` when the stream ends.
    pub async fn next(&mut self) -> Result<Option<ServerEvent>, ClientError> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = ServerEvent {
                    event: "message".into(),
                    id: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        e.data.push_str(v.trim_start());
                    }
                }
                if !e.data.is_empty() {
                    return Ok(Some(e)); // (blocks without data are keep-alives)
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    let frame = frame.map_err(transport)?;
                    if let Some(data) = frame.data_ref() {
                        self.buf.push_str(&String::from_utf8_lossy(data));
                    }
                }
            }
        }
    }
}
