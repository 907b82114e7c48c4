//! `smart run`: the peer daemon. Hubs: libp2p + Raft + the contract VM.
//! (Station nodes and the gateway arrive with their issues.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use smart_consensus::transport::serve_raft;
use smart_consensus::{Hub, HubConfig, HubNode, TxReceipt, TxVerdict, node_id};
use smart_ledger::store::BlockStore;
use smart_ledger::{Keypair, PeerRole};
use tokio::sync::Semaphore;

use crate::folders::{PEER_KEY_FILE, PeerFolder};
use crate::p2p::{self, Inbound, P2pHandle, P2pTransport, PeerStatus, Request, Response};

/// Options of `smart run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The peer's folder.
    pub data: PathBuf,
    /// Where to listen.
    pub listen: Multiaddr,
    /// Other peers (`/ip4/.../tcp/.../p2p/PEERID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Hub tunables.
    pub config: HubConfig,
    /// Where to serve /metrics and /health.
    pub metrics: Option<std::net::SocketAddr>,
    /// Gateway: the public HTTPS address.
    pub https: std::net::SocketAddr,
    /// Gateway: certificate and key files (default: the folder's self-signed pair).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Gateway: requests per second per client.
    pub api_rate: u32,
    /// Nodes: blocks behind at which a certified state snapshot is installed first.
    pub snapshot_gap: u64,
    /// Nodes: equipment this station drives (the first is its interlock).
    pub equipment: Vec<String>,
    /// Nodes: receives and ships parts.
    pub logistics: bool,
    /// Nodes: the kiosk's loopback address.
    pub kiosk: std::net::SocketAddr,
}

/// Inbound requests handled at once.
const HANDLERS: usize = 512;

/// The address part of a multiaddr and its PeerId, if it ends in `/p2p/...`.
pub fn split_p2p(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Resolves `NAME@MULTIADDR` entries to addresses ending in the genesis
/// peer's `/p2p/` id.
pub fn named_peers(genesis: &smart_ledger::Genesis, entries: &[String]) -> Result<Vec<Multiaddr>> {
    let mut out = Vec::new();
    for entry in entries {
        let (name, addr) = entry
            .split_once('@')
            .with_context(|| format!("{entry:?}: expected NAME@MULTIADDR"))?;
        let peer = genesis
            .peers
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("{entry:?}: no peer named {name:?} in the genesis"))?;
        let addr: Multiaddr = addr
            .parse()
            .with_context(|| format!("{entry:?}: {addr:?} is not a multiaddr"))?;
        out.push(addr.with(libp2p::multiaddr::Protocol::P2p(p2p::peer_id(&peer.id)?)));
    }
    Ok(out)
}

/// Starts a peer's libp2p side as every role does: only the genesis peers and
/// people may connect (hubs add later identities as the ledger grows), libp2p's
/// metrics go into the peer's registry when `/metrics` is served, and
/// `listening ADDR` is printed. Returns the registry, the swarm's channels and
/// this peer's address.
pub(crate) async fn start_network(
    key: &Keypair,
    genesis: &smart_ledger::Genesis,
    listen: Multiaddr,
    metrics: bool,
) -> Result<(Option<crate::metrics::Metrics>, p2p::Spawned, Multiaddr)> {
    let mut allowed: Vec<PeerId> = genesis
        .peers
        .iter()
        .map(|p| p.id)
        .chain(genesis.members.iter().map(|m| m.id))
        .filter_map(|id| p2p::peer_id(&id).ok())
        .collect();
    allowed.sort();
    let mut registry = metrics.then(crate::metrics::Metrics::new);
    let spawned = p2p::spawn_with_metrics(
        key,
        Some(listen),
        allowed,
        Duration::from_secs(30),
        registry.as_mut().map(crate::metrics::Metrics::registry_mut),
    )
    .await?;
    let my_addr = spawned
        .0
        .listening
        .first()
        .cloned()
        .context("not listening")?
        .with(libp2p::multiaddr::Protocol::P2p(spawned.0.local));
    announce(&format!("listening {my_addr}"));
    if let Some(file) = std::env::var_os(smart_testnet::FAULT_FILE_ENV) {
        tokio::spawn(watch_faults(
            PathBuf::from(file),
            genesis.clone(),
            spawned.0.clone(),
        ));
    }
    Ok((registry, spawned, my_addr))
}

