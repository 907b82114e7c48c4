//! Station nodes: replicas that are not Raft members. They receive certified
//! blocks by gossip (`smart/blocks/1`), check everything before accepting
//! (chain link, a majority of the hub set at that height, every tx
//! signature), re-run the same contract VM and require the same outcomes
//! and state root, store the block, and fetch missing ranges from hubs.
//! A station keeps deciding with no hub reachable (the outbox) and drives
//! the station's interlock. The gateway is the same replica without station
//! I/O, serving SMART-API (HTTPS) over it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use smart_contracts::{State, vm};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Block, BlockCert, Genesis, Hash, Keypair, SmartId};

use crate::p2p::{self, P2pHandle, PeerStatus, Request, Response, Verdict};

const RECORD_STATE: &str = "contract_state";
const RECORD_HUBS: &str = "hub_set";
/// Record: the [`SnapshotBase`] while one is being filled in.
const RECORD_BASE: &str = "snapshot_base";
/// Blocks behind at which a node installs a certified state snapshot first
/// (the default of `smart run --snapshot-gap`).
pub const SNAPSHOT_GAP: u64 = 4_096;
/// Invalid gossip messages after which a peer is cut off (the same count
/// that makes gossipsub's score graylist it).
const MAX_REFUSED_GOSSIP: u32 = 2;

/// A block with its certificate, as gossiped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertifiedBlock {
    /// The block.
    pub block: Block,
    /// Hub signatures over its header.
    pub cert: BlockCert,
}

impl CertifiedBlock {
    /// Gossip bytes.
    pub fn encode(&self) -> Vec<u8> {
        smart_ledger::codec::encode_versioned(self)
    }

    /// Decodes gossip bytes with the size limit.
    pub fn decode(bytes: &[u8]) -> Result<CertifiedBlock, smart_ledger::codec::DecodeError> {
        smart_ledger::codec::decode_versioned("certified block", bytes, p2p::MAX_GOSSIP_BYTES)
    }
}

/// A node's copy of the ledger and the contract state.
#[derive(Debug)]
pub struct Replica {
    store: RedbStore,
    state: State,
    /// The hub set after the state's height (it certifies the next block).
    hubs: BTreeSet<SmartId>,
    /// Set while the state comes from a snapshot ahead of the stored blocks.
    base: Option<SnapshotBase>,
}

/// A node that installed a [`p2p::StateSnapshot`] holds the state at the
/// snapshot's height while its stored chain is still behind it. It keeps the
/// whole chain all the same: it fetches the blocks behind the snapshot and
/// checks each (chain link, hub certificate, every signature) before storing
/// it, without re-running the VM, until the stored chain reaches the
/// snapshot's header, which must be exactly the certified one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SnapshotBase {
    /// The certified header the state belongs to.
    header: smart_ledger::BlockHeader,
    /// The hub set after the last stored block (it certifies the next one).
    chain_hubs: BTreeSet<SmartId>,
}

