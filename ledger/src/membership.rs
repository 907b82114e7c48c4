//! Changes to the hub set, as admin-signed `Membership` txs. The ledger
//! knows their format because finality depends on them: a block is final
//! when a majority of the hub set *at its height* signed it, and the hub set
//! changes only by accepted membership txs, from the next block on.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::block::{Block, Outcome};
use crate::codec::{self, DecodeError};
use crate::id::SmartId;
use crate::tx::TxKind;

/// A change to the hub set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubChange {
    /// A new hub (a learner first, then a voter once it has caught up).
    Add {
        /// Its SMART-ID.
        hub: SmartId,
        /// Where the other hubs reach it.
        addr: String,
    },
    /// A hub leaves the set.
    Remove {
        /// Its SMART-ID.
        hub: SmartId,
    },
}

impl HubChange {
    /// The tx payload.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Decodes a payload.
    pub fn decode(bytes: &[u8]) -> Result<HubChange, DecodeError> {
        codec::decode_versioned("hub change", bytes, 4096)
    }

    /// Applies the change to a hub set.
    pub fn apply(&self, set: &mut BTreeSet<SmartId>) {
        match self {
            HubChange::Add { hub, .. } => {
                set.insert(*hub);
            }
            HubChange::Remove { hub } => {
                set.remove(hub);
            }
        }
    }
}

/// The hub set after `block`, given the set that certified it: every
/// accepted membership tx of the block, in order.
pub fn hub_set_after(block: &Block, mut set: BTreeSet<SmartId>) -> BTreeSet<SmartId> {
    for (tx, outcome) in block.txs.iter().zip(&block.outcomes) {
        if tx.body().kind == TxKind::Membership
            && *outcome == Outcome::Accepted
            && let Ok(change) = HubChange::decode(&tx.body().payload.0)
        {
            change.apply(&mut set);
        }
    }
    set
}
