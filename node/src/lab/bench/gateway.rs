//! `smart bench gateway`: SMART-API over real HTTPS against a running
//! network (3 hub processes and the gateway process): status GETs per
//! second on kept-alive connections, and server-sent-event fan-out (commit
//! of a change → delivered to every subscribed client).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use smart_consensus::TxVerdict;
use smart_contracts::action::Action;
use smart_ledger::{Bytes, Hash, Keypair, Outcome, Role, SignedTx, Timestamp, TxBody};

use super::{Latency, latency, tempdir};
use crate::p2p::client::Client;

const PO: &str = include_str!("../../../../contracts/examples/smart-client-po.yaml");

#[derive(Debug, Serialize)]
struct GatewayBench {
    connections: usize,
    seconds: u64,
    status_route: &'static str,
    status_requests_per_s: f64,
    status_errors: u64,
    status_latency: Latency,
    sse_clients: usize,
    sse_updates: usize,
    sse_deliveries: usize,
    /// Commit (the submitter answered) → the event received by a client.
    sse_update_latency: Latency,
}

struct Signer {
    hub: Client,
    chain: Hash,
    nonce: u64,
}

impl Signer {
    async fn act(&mut self, key: &Keypair, action: Action) -> Result<u64> {
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain,
            author: key.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(self.nonce),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        let tx = SignedTx::sign(body, key)?;
        let r = self.hub.submit(vec![Bytes(tx.encode())]).await?;
        match r.first().map(|r| &r.verdict) {
            Some(TxVerdict::Included {
                height,
                outcome: Outcome::Accepted,
            }) => Ok(*height),
            other => bail!("{action:?}: {other:?}"),
        }
    }
}

/// `smart bench gateway`.
pub(crate) async fn gateway(
    connections: usize,
    seconds: u64,
    sse_clients: usize,
    updates: usize,
    json: bool,
) -> Result<ExitCode> {
    let root = tempdir()?;
    let dir = root.join("net");
    let shape = crate::lab::localnet::Shape {
        hubs: 3,
        nodes: 0,
        gateway: true,
    };
    let (mut net, _) = crate::lab::localnet::open(&dir, shape, "smart-bench")?;
    net.set_args("gateway", &["--api-rate", "1000000000"]);
    net.start_all()?;
    let admin = Keypair::read_file(&dir.join("people/admin.key"))?;
    net.wait_leader(Duration::from_secs(20)).await?;
    let addr = net.gateway_addr().context("no gateway")?;
    let chain = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?.chain_id();
    let person = |n: &str| Keypair::read_file(&dir.join(format!("people/{n}.key")));
    let mut s = Signer {
        hub: crate::lab::localnet::hub_clients(&net, &admin)
            .await?
            .remove(0),
        chain,
        nonce: 0,
    };
    let client = Keypair::generate()?;
    s.act(
        &admin,
        Action::RegisterIdentity {
            id: client.id(),
            name: "bench-client".into(),
            roles: vec![Role::Client],
            organisation: Some("Bench Aero".into()),
        },
    )
    .await?;
    s.act(&admin, Action::ProposeContract { yaml: PO.into() })
        .await?;
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("project-manager", Role::ProjectManager),
    ] {
        s.act(
            &person(who)?,
            Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        )
        .await?;
    }
    let pm = person("project-manager")?;
    let open_job = |n: usize| Action::OpenJob {
        job: format!("job-{n}"),
        contract: "po-4471-heat-treat".into(),
        client: client.id(),
        parts: vec!["AA-88213-C x120".into()],
    };
    s.act(&pm, open_job(0)).await?;
    let (credential, cred, secret_hash) =
        smart_gateway::auth::Credential::mint().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tip = s
        .act(
            &pm,
            Action::IssueApiCredential {
                id: cred.id.clone(),
                client: client.id(),
                secret_hash,
            },
        )
        .await?;
    let api = smart_gateway::client::ApiClient::new(
        addr,
        &smart_gateway::tls::default_paths(&dir.join("gateway")).0,
    )?
    .with_credential(&credential);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, h)) = api.call("GET", "/health", Vec::new()).await
            && h["height"].as_u64() >= Some(tip)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the gateway did not catch up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !json {
        eprintln!(
            "3 hubs and the gateway up at https://{addr}/; {connections} connections for {seconds} s"
        );
    }

    // Status GETs on kept-alive connections, closed loop.
    let route = "/api/jobs";
    let errors = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let api = api.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let Ok(mut conn) = api.connect().await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return lat;
            };
            while Instant::now() < end {
                let t = Instant::now();
                match conn.call("GET", route, Vec::new()).await {
                    Ok((200, _)) => lat.push(t.elapsed()),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let rate = lat.len() as f64 / started.elapsed().as_secs_f64();

    // Fan-out: every client subscribed, then `updates` jobs opened.
    if !json {
        eprintln!(
            "{} status GETs/s; opening {sse_clients} event streams",
            rate.round()
        );
    }
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let mut streams = Vec::new();
    for _ in 0..sse_clients {
        let conn = api.connect().await.context("an event-stream connection")?;
        streams.push(conn.open_events(Some(tip)).await?);
    }
    let mut readers = Vec::new();
    for mut stream in streams {
        let seen = seen_tx.clone();
        readers.push(tokio::spawn(async move {
            while let Ok(Some(e)) = stream.next().await {
                if let Ok(h) = e.id.parse::<u64>() {
                    let _ = seen.send((h, Instant::now()));
                }
            }
        }));
    }
    drop(seen_tx);
    let mut committed = std::collections::BTreeMap::new();
    for n in 1..=updates {
        let t = Instant::now();
        tip = s.act(&pm, open_job(n)).await?;
        committed.insert(tip, Instant::now().max(t));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = sse_clients * updates;
    let mut deliveries = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while deliveries.len() < expected {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some((h, at))) => {
                if let Some(c) = committed.get(&h) {
                    deliveries.push(at.saturating_duration_since(*c));
                }
            }
            _ => break,
        }
    }
    for r in readers {
        r.abort();
    }
    net.stop_all();
    let report = GatewayBench {
        connections,
        seconds,
        status_route: route,
        status_requests_per_s: rate,
        status_errors: errors.load(Ordering::Relaxed),
        status_latency: latency(lat),
        sse_clients,
        sse_updates: updates,
        sse_deliveries: deliveries.len(),
        sse_update_latency: latency(deliveries),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&root);
    Ok(ExitCode::SUCCESS)
}