impl Replica {
    /// Opens (or creates) the replica in a peer folder.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Replica> {
        let store = RedbStore::open_or_create(&dir.join(RedbStore::FILE_NAME), genesis)?;
        let state = match store.app_record(RECORD_STATE)? {
            Some(b) => smart_ledger::codec::decode_versioned("contract state", &b, usize::MAX)?,
            None => State::from_genesis(genesis),
        };
        let hubs = match store.app_record(RECORD_HUBS)? {
            Some(b) => smart_ledger::codec::decode_plain("hub set", &b, 1 << 20)?,
            None => genesis.hubs().into_iter().collect(),
        };
        let base = match store.app_record(RECORD_BASE)? {
            Some(b) => smart_ledger::codec::decode_plain("snapshot base", &b, 1 << 20)?,
            None => None,
        };
        Ok(Replica {
            store,
            state,
            hubs,
            base,
        })
    }

    /// Tip height of the stored chain.
    pub fn height(&self) -> u64 {
        self.store.tip().height
    }

    /// The height the contract state belongs to: the tip, or the installed
    /// snapshot's height while the blocks behind it are being fetched.
    pub fn state_height(&self) -> u64 {
        self.base
            .as_ref()
            .map_or(self.height(), |b| b.header.height)
    }

    /// Installs a certified state snapshot ahead of the stored chain. Only a
    /// certificate by a majority of the hub set this node already trusts is
    /// accepted (a snapshot across a hub-set change is refused: the node
    /// replays blocks instead, which follows every change); the state must
    /// hash to the certified state root. Nothing changes on refusal.
    pub fn install_snapshot(&mut self, snap: &p2p::StateSnapshot) -> Result<(), String> {
        let height = snap.header.height;
        if self.base.is_some() {
            return Err("a snapshot is already being filled in".into());
        }
        if height <= self.height() {
            return Err(format!(
                "the snapshot at {height} is not ahead of this node's tip {}",
                self.height()
            ));
        }
        let hub_list: Vec<SmartId> = self.hubs.iter().copied().collect();
        snap.cert
            .check_final(&snap.header, &hub_list)
            .map_err(|e| {
                format!(
                    "the snapshot at {height} is not certified by the hub set this node knows: {e}"
                )
            })?;
        if Hash::of(&snap.state.0) != snap.header.state_root {
            return Err(format!(
                "the snapshot's state does not hash to the certified state root of block {height}"
            ));
        }
        let state: State = smart_ledger::codec::decode_versioned(
            "contract state",
            &snap.state.0,
            p2p::MAX_MESSAGE_BYTES,
        )
        .map_err(|e| format!("the snapshot at {height}: {e}"))?;
        if state.canonical_bytes() != snap.state.0 {
            return Err(format!("the snapshot at {height} is not in canonical form"));
        }
        let hubs: BTreeSet<SmartId> = state.hubs.keys().copied().collect();
        let base = Some(SnapshotBase {
            header: snap.header.clone(),
            chain_hubs: self.hubs.clone(),
        });
        self.store
            .put_app_records(&[
                (RECORD_STATE, &snap.state.0),
                (RECORD_HUBS, &smart_ledger::codec::encode_plain(&hubs)),
                (RECORD_BASE, &smart_ledger::codec::encode_plain(&base)),
            ])
            .map_err(|e| e.to_string())?;
        self.state = state;
        self.hubs = hubs;
        self.base = base;
        Ok(())
    }

    /// Checks and stores a block behind an installed snapshot.
    fn backfill(&mut self, cb: &CertifiedBlock, base: SnapshotBase) -> Result<(), String> {
        let header = &cb.block.header;
        let height = header.height;
        if height > base.header.height {
            return Err(format!(
                "block {height} is past the installed snapshot at {}; the blocks before it come first",
                base.header.height
            ));
        }
        let hub_list: Vec<SmartId> = base.chain_hubs.iter().copied().collect();
        cb.cert
            .check_final(header, &hub_list)
            .map_err(|e| format!("block {height}: {e}"))?;
        check_signatures(&cb.block)?;
        let chain_hubs = smart_ledger::membership::hub_set_after(&cb.block, base.chain_hubs);
        if height < base.header.height {
            let next = Some(SnapshotBase {
                header: base.header,
                chain_hubs,
            });
            self.store
                .append_with(
                    &cb.block,
                    Some(&cb.cert),
                    &[(RECORD_BASE, &smart_ledger::codec::encode_plain(&next))],
                )
                .map_err(|e| e.to_string())?;
            self.base = next;
            return Ok(());
        }
        // The last block behind the snapshot: it must be the certified one.
        if *header != base.header {
            return Err(format!(
                "block {height} differs from the header of the installed snapshot"
            ));
        }
        let state_bytes = self.state.canonical_bytes();
        let none: Option<SnapshotBase> = None;
        self.store
            .append_with(
                &cb.block,
                Some(&cb.cert),
                &[
                    (RECORD_STATE, &state_bytes),
                    (RECORD_HUBS, &smart_ledger::codec::encode_plain(&chain_hubs)),
                    (RECORD_BASE, &smart_ledger::codec::encode_plain(&none)),
                ],
            )
            .map_err(|e| e.to_string())?;
        self.hubs = chain_hubs;
        self.base = None;
        Ok(())
    }

    /// The state at the tip, with the tip's header and certificate, for a
    /// node far behind. Refused while this node is filling in a snapshot.
    pub fn snapshot(&self) -> Result<p2p::StateSnapshot, String> {
        if self.base.is_some() {
            return Err("this node is filling in a snapshot itself".into());
        }
        let height = self.height();
        let (block, cert) = match (self.store.block(height), self.store.cert(height)) {
            (Ok(Some(b)), Ok(Some(c))) => (b, c),
            _ => return Err(format!("no certified block at {height}")),
        };
        Ok(p2p::StateSnapshot {
            header: block.header,
            cert,
            state: smart_ledger::Bytes(self.state.canonical_bytes()),
        })
    }

    /// Checks a block against everything this replica knows and applies it.
    /// On any mismatch nothing is stored and the state is restored.
    pub fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), String> {
        let header = &cb.block.header;
        if header.height != self.height() + 1 {
            return Err(format!(
                "block {} does not follow tip {}",
                header.height,
                self.height()
            ));
        }
        if let Some(base) = self.base.clone() {
            return self.backfill(cb, base);
        }
        let hub_list: Vec<SmartId> = self.hubs.iter().copied().collect();
        cb.cert
            .check_final(header, &hub_list)
            .map_err(|e| format!("block {}: {e}", header.height))?;
        check_signatures(&cb.block)?;
        // Re-run the VM: same outcomes, same state root, or the block is refused.
        let before = self.state.clone();
        let (outcomes, _) = vm::apply_block(&mut self.state, &cb.block.txs, header.leader_time);
        let state_bytes = self.state.canonical_bytes();
        let fail = |me: &mut Replica, why: String| {
            me.state = before.clone();
            Err(why)
        };
        if outcomes != cb.block.outcomes {
            return fail(
                self,
                format!("block {}: the VM here decides differently", header.height),
            );
        }
        if Hash::of(&state_bytes) != header.state_root {
            return fail(
                self,
                format!(
                    "block {}: state root differs from the VM's here",
                    header.height
                ),
            );
        }
        let hubs = smart_ledger::membership::hub_set_after(&cb.block, self.hubs.clone());
        let hub_bytes = smart_ledger::codec::encode_plain(&hubs);
        if let Err(e) = self.store.append_with(
            &cb.block,
            Some(&cb.cert),
            &[(RECORD_STATE, &state_bytes), (RECORD_HUBS, &hub_bytes)],
        ) {
            return fail(self, e.to_string());
        }
        self.hubs = hubs;
        Ok(())
    }
}

/// The block's structure (roots match its txs and outcomes) and every tx signature.
fn check_signatures(block: &Block) -> Result<(), String> {
    block.check_structure().map_err(|e| e.to_string())?;
    let triples: Vec<_> = block
        .txs
        .iter()
        .map(|t| (t.author(), t.body_bytes(), *t.signature()))
        .collect();
    smart_ledger::id::verify_many(&triples)
        .map_err(|(i, e)| format!("block {} tx {i}: {e}", block.header.height))
}

