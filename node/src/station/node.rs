//! The station: the replica, the outbox, and the provisional state local
//! decisions use.

use std::path::Path;

use anyhow::Result;
use smart_contracts::{State, vm};
use smart_ledger::store::BlockStore;
use smart_ledger::{Block, BlockCert, Genesis, Hash};

use crate::p2p::{self, CertifiedBlock};
use crate::peer::follow::Follower;
use crate::peer::replica::{Replica, ReplicaError};

/// A station: the replica, the outbox, and the provisional state (the
/// replica's state with the outbox's actions applied) that local decisions use.
#[derive(Debug)]
pub struct Station {
    pub(crate) replica: Replica,
    pub(crate) outbox: crate::peer::outbox::Outbox,
    /// The provisional state while the outbox holds actions the local
    /// ledger does not have yet; `None`: it is the replica's state (no copy
    /// of the whole state is made while nothing is pending).
    provisional: Option<State>,
    /// Certified state snapshots installed since start.
    pub(crate) snapshots_installed: u64,
}

impl Station {
    /// Opens the station in a peer folder (also a stopped one, to read it:
    /// `smart modules`, `smart ask`).
    pub(crate) fn open(dir: &Path, genesis: &Genesis) -> Result<Station> {
        let replica = Replica::open(dir, genesis)?;
        let outbox = crate::peer::outbox::Outbox::open(dir)?;
        let mut s = Station {
            replica,
            outbox,
            provisional: None,
            snapshots_installed: 0,
        };
        s.refresh();
        Ok(s)
    }

    /// The state local decisions use: the ledger's, with the outbox applied.
    pub(crate) fn provisional(&self) -> &State {
        self.provisional
            .as_ref()
            .unwrap_or_else(|| self.replica.state())
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

    /// Rebuilds the provisional state: confirmed state + pending actions
    /// not yet in the ledger (a copy of the state only when there are some).
    fn refresh(&mut self) {
        let waiting: Vec<(smart_ledger::SignedTx, smart_ledger::Timestamp)> = self
            .outbox
            .pending()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, p)| !matches!(self.replica.store.locate_tx(&p.hash), Ok(Some(_))))
            .filter_map(|(_, p)| {
                smart_ledger::SignedTx::decode(&p.tx.0)
                    .ok()
                    .map(|tx| (tx, p.decided_at))
            })
            .collect();
        self.provisional = (!waiting.is_empty()).then(|| {
            let mut state = self.replica.state().clone();
            for (tx, at) in &waiting {
                let _ = vm::apply(&mut state, &vm::TxInput::of(tx, *at));
            }
            state
        });
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
        if let Err(e) = tx.check_admission(chain_id, |a| self.provisional().knows(a)) {
            return TxReceipt {
                tx: hash,
                verdict: TxVerdict::Rejected {
                    reason: e.to_string(),
                },
            };
        }
        // The station's own clock: offline decisions are re-judged by the ledger on handoff.
        let now = smart_ledger::Timestamp(smart_ledger::clock::now_ms());
        let replica = &self.replica;
        let provisional = self
            .provisional
            .get_or_insert_with(|| replica.state().clone());
        let applied = vm::apply(provisional, &vm::TxInput::of(&tx, now));
        let pending = crate::peer::outbox::Pending {
            tx: bytes,
            hash,
            based_on: self.replica.state_height(),
            local: applied.outcome.clone(),
            decided_at: now,
        };
        if let Err(e) = self.outbox.push(&pending) {
            // Not in the outbox: not in the provisional state either.
            self.refresh();
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
    pub(crate) fn settle(
        &mut self,
        pending: &[(u64, crate::peer::outbox::Pending)],
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
                    overturned.push(crate::peer::outbox::Overturned {
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

impl Follower for Station {
    fn replica(&self) -> &Replica {
        &self.replica
    }

    fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), ReplicaError> {
        self.replica.apply(cb)?;
        self.refresh();
        Ok(())
    }

    /// Installs a certified state snapshot (see [`Replica::install_snapshot`]):
    /// decisions use it at once; the blocks behind it follow by catch-up.
    fn install_snapshot(&mut self, snap: &p2p::StateSnapshot) -> Result<(), ReplicaError> {
        self.replica.install_snapshot(snap)?;
        self.snapshots_installed += 1;
        self.refresh();
        Ok(())
    }

    fn apply_range(&mut self, range: Vec<(Block, BlockCert)>) -> (u64, Result<(), ReplicaError>) {
        let applied = self.replica.apply_range(range);
        self.refresh();
        applied
    }
}
