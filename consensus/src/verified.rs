//! Signatures this hub has already checked, so that each hub checks each
//! signature once.
//!
//! A hub checks a tx's signature strictly when it admits the tx; when the tx
//! comes back to it in a committed batch, applying the batch need not check it
//! again. Keyed by the tx's leaf hash, which covers the body *and* the
//! signature, so a different signature over the same body is not mistaken for
//! a checked one.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use smart_ledger::Hash;

/// A bounded set of leaf hashes whose signatures passed the strict check here.
#[derive(Debug, Default)]
pub struct VerifiedSignatures {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    leaves: HashSet<Hash>,
    /// Insertion order, to forget the oldest when full (may hold leaves
    /// already taken; forgetting those is a no-op).
    order: VecDeque<Hash>,
}

impl VerifiedSignatures {
    /// Leaves remembered at most (about 4 MiB). A tx normally waits far less
    /// than this many admissions between admission and apply; a forgotten
    /// leaf only costs one more check.
    pub const CAPACITY: usize = 65_536;

    /// Records that `leaf`'s signature passed the strict check.
    pub fn insert(&self, leaf: Hash) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.order.len() >= Self::CAPACITY
            && let Some(old) = inner.order.pop_front()
        {
            inner.leaves.remove(&old);
        }
        if inner.leaves.insert(leaf) {
            inner.order.push_back(leaf);
        }
    }

    /// Was `leaf`'s signature checked here? Forgets it either way (a leaf is
    /// applied once).
    pub fn take(&self, leaf: &Hash) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .leaves
            .remove(leaf)
    }

    /// How many leaves are remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .leaves
            .len()
    }

    /// Is nothing remembered?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u32) -> Hash {
        Hash::of(&n.to_le_bytes())
    }

    #[test]
    fn a_leaf_is_taken_once() {
        let v = VerifiedSignatures::default();
        v.insert(leaf(1));
        assert!(v.take(&leaf(1)));
        assert!(!v.take(&leaf(1)));
        assert!(!v.take(&leaf(2)));
    }

    #[test]
    fn the_oldest_leaves_are_forgotten_when_full() {
        let v = VerifiedSignatures::default();
        let n = VerifiedSignatures::CAPACITY as u32 + 10;
        for i in 0..n {
            v.insert(leaf(i));
        }
        assert_eq!(v.len(), VerifiedSignatures::CAPACITY);
        assert!(!v.take(&leaf(0)));
        assert!(!v.take(&leaf(9)));
        assert!(v.take(&leaf(10)));
        assert!(v.take(&leaf(n - 1)));
    }
}
