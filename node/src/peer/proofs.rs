//! State proofs from a peer's store: the state at a height (the stored
//! state at the tip, or the blocks replayed through the VM up to an earlier
//! height), the hub-set changes up to it, and the record's path in the
//! state tree to the certified state root.

use anyhow::{Context, Result, bail};
use smart_consensus::stored;
use smart_contracts::{RootedState, State, vm};
use smart_ledger::state_proof::{HubSetChange, STATE_PROOF_FORMAT, StateProofFile};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{BlockCert, BlockHeader, Bytes, Hash, SmartId};

/// A certified height of a store and the state after it, ready to prove
/// records from.
#[derive(Debug)]
pub struct CertifiedState {
    /// The header the state belongs to.
    pub header: BlockHeader,
    /// Its certificate.
    pub cert: BlockCert,
    /// The state with its tree.
    pub state: RootedState,
    /// The hub-set changes up to the header.
    pub hub_changes: Vec<HubSetChange>,
    chain_id: Hash,
    genesis: smart_ledger::Genesis,
}

impl CertifiedState {
    /// The state certified at `height` (default: the tip). The tip's state
    /// is the stored one; an earlier height's is rebuilt by replaying the
    /// blocks up to it through the VM. Either way its root must be the
    /// header's state root.
    pub fn at(store: &RedbStore, height: Option<u64>) -> Result<CertifiedState> {
        let tip = store.tip().height;
        let height = height.unwrap_or(tip);
        if height == 0 || height > tip {
            bail!("no certified block at height {height}: the ledger has blocks 1..={tip}");
        }
        let block = store
            .block(height)?
            .with_context(|| format!("no block {height}"))?;
        let cert = store
            .cert(height)?
            .with_context(|| format!("block {height} has no certificate yet"))?;
        let at_tip = height == tip
            && crate::peer::replica::state_header(store)?.map(|h| h.height) == Some(tip);
        let mut changes = Vec::new();
        let mut replayed = (!at_tip).then(|| State::from_genesis(store.genesis()));
        for h in 1..height.max(1) {
            let b = store
                .block(h)?
                .with_context(|| format!("no block {h} below the tip"))?;
            if let Some(state) = replayed.as_mut() {
                vm::apply_block(state, &b.txs, b.header.leader_time);
            }
            let c = store.cert(h)?;
            if let Some(change) = c.as_ref().and_then(|c| HubSetChange::of(&b, c)) {
                changes.push(change);
            }
        }
        let state = match replayed {
            Some(mut state) => {
                vm::apply_block(&mut state, &block.txs, block.header.leader_time);
                RootedState::new(state)
            }
            None => RootedState::new(stored::load_state(store)?),
        };
        stored::check_root(&state, &block.header)?;
        Ok(CertifiedState {
            header: block.header,
            cert,
            state,
            hub_changes: changes,
            chain_id: store.genesis().chain_id(),
            genesis: store.genesis().clone(),
        })
    }

    /// The proof of the record `(kind, key)`: its value or its absence.
    pub fn prove(&self, kind: &str, key: &[u8]) -> Result<StateProofFile> {
        let proof = self
            .state
            .prove(kind, key)
            .context("the state tree could not prove this record")?;
        Ok(StateProofFile {
            format: STATE_PROOF_FORMAT.to_string(),
            chain_id: self.chain_id,
            genesis: self.genesis.clone(),
            hub_changes: self.hub_changes.clone(),
            header: self.header.clone(),
            cert: self.cert.clone(),
            kind: kind.to_string(),
            key: Bytes(key.to_vec()),
            value: self.state.state().record(kind, key).map(Bytes),
            proof,
        })
    }

    /// The key bytes `id` names in `kind`: an existing record whose key
    /// reads as `id` (its text, a SMART-ID, a content hash, a position, or
    /// `hex:` and the raw bytes), else the most likely encoding for a proof
    /// of absence (a SMART-ID or hash if `id` parses as one, else text).
    pub fn key_of(&self, kind: &str, id: &str) -> Vec<u8> {
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        if let Some(raw) = id.strip_prefix("hex:").and_then(|h| hex::decode(h).ok()) {
            candidates.push(raw);
        }
        if let Ok(smart) = id.parse::<SmartId>() {
            candidates.push(smart_ledger::codec::encode_plain(&smart));
        }
        if let Ok(hash) = Hash::from_hex(id) {
            candidates.push(smart_ledger::codec::encode_plain(&hash));
        }
        if let Ok(n) = id.parse::<u64>() {
            candidates.push(smart_ledger::codec::encode_plain(&n));
        }
        candidates.push(smart_ledger::codec::encode_plain(&id.to_string()));
        let state = self.state.state();
        candidates
            .iter()
            .find(|k| state.record(kind, k).is_some())
            .or_else(|| candidates.first())
            .cloned()
            .unwrap_or_default()
    }
}
