//! A running hub: openraft over our stores, a bounded submission queue,
//! a batcher that turns submissions into Raft entries (by count and a short
//! time window), forwarding to the leader, and the exchange of header
//! signatures that makes certificates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Bytes, Genesis, Keypair, SignedTx, SmartId, Timestamp};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::log_store::LogStore;
use crate::machine::{HubMachine, Ledger};
use crate::transport::{Network, SignedHeader, Transport};
use crate::types::{Batch, HubNode, Raft, TxReceipt, TxVerdict, node_id};
use crate::verified::VerifiedSignatures;

/// Tunables of a hub.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Raft heartbeat (also the AppendEntries RPC timeout), ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_ms: (u64, u64),
    /// Most txs in one batch (one Raft entry, one block).
    pub max_batch: usize,
    /// How long the batcher waits to fill a batch.
    pub batch_window: Duration,
    /// Submissions waiting for a batch; beyond this a submit is refused as busy.
    pub queue: usize,
    /// Batches in flight through Raft at once.
    pub inflight_batches: usize,
    /// Build a snapshot after this many log entries.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot (lagging hubs replay these instead of a snapshot).
    pub keep_logs: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            heartbeat_ms: 75,
            election_ms: (300, 500),
            max_batch: 1024,
            batch_window: Duration::from_millis(2),
            queue: 16_384,
            inflight_batches: 4,
            snapshot_every: 2_000,
            keep_logs: 500,
        }
    }
}

/// A submission could not be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: back off and retry.
    #[error("hub is busy: submission queue full")]
    Busy,
    /// The tx is refused before ordering (bad bytes, wrong chain, unknown author, bad signature).
    #[error("refused: {0}")]
    Refused(String),
    /// No leader is known right now (election in progress or no quorum).
    #[error("no leader: {0}")]
    NoLeader(String),
    /// The hub is shutting down.
    #[error("hub is stopping")]
    Stopping,
}

impl SubmitError {
    /// The verdict a submitter gets: `Rejected` when the tx itself was
    /// refused, `Unavailable` (retry) when the hub could not order it now.
    pub fn verdict(&self) -> TxVerdict {
        match self {
            SubmitError::Refused(reason) => TxVerdict::Rejected {
                reason: reason.clone(),
            },
            SubmitError::Busy | SubmitError::NoLeader(_) | SubmitError::Stopping => {
                TxVerdict::Unavailable {
                    reason: self.to_string(),
                }
            }
        }
    }
}

/// A hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The ledger store.
    #[error("ledger store: {0}")]
    Store(#[from] smart_ledger::store::StoreError),
    /// The Raft log or state machine.
    #[error("raft storage: {0}")]
    Storage(String),
    /// openraft refused to start.
    #[error("raft: {0}")]
    Raft(String),
}

/// Txs ordered together, in this order, in one batch (one Raft entry, one
/// block): the admitted txs of one request, or one batch forwarded to the
/// leader. The batcher never splits a unit, so a station handing off its
/// outbox gets its actions judged in the order it decided them.
struct Submission {
    txs: Vec<Bytes>,
    reply: oneshot::Sender<Result<Vec<TxReceipt>, SubmitError>>,
}

/// A running hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub<T: Transport> {
    /// Raft node id.
    pub id: u64,
    /// SMART-ID.
    pub peer: SmartId,
    /// The Raft handle.
    pub raft: Raft,
    /// The ledger (store + contract state), shared with the state machine.
    pub ledger: Arc<Mutex<Ledger>>,
    chain_id: smart_ledger::Hash,
    submissions: mpsc::Sender<Submission>,
    transport: T,
    stop: watch::Sender<bool>,
    /// Height up to which every certificate is final; moved forward as soon
    /// as a signature completes a majority.
    certified: Arc<watch::Sender<u64>>,
    /// Signatures checked at admission, so applying does not check them again.
    verified: Arc<VerifiedSignatures>,
    /// Most txs ordered as one unit.
    max_batch: usize,
}