/// A station: the replica, the outbox, and the provisional state (the
/// replica's state with the outbox's actions applied) that local decisions use.
#[derive(Debug)]
pub struct Station {
    replica: Replica,
    outbox: crate::outbox::Outbox,
    provisional: State,
    /// The tip height, for whoever watches (the gateway's event streams).
    tip: tokio::sync::watch::Sender<u64>,
    /// Certified state snapshots installed since start.
    snapshots_installed: u64,
}

impl Station {
    /// Opens the station in a peer folder (also a stopped one, to read it:
    /// `smart modules`, `smart ask`).
    pub(crate) fn open(dir: &Path, genesis: &Genesis) -> Result<Station> {
        let replica = Replica::open(dir, genesis)?;
        let outbox = crate::outbox::Outbox::open(dir)?;
        let provisional = replica.state.clone();
        let tip = tokio::sync::watch::channel(replica.height()).0;
        let mut s = Station {
            replica,
            outbox,
            provisional,
            tip,
            snapshots_installed: 0,
        };
        s.refresh();
        Ok(s)
    }

    fn height(&self) -> u64 {
        self.replica.height()
    }

    /// The state local decisions use: the ledger's, with the outbox applied.
    pub(crate) fn provisional(&self) -> &State {
        &self.provisional
    }

    /// Outbox entries waiting for the hubs, and offline decisions overturned.
    pub(crate) fn outbox_counts(&self) -> (u64, u64) {
        (
            self.outbox.pending().map(|p| p.len() as u64).unwrap_or(0),
            self.outbox
                .overturned()
                .map(|o| o.len() as u64)
                .unwrap_or(0),
        )
    }

    fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), String> {
        self.replica.apply(cb)?;
        self.refresh();
        self.tip.send_replace(self.height());
        Ok(())
    }

    /// Installs a certified state snapshot (see [`Replica::install_snapshot`]):
    /// decisions use it at once; the blocks behind it follow by catch-up.
    fn install_snapshot(&mut self, snap: &p2p::StateSnapshot) -> Result<(), String> {
        self.replica.install_snapshot(snap)?;
        self.snapshots_installed += 1;
        self.refresh();
        Ok(())
    }

    /// Applies a fetched range: blocks after the tip are checked and applied
    /// one by one without their own fsync, then made durable together (a
    /// crash loses at most this range, which is fetched again). Returns the
    /// txs applied; stops at the first refused block.
    fn apply_range(&mut self, range: Vec<(Block, BlockCert)>) -> (u64, Result<(), String>) {
        let mut txs = 0u64;
        self.replica.store.set_deferred_durability(true);
        let mut result = Ok(());
        for (block, cert) in range {
            if block.header.height <= self.height() {
                continue;
            }
            let n = block.txs.len() as u64;
            if let Err(e) = self.replica.apply(&CertifiedBlock { block, cert }) {
                result = Err(e);
                break;
            }
            txs += n;
        }
        self.replica.store.set_deferred_durability(false);
        if let Err(e) = self.replica.store.flush() {
            result = result.and(Err(format!("making the fetched blocks durable: {e}")));
        }
        self.refresh();
        self.tip.send_replace(self.height());
        (txs, result)
    }

    /// Rebuilds the provisional state: confirmed state + pending actions not yet in the ledger.
    fn refresh(&mut self) {
        let mut state = self.replica.state.clone();
        if let Ok(pending) = self.outbox.pending() {
            for (_, p) in pending {
                if matches!(self.replica.store.locate_tx(&p.hash), Ok(Some(_))) {
                    continue;
                }
                if let Ok(tx) = smart_ledger::SignedTx::decode(&p.tx.0) {
                    let _ = vm::apply(&mut state, &vm::TxInput::of(&tx, p.decided_at));
                }
            }
        }
        self.provisional = state;
    }

    /// Judges a submitted tx on the provisional state and keeps it in the outbox.
    pub(crate) fn decide(
        &mut self,
        bytes: smart_ledger::Bytes,
        chain_id: &Hash,
    ) -> smart_consensus::TxReceipt {
        use smart_consensus::{TxReceipt, TxVerdict};
        let tx = match smart_ledger::SignedTx::decode(&bytes.0) {
            Ok(t) => t,
            Err(e) => {
                return TxReceipt {
                    tx: Hash::ZERO,
                    verdict: TxVerdict::Rejected {
                        reason: e.to_string(),
                    },
                };
            }
        };
        let hash = tx.hash();
        if let Ok(Some(loc)) = self.replica.store.locate_tx(&hash) {
            return TxReceipt {
                tx: hash,
                verdict: TxVerdict::Duplicate { height: loc.height },
            };
        }
        if let Err(e) = tx.check_admission(chain_id, |a| self.provisional.knows(a)) {
            return TxReceipt {
                tx: hash,
                verdict: TxVerdict::Rejected {
                    reason: e.to_string(),
                },
            };
        }
        // The station's own clock: offline decisions are re-judged by the ledger on handoff.
        let now = smart_ledger::Timestamp(smart_ledger::clock::now_ms());
        let applied = vm::apply(&mut self.provisional, &vm::TxInput::of(&tx, now));
        let pending = crate::outbox::Pending {
            tx: bytes,
            hash,
            based_on: self.replica.state_height(),
            local: applied.outcome.clone(),
            decided_at: now,
        };
        if let Err(e) = self.outbox.push(&pending) {
            return TxReceipt {
                tx: hash,
                verdict: TxVerdict::Rejected {
                    reason: e.to_string(),
                },
            };
        }
        TxReceipt {
            tx: hash,
            verdict: TxVerdict::Provisional {
                based_on: pending.based_on,
                outcome: applied.outcome,
            },
        }
    }

    /// Settles outbox entries whose final outcome is known: in the local
    /// ledger, or refused admission by a hub (`receipts`; never to be ordered).
    fn settle(
        &mut self,
        pending: &[(u64, crate::outbox::Pending)],
        receipts: &[Option<smart_consensus::TxReceipt>],
    ) {
        use smart_consensus::TxVerdict;
        let mut done = Vec::new();
        let mut overturned = Vec::new();
        for (i, (key, p)) in pending.iter().enumerate() {
            let known = match self.replica.store.locate_tx(&p.hash) {
                Ok(Some(loc)) => self
                    .replica
                    .store
                    .block(loc.height)
                    .ok()
                    .flatten()
                    .and_then(|b| b.outcomes.get(loc.position as usize).cloned())
                    .map(|o| (o, loc.height)),
                // Ordered by the hubs but not yet in the local ledger: kept
                // (and in the provisional state) until its block arrives, so
                // the actions that depend on it are judged with it.
                _ => match receipts.get(i).and_then(Option::as_ref).map(|r| &r.verdict) {
                    Some(TxVerdict::Rejected { reason }) => Some((
                        smart_ledger::Outcome::Refused {
                            code: 0,
                            reason: format!("not admitted by the hubs: {reason}"),
                        },
                        0,
                    )),
                    _ => None,
                },
            };
            if let Some((ledger, height)) = known {
                if ledger != p.local {
                    tracing::warn!(tx = %p.hash, local = ?p.local, ledger = ?ledger, "an offline decision was overturned by the ledger");
                    overturned.push(crate::outbox::Overturned {
                        hash: p.hash,
                        local: p.local.clone(),
                        based_on: p.based_on,
                        ledger,
                        height,
                    });
                }
                done.push(*key);
            }
        }
        if !done.is_empty() {
            if let Err(e) = self.outbox.settle(&done, &overturned) {
                tracing::error!(error = %e, "could not settle the outbox");
            }
            self.refresh();
        }
    }
}

