//! The hub state machine: each committed batch goes through admission
//! checks, dedupe and the contract VM, and becomes exactly one block, signed
//! by this hub and stored with the contract state it produced in one redb
//! transaction. Other hubs' header signatures are merged into certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, SnapshotMeta, StorageIOError, StoredMembership};
use serde::{Deserialize, Serialize};
use smart_contracts::{RootedState, State, vm};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{
    Block, BlockCert, BlockHeader, ChainTip, Equivocation, Hash, Keypair, SignedTx, SmartId,
    Timestamp,
};
use tokio::sync::mpsc;

use crate::transport::{SignedHeader, Transport};
use crate::types::{
    BatchResult, Entry, HubNode, LogId, StorageError, TxReceipt, TxVerdict, TypeConfig,
};
use crate::verified::VerifiedSignatures;

const RECORD_SM: &str = "raft_applied";
const RECORD_HUBS: &str = "hub_sets";
/// Heights ahead of the tip for which signatures are buffered.
const MAX_PENDING_HEIGHTS: u64 = 4096;

/// What Raft needs restored with the state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct AppliedMeta {
    last_applied: Option<LogId>,
    membership: StoredMembership<u64, HubNode>,
}

/// A snapshot's content: the contract state and the chain tip it belongs to.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    state: Vec<u8>,
    tip: ChainTip,
    applied: AppliedMeta,
    hub_sets: Vec<(u64, Vec<SmartId>)>,
}

/// Everything the state machine owns; shared (behind a mutex never held
/// across an await) with certificate collection and readers.
#[derive(Debug)]
pub struct Ledger {
    /// The block store.
    pub store: RedbStore,
    /// The contract state after the tip, with its state tree.
    state: RootedState,
    applied: AppliedMeta,
    /// Signatures for heights not applied yet.
    pending: BTreeMap<u64, Vec<SignedHeader>>,
    /// Evidence of hubs that signed a header other than ours.
    pub conflicts: Vec<SignedHeader>,
    /// Proven equivocations (one hub, two headers, one height).
    pub equivocations: Vec<Equivocation>,
    /// The last snapshot built or installed.
    snapshot: Option<(SnapshotMeta<u64, HubNode>, Vec<u8>)>,
    /// The hub set that certifies each height: (first height, hubs), ascending.
    hub_sets: Vec<(u64, Vec<SmartId>)>,
}

impl Ledger {
    /// The contract state after the tip.
    pub fn state(&self) -> &State {
        self.state.state()
    }

    /// The contract state after the tip with its state tree (for state proofs).
    pub fn rooted(&self) -> &RootedState {
        &self.state
    }