impl<T: Transport> std::fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hub({} {})", self.id, self.peer.short())
    }
}

impl<T: Transport> Hub<T> {
    /// Opens the hub's stores in `dir` and starts Raft, the batcher and the
    /// signature exchange.
    pub async fn start(
        dir: &Path,
        genesis: &Genesis,
        key: Keypair,
        transport: T,
        config: HubConfig,
    ) -> Result<Hub<T>, HubError> {
        let store = RedbStore::open_or_create(&dir.join(RedbStore::FILE_NAME), genesis)?;
        let log =
            LogStore::open(&dir.join("raft.redb")).map_err(|e| HubError::Storage(e.to_string()))?;
        let peer = key.id();
        let id = node_id(&peer);
        let (signed_tx, signed_rx) = mpsc::channel(1024);
        let (machine, ledger) =
            HubMachine::open(store, Arc::new(key), signed_tx, transport.clone())
                .map_err(|e| HubError::Storage(e.to_string()))?;
        let publishing = machine.publishing();
        let verified = machine.verified();
        let raft_config = openraft::Config {
            cluster_name: format!("smart-{}", genesis.chain_id().short()),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.election_ms.0,
            election_timeout_max: config.election_ms.1,
            install_snapshot_timeout: 2_000,
            max_payload_entries: 64,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.keep_logs,
            purge_batch_size: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| HubError::Raft(e.to_string()))?;
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            Network::new(transport.clone()),
            log,
            machine,
        )
        .await
        .map_err(|e| HubError::Raft(e.to_string()))?;
        let (submissions, queue) = mpsc::channel(config.queue);
        let (stop, _) = watch::channel(false);
        let certified = Arc::new(watch::channel(0).0);
        let hub = Hub {
            id,
            peer,
            raft,
            ledger,
            chain_id: genesis.chain_id(),
            submissions,
            transport,
            stop,
            certified,
            verified,
            max_batch: config.max_batch,
        };
        tokio::spawn(hub.clone().batcher(queue, config));
        tokio::spawn(hub.clone().signature_exchange(signed_rx, publishing));
        tokio::spawn(hub.clone().certificate_repair());
        tokio::spawn(hub.clone().membership_reconciler());
        Ok(hub)
    }

    /// Makes the genesis hubs the first Raft membership. Call on one hub
    /// only, once; later calls are harmless.
    pub async fn initialize(&self, members: BTreeMap<u64, HubNode>) -> Result<(), HubError> {
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(openraft::error::RaftError::APIError(
                openraft::error::InitializeError::NotAllowed(_),
            )) => Ok(()),
            Err(e) => Err(HubError::Raft(e.to_string())),
        }
    }

    /// Submits a signed tx; answers after it is committed and applied, with
    /// its block height and outcome.
    pub async fn submit(&self, tx: Bytes) -> Result<TxReceipt, SubmitError> {
        self.submit_many(vec![tx])
            .await
            .pop()
            .unwrap_or(Err(SubmitError::Stopping))
    }

    /// Submits signed txs that are ordered as given: each is admitted on its
    /// own (a refused one is answered and left out), the rest are committed
    /// in this order, in one block when they fit in one batch
    /// ([`HubConfig::max_batch`]), else in consecutive blocks. One answer per
    /// tx, in the same order.
    pub async fn submit_many(&self, txs: Vec<Bytes>) -> Vec<Result<TxReceipt, SubmitError>> {
        let mut answers: Vec<Option<Result<TxReceipt, SubmitError>>> =
            Vec::with_capacity(txs.len());
        let mut admitted = Vec::with_capacity(txs.len());
        for (i, tx) in txs.into_iter().enumerate() {
            // A signature check is ~50 µs of CPU: let other tasks (Raft RPCs)
            // run between them rather than after a whole request's worth.
            tokio::task::yield_now().await;
            match self.admit(&tx) {
                Ok(()) => {
                    admitted.push((i, tx));
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        for unit in admitted.chunks(self.max_batch.max(1)) {
            let receipts = self
                .enqueue(unit.iter().map(|(_, tx)| tx.clone()).collect())
                .await;
            for (k, (i, _)) in unit.iter().enumerate() {
                answers[*i] = Some(match &receipts {
                    Ok(r) => r.get(k).cloned().ok_or(SubmitError::Stopping),
                    Err(e) => Err(e.clone()),
                });
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(SubmitError::Stopping)))
            .collect()
    }

    /// Takes txs another hub already admitted (forwarded to this leader),
    /// keeping their order.
    pub async fn submit_forwarded(&self, txs: Vec<Bytes>) -> Vec<TxReceipt> {
        let n = txs.len();
        match self.enqueue(txs).await {
            Ok(receipts) => receipts,
            Err(e) => (0..n)
                .map(|_| TxReceipt {
                    tx: smart_ledger::Hash::ZERO,
                    verdict: e.verdict(),
                })
                .collect(),
        }
    }

    /// The checks made before a tx is queued: size, decoding, chain, known
    /// author and the strict signature rule.
    ///
    /// The ledger lock is held only to look the author up: the signature
    /// check (the expensive part) runs beside other admissions and applying.
    fn admit(&self, tx: &Bytes) -> Result<(), SubmitError> {
        let decoded = SignedTx::decode(&tx.0).map_err(|e| SubmitError::Refused(e.to_string()))?;
        let known = {
            let ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
            ledger.state().knows(&decoded.author())
        };
        decoded
            .check_admission(&self.chain_id, |_| known)
            .map_err(|e| SubmitError::Refused(e.to_string()))?;
        self.verified.insert(decoded.leaf_hash());
        Ok(())
    }

    fn enqueue(
        &self,
        txs: Vec<Bytes>,
    ) -> impl std::future::Future<Output = Result<Vec<TxReceipt>, SubmitError>> + Send + 'static
    {
        let (reply, answer) = oneshot::channel();
        let sent = self.submissions.try_send(Submission { txs, reply });
        async move {
            match sent {
                Ok(()) => answer.await.unwrap_or(Err(SubmitError::Stopping)),
                Err(mpsc::error::TrySendError::Full(_)) => Err(SubmitError::Busy),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Stopping),
            }
        }
    }

    /// Another hub's header signature.
    pub fn receive_signature(&self, signed: SignedHeader) -> Result<(), String> {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let added = l.add_signature(signed);
        self.advance_certified(&l);
        added
    }

    /// Moves the certified height over every block that is final now.
    fn advance_certified(&self, l: &Ledger) {
        let start = *self.certified.borrow();
        let mut h = start;
        while h < l.store.tip().height && l.is_final(h + 1) {
            h += 1;
        }
        if h > start {
            self.certified.send_replace(h);
        }
    }

    /// The contract state after the tip, with the tip's header and final
    /// certificate: what a node far behind installs instead of replaying
    /// every block. Waits (up to 2 s) for that certificate to become final.
    pub async fn certified_state(
        &self,
    ) -> Result<(smart_ledger::BlockHeader, smart_ledger::BlockCert, Vec<u8>), String> {
        let (header, state) = self
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state_at_tip()?;
        let height = header.height;
        let mut certified = self.certified.subscribe();
        match tokio::time::timeout(Duration::from_secs(2), certified.wait_for(|c| *c >= height))
            .await
        {
            Ok(Ok(_)) => {}
            _ => return Err(format!("block {height} was not certified within 2 s")),
        }
        let cert = self
            .certs(height, height)?
            .pop()
            .ok_or_else(|| format!("no certificate at {height}"))?;
        Ok((header, cert, state))
    }

    /// Blocks with certificates, for a hub or node catching up.
    pub fn blocks(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(smart_ledger::Block, smart_ledger::BlockCert)>, String> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks(from, to)
    }

    /// Certificates, for a hub completing its own.
    pub fn certs(&self, from: u64, to: u64) -> Result<Vec<smart_ledger::BlockCert>, String> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .certs(from, to)
    }

    /// Is `id` in the current hub set (from the ledger)?
    pub fn is_hub(&self, id: &SmartId) -> bool {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state()
            .hubs
            .contains_key(id)
    }

    /// On the leader: makes Raft's voters follow the hub set in the ledger.
    /// A new hub joins as a learner, catches up, then becomes a voter; a
    /// removed hub leaves the membership.
    async fn membership_reconciler(self) {
        let stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = Self::stopped(stop.clone()) => return,
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
            if self.raft.current_leader().await != Some(self.id) {
                continue;
            }
            let desired: BTreeMap<u64, HubNode> = {
                let l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
                l.state()
                    .hubs
                    .iter()
                    .map(|(id, addr)| {
                        (
                            node_id(id),
                            HubNode {
                                peer: id.to_string(),
                                addr: addr.clone(),
                            },
                        )
                    })
                    .collect()
            };
            let membership = self
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .clone();
            let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
            let known: std::collections::BTreeSet<u64> =
                membership.nodes().map(|(id, _)| *id).collect();
            let mut ready = true;
            for (id, node) in &desired {
                if !known.contains(id) {
                    tracing::info!(hub = %node.peer, "adding a hub as a learner");
                    if let Err(e) = self.raft.add_learner(*id, node.clone(), true).await {
                        tracing::warn!(hub = %node.peer, error = %e, "could not add the hub yet");
                        ready = false;
                    }
                }
            }
            let want: std::collections::BTreeSet<u64> = desired.keys().copied().collect();
            if ready && want != voters && !want.is_empty() {
                tracing::info!(
                    voters = want.len(),
                    "changing the Raft voters to the ledger's hub set"
                );
                if let Err(e) = self.raft.change_membership(want, false).await {
                    tracing::warn!(error = %e, "membership change not done yet");
                }
            }
        }
    }

    /// The height up to which every certificate this hub holds is final.
    pub fn certified_height(&self) -> u64 {
        *self.certified.borrow()
    }

    /// Watches the certified height (see [`Hub::certified_height`]).
    pub fn watch_certified(&self) -> watch::Receiver<u64> {
        self.certified.subscribe()
    }

    /// Stops Raft and the hub's tasks; the stores close when the last task ends.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let _ = self.raft.shutdown().await;
        let flushed = self
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .store
            .flush();
        if let Err(e) = flushed {
            tracing::error!(error = %e, "flushing the ledger at shutdown failed; Raft will re-apply on restart");
        }
    }

    /// Resolves when shutdown was asked for.
    async fn stopped(mut stop: watch::Receiver<bool>) {
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Pulls the signatures this hub is missing (it was down or cut off when
    /// they were sent) until every certificate it holds is final.
    async fn certificate_repair(self) {
        let stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = Self::stopped(stop.clone()) => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let (cursor, tip) = {
                let l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
                self.advance_certified(&l);
                (self.certified_height() + 1, l.store.tip().height)
            };
            if cursor > tip {
                continue;
            }
            let members: Vec<(u64, HubNode)> = {
                let m = self.raft.metrics().borrow().membership_config.clone();
                m.nodes()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(id, n)| (*id, n.clone()))
                    .collect()
            };
            for (id, node) in members {
                let Ok(certs) = self.transport.certs(id, &node, cursor, tip).await else {
                    continue;
                };
                let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
                for cert in certs {
                    for s in cert.signatures {
                        let _ = l.add_signature(SignedHeader {
                            height: cert.height,
                            header_hash: cert.header_hash,
                            header: None,
                            hub: s.hub,
                            signature: s.signature,
                        });
                    }
                }
            }
        }
    }

    async fn batcher(self, mut queue: mpsc::Receiver<Submission>, config: HubConfig) {
        let inflight = Arc::new(Semaphore::new(config.inflight_batches.max(1)));
        let stop = self.stop.subscribe();
        loop {
            let first = tokio::select! {
                _ = Self::stopped(stop.clone()) => return,
                s = queue.recv() => match s { Some(s) => s, None => return },
            };
            let mut size = first.txs.len();
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + config.batch_window;
            while size < config.max_batch {
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(s)) => {
                        size += s.txs.len();
                        batch.push(s);
                    }
                    _ => break,
                }
            }
            let Ok(permit) = inflight.clone().acquire_owned().await else {
                return;
            };
            let hub = self.clone();
            tokio::spawn(async move {
                hub.order(batch).await;
                drop(permit);
            });
        }
    }

    /// Puts a batch through Raft here if this hub leads, else forwards it.
    async fn order(&self, batch: Vec<Submission>) {
        let txs: Vec<Bytes> = batch.iter().flat_map(|s| s.txs.iter().cloned()).collect();
        let mut waited = Duration::ZERO;
        let receipts = loop {
            let leader = self.raft.current_leader().await;
            match leader {
                Some(l) if l == self.id => {
                    let data = Batch {
                        txs: txs.clone(),
                        leader_time: Timestamp(smart_ledger::clock::now_ms()),
                    };
                    match self.raft.client_write(data).await {
                        Ok(resp) => break Ok(resp.data.receipts),
                        Err(e) => {
                            if e.forward_to_leader().is_none() {
                                break Err(SubmitError::NoLeader(e.to_string()));
                            }
                        }
                    }
                }
                Some(l) => {
                    let node = self
                        .raft
                        .metrics()
                        .borrow()
                        .membership_config
                        .membership()
                        .get_node(&l)
                        .cloned();
                    if let Some(node) = node {
                        match self.transport.submit(l, &node, txs.clone()).await {
                            Ok(r) if r.len() == txs.len() => break Ok(r),
                            Ok(_) => {
                                break Err(SubmitError::NoLeader(
                                    "leader answered with the wrong number of receipts".into(),
                                ));
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "forward to leader failed; retrying")
                            }
                        }
                    }
                }
                None => {}
            }
            if waited > Duration::from_secs(5) {
                break Err(SubmitError::NoLeader("no leader within 5 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        };
        match receipts {
            Ok(receipts) => {
                let mut receipts = receipts.into_iter();
                for s in batch {
                    let mine: Vec<TxReceipt> = receipts.by_ref().take(s.txs.len()).collect();
                    let _ = s.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for s in batch {
                    let _ = s.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Sends this hub's header signatures to every other member.
    async fn signature_exchange(
        self,
        mut signed: mpsc::Receiver<SignedHeader>,
        publishing: Arc<std::sync::atomic::AtomicBool>,
    ) {
        publishing.store(true, std::sync::atomic::Ordering::Release);
        let stop = self.stop.subscribe();
        loop {
            let s = tokio::select! {
                _ = Self::stopped(stop.clone()) => return,
                s = signed.recv() => match s { Some(s) => s, None => return },
            };
            // Our own signature may be the one that completes a majority
            // (the others' arrived first and were buffered).
            self.advance_certified(&self.ledger.lock().unwrap_or_else(|p| p.into_inner()));
            let members: Vec<(u64, HubNode)> = {
                let m = self.raft.metrics().borrow().membership_config.clone();
                m.nodes()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(id, n)| (*id, n.clone()))
                    .collect()
            };
            for (id, node) in members {
                let transport = self.transport.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    if let Err(e) = transport.signature(id, &node, s).await {
                        tracing::debug!(error = %e, "header signature not delivered");
                    }
                });
            }
        }
    }
}