fn lock(r: &Mutex<Station>) -> std::sync::MutexGuard<'_, Station> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the gateway serves.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The public HTTPS address.
    pub https: std::net::SocketAddr,
    /// TLS certificate (PEM).
    pub cert: std::path::PathBuf,
    /// TLS key (PEM).
    pub key: std::path::PathBuf,
    /// Requests per second per client.
    pub rate: u32,
}

/// The gateway's view of this peer (see [`smart_gateway::Backend`]).
#[derive(Debug)]
struct GatewayBackend {
    station: Arc<Mutex<Station>>,
    handle: P2pHandle,
    hubs: Vec<(PeerId, Multiaddr)>,
}

impl smart_gateway::Backend for GatewayBackend {
    fn broadcast_alert(&self, text: String) {
        let alert = p2p::Alert::Anomaly {
            source: "gateway".into(),
            what: text,
        };
        let handle = self.handle.clone();
        tokio::spawn(async move {
            handle
                .publish(p2p::ALERTS_TOPIC, smart_ledger::codec::encode_plain(&alert))
                .await;
        });
    }

    fn read<R>(&self, f: impl FnOnce(&State, &RedbStore) -> R) -> R {
        let st = lock(&self.station);
        f(&st.replica.state, &st.replica.store)
    }

    fn tip(&self) -> tokio::sync::watch::Receiver<u64> {
        lock(&self.station).tip.subscribe()
    }

