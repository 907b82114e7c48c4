//! The contract state in a peer's store: its records, loaded into the
//! state and its tree when a peer opens, checked against the certified
//! state root of the block they belong to.

use smart_contracts::records::RecordError;
use smart_contracts::{RootedState, State};
use smart_ledger::store::{BlockStore, RedbStore, StoreError};
use smart_ledger::{BlockHeader, Hash};

/// The stored state could not be loaded, or is not the certified one.
#[derive(Debug, thiserror::Error)]
pub enum StoredStateError {
    /// The store failed, or a record is damaged (named).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record does not fit the state (named).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store has blocks but no state records.
    #[error("the store has {height} blocks but no contract state records")]
    NoState {
        /// The tip height.
        height: u64,
    },
    /// The records do not hash to the certified state root.
    #[error(
        "the stored state records hash to {computed}, but block {height} certifies state root {certified}"
    )]
    Root {
        /// The block whose state root was compared.
        height: u64,
        /// Its state root.
        certified: Hash,
        /// The root of the stored records.
        computed: Hash,
    },
}

/// The contract state stored at the tip (the genesis state in a store with
/// no blocks and no records). Reads only.
pub fn load_state(store: &RedbStore) -> Result<State, StoredStateError> {
    Ok(load(store)?.0)
}

/// The stored state, and whether the store held no record of it.
fn load(store: &RedbStore) -> Result<(State, bool), StoredStateError> {
    let mut records: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    store.visit_state(|kind, key, value| {
        records.push((kind.to_string(), key.to_vec(), value.to_vec()));
    })?;
    if records.is_empty() {
        return match store.tip().height {
            0 => Ok((State::from_genesis(store.genesis()), true)),
            height => Err(StoredStateError::NoState { height }),
        };
    }
    let state = State::from_records(
        records
            .iter()
            .map(|(k, key, v)| (k.as_str(), key.as_slice(), v.as_slice())),
    )?;
    Ok((state, false))
}

/// The stored state with its tree, for a peer that applies blocks. A store
/// with no blocks and no records gets the genesis state's records written.
/// With `certified`, the tree's root must be that header's state root.
pub fn open_state(
    store: &mut RedbStore,
    certified: Option<&BlockHeader>,
) -> Result<RootedState, StoredStateError> {
    let (state, empty) = load(store)?;
    let rooted = RootedState::new(state);
    if empty {
        store.replace_state(&rooted.all_writes(), &[])?;
    }
    if let Some(header) = certified {
        check_root(&rooted, header)?;
    }
    Ok(rooted)
}

/// The kept state's root must be `header`'s state root.
pub fn check_root(rooted: &RootedState, header: &BlockHeader) -> Result<(), StoredStateError> {
    if rooted.root() != header.state_root {
        return Err(StoredStateError::Root {
            height: header.height,
            certified: header.state_root,
            computed: rooted.root(),
        });
    }
    Ok(())
}

/// The header of the store's tip block (none at height 0).
pub fn tip_header(store: &RedbStore) -> Result<Option<BlockHeader>, StoreError> {
    match store.tip().height {
        0 => Ok(None),
        h => Ok(store.block(h)?.map(|b| b.header)),
    }
}
