//! A self-contained proof that a record of the contract state had a value,
//! or did not exist, in the state certified at a height: checked offline
//! with nothing but the file and the chain id the auditor trusts.
//!
//! A [`StateProofFile`] carries:
//! - the genesis (the first hub set; it hashes to the chain id),
//! - every change of the hub set up to the height: the certified block that
//!   holds each accepted membership tx, the tx, its path to the block's tx
//!   root and the block's outcomes, so the hub set at the height follows
//!   from the genesis one change at a time, each certified by the set before,
//! - the certified header at the height, signed by a majority of that set,
//! - the record's kind, key and value (none: absent), and its path in the
//!   state tree to the header's state root (`docs/state-tree.md`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockCert, BlockHeader, Outcome};
use crate::bytes::Bytes;
use crate::genesis::Genesis;
use crate::hash::Hash;
use crate::id::SmartId;
use crate::membership::HubChange;
use crate::merkle;
use crate::proof::ProofFailure;
use crate::state_tree::{Proven, StateProof};
use crate::tx::{SignedTx, TxKind};

/// Format tag of [`StateProofFile`]s.
pub const STATE_PROOF_FORMAT: &str = "smart-state-proof/1";

/// An accepted membership tx in its certified block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipTx {
    /// The tx.
    pub tx: SignedTx,
    /// Its position in the block.
    pub position: u64,
    /// Its path to the block's tx root.
    pub path: Vec<Hash>,
}

/// A block that changed the hub set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSetChange {
    /// Its header.
    pub header: BlockHeader,
    /// Hub signatures over it (a majority of the set before it).
    pub cert: BlockCert,
    /// Number of txs in the block.
    pub tx_count: u64,
    /// Every outcome of the block, in order.
    pub outcomes: Vec<Outcome>,
    /// Its accepted membership txs, in order.
    pub txs: Vec<MembershipTx>,
}

/// A proof of one state record at a certified height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProofFile {
    /// Always [`STATE_PROOF_FORMAT`].
    pub format: String,
    /// The chain.
    pub chain_id: Hash,
    /// The chain's genesis document.
    pub genesis: Genesis,
    /// The hub-set changes up to the height, ascending.
    pub hub_changes: Vec<HubSetChange>,
    /// The certified header the state belongs to.
    pub header: BlockHeader,
    /// Hub signatures over it.
    pub cert: BlockCert,
    /// The record's kind.
    pub kind: String,
    /// Its key's canonical bytes.
    pub key: Bytes,
    /// Its value's canonical bytes, or none when it did not exist.
    pub value: Option<Bytes>,
    /// Its path in the state tree.
    pub proof: StateProof,
}

/// What a verified state proof establishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenRecord {
    /// The chain.
    pub chain_id: Hash,
    /// The height of the certified state.
    pub height: u64,
    /// The state root there.
    pub state_root: Hash,
    /// The record's kind.
    pub kind: String,
    /// Its key.
    pub key: Bytes,
    /// Its value, or none when it did not exist.
    pub value: Option<Bytes>,
    /// The hub set that certified the height.
    pub hubs: Vec<SmartId>,
}

