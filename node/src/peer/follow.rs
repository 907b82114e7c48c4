//! The loops every follower of the chain runs, stations and the gateway
//! alike: answering peers' status, block-range and snapshot requests,
//! broadcasting its info, catching up from the hubs (blocks, or a certified
//! state snapshot when far behind), and taking certified blocks from gossip.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use smart_ledger::store::BlockStore;
use smart_ledger::{Block, BlockCert, Hash};
use tokio::sync::mpsc;

use crate::p2p::{
    self, CertifiedBlock, GossipMessage, Inbound, NoticeBoard, P2pHandle, PeerStatus, Request,
    Response, Verdict,
};
use crate::peer::replica::{Replica, ReplicaError};

/// Invalid gossip messages after which a peer is cut off (the same count
/// that makes gossipsub's score graylist it).
const MAX_REFUSED_GOSSIP: u32 = 2;

/// A peer that follows the chain: a station, or the gateway. Each keeps
/// what it derives from the replica (a station's provisional state, the
/// gateway's tip watch) current as blocks arrive.
pub trait Follower: Send + 'static {
    /// The replica it follows the chain with.
    fn replica(&self) -> &Replica;
    /// Checks and applies one block (see [`Replica::apply`]).
    fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), ReplicaError>;
    /// Checks and applies fetched blocks in order; how many txs they held.
    fn apply_range(&mut self, range: Vec<(Block, BlockCert)>) -> (u64, Result<(), ReplicaError>);
    /// Installs a certified state snapshot.
    fn install_snapshot(&mut self, snap: &p2p::StateSnapshot) -> Result<(), ReplicaError>;
    /// The height its stored chain reached.
    fn height(&self) -> u64 {
        self.replica().height()
    }
    /// Whether it is filling in the blocks behind an installed snapshot.
    fn installing(&self) -> bool {
        self.replica().base.is_some()
    }
}

/// Locks a follower; a poisoned lock still holds a consistent replica
/// (every change is applied whole or not at all).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A catch-up longer than this many blocks draws a progress bar (on a
/// terminal) and logs its rate.
const CATCH_UP_BAR_BLOCKS: u64 = 64;

/// Catches up from the first of `sources` that answers: a certified state
/// snapshot first when more than `snapshot_gap` blocks behind, then every
/// block up to its tip, checked.
pub async fn catch_up<F: Follower>(
    replica: &Arc<Mutex<F>>,
    handle: &P2pHandle,
    sources: &[(PeerId, Multiaddr)],
    snapshot_gap: u64,
) {
    for (peer, addr) in sources {
        let Ok(Response::Status(status)) = handle
            .request(*peer, Some(addr.clone()), Request::Status)
            .await
        else {
            continue;
        };
        let (mine, installing) = {
            let st = lock(replica);
            (st.height(), st.installing())
        };
        if status.height > mine.saturating_add(snapshot_gap) && !installing {
            install_snapshot(replica, handle, *peer, addr).await;
        }
        let first = lock(replica).height();
        let started = std::time::Instant::now();
        let bar = if status.height > first + CATCH_UP_BAR_BLOCKS {
            tracing::info!(%peer, from = first, to = status.height, "catching up");
            crate::peer::progress::bar(
                status.height - first,
                "catching up {bar:40} {pos}/{len} blocks {per_sec} {eta}",
            )
        } else {
            None
        };
        let mut txs = 0u64;
        loop {
            let mine = lock(replica).height();
            if let Some(b) = &bar {
                b.set_position(mine - first);
            }
            if status.height <= mine {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                let secs = started.elapsed().as_secs_f64().max(1e-6);
                let blocks = mine - first;
                if blocks > CATCH_UP_BAR_BLOCKS {
                    tracing::info!(
                        blocks,
                        txs,
                        seconds = secs,
                        blocks_per_s = blocks as f64 / secs,
                        tx_per_s = txs as f64 / secs,
                        "caught up"
                    );
                    crate::peer::progress::release_free_memory();
                }
                return;
            }
            let Ok(Response::Blocks(range)) = handle
                .request(
                    *peer,
                    Some(addr.clone()),
                    Request::Blocks {
                        from: mine + 1,
                        to: status.height,
                    },
                )
                .await
            else {
                break;
            };
            if range.is_empty() {
                break;
            }
            let (applied, result) = lock(replica).apply_range(range);
            txs += applied;
            if let Err(e) = result {
                tracing::error!(%peer, error = %e, "refused a fetched block");
                return;
            }
        }
    }
}

/// Asks `peer` for its certified state and installs it; on any refusal the
/// node simply goes on replaying blocks.
async fn install_snapshot<F: Follower>(
    replica: &Arc<Mutex<F>>,
    handle: &P2pHandle,
    peer: PeerId,
    addr: &Multiaddr,
) {
    let started = std::time::Instant::now();
    match handle
        .request(peer, Some(addr.clone()), Request::Snapshot)
        .await
    {
        Ok(Response::Snapshot(snap)) => {
            let from = lock(replica).height();
            match lock(replica).install_snapshot(&snap) {
                Ok(()) => tracing::info!(
                    %peer,
                    height = snap.header.height,
                    behind = snap.header.height - from,
                    state_bytes = snap.state.0.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "installed a certified state snapshot; fetching the blocks behind it"
                ),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "refused a state snapshot; replaying blocks")
                }
            }
        }
        Ok(Response::Refused(why)) => {
            tracing::debug!(%peer, %why, "no state snapshot; replaying blocks")
        }
        Ok(_) => tracing::warn!(%peer, "answered a snapshot request with something else"),
        Err(e) => tracing::debug!(%peer, error = %e, "snapshot request failed"),
    }
}