    /// The hub set that certifies the next block.
    pub fn hub_set(&self) -> Vec<SmartId> {
        self.hub_sets
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| self.store.genesis().hubs())
    }

    /// The hub set that certifies block `height`.
    pub fn hub_set_at(&self, height: u64) -> Vec<SmartId> {
        self.hub_sets
            .iter()
            .rev()
            .find(|(from, _)| *from <= height)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| self.store.genesis().hubs())
    }

    /// Records the hub set after `block` (changed by its accepted membership txs).
    fn track_hubs(&mut self, block: &Block) {
        let before: std::collections::BTreeSet<SmartId> = self.hub_set().into_iter().collect();
        let after = smart_ledger::membership::hub_set_after(block, before.clone());
        if after != before {
            self.hub_sets
                .push((block.header.height + 1, after.into_iter().collect()));
        }
    }

    /// Merges another hub's signature into the certificate at its height.
    /// A signature over a different header than ours is kept as evidence.
    pub fn add_signature(&mut self, signed: SignedHeader) -> Result<(), String> {
        if !self.hub_set_at(signed.height).contains(&signed.hub)
            && !self.hub_set().contains(&signed.hub)
        {
            return Err(format!("{} is not a hub", signed.hub.short()));
        }
        let message = BlockHeader::cert_message(&signed.header_hash);
        signed
            .hub
            .verify(&message, &signed.signature)
            .map_err(|e| e.to_string())?;
        let tip = self.store.tip().height;
        if signed.height > tip {
            if signed.height > tip + MAX_PENDING_HEIGHTS {
                return Err(format!(
                    "height {} is too far ahead of {tip}",
                    signed.height
                ));
            }
            let list = self.pending.entry(signed.height).or_default();
            if !list.contains(&signed) {
                list.push(signed);
            }
            return Ok(());
        }
        let Some(mut cert) = self.store.cert(signed.height).map_err(|e| e.to_string())? else {
            return Err(format!("no certificate at height {}", signed.height));
        };
        if cert.header_hash != signed.header_hash {
            // This hub signed a header other than ours at this height. If it
            // also signed ours, that is equivocation, provable by anyone.
            if let Some(on_ours) = cert.signatures.iter().find(|s| s.hub == signed.hub) {
                self.prove_equivocation(signed.height, on_ours.signature, &signed);
            }
            if !self.conflicts.contains(&signed) {
                tracing::error!(height = signed.height, hub = %signed.hub, "hub signed a header that differs from ours");
                self.conflicts.push(signed);
            }
            return Err("header differs from ours".into());
        }
        if let Some(existing) = cert.signatures.iter().find(|s| s.hub == signed.hub) {
            if existing.signature != signed.signature {
                // ed25519 signatures are deterministic: one key, one header, one signature.
                tracing::warn!(height = signed.height, hub = %signed.hub, "second, different signature over the same header");
            }
            return Ok(());
        }
        cert.signatures.push(smart_ledger::HubSignature {
            hub: signed.hub,
            signature: signed.signature,
        });
        cert.signatures.sort_by_key(|s| s.hub);
        self.store.save_cert(&cert).map_err(|e| e.to_string())
    }

    /// Builds equivocation evidence from this hub's signature over our header
    /// and its signature over `other` (which must carry its header).
    fn prove_equivocation(
        &mut self,
        height: u64,
        on_ours: smart_ledger::Signature,
        other: &SignedHeader,
    ) {
        let Some(their_header) = other.header.clone() else {
            return;
        };
        let Ok(Some(block)) = self.store.block(height) else {
            return;
        };
        let evidence = Equivocation {
            hub: other.hub,
            first: (block.header, on_ours),
            second: (their_header, other.signature),
        };
        if !self.equivocations.contains(&evidence) {
            self.record_equivocation(evidence);
        }
    }

    /// Records that `hub` signed two different headers at one height.
    pub fn record_equivocation(&mut self, evidence: Equivocation) {
        if evidence.is_proven() {
            tracing::error!(hub = %evidence.hub, height = evidence.first.0.height, "equivocation: two headers signed at one height");
            self.equivocations.push(evidence);
        }
    }

    /// Certificates of blocks `from..=to` (at most 1024).
    pub fn certs(&self, from: u64, to: u64) -> Result<Vec<BlockCert>, String> {
        let to = to
            .min(self.store.tip().height)
            .min(from.saturating_add(1023));
        (from.max(1)..=to)
            .map(|h| {
                self.store
                    .cert(h)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no certificate at {h}"))
            })
            .collect()
    }

    /// Is the certificate at `height` final (a majority of the hub set signed)?
    pub fn is_final(&self, height: u64) -> bool {
        let hubs = self.hub_set_at(height);
        match (self.store.block(height), self.store.cert(height)) {
            (Ok(Some(b)), Ok(Some(c))) => c.is_final(&b.header, &hubs),
            _ => false,
        }
    }

    /// The tip's header and the contract state after it (canonical bytes).
    pub fn state_at_tip(&self) -> Result<(BlockHeader, Vec<u8>), String> {
        let height = self.store.tip().height;
        let block = self
            .store
            .block(height)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no block at {height} to take a state snapshot at"))?;
        Ok((block.header, self.state.state().canonical_bytes()))
    }

    /// Blocks `from..=to` with certificates, for a peer catching up.
    pub fn blocks(&self, from: u64, to: u64) -> Result<Vec<(Block, BlockCert)>, String> {
        self.store
            .certified_range(from, to)
            .map_err(|e| e.to_string())
    }

    /// Raft's progress and the hub sets, stored with each block.
    fn applied_records(&self) -> [(&'static str, Vec<u8>); 2] {
        [
            (RECORD_SM, smart_ledger::codec::encode_plain(&self.applied)),
            (
                RECORD_HUBS,
                smart_ledger::codec::encode_plain(&self.hub_sets),
            ),
        ]
    }

    /// Stores Raft's progress without a block.
    fn save_applied(&mut self) -> Result<(), StorageError> {
        let records = self.applied_records();
        let recs: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        self.store.put_app_records(&recs).map_err(sm_err)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "flushing the ledger at shutdown failed; Raft will re-apply");
        }
    }
}

