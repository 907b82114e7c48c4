//! What the VM takes in (a tx at a ledger time) and gives back (the
//! outcome and the effects that fired).

use serde::{Deserialize, Serialize};
use smart_ledger::{Hash, Outcome, SignedTx, SmartId, Timestamp, TxKind};

use crate::model::Effect;

/// What the VM needs of a tx.
#[derive(Clone, Copy, Debug)]
pub struct TxInput<'a> {
    /// The author (signature already checked).
    pub author: SmartId,
    /// The tx kind.
    pub kind: TxKind,
    /// The payload.
    pub payload: &'a [u8],
    /// Ledger time of the block that orders it (never the author's clock).
    pub time: Timestamp,
    /// The tx's hash (records point back at the tx that made them).
    pub tx_hash: Hash,
}

impl<'a> TxInput<'a> {
    /// The VM's view of a signed tx at a ledger time.
    pub fn of(tx: &'a SignedTx, time: Timestamp) -> TxInput<'a> {
        TxInput {
            author: tx.author(),
            kind: tx.body().kind,
            payload: &tx.body().payload.0,
            time,
            tx_hash: tx.hash(),
        }
    }
}

/// An effect that fired, with its cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// The job, when the effect belongs to one.
    pub job: Option<String>,
    /// What caused it: `step pre-check`, `event qa_signoff`, `contract`.
    pub cause: String,
    /// The effect.
    pub effect: Effect,
}

/// The result of applying one tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Accepted or refused.
    pub outcome: Outcome,
    /// Effects that fired (also when time passing closed a delivery window).
    pub effects: Vec<Fired>,
}