/// The answer every follower gives to a request other than a submission:
/// its status, a certified block range, its certified state.
fn answer<F: Follower>(f: &F, chain_id: Hash, request: &Request) -> Response {
    let replica = f.replica();
    match request {
        Request::Status => Response::Status(PeerStatus {
            chain_id,
            height: f.height(),
            tip: replica.store.tip().hash,
            leader: None,
            node_id: 0,
            certified: f.height(),
        }),
        Request::Blocks { from, to } => replica
            .store
            .certified_range(*from, *to)
            .map(Response::Blocks)
            .unwrap_or_else(|e| Response::Refused(e.to_string())),
        Request::Snapshot => replica
            .snapshot()
            .map(|s| Response::Snapshot(Box::new(s)))
            .unwrap_or_else(|e| Response::Refused(e.to_string())),
        _ => Response::Refused("followers answer Status, Blocks and Snapshot only".into()),
    }
}

/// Answers peers' requests until the swarm stops; `submit` answers a
/// submission (a station decides it, the gateway refuses it).
pub fn serve_requests<F: Follower>(
    follower: Arc<Mutex<F>>,
    handle: P2pHandle,
    mut inbound: mpsc::Receiver<Inbound>,
    chain_id: Hash,
    submit: impl Fn(&mut F, Vec<smart_ledger::Bytes>) -> Response + Send + 'static,
) {
    tokio::spawn(async move {
        while let Some(req) = inbound.recv().await {
            let response = {
                let mut f = lock(&follower);
                match req.request {
                    Request::Submit(txs) => submit(&mut f, txs),
                    other => answer(&*f, chain_id, &other),
                }
            };
            handle.respond(req.channel, response).await;
        }
    });
}

/// InfoBroadcast: this peer's name, role, height and tip every 2 s;
/// `sent` is told of each.
pub fn broadcast_info<F: Follower>(
    follower: Arc<Mutex<F>>,
    handle: P2pHandle,
    name: String,
    role: &'static str,
    sent: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let info = {
                let f = lock(&follower);
                p2p::Info {
                    name: name.clone(),
                    role: role.into(),
                    height: f.height(),
                    tip: f.replica().store.tip().hash,
                    at_ms: smart_ledger::clock::now_ms(),
                }
            };
            handle
                .publish(p2p::INFO_TOPIC, smart_ledger::codec::encode_plain(&info))
                .await;
            sent();
        }
    });
}

/// The hubs among `bootstrap` addresses (those with a `/p2p/` id).
pub fn sources(bootstrap: &[Multiaddr]) -> Vec<(PeerId, Multiaddr)> {
    bootstrap
        .iter()
        .filter_map(|a| p2p::split_p2p(a).map(|p| (p, a.clone())))
        .collect()
}

/// Gossip until SIGINT/SIGTERM: certified blocks are checked and applied
/// (gossipsub is told whether to forward them; a peer whose blocks are
/// refused twice is cut off), notices go on the board.
pub async fn follow_gossip<F: Follower>(
    follower: &Arc<Mutex<F>>,
    handle: &P2pHandle,
    mut gossip: mpsc::Receiver<GossipMessage>,
    board: &Mutex<NoticeBoard>,
) {
    let stop = crate::peer::shutdown::wait_for_shutdown();
    tokio::pin!(stop);
    let mut refused: std::collections::HashMap<PeerId, u32> = std::collections::HashMap::new();
    loop {
        let msg = tokio::select! {
            _ = &mut stop => return,
            msg = gossip.recv() => match msg {
                Some(m) => m,
                None => return,
            },
        };
        if msg.topic != p2p::BLOCKS_TOPIC {
            let verdict = p2p::judge_notice(&msg);
            if verdict == Verdict::Accept {
                lock(board).record(&msg);
            }
            handle.validate(msg.id, msg.source, verdict).await;
            continue;
        }
        let verdict = judge_block(follower, &msg);
        handle.validate(msg.id, msg.source, verdict).await;
        if verdict == Verdict::Reject {
            let n = refused.entry(msg.source).or_insert(0);
            *n += 1;
            if *n >= MAX_REFUSED_GOSSIP {
                tracing::warn!(peer = %msg.source, "cutting off a peer that sent invalid blocks");
                handle.disallow(msg.source).await;
            }
        }
    }
}

/// Applies a gossiped block that follows the tip; an old one, or one
/// ahead (catch-up fetches the gap), is ignored.
fn judge_block<F: Follower>(follower: &Mutex<F>, msg: &GossipMessage) -> Verdict {
    let cb = match CertifiedBlock::decode(&msg.data) {
        Ok(cb) => cb,
        Err(e) => {
            tracing::warn!(peer = %msg.source, error = %e, "undecodable block gossip");
            return Verdict::Reject;
        }
    };
    let mut f = lock(follower);
    let next = f.height() + 1;
    if cb.block.header.height != next {
        return Verdict::Ignore;
    }
    match f.apply(&cb) {
        Ok(()) => {
            tracing::debug!(height = next, "block applied from gossip");
            Verdict::Accept
        }
        Err(e) => {
            tracing::error!(peer = %msg.source, error = %e, "refused a gossiped block");
            Verdict::Reject
        }
    }
}