impl HubSetChange {
    /// The change made by `block` (certified by `cert`), if it changed the
    /// hub set.
    pub fn of(block: &Block, cert: &BlockCert) -> Option<HubSetChange> {
        let positions: Vec<usize> = block
            .txs
            .iter()
            .zip(&block.outcomes)
            .enumerate()
            .filter(|(_, (tx, o))| tx.body().kind == TxKind::Membership && **o == Outcome::Accepted)
            .map(|(i, _)| i)
            .collect();
        if positions.is_empty() {
            return None;
        }
        let tree = merkle::MemoryTree::from_leaves(block.txs.iter().map(SignedTx::leaf_hash));
        let txs = positions
            .into_iter()
            .map(|i| {
                Some(MembershipTx {
                    tx: block.txs[i].clone(),
                    position: i as u64,
                    path: merkle::inclusion_proof(&tree, i as u64, tree.size()).ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(HubSetChange {
            header: block.header.clone(),
            cert: cert.clone(),
            tx_count: block.txs.len() as u64,
            outcomes: block.outcomes.clone(),
            txs,
        })
    }

    /// Checks the change against the set before it and applies it.
    fn apply(&self, set: &mut BTreeSet<SmartId>, chain_id: &Hash) -> Result<(), ProofFailure> {
        let fail = |s: String| Err(ProofFailure(s));
        let h = &self.header;
        if h.chain_id != *chain_id {
            return fail(format!("hub-set change at {}: another chain", h.height));
        }
        let hubs: Vec<SmartId> = set.iter().copied().collect();
        self.cert
            .check_final(h, &hubs)
            .map_err(|e| ProofFailure(format!("hub-set change at {}: {e}", h.height)))?;
        if self.outcomes.len() as u64 != self.tx_count
            || Block::outcomes_hash_of(&self.outcomes) != h.outcomes_hash
        {
            return fail(format!(
                "hub-set change at {}: outcomes do not match the block",
                h.height
            ));
        }
        let mut last = None;
        for m in &self.txs {
            if last.is_some_and(|l| m.position <= l) {
                return fail(format!("hub-set change at {}: txs out of order", h.height));
            }
            last = Some(m.position);
            if !merkle::verify_inclusion(
                &m.tx.leaf_hash(),
                m.position,
                self.tx_count,
                &m.path,
                &h.tx_root,
            ) {
                return fail(format!(
                    "hub-set change at {}: tx {} is not in the block",
                    h.height, m.position
                ));
            }
            if m.tx.body().kind != TxKind::Membership
                || self.outcomes.get(m.position as usize) != Some(&Outcome::Accepted)
            {
                return fail(format!(
                    "hub-set change at {}: tx {} is not an accepted membership change",
                    h.height, m.position
                ));
            }
            let change = HubChange::decode(&m.tx.body().payload.0)
                .map_err(|e| ProofFailure(format!("hub-set change at {}: {e}", h.height)))?;
            change.apply(set);
        }
        Ok(())
    }
}

impl StateProofFile {
    /// Checks every part of the proof. `expected_chain`, when given, is the
    /// chain id the auditor trusts.
    pub fn verify(&self, expected_chain: Option<&Hash>) -> Result<ProvenRecord, ProofFailure> {
        let fail = |s: String| Err(ProofFailure(s));
        let chain_id = crate::proof::check_chain(
            (&self.format, STATE_PROOF_FORMAT),
            &self.genesis,
            &self.chain_id,
            expected_chain,
        )?;
        // The hub set at the height: the genesis set, then each change
        // (certified by the set before it) from the block after it on.
        let mut set: BTreeSet<SmartId> = self.genesis.hubs().into_iter().collect();
        let mut after = 0u64;
        for change in &self.hub_changes {
            if change.header.height <= after || change.header.height >= self.header.height {
                return fail(format!(
                    "hub-set change at {} is out of order or not before height {}",
                    change.header.height, self.header.height
                ));
            }
            after = change.header.height;
            change.apply(&mut set, &chain_id)?;
        }
        let hubs: Vec<SmartId> = set.into_iter().collect();
        if self.header.chain_id != chain_id {
            return fail("the header is for another chain".into());
        }
        self.cert
            .check_final(&self.header, &hubs)
            .map_err(|e| ProofFailure(format!("block {}: {e}", self.header.height)))?;
        let proven = self
            .proof
            .verify(&self.header.state_root, &self.kind, &self.key.0)
            .map_err(|e| ProofFailure(format!("state record: {e}")))?;
        match (&proven, &self.value) {
            (Proven::Value(h), Some(v)) if *h == Hash::of(&v.0) => {}
            (Proven::Absent, None) => {}
            (Proven::Value(_), Some(_)) => {
                return fail("the record's value is not the one in the state".into());
            }
            (Proven::Value(_), None) => {
                return fail("the record exists, the proof claims it does not".into());
            }
            (Proven::Absent, Some(_)) => {
                return fail("the record does not exist, the proof claims a value".into());
            }
        }
        Ok(ProvenRecord {
            chain_id,
            height: self.header.height,
            state_root: self.header.state_root,
            kind: self.kind.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
            hubs,
        })
    }
}