/// Fault injection for testnets (`smart_testnet::faults`): when
/// `SMART_FAULT_FILE` names a file, the peer obeys it every 200 ms.
async fn watch_faults(file: PathBuf, genesis: smart_ledger::Genesis, handle: p2p::P2pHandle) {
    let mut current: std::collections::HashSet<PeerId> = Default::default();
    loop {
        let faults = smart_testnet::Faults::read(&file).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable fault file");
            smart_testnet::Faults::default()
        });
        let wanted: std::collections::HashSet<PeerId> = faults
            .cut
            .iter()
            .filter_map(|name| genesis.peers.iter().find(|p| &p.name == name))
            .filter_map(|p| p2p::peer_id(&p.id).ok())
            .collect();
        if wanted != current {
            handle.cut(wanted.clone()).await;
            current = wanted;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a hub until SIGINT/SIGTERM.
pub async fn run(opts: RunOptions) -> Result<()> {
    let folder = PeerFolder::new(&opts.data);
    let genesis = folder.genesis()?;
    let key = Keypair::read_file(&opts.data.join(PEER_KEY_FILE))?;
    let me = key.id();
    // A key that is not in the genesis runs as a joining hub: it waits until
    // an admin's Membership tx adds it and the leader replicates to it.
    let role = genesis
        .peers
        .iter()
        .find(|p| p.id == me)
        .map(|p| p.role)
        .unwrap_or(PeerRole::Hub);
    if role == PeerRole::Node || role == PeerRole::Gateway {
        let gateway = if role == PeerRole::Gateway {
            let (cert, tls_key) = match &opts.tls {
                Some(pair) => pair.clone(),
                None => {
                    let (c, k) = smart_gateway::tls::default_paths(&opts.data);
                    if smart_gateway::tls::ensure_self_signed(&c, &k, &["localhost", "127.0.0.1"])?
                    {
                        tracing::info!(cert = %c.display(), "made a self-signed TLS certificate");
                    }
                    (c, k)
                }
            };
            Some(crate::station::GatewayOptions {
                https: opts.https,
                cert,
                key: tls_key,
                rate: opts.api_rate,
            })
        } else {
            None
        };
        return crate::station::run(&opts, key, genesis, gateway).await;
    }
    let (registry, (handle, inbound, mut gossip), my_addr) =
        start_network(&key, &genesis, opts.listen.clone(), opts.metrics.is_some()).await?;
    tracing::info!(peer = %me, addr = %my_addr, "hub listening");

    let hub = Hub::start(
        &opts.data,
        &genesis,
        key,
        P2pTransport::new(handle.clone()),
        opts.config.clone(),
    )
    .await
    .with_context(|| format!("starting the hub in {}", opts.data.display()))?;
    tokio::spawn(serve(hub.clone(), handle.clone(), inbound));
    tokio::spawn(refresh_allow_list(hub.clone(), handle.clone()));
    tokio::spawn(publish_certified(hub.clone(), handle.clone()));
    // Hubs get blocks through Raft; alerts and status are checked and logged.
    let h = handle.clone();
    let board: Arc<std::sync::Mutex<p2p::NoticeBoard>> = Arc::default();
    let b = board.clone();
    tokio::spawn(async move {
        while let Some(m) = gossip.recv().await {
            let verdict = p2p::judge_notice(&m);
            if verdict == p2p::Verdict::Accept {
                b.lock().unwrap_or_else(|p| p.into_inner()).record(&m);
            }
            h.validate(m.id, m.source, verdict).await;
        }
    });
    tokio::spawn(broadcast_notices(
        hub.clone(),
        handle.clone(),
        genesis.name_of(&me).unwrap_or("hub").to_string(),
    ));
    if let (Some(addr), Some(registry)) = (opts.metrics, registry) {
        let probe_hub = hub.clone();
        let probe_board = board.clone();
        let probe_name = genesis.name_of(&me).unwrap_or("hub").to_string();
        let backup_hub = hub.clone();
        // The copy is taken once the newest block's certificate holds a
        // majority (the other hubs' signatures arrive within milliseconds),
        // so it verifies in full; after 2 s it is taken as it is.
        let backup = crate::backup::hook(opts.data.clone(), move |_| {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            loop {
                let ledger = backup_hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
                if ledger.store.tip().height <= backup_hub.certified_height()
                    || std::time::Instant::now() >= deadline
                {
                    return ledger.store.snapshot().map_err(|e| e.to_string());
                }
                drop(ledger);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let bound = crate::metrics::serve(
            addr,
            registry,
            move || {
                let m = probe_hub.raft.metrics().borrow().clone();
                let (peers_heard, alerts) =
                    probe_board.lock().unwrap_or_else(|p| p.into_inner()).view();
                let l = probe_hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
                crate::metrics::Snapshot {
                    height: l.store.tip().height,
                    state_height: l.store.tip().height,
                    tip: l.store.tip().hash.to_string(),
                    txs: l.store.tip().acc.size(),
                    certified: probe_hub.certified_height(),
                    term: m.current_term,
                    leader: m.current_leader == Some(probe_hub.id),
                    leader_known: m.current_leader.is_some(),
                    voters: m.membership_config.membership().voter_ids().count() as u64,
                    equivocations: l.equivocations.len() as u64,
                    conflicts: l.conflicts.len() as u64,
                    name: probe_name.clone(),
                    peers: peers_heard,
                    alerts,
                    ..Default::default()
                }
            },
            Some(backup),
        )
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
        announce(&format!("metrics http://{bound}/metrics"));
    }
    for addr in &opts.bootstrap {
        handle.dial(addr.clone()).await;
    }

    // The first hub of the genesis makes the first membership, once every
    // hub's address is known.
    if genesis.hubs().first() == Some(&me)
        || genesis
            .peers
            .iter()
            .find(|p| p.role == PeerRole::Hub)
            .map(|p| p.id)
            == Some(me)
    {
        let mut members = BTreeMap::new();
        members.insert(
            node_id(&me),
            HubNode {
                peer: me.to_string(),
                addr: my_addr.to_string(),
            },
        );
        for addr in &opts.bootstrap {
            if let Some(id) = split_p2p(addr).and_then(|peer| p2p::smart_id(&peer))
                && genesis.hubs().contains(&id)
            {
                members.insert(
                    node_id(&id),
                    HubNode {
                        peer: id.to_string(),
                        addr: addr.to_string(),
                    },
                );
            }
        }
        if members.len() == genesis.hubs().len() {
            hub.initialize(members).await?;
        } else {
            tracing::warn!(
                known = members.len(),
                hubs = genesis.hubs().len(),
                "not initialising Raft: give --bootstrap addresses of every hub"
            );
        }
    }

    wait_for_shutdown().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    Ok(())
}

/// Tells whoever started the peer where it is; a closed stdout is not an error.
pub(crate) fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub(crate) async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Gossips this hub's status every few seconds and every new equivocation once.
async fn broadcast_notices<T: smart_consensus::Transport>(
    hub: Hub<T>,
    handle: P2pHandle,
    name: String,
) {
    let mut told = 0usize;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (info, new_alerts) = {
            let l = hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
            let info = p2p::Info {
                name: name.clone(),
                role: "hub".into(),
                height: l.store.tip().height,
                tip: l.store.tip().hash,
                at_ms: smart_ledger::clock::now_ms(),
            };
            let alerts: Vec<p2p::Alert> = l
                .equivocations
                .iter()
                .skip(told)
                .cloned()
                .map(|e| p2p::Alert::Equivocation(Box::new(e)))
                .collect();
            (info, alerts)
        };
        handle
            .publish(p2p::INFO_TOPIC, smart_ledger::codec::encode_plain(&info))
            .await;
        for a in new_alerts {
            told += 1;
            handle
                .publish(p2p::ALERTS_TOPIC, smart_ledger::codec::encode_plain(&a))
                .await;
        }
    }
}

/// Gossips every block once its certificate is final.
async fn publish_certified<T: smart_consensus::Transport>(hub: Hub<T>, handle: P2pHandle) {
    let mut published = hub.certified_height();
    let mut certified_rx = hub.watch_certified();
    loop {
        // Woken as soon as a block becomes final; the timeout only guards
        // against a missed wake-up.
        let _ = tokio::time::timeout(Duration::from_secs(1), certified_rx.changed()).await;
        let certified = hub.certified_height();
        while published < certified {
            let next = published + 1;
            let item = hub.blocks(next, next).ok().and_then(|mut v| v.pop());
            let Some((block, cert)) = item else { break };
            let data = crate::station::CertifiedBlock { block, cert }.encode();
            handle.publish(p2p::BLOCKS_TOPIC, data).await;
            published = next;
        }
    }
}

/// Lets every identity registered in the ledger connect (new ones appear as
/// the ledger grows).
async fn refresh_allow_list<T: smart_consensus::Transport>(hub: Hub<T>, handle: P2pHandle) {
    let mut known: BTreeSet<PeerId> = BTreeSet::new();
    let mut seen_height = None;
    loop {
        // Rescanned when a block has committed since the last look, so a
        // newly registered person can connect within a fraction of a second.
        let ids: Vec<smart_ledger::SmartId> = {
            let l = hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
            let height = l.store.tip().height;
            if seen_height == Some(height) {
                Vec::new()
            } else {
                seen_height = Some(height);
                l.state
                    .identities
                    .iter()
                    .filter(|(_, i)| i.active)
                    .map(|(id, _)| *id)
                    .collect()
            }
        };
        for id in ids {
            if let Ok(p) = p2p::peer_id(&id)
                && known.insert(p)
            {
                handle.allow(p).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Answers inbound requests, each in its own task (bounded).
async fn serve<T: smart_consensus::Transport>(
    hub: Hub<T>,
    handle: P2pHandle,
    mut inbound: tokio::sync::mpsc::Receiver<Inbound>,
) {
    let permits = Arc::new(Semaphore::new(HANDLERS));
    while let Some(req) = inbound.recv().await {
        // Hub-to-hub control (Raft, header signatures) never waits behind
        // submissions: a submission waits for a commit, and a commit needs
        // these. Other requests take one of HANDLERS slots or, when all are
        // taken, are answered "busy" at once (this loop never blocks).
        let control = matches!(req.request, Request::Raft(_) | Request::Signature(_));
        let permit = if control {
            None
        } else {
            match permits.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let busy = match &req.request {
                        Request::Submit(txs) => Response::Receipts(
                            txs.iter()
                                .map(|_| TxReceipt {
                                    tx: smart_ledger::Hash::ZERO,
                                    verdict: TxVerdict::Unavailable {
                                        reason: "hub is busy: every request handler is taken"
                                            .into(),
                                    },
                                })
                                .collect(),
                        ),
                        _ => Response::Refused("hub is busy".into()),
                    };
                    let handle = handle.clone();
                    tokio::spawn(async move { handle.respond(req.channel, busy).await });
                    continue;
                }
            }
        };
        let hub = hub.clone();
        let handle = handle.clone();
        // A hub by the ledger's current hub set (authenticated by noise).
        let from_hub = p2p::smart_id(&req.peer).is_some_and(|id| hub.is_hub(&id));
        tokio::spawn(async move {
            let response = answer(&hub, req.request, from_hub, req.peer).await;
            handle.respond(req.channel, response).await;
            drop(permit);
        });
    }
}

async fn answer<T: smart_consensus::Transport>(
    hub: &Hub<T>,
    request: Request,
    from_hub: bool,
    peer: PeerId,
) -> Response {
    match request {
        Request::Raft(rpc) if from_hub => Response::Raft(serve_raft(&hub.raft, rpc).await),
        Request::Signature(s) if from_hub => match hub.receive_signature(s) {
            Ok(()) => Response::Ack,
            Err(e) => Response::Refused(e),
        },
        Request::Raft(_) | Request::Signature(_) => {
            tracing::warn!(%peer, "refused a hub-only request from a peer that is not a hub");
            Response::Refused("only hubs may send this".into())
        }
        Request::Submit(txs) if from_hub => Response::Receipts(hub.submit_forwarded(txs).await),
        // The txs of one request are committed in the order given (a
        // station's outbox: later actions depend on earlier ones).
        Request::Submit(txs) => Response::Receipts(
            hub.submit_many(txs)
                .await
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|e| TxReceipt {
                        tx: smart_ledger::Hash::ZERO,
                        verdict: e.verdict(),
                    })
                })
                .collect(),
        ),
        Request::Certs { from, to } => hub
            .certs(from, to)
            .map(Response::Certs)
            .unwrap_or_else(Response::Refused),
        Request::Blocks { from, to } => hub
            .blocks(from, to)
            .map(Response::Blocks)
            .unwrap_or_else(Response::Refused),
        Request::Snapshot => hub
            .certified_state()
            .await
            .map(|(header, cert, state)| {
                Response::Snapshot(Box::new(p2p::StateSnapshot {
                    header,
                    cert,
                    state: smart_ledger::Bytes(state),
                }))
            })
            .unwrap_or_else(Response::Refused),
        Request::Status => {
            let leader = hub.raft.metrics().borrow().current_leader;
            let l = hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
            Response::Status(PeerStatus {
                chain_id: l.store.genesis().chain_id(),
                height: l.store.tip().height,
                tip: l.store.tip().hash,
                leader,
                node_id: hub.id,
                certified: hub.certified_height(),
            })
        }
    }
}
