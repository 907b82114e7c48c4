//! The hub role: libp2p + Raft + the contract VM; publishes certified
//! blocks, notices and the allow list, and answers peers' requests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::PeerId;
use smart_consensus::transport::serve_raft;
use smart_consensus::{Hub, HubNode, TxReceipt, TxVerdict, node_id};
use smart_ledger::store::BlockStore;
use smart_ledger::{Genesis, Keypair, PeerRole};
use tokio::sync::Semaphore;

use crate::p2p::split_p2p;
use crate::p2p::{self, Inbound, P2pHandle, P2pTransport, PeerStatus, Request, Response};
use crate::peer::network::start_network;
use crate::peer::options::RunOptions;
use crate::peer::shutdown::wait_for_shutdown;

/// Inbound requests handled at once.
const HANDLERS: usize = 512;

/// Runs a hub until SIGINT/SIGTERM.
pub async fn run(opts: RunOptions, key: Keypair, genesis: Genesis) -> Result<()> {
    let me = key.id();
    // A key that is not in the genesis runs as a joining hub: it waits until
    // an admin's Membership tx adds it and the leader replicates to it.
    let (registry, (handle, inbound, gossip), my_addr) =
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
    let board: Arc<std::sync::Mutex<p2p::NoticeBoard>> = Arc::default();
    tokio::spawn(hear_notices(handle.clone(), gossip, board.clone()));
    let name = genesis.name_of(&me).unwrap_or("hub").to_string();
    tokio::spawn(broadcast_notices(hub.clone(), handle.clone(), name.clone()));
    if let (Some(addr), Some(registry)) = (opts.metrics, registry) {
        serve_metrics(&hub, &opts.data, addr, registry, board, name).await?;
    }
    for addr in &opts.bootstrap {
        handle.dial(addr.clone()).await;
    }
    if genesis.hubs().first() == Some(&me)
        || genesis
            .peers
            .iter()
            .find(|p| p.role == PeerRole::Hub)
            .map(|p| p.id)
            == Some(me)
    {
        first_membership(&hub, me, &genesis, &opts.bootstrap, &my_addr).await?;
    }

    wait_for_shutdown().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    Ok(())
}

/// Hubs get blocks through Raft; alerts and status notices are checked and
/// kept on the board.
async fn hear_notices(
    handle: P2pHandle,
    mut gossip: tokio::sync::mpsc::Receiver<p2p::GossipMessage>,
    board: Arc<std::sync::Mutex<p2p::NoticeBoard>>,
) {
    while let Some(m) = gossip.recv().await {
        let verdict = p2p::judge_notice(&m);
        if verdict == p2p::Verdict::Accept {
            board.lock().unwrap_or_else(|p| p.into_inner()).record(&m);
        }
        handle.validate(m.id, m.source, verdict).await;
    }
}

/// `/metrics`, `/health`, `/status`, the staff page and the backup hook.
async fn serve_metrics<T: smart_consensus::Transport>(
    hub: &Hub<T>,
    data: &std::path::Path,
    addr: std::net::SocketAddr,
    registry: crate::peer::metrics::Metrics,
    board: Arc<std::sync::Mutex<p2p::NoticeBoard>>,
    name: String,
) -> Result<()> {
    let backup_hub = hub.clone();
    // The copy is taken once the newest block's certificate holds a
    // majority (the other hubs' signatures arrive within milliseconds),
    // so it verifies in full; after 2 s it is taken as it is.
    let backup = crate::peer::backup::hook(data.to_path_buf(), move |_| {
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
    let probe_hub = hub.clone();
    crate::peer::metrics::publish(
        addr,
        registry,
        move || {
            let m = probe_hub.raft.metrics().borrow().clone();
            let (peers_heard, alerts) = board.lock().unwrap_or_else(|p| p.into_inner()).view();
            let l = probe_hub.ledger.lock().unwrap_or_else(|p| p.into_inner());
            crate::peer::metrics::Snapshot {
                status: smart_testnet::PeerStatus {
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
                    name: name.clone(),
                    ..Default::default()
                },
                conflicts: l.conflicts.len() as u64,
                peers: peers_heard,
                alerts,
                ..Default::default()
            }
        },
        Some(backup),
    )
    .await?;
    Ok(())
}

/// The first hub of the genesis makes the first Raft membership, once it
/// has every genesis hub's address (this hub's and `--bootstrap`'s).
async fn first_membership<T: smart_consensus::Transport>(
    hub: &Hub<T>,
    me: smart_ledger::SmartId,
    genesis: &Genesis,
    bootstrap: &[libp2p::Multiaddr],
    my_addr: &libp2p::Multiaddr,
) -> Result<()> {
    let mut members = BTreeMap::new();
    members.insert(
        node_id(&me),
        HubNode {
            peer: me.to_string(),
            addr: my_addr.to_string(),
        },
    );
    for addr in bootstrap {
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
    Ok(())
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
            let data = crate::p2p::CertifiedBlock { block, cert }.encode();
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
                l.state()
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