    async fn submit(&self, tx: smart_ledger::Bytes) -> Result<smart_gateway::Submitted, String> {
        use smart_consensus::TxVerdict;
        use smart_gateway::Submitted;
        let mut last = "no hub configured".to_string();
        for (peer, addr) in &self.hubs {
            match self
                .handle
                .request(*peer, Some(addr.clone()), Request::Submit(vec![tx.clone()]))
                .await
            {
                Ok(Response::Receipts(r)) => {
                    let Some(r) = r.into_iter().next() else {
                        return Err("the hub answered no receipt".into());
                    };
                    return Ok(match r.verdict {
                        TxVerdict::Included { height, outcome } => {
                            Submitted::Included { height, outcome }
                        }
                        TxVerdict::Duplicate { height } => Submitted::Duplicate { height },
                        TxVerdict::Rejected { reason } => Submitted::Rejected(reason),
                        TxVerdict::Unavailable { reason } => {
                            // This hub cannot order it now: the next may.
                            last = reason;
                            continue;
                        }
                        TxVerdict::Provisional { .. } => {
                            Submitted::Rejected("a station answered instead of a hub".into())
                        }
                    });
                }
                Ok(Response::Refused(why)) => last = why,
                Ok(_) => last = "an answer of the wrong kind".into(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// Runs a station node (or, with `gateway`, the gateway) until SIGINT/SIGTERM.
pub async fn run(
    opts: &crate::run::RunOptions,
    key: Keypair,
    genesis: Genesis,
    gateway: Option<GatewayOptions>,
) -> Result<()> {
    let data = opts.data.as_path();
    let (listen, bootstrap, metrics) = (opts.listen.clone(), opts.bootstrap.clone(), opts.metrics);
    let snapshot_gap = opts.snapshot_gap;
    let role_name = if gateway.is_some() { "gateway" } else { "node" };
    let replica = Arc::new(Mutex::new(Station::open(data, &genesis)?));
    let name = crate::specialists::peer_name(&genesis, &key.id());
    let anomalies_flagged: Arc<std::sync::atomic::AtomicU64> = Arc::default();
    let recent_calls = smart_gateway::access_log::RecentCalls::default();
    let board: Arc<Mutex<p2p::NoticeBoard>> = Arc::default();
    let (registry, (handle, mut inbound, mut gossip), _my_addr) =
        crate::run::start_network(&key, &genesis, listen, metrics.is_some()).await?;
    if let (Some(addr), Some(registry)) = (metrics, registry) {
        let probe = replica.clone();
        let flagged = anomalies_flagged.clone();
        let calls = recent_calls.clone();
        let probe_board = board.clone();
        let probe_name = format!("{role_name} {}", key.id().short());
        let station_name = name.clone();
        let backup_replica = replica.clone();
        let backup = crate::backup::hook(data.to_path_buf(), move |file| {
            // Ledger and outbox frozen under one lock: they match.
            let st = lock(&backup_replica);
            st.outbox
                .copy_to(&crate::backup::outbox_beside(file))
                .map_err(|e| e.to_string())?;
            st.replica.store.snapshot().map_err(|e| e.to_string())
        });
        let bound = crate::metrics::serve(
            addr,
            registry,
            move || {
                let (peers, alerts) = probe_board.lock().unwrap_or_else(|p| p.into_inner()).view();
                let st = lock(&probe);
                crate::metrics::Snapshot {
                    name: probe_name.clone(),
                    peers,
                    alerts,
                    anomalies: flagged.load(std::sync::atomic::Ordering::Relaxed),
                    api_calls: calls
                        .list()
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {} {} {} {} ({} B in)",
                                r.at_ms, r.status, r.method, r.route, r.client, r.bytes_in
                            )
                        })
                        .collect(),
                    height: st.height(),
                    state_height: st.replica.state_height(),
                    snapshots_installed: st.snapshots_installed,
                    tip: st.replica.store.tip().hash.to_string(),
                    txs: st.replica.store.tip().acc.size(),
                    certified: st.height(),
                    leader_known: true,
                    outbox_pending: st.outbox.pending().map(|p| p.len() as u64).unwrap_or(0),
                    overturned: st.outbox.overturned().map(|o| o.len() as u64).unwrap_or(0),
                    station_decisions: st
                        .provisional
                        .floor
                        .decisions
                        .iter()
                        .filter(|((station, _, _), _)| *station == station_name)
                        .map(|((_, m, v), n)| {
                            (
                                m.name().to_string(),
                                crate::kiosk::verdict_name(*v).to_string(),
                                *n,
                            )
                        })
                        .collect(),
                    ..Default::default()
                }
            },
            Some(backup),
        )
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
        crate::run::announce(&format!("metrics http://{bound}/metrics"));
    }
    for addr in &bootstrap {
        handle.dial(addr.clone()).await;
    }
    let sources: Vec<(PeerId, Multiaddr)> = bootstrap
        .iter()
        .filter_map(|a| crate::run::split_p2p(a).map(|p| (p, a.clone())))
        .collect();
    let chain_id = genesis.chain_id();

    // Requests from others: status and block ranges; nothing is ordered here.
    let is_gateway = gateway.is_some();
    let r = replica.clone();
    let h = handle.clone();
    tokio::spawn(async move {
        while let Some(req) = inbound.recv().await {
            let response = {
                let mut rep = lock(&r);
                match req.request {
                    Request::Submit(_) if is_gateway => Response::Refused(
                        "the gateway takes no txs from peers; submit to a hub".into(),
                    ),
                    Request::Submit(txs) => Response::Receipts(
                        txs.into_iter().map(|t| rep.decide(t, &chain_id)).collect(),
                    ),
                    Request::Status => Response::Status(PeerStatus {
                        chain_id,
                        height: rep.height(),
                        tip: rep.replica.store.tip().hash,
                        leader: None,
                        node_id: 0,
                        certified: rep.height(),
                    }),
                    Request::Blocks { from, to } => rep
                        .replica
                        .store
                        .certified_range(from, to)
                        .map(Response::Blocks)
                        .unwrap_or_else(|e| Response::Refused(e.to_string())),
                    Request::Snapshot => rep
                        .replica
                        .snapshot()
                        .map(|s| Response::Snapshot(Box::new(s)))
                        .unwrap_or_else(Response::Refused),
                    _ => Response::Refused(
                        "station nodes answer Status, Blocks and Snapshot only".into(),
                    ),
                }
            };
            h.respond(req.channel, response).await;
        }
    });

    // Station I/O: the interlock follows the provisional state; an e-stop
    // latches the station locked and records a Safety alert signed by this node.
    // InfoBroadcast: this station's status every few seconds.
    let panel: Arc<crate::kiosk::Panel> = Arc::default();
    let (info_r, info_h, info_name) = (replica.clone(), handle.clone(), name.clone());
    let info_panel = panel.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let info = {
                let st = lock(&info_r);
                p2p::Info {
                    name: info_name.clone(),
                    role: role_name.into(),
                    height: st.height(),
                    tip: st.replica.store.tip().hash,
                    at_ms: smart_ledger::clock::now_ms(),
                }
            };
            info_h
                .publish(p2p::INFO_TOPIC, smart_ledger::codec::encode_plain(&info))
                .await;
            info_panel
                .info_sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let sources_for_gateway: Vec<(PeerId, Multiaddr)> = bootstrap
        .iter()
        .filter_map(|a| crate::run::split_p2p(a).map(|p| (p, a.clone())))
        .collect();
    let mut station_kiosk = None;
    if let Some(g) = gateway {
        let backend = Arc::new(GatewayBackend {
            station: replica.clone(),
            handle: handle.clone(),
            hubs: sources_for_gateway,
        });
        let tls = smart_gateway::tls::load(&g.cert, &g.key).await?;
        let mut config = smart_gateway::GatewayConfig::new(data.join("uploads"));
        config.client_rate = g.rate;
        config.anomalies_flagged = anomalies_flagged.clone();
        config.recent_calls = recent_calls.clone();
        let app = smart_gateway::App::new(backend, key, config);
        let running = smart_gateway::serve(app, g.https, tls).await?;
        crate::run::announce(&format!("https https://{}/", running.addr));
    } else {
        let cfg = crate::specialists::StationConfig {
            name: name.clone(),
            equipment: opts.equipment.clone(),
            logistics: opts.logistics,
        };
        let kiosk = Arc::new(crate::kiosk::Kiosk::new(
            replica.clone(),
            cfg.clone(),
            key.clone(),
            chain_id,
            panel.clone(),
        ));
        let bound = crate::kiosk::serve(kiosk.clone(), opts.kiosk, data)
            .await
            .with_context(|| format!("serving the kiosk on {}", opts.kiosk))?;
        crate::run::announce(&format!("kiosk http://{bound}/"));
        station_kiosk = Some(kiosk.clone());
        let mut controller = crate::station_io::Controller::new(station_io()?, &cfg.interlock())
            .with_panel(panel.clone());
        let r = replica.clone();
        let alert_handle = handle.clone();
        tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ticks += 1;
                if ticks.is_multiple_of(20) {
                    // MaintenanceNode: overdue calibration locks the equipment out.
                    let k = kiosk.clone();
                    let _ = tokio::task::spawn_blocking(move || k.check_maintenance()).await;
                }
                let events = {
                    let st = lock(&r);
                    controller.tick(st.provisional())
                };
                match events {
                    Ok(events) => {
                        for e in events {
                            let what = match e {
                                crate::station_io::StationEvent::EstopPressed => "e-stop pressed",
                                crate::station_io::StationEvent::DoorOpenedWhileUnlocked => {
                                    "cell door opened while unlocked"
                                }
                            };
                            tracing::warn!(station = %name, "safety incident: {what}");
                            // AlertBroadcast: peers hear of it at once.
                            let alert = p2p::Alert::Safety {
                                station: name.clone(),
                                what: what.to_string(),
                            };
                            alert_handle
                                .publish(
                                    p2p::ALERTS_TOPIC,
                                    smart_ledger::codec::encode_plain(&alert),
                                )
                                .await;
                            panel
                                .alerts_sent
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            // SafetyNode: recorded, and the station's equipment locked out.
                            let k = kiosk.clone();
                            let _ = tokio::task::spawn_blocking(move || k.incident(what)).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "station I/O failed; the interlock stays as it was")
                    }
                }
            }
        });
    }

    // Catch-up from the hubs it was given, and the outbox handed off.
    let r = replica.clone();
    let h = handle.clone();
    let handoff_kiosk = station_kiosk;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            catch_up(&r, &h, &sources, snapshot_gap).await;
            let handed = hand_off(&r, &h, &sources).await;
            if handed != HandOff::Nothing {
                tracing::debug!(?handed, "outbox hand-off");
            }
            let Some(k) = &handoff_kiosk else { continue };
            match handed {
                HandOff::NoHub => k.hubs_unreachable(),
                HandOff::Delivered { entries, .. } => {
                    // HandoffNode: what was decided while no hub answered reached one.
                    if let Some(since) = k.hubs_reachable() {
                        let k = k.clone();
                        let secs = smart_ledger::clock::now_ms().saturating_sub(since) / 1000;
                        let _ =
                            tokio::task::spawn_blocking(move || k.handed_off(entries, secs)).await;
                    }
                }
                HandOff::Nothing => {}
            }
        }
    });

    // Gossip: check, apply, and tell gossipsub whether to forward. A peer
    // whose gossip is refused twice is cut off.
    let stop = crate::run::wait_for_shutdown();
    tokio::pin!(stop);
    let mut refused: std::collections::HashMap<PeerId, u32> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            msg = gossip.recv() => {
                let Some(msg) = msg else { break };
                if msg.topic != p2p::BLOCKS_TOPIC {
                    let verdict = p2p::judge_notice(&msg);
                    if verdict == Verdict::Accept {
                        board.lock().unwrap_or_else(|p| p.into_inner()).record(&msg);
                    }
                    handle.validate(msg.id, msg.source, verdict).await;
                    continue;
                }
                let verdict = match CertifiedBlock::decode(&msg.data) {
                    Err(e) => {
                        tracing::warn!(peer = %msg.source, error = %e, "undecodable block gossip");
                        Verdict::Reject
                    }
                    Ok(cb) => {
                        let mut rep = lock(&replica);
                        let next = rep.height() + 1;
                        if cb.block.header.height != next {
                            // Old, or ahead of us (catch-up fetches the gap).
                            Verdict::Ignore
                        } else {
                            match rep.apply(&cb) {
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
                    }
                };
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
    }
    Ok(())
}

/// The station's I/O backend: GPIO on a Pi (feature `rpi`), else simulated.
fn station_io() -> Result<Box<dyn crate::station_io::StationIo>> {
    #[cfg(feature = "rpi")]
    {
        // BCM pins: interlock relay 17, alarm light 27, e-stop 22, door switch 23.
        Ok(Box::new(crate::station_io::GpioIo::new(17, 27, 22, 23)?))
    }
    #[cfg(not(feature = "rpi"))]
    {
        Ok(Box::new(crate::station_io::SimulatedIo::default()))
    }
}

/// Sends the outbox to the first hub that answers; settles what is final.
async fn hand_off(
    station: &Arc<Mutex<Station>>,
    handle: &P2pHandle,
    sources: &[(PeerId, Multiaddr)],
) -> HandOff {
    let pending = match lock(station).outbox.pending() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading the outbox");
            return HandOff::Nothing;
        }
    };
    if pending.is_empty() {
        return HandOff::Nothing;
    }
    // First settle what the local ledger already holds.
    lock(station).settle(&pending, &[]);
    let pending = match lock(station).outbox.pending() {
        Ok(p) if !p.is_empty() => p,
        _ => return HandOff::Nothing,
    };
    let batch: Vec<_> = pending.into_iter().take(256).collect();
    let txs: Vec<smart_ledger::Bytes> = batch.iter().map(|(_, p)| p.tx.clone()).collect();
    for (peer, addr) in sources {
        if let Ok(Response::Receipts(receipts)) = handle
            .request(*peer, Some(addr.clone()), Request::Submit(txs.clone()))
            .await
        {
            let receipts: Vec<Option<smart_consensus::TxReceipt>> =
                receipts.into_iter().map(Some).collect();
            lock(station).settle(&batch, &receipts);
            let oldest = batch.iter().map(|(_, p)| p.decided_at.0).min().unwrap_or(0);
            return HandOff::Delivered {
                entries: batch.len(),
                waited_ms: smart_ledger::clock::now_ms().saturating_sub(oldest),
            };
        }
    }
    HandOff::NoHub
}