/// The openraft state machine of a hub.
pub struct HubMachine<T> {
    ledger: Arc<Mutex<Ledger>>,
    key: Arc<Keypair>,
    signed: mpsc::Sender<SignedHeader>,
    /// Someone drains `signed` (the hub's signature exchange runs). Until
    /// then — while `Raft::new` re-applies the log after a crash — a full
    /// channel must not block applying: our signatures of those blocks stay
    /// in our store, and peers that lack one get it by certificate repair.
    publishing: Arc<std::sync::atomic::AtomicBool>,
    /// Signatures this hub checked at admission (shared with the hub).
    verified: Arc<VerifiedSignatures>,
    transport: T,
}

impl<T> std::fmt::Debug for HubMachine<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HubMachine({})", self.key.id().short())
    }
}

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(&std::io::Error::other(e.to_string())).into()
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    // A panic while holding the lock leaves a consistent on-disk store; keep going.
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Transport> HubMachine<T> {
    /// Opens the hub's ledger and restores the contract state and Raft
    /// progress saved with the last block.
    pub fn open(
        mut store: RedbStore,
        key: Arc<Keypair>,
        signed: mpsc::Sender<SignedHeader>,
        transport: T,
    ) -> Result<(HubMachine<T>, Arc<Mutex<Ledger>>), StorageError> {
        // The Raft log is the write-ahead log: a committed entry is on disk on
        // a majority before anyone is answered, and its block is a function of
        // it. So blocks and certificates commit without their own fsync; the
        // store is flushed before a snapshot lets the log be purged, and at
        // shutdown. After a crash the store reopens at its last durable block
        // and Raft re-applies the committed entries after it.
        store.set_deferred_durability(true);
        let tip_header = crate::stored::tip_header(&store).map_err(sm_err)?;
        let state = crate::stored::open_state(&mut store, tip_header.as_ref()).map_err(sm_err)?;
        let applied = match store.app_record(RECORD_SM).map_err(sm_err)? {
            Some(bytes) => {
                smart_ledger::codec::decode_plain("applied", &bytes, 1 << 20).map_err(sm_err)?
            }
            None => AppliedMeta::default(),
        };
        let hub_sets = match store.app_record(RECORD_HUBS).map_err(sm_err)? {
            Some(bytes) => {
                smart_ledger::codec::decode_plain("hub sets", &bytes, 1 << 20).map_err(sm_err)?
            }
            None => vec![(1, store.genesis().hubs())],
        };
        let ledger = Arc::new(Mutex::new(Ledger {
            store,
            state,
            applied,
            pending: BTreeMap::new(),
            conflicts: Vec::new(),
            equivocations: Vec::new(),
            snapshot: None,
            hub_sets,
        }));
        Ok((
            HubMachine {
                ledger: ledger.clone(),
                key,
                signed,
                publishing: Arc::default(),
                verified: Arc::default(),
                transport,
            },
            ledger,
        ))
    }

    /// The flag the signature exchange raises once it drains the channel
    /// given to [`HubMachine::open`].
    pub fn publishing(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.publishing.clone()
    }

    /// The set the hub fills at admission; applying skips those signatures.
    pub fn verified(&self) -> Arc<VerifiedSignatures> {
        self.verified.clone()
    }

    /// Admission, dedupe, VM and block for one batch.
    fn apply_batch(
        &self,
        ledger: &mut Ledger,
        index: u64,
        txs: &[smart_ledger::Bytes],
        leader_time: Timestamp,
    ) -> Result<(BatchResult, SignedHeader), StorageError> {
        let chain_id = ledger.store.genesis().chain_id();
        let tip = ledger.store.tip().clone();
        let height = tip.height + 1;
        // Decode everything, then look up every hash in one read transaction.
        let decoded: Vec<Result<SignedTx, String>> = txs
            .iter()
            .map(|b| SignedTx::decode(&b.0).map_err(|e| e.to_string()))
            .collect();
        let hashes: Vec<Hash> = decoded
            .iter()
            .map(|d| d.as_ref().map(SignedTx::hash).unwrap_or(Hash::ZERO))
            .collect();
        let located = ledger.store.locate_many(&hashes).map_err(sm_err)?;
        let mut receipts = Vec::with_capacity(txs.len());
        let mut candidates: Vec<(usize, SignedTx)> = Vec::with_capacity(txs.len());
        let mut seen = BTreeSet::new();
        for ((tx, hash), loc) in decoded.into_iter().zip(hashes).zip(located) {
            let verdict = match tx {
                Err(reason) => Some(TxVerdict::Rejected { reason }),
                Ok(tx) => {
                    if let Some(loc) = loc {
                        Some(TxVerdict::Duplicate { height: loc.height })
                    } else if !seen.insert(hash) {
                        Some(TxVerdict::Duplicate { height })
                    } else if tx.body().chain_id != chain_id {
                        Some(TxVerdict::Rejected {
                            reason: format!(
                                "tx is for chain {}, this chain is {chain_id}",
                                tx.body().chain_id
                            ),
                        })
                    } else if !ledger.state().knows(&tx.author()) {
                        Some(TxVerdict::Rejected {
                            reason: format!(
                                "tx author {} is not a known identity on this chain",
                                tx.author()
                            ),
                        })
                    } else {
                        candidates.push((receipts.len(), tx));
                        None
                    }
                }
            };
            receipts.push(TxReceipt {
                tx: hash,
                verdict: verdict.unwrap_or(TxVerdict::Rejected {
                    reason: String::new(),
                }),
            });
        }
        // Signatures: every hub checks every signature once. Those this hub
        // admitted passed the strict check then; the rest are checked here as
        // one batch, falling back to the strict check per tx to find a bad one.
        // The answer is the same on every hub: a tx in the skipped part is
        // strictly valid, so a batch of the rest fails exactly when the whole
        // block holds a signature that fails, and then each unchecked one is
        // judged strictly on its own.
        let checked: Vec<bool> = candidates
            .iter()
            .map(|(_, t)| self.verified.take(&t.leaf_hash()))
            .collect();
        let triples: Vec<_> = candidates
            .iter()
            .zip(&checked)
            .filter(|(_, checked)| !**checked)
            .map(|((_, t), _)| (t.author(), t.body_bytes(), *t.signature()))
            .collect();
        let all_good = smart_ledger::id::verify_many(&triples).is_ok();
        let mut included: Vec<SignedTx> = Vec::with_capacity(candidates.len());
        let mut slots = Vec::with_capacity(candidates.len());
        for ((slot, tx), checked) in candidates.into_iter().zip(checked) {
            if !all_good
                && !checked
                && let Err(e) = tx.verify_signature()
            {
                receipts[slot].verdict = TxVerdict::Rejected {
                    reason: e.to_string(),
                };
                continue;
            }
            slots.push(slot);
            included.push(tx);
        }
        let time = leader_time.max(tip.time);
        let (outcomes, _effects) = vm::apply_block(ledger.state.state_mut(), &included, time);
        for (slot, outcome) in slots.iter().zip(&outcomes) {
            receipts[*slot].verdict = TxVerdict::Included {
                height,
                outcome: outcome.clone(),
            };
        }
        let writes = ledger.state.seal();
        let block = tip.next_block(included, outcomes, ledger.state.root(), index, time);
        let mut cert = BlockCert::new(&block.header);
        cert.sign(&self.key);
        let signature = cert.signatures[0].signature;
        ledger.track_hubs(&block);
        let records = ledger.applied_records();
        let extra: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        ledger
            .store
            .append_with(&block, Some(&cert), &extra, &writes)
            .map_err(sm_err)?;
        // Signatures that arrived before we reached this height.
        if let Some(early) = ledger.pending.remove(&height) {
            for s in early {
                let _ = ledger.add_signature(s);
            }
        }
        let signed = SignedHeader {
            height,
            header_hash: cert.header_hash,
            hub: self.key.id(),
            signature,
            header: Some(block.header),
        };
        Ok((BatchResult { height, receipts }, signed))
    }

    /// Fetches and verifies blocks until the local chain reaches `target`.
    async fn catch_up(
        &self,
        target: &ChainTip,
        membership: &StoredMembership<u64, HubNode>,
    ) -> Result<(), StorageError> {
        let me = crate::types::node_id(&self.key.id());
        let peers: Vec<(u64, HubNode)> = membership
            .nodes()
            .filter(|(id, _)| **id != me)
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        let mut attempts = 0u32;
        loop {
            let height = lock(&self.ledger).store.tip().height;
            if height >= target.height {
                break;
            }
            let mut progressed = false;
            for (id, node) in &peers {
                let Ok(batch) = self
                    .transport
                    .blocks(*id, node, height + 1, target.height)
                    .await
                else {
                    continue;
                };
                if batch.is_empty() {
                    continue;
                }
                let mut l = lock(&self.ledger);
                for (block, cert) in batch {
                    let hubs = l.hub_set_at(block.header.height);
                    cert.check_final(&block.header, &hubs).map_err(sm_err)?;
                    block.check_signatures().map_err(sm_err)?;
                    l.store.append(&block, Some(&cert)).map_err(sm_err)?;
                    l.track_hubs(&block);
                    progressed = true;
                }
                break;
            }
            if !progressed {
                attempts += 1;
                if attempts > 60 {
                    return Err(sm_err(format!(
                        "could not fetch blocks {}..={} from any hub",
                        height + 1,
                        target.height
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        let l = lock(&self.ledger);
        if l.store.tip().hash != target.hash {
            return Err(sm_err(format!(
                "local chain at height {} differs from the snapshot's",
                target.height
            )));
        }
        Ok(())
    }
}

impl<T: Transport> RaftStateMachine<TypeConfig> for HubMachine<T> {
    type SnapshotBuilder = HubSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, HubNode>), StorageError> {
        let l = lock(&self.ledger);
        Ok((l.applied.last_applied, l.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        let mut signed = Vec::new();
        {
            let mut l = lock(&self.ledger);
            for entry in entries {
                l.applied.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {
                        l.save_applied()?;
                        results.push(BatchResult::default());
                    }
                    EntryPayload::Membership(m) => {
                        l.applied.membership = StoredMembership::new(Some(entry.log_id), m);
                        l.save_applied()?;
                        results.push(BatchResult::default());
                    }
                    EntryPayload::Normal(batch) => {
                        let (result, header) = self.apply_batch(
                            &mut l,
                            entry.log_id.index,
                            &batch.txs,
                            batch.leader_time,
                        )?;
                        results.push(result);
                        signed.push(header);
                    }
                }
            }
        }
        for s in signed {
            if self.publishing.load(std::sync::atomic::Ordering::Acquire) {
                // Bounded: if the signature gossip falls behind, applying waits for it.
                let _ = self.signed.send(s).await;
            } else if self.signed.try_send(s).is_err() {
                tracing::debug!("re-applying: a signature left for certificate repair");
            }
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> HubSnapshotBuilder {
        HubSnapshotBuilder {
            ledger: self.ledger.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, HubNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let body: SnapshotBody =
            smart_ledger::codec::decode_plain("snapshot", &bytes, usize::MAX).map_err(sm_err)?;
        let state = State::from_canonical_bytes(&body.state).map_err(sm_err)?;
        let state = RootedState::new(state);
        self.catch_up(&body.tip, &meta.last_membership).await?;
        {
            let mut l = lock(&self.ledger);
            let tip_root = l
                .store
                .block(body.tip.height)
                .map_err(sm_err)?
                .map(|b| b.header.state_root);
            if body.tip.height > 0 && tip_root != Some(state.root()) {
                return Err(sm_err(
                    "snapshot state root differs from the certified block's",
                ));
            }
            l.hub_sets = body.hub_sets;
            l.applied = AppliedMeta {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
            let records = l.applied_records();
            let recs: Vec<(&str, &[u8])> =
                records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            l.store
                .replace_state(&state.all_writes(), &recs)
                .map_err(sm_err)?;
            l.state = state;
            l.store.flush().map_err(sm_err)?;
            l.snapshot = Some((meta.clone(), bytes));
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let l = lock(&self.ledger);
        Ok(l.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}

/// Builds snapshots from a consistent copy of the ledger's state.
#[derive(Debug)]
pub struct HubSnapshotBuilder {
    ledger: Arc<Mutex<Ledger>>,
}

impl RaftSnapshotBuilder<TypeConfig> for HubSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (body, meta) = {
            let l = lock(&self.ledger);
            // Everything up to this snapshot must be durable before Raft may purge its log.
            l.store.flush().map_err(sm_err)?;
            let body = SnapshotBody {
                state: l.state.state().canonical_bytes(),
                tip: l.store.tip().clone(),
                applied: l.applied.clone(),
                hub_sets: l.hub_sets.clone(),
            };
            let id = format!(
                "{}-{}",
                l.applied.last_applied.map(|x| x.index).unwrap_or(0),
                body.tip.height
            );
            let meta = SnapshotMeta {
                last_log_id: l.applied.last_applied,
                last_membership: l.applied.membership.clone(),
                snapshot_id: id,
            };
            (body, meta)
        };
        let data = smart_ledger::codec::encode_plain(&body);
        lock(&self.ledger).snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
