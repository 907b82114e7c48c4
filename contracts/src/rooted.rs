//! The contract state kept with its state tree, as every peer that applies
//! blocks holds it: after a block the tree is brought up to date from the
//! block's write set (O(changes · log n)) and the changed records are
//! handed to the store; nothing is re-encoded or re-hashed as a whole.

use smart_ledger::Hash;
use smart_ledger::state_tree::RecordWrite;
use smart_ledger::state_tree::{StateProof, StateTree};

use crate::records::RecordError;
use crate::state::State;

/// The state and the tree over its records.
#[derive(Clone, Debug)]
pub struct RootedState {
    state: State,
    tree: StateTree,
}

impl RootedState {
    /// Keeps `state`, building its tree from scratch (O(n): once, at start).
    pub fn new(mut state: State) -> RootedState {
        state.take_write_set();
        let tree = state.state_tree();
        RootedState { state, tree }
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state, to change: call [`RootedState::seal`] before reading the root.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The state tree's root, as of the last [`RootedState::seal`].
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The tree.
    pub fn tree(&self) -> &StateTree {
        &self.tree
    }

    /// Brings the tree up to date with what changed since the last seal and
    /// returns those records' writes (new value or removal), for the store.
    pub fn seal(&mut self) -> Vec<RecordWrite> {
        let writes = self.state.take_writes();
        self.tree.apply_writes(&writes);
        writes
    }

    /// Puts records back as they were (`old`: their stored values), in the
    /// state and the tree: undoing a sealed block that was refused.
    pub fn restore(&mut self, old: &[RecordWrite]) -> Result<(), RecordError> {
        for w in old {
            self.state.put_record(w.kind, &w.key, w.value.as_deref())?;
        }
        self.tree.apply_writes(old);
        self.state.take_write_set();
        Ok(())
    }

    /// A proof of the record `(kind, key)`'s value, or of its absence,
    /// against [`RootedState::root`].
    pub fn prove(&self, kind: &str, key: &[u8]) -> Option<StateProof> {
        let value = self.state.record(kind, key).map(|v| Hash::of(&v));
        self.tree.prove(kind, key, value, |path| {
            let (k, key) = self.state.address_at_path(path)?;
            let v = self.state.record(k, &key)?;
            Some((k.to_string(), key, Hash::of(&v)))
        })
    }

    /// Every record of the state as a write (the whole state, for a store
    /// that takes it from a snapshot).
    pub fn all_writes(&self) -> Vec<RecordWrite> {
        self.state
            .records()
            .into_iter()
            .map(|(kind, key, value)| RecordWrite {
                kind,
                key,
                value: Some(value),
            })
            .collect()
    }

    /// The state, letting go of the tree.
    pub fn into_state(self) -> State {
        self.state
    }
}