/// What one hand-off round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandOff {
    /// The outbox was empty (or already in the local ledger).
    Nothing,
    /// This many entries reached a hub; the oldest had waited this long.
    Delivered { entries: usize, waited_ms: u64 },
    /// No hub answered.
    NoHub,
}

/// A catch-up longer than this many blocks draws a progress bar (on a
/// terminal) and logs its rate.
const CATCH_UP_BAR_BLOCKS: u64 = 64;

async fn catch_up(
    replica: &Arc<Mutex<Station>>,
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
            (st.height(), st.replica.base.is_some())
        };
        if status.height > mine.saturating_add(snapshot_gap) && !installing {
            install_snapshot(replica, handle, *peer, addr).await;
        }
        let first = lock(replica).height();
        let started = std::time::Instant::now();
        let bar = if status.height > first + CATCH_UP_BAR_BLOCKS {
            tracing::info!(%peer, from = first, to = status.height, "catching up");
            crate::progress::bar(
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
                    crate::progress::release_free_memory();
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
async fn install_snapshot(
    replica: &Arc<Mutex<Station>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devgen::{self, DevSigners};

    /// A fresh network folder, its signers and an empty replica of station-1.
    fn setup() -> (tempfile::TempDir, Genesis, DevSigners, Replica) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("net");
        let genesis = crate::init::create(&root, 3, 1, "replica-test").expect("init");
        let signers = DevSigners::load(&root, &genesis).expect("signers");
        let replica = Replica::open(&root.join("station-1"), &genesis).expect("open");
        (tmp, genesis, signers, replica)
    }

    /// Block 1: real signed txs, the VM's outcomes and state root, no signatures yet.
    fn next_block(genesis: &Genesis, signers: &DevSigners, replica: &Replica) -> Block {
        block_after(genesis, signers, replica, 0)
    }

    /// The next block after the replica's tip, with txs from `first_tx` on.
    fn block_after(
        genesis: &Genesis,
        signers: &DevSigners,
        replica: &Replica,
        first_tx: u64,
    ) -> Block {
        let txs = devgen::sign_txs(genesis, signers, first_tx, 8).expect("sign");
        let mut state = replica.state.clone();
        let tip = replica.store.tip().clone();
        let time = smart_ledger::Timestamp(1_790_000_001_000 + tip.height);
        let (outcomes, _) = vm::apply_block(&mut state, &txs, time);
        tip.next_block(txs, outcomes, state.root(), tip.height + 1, time)
    }

    /// A block fetched with its certificate, as gossip carries it.
    fn fetched(block: &Block, cert: &BlockCert) -> CertifiedBlock {
        CertifiedBlock {
            block: block.clone(),
            cert: cert.clone(),
        }
    }

    /// An empty replica in a new folder beside station-1's.
    fn another(tmp: &tempfile::TempDir, genesis: &Genesis, name: &str) -> Replica {
        let dir = tmp.path().join("net").join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        Replica::open(&dir, genesis).expect("open")
    }

    /// Applies `blocks` blocks certified by every hub; txs numbered from `first_tx`.
    fn grow(
        genesis: &Genesis,
        signers: &DevSigners,
        replica: &mut Replica,
        blocks: u64,
        first_tx: u64,
    ) {
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();
        for i in 0..blocks {
            let block = block_after(genesis, signers, replica, first_tx + i * 8);
            replica.apply(&certified(&block, &hubs)).expect("apply");
        }
    }

    fn certified(block: &Block, signers: &[&Keypair]) -> CertifiedBlock {
        let mut cert = BlockCert::new(&block.header);
        for k in signers {
            cert.sign(k);
        }
        CertifiedBlock {
            block: block.clone(),
            cert,
        }
    }

    #[test]
    fn a_replica_refuses_blocks_without_a_hub_majority_or_with_a_forgery_and_stores_nothing() {
        let (_tmp, genesis, signers, mut replica) = setup();
        let block = next_block(&genesis, &signers, &replica);
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();

        // Too few hub signatures: one of three.
        let err = replica
            .apply(&certified(&block, &hubs[..1]))
            .expect_err("one signature of three");
        assert!(err.contains("block 1"), "{err}");

        // Enough signers, but not hubs (people's keys).
        let people: Vec<&Keypair> = signers.authors.iter().collect();
        assert!(replica.apply(&certified(&block, &people)).is_err());

        // Two hub signatures, one of them forged.
        let mut forged = certified(&block, &hubs[..2]);
        forged.cert.signatures[1].signature.0[7] ^= 1;
        assert!(replica.apply(&forged).is_err());

        // A tx signature forged inside a well-certified block: its header
        // no longer matches (the tx root), and the tx fails on its own.
        let mut bad = block.clone();
        let mut signature = *bad.txs[3].signature();
        signature.0[5] ^= 1;
        bad.txs[3] =
            smart_ledger::SignedTx::from_parts(bad.txs[3].body_bytes().to_vec(), signature)
                .expect("same body");
        assert!(replica.apply(&certified(&bad, &hubs)).is_err());

        // A block whose state root the VM here does not reproduce.
        let mut wrong_root = block.clone();
        wrong_root.header.state_root = Hash::of(b"another state");
        assert!(replica.apply(&certified(&wrong_root, &hubs)).is_err());

        assert_eq!(replica.height(), 0, "a refused block was stored");

        // The honest block with a majority (two of three) is applied.
        replica
            .apply(&certified(&block, &hubs[..2]))
            .expect("a majority of hubs");
        assert_eq!(replica.height(), 1);
    }

    #[test]
    fn a_node_installs_a_certified_snapshot_and_fills_in_the_blocks_behind_it() {
        let (tmp, genesis, signers, mut source) = setup();
        grow(&genesis, &signers, &mut source, 6, 0);
        let mut fresh = another(&tmp, &genesis, "station-2");
        let snap = source.snapshot().expect("snapshot");
        assert_eq!(snap.header.height, 6);

        // Refused, and nothing changes: a state that is not the certified one,
        // a certificate short of a majority, one by keys that are not hubs.
        let mut wrong_state = snap.clone();
        wrong_state.state.0.push(0);
        let err = fresh
            .install_snapshot(&wrong_state)
            .expect_err("wrong state");
        assert!(err.contains("state root"), "{err}");
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();
        let mut one_hub = snap.clone();
        one_hub.cert = BlockCert::new(&snap.header);
        one_hub.cert.sign(hubs[0]);
        let err = fresh.install_snapshot(&one_hub).expect_err("one of three");
        assert!(err.contains("not certified"), "{err}");
        let mut not_hubs = snap.clone();
        not_hubs.cert = BlockCert::new(&snap.header);
        for k in &signers.authors {
            not_hubs.cert.sign(k);
        }
        assert!(fresh.install_snapshot(&not_hubs).is_err());
        assert_eq!((fresh.height(), fresh.state_height()), (0, 0));

        // The certified snapshot: the state at 6 at once, the chain still at 0.
        fresh.install_snapshot(&snap).expect("install");
        assert_eq!((fresh.height(), fresh.state_height()), (0, 6));
        assert_eq!(fresh.state.root(), source.state.root());
        assert!(
            fresh.snapshot().is_err(),
            "a node filling in serves no snapshot"
        );

        // A block past the snapshot waits for the ones before it.
        let past = source.store.certified_range(1, 6).expect("range");
        let err = fresh
            .apply(&CertifiedBlock {
                block: past[1].0.clone(),
                cert: past[1].1.clone(),
            })
            .expect_err("gap");
        assert!(err.contains("does not follow"), "{err}");

        // The state survives a restart while filling in.
        for (block, cert) in past.iter().take(3) {
            fresh.apply(&fetched(block, cert)).expect("backfill");
        }
        drop(fresh);
        let mut fresh = Replica::open(&tmp.path().join("net/station-2"), &genesis).expect("reopen");
        assert_eq!((fresh.height(), fresh.state_height()), (3, 6));
        for (block, cert) in past.iter().skip(3) {
            fresh.apply(&fetched(block, cert)).expect("backfill");
        }
        assert_eq!((fresh.height(), fresh.state_height()), (6, 6));
        assert_eq!(fresh.store.tip(), source.store.tip());

        // Then blocks after the snapshot are applied through the VM again.
        grow(&genesis, &signers, &mut source, 1, 1000);
        let next = source.store.certified_range(7, 7).expect("range");
        fresh
            .apply(&CertifiedBlock {
                block: next[0].0.clone(),
                cert: next[0].1.clone(),
            })
            .expect("after the snapshot");
        assert_eq!(fresh.state.root(), source.state.root());
        let report = smart_ledger::audit::verify_ledger(&fresh.store, |_, _| {}).expect("verify");
        assert_eq!(report.blocks, 7);
    }

    #[test]
    fn a_chain_that_does_not_lead_to_the_snapshot_header_is_refused_there() {
        let (tmp, genesis, signers, mut source) = setup();
        grow(&genesis, &signers, &mut source, 3, 0);
        // Another chain, certified by the same hubs, with other txs.
        let mut other = another(&tmp, &genesis, "station-3");
        grow(&genesis, &signers, &mut other, 3, 500);
        let mut fresh = another(&tmp, &genesis, "station-2");
        fresh
            .install_snapshot(&source.snapshot().expect("snapshot"))
            .expect("install");
        let theirs = other.store.certified_range(1, 3).expect("range");
        for (block, cert) in theirs.iter().take(2) {
            fresh
                .apply(&fetched(block, cert))
                .expect("certified, so stored");
        }
        let err = fresh
            .apply(&CertifiedBlock {
                block: theirs[2].0.clone(),
                cert: theirs[2].1.clone(),
            })
            .expect_err("not the snapshot's header");
        assert!(err.contains("differs from the header"), "{err}");
        assert_eq!((fresh.height(), fresh.state_height()), (2, 3));
    }
}
