//! The state tree: an authenticated map over the contract state's records,
//! `(kind, key) -> value`, whose root can stand for the whole state and
//! whose proofs show that a record had a value, or did not exist, without
//! the rest of the state.
//!
//! It is a compressed binary sparse Merkle tree over 256-bit record paths
//! (see `docs/state-tree.md` for the exact construction a verifier needs):
//!
//! - a record's path is `blake3("smart/state-path/1" ‖ len(kind) ‖ kind ‖
//!   len(key) ‖ key)` (lengths as 4-byte big-endian), read bit by bit from
//!   the most significant bit of its first byte;
//! - a leaf's hash is `blake3(0x00 ‖ len(kind) ‖ kind ‖ len(key) ‖ key ‖
//!   blake3(value))`: the kind is named in every leaf;
//! - an inner node's hash is `blake3(0x01 ‖ left ‖ right)`;
//! - the empty tree, and an empty side of an inner node, is 32 zero bytes;
//! - the root of a set of leaves at depth `d` is: zero for none, the leaf's
//!   own hash for one (a lone leaf sits as high as it can), and otherwise
//!   the inner node over the roots of the leaves whose bit `d` is 0 (left)
//!   and 1 (right) at depth `d + 1`.
//!
//! So the root depends only on the set of records, never on the order they
//! were written in, and an update costs one leaf hash and one inner hash per
//! level on its path: O(log n) for n records, not O(n).
//!
//! Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::hash::Hash;

/// The version of the construction above; a changed construction is a new
/// version, never a silent change of what a root means.
pub const STATE_TREE_VERSION: u8 = 1;

/// Domain of record paths.
const PATH_DOMAIN: &[u8] = b"smart/state-path/1";
/// Prefix of a leaf's hash input.
const LEAF: u8 = 0x00;
/// Prefix of an inner node's hash input.
const INNER: u8 = 0x01;
/// Most kind or key bytes a record address may have.
pub const MAX_ADDRESS_BYTES: usize = 4096;

/// A change to one record of the contract state: its new value, or its
/// removal (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordWrite {
    /// The record's kind (its table).
    pub kind: &'static str,
    /// Its key's canonical bytes.
    pub key: Vec<u8>,
    /// Its value's canonical bytes, or `None` when it is gone.
    pub value: Option<Vec<u8>>,
}

/// A state record's name in messages: `kind/key`, the key as text when it
/// is a name (most keys are), else in hex.
pub fn record_name(kind: &str, key: &[u8]) -> String {
    match crate::codec::decode_plain::<String>("key", key, MAX_ADDRESS_BYTES) {
        Ok(text) if !text.is_empty() && !text.chars().any(char::is_control) => {
            format!("{kind}/{text}")
        }
        _ if key.is_empty() => kind.to_string(),
        _ if let Ok(id) =
            crate::codec::decode_plain::<crate::id::SmartId>("key", key, MAX_ADDRESS_BYTES) =>
        {
            format!("{kind}/{id}")
        }
        _ => format!("{kind}/{}", hex::encode(key)),
    }
}

/// The path of the record `(kind, key)`.
pub fn path_of(kind: &str, key: &[u8]) -> Hash {
    Hash::of_parts(&[
        PATH_DOMAIN,
        &len(kind.as_bytes()),
        kind.as_bytes(),
        &len(key),
        key,
    ])
}

/// The leaf hash of the record `(kind, key)` whose value hashes to `value_hash`.
pub fn leaf_hash(kind: &str, key: &[u8], value_hash: &Hash) -> Hash {
    Hash::of_parts(&[
        &[LEAF],
        &len(kind.as_bytes()),
        kind.as_bytes(),
        &len(key),
        key,
        &value_hash.0,
    ])
}

fn len(bytes: &[u8]) -> [u8; 4] {
    // Addresses are bounded far below 4 GiB (MAX_ADDRESS_BYTES); saturate
    // rather than wrap for anything larger.
    u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes()
}

fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[INNER], &left.0, &right.0])
}

/// Bit `depth` of `path` (0 = the most significant bit of the first byte).
fn bit(path: &Hash, depth: usize) -> bool {
    (path.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// One change to a leaf: its path and its new leaf hash (`None`: removed).
type Change = (Hash, Option<Hash>);

/// A node of the tree.
#[derive(Clone, Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Box<LeafNode>),
    Inner(Box<Inner>),
}

#[derive(Clone, Debug)]
struct LeafNode {
    path: Hash,
    hash: Hash,
}

#[derive(Clone, Debug)]
struct Inner {
    hash: Hash,
    left: Node,
    right: Node,
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => Hash::ZERO,
            Node::Leaf(l) => l.hash,
            Node::Inner(i) => i.hash,
        }
    }

    fn inner(left: Node, right: Node) -> Node {
        Node::Inner(Box::new(Inner {
            hash: inner_hash(&left.hash(), &right.hash()),
            left,
            right,
        }))
    }

    /// The subtree at `depth` over `leaves` (sorted by path, distinct, all
    /// sharing bits `..depth`): the tree's one shape for that set.
    fn build(leaves: &[(Hash, Hash)], depth: usize) -> Node {
        match leaves {
            [] => Node::Empty,
            [(path, hash)] => Node::Leaf(Box::new(LeafNode {
                path: *path,
                hash: *hash,
            })),
            _ => {
                let split = leaves.partition_point(|(p, _)| !bit(p, depth));
                let left = Node::build(&leaves[..split], depth + 1);
                let right = Node::build(&leaves[split..], depth + 1);
                Node::inner(left, right)
            }
        }
    }

    /// Applies `changes` (sorted by path, distinct, all sharing bits
    /// `..depth`) to the subtree at `depth`, in place: each touched node is
    /// rehashed once, however many changes pass through it. Adds the change
    /// in the number of leaves to `leaves`.
    fn apply(&mut self, changes: &[Change], depth: usize, leaves: &mut i64) {
        if changes.is_empty() {
            return;
        }
        match self {
            Node::Empty => {
                let new: Vec<(Hash, Hash)> = changes
                    .iter()
                    .filter_map(|(p, h)| h.map(|h| (*p, h)))
                    .collect();
                *leaves += new.len() as i64;
                *self = Node::build(&new, depth);
            }
            Node::Leaf(l) => {
                let kept = changes.binary_search_by(|(p, _)| p.cmp(&l.path)).is_err();
                let mut all: Vec<(Hash, Hash)> = changes
                    .iter()
                    .filter_map(|(p, h)| h.map(|h| (*p, h)))
                    .collect();
                if kept {
                    let at = all.partition_point(|(p, _)| *p < l.path);
                    all.insert(at, (l.path, l.hash));
                }
                *leaves += all.len() as i64 - 1;
                *self = Node::build(&all, depth);
            }
            Node::Inner(i) => {
                let split = changes.partition_point(|(p, _)| !bit(p, depth));
                i.left.apply(&changes[..split], depth + 1, leaves);
                i.right.apply(&changes[split..], depth + 1, leaves);
                match (&i.left, &i.right) {
                    (Node::Empty, Node::Empty) => *self = Node::Empty,
                    (Node::Empty, Node::Leaf(_)) => *self = std::mem::take(&mut i.right),
                    (Node::Leaf(_), Node::Empty) => *self = std::mem::take(&mut i.left),
                    (left, right) => i.hash = inner_hash(&left.hash(), &right.hash()),
                }
            }
        }
    }
}

/// What a proof ends on, below its last sibling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Terminal {
    /// The record asked about, with the hash of its value: it exists.
    Found {
        /// blake3 of the record's value.
        value_hash: Hash,
    },
    /// An empty subtree where the record's path leads: it does not exist.
    Empty,
    /// Another record alone where the record's path leads (their paths
    /// share every bit above it): the record asked about does not exist.
    Other {
        /// That record's kind.
        kind: String,
        /// Its key.
        key: Bytes,
        /// blake3 of its value.
        value_hash: Hash,
    },
}

/// A proof about one record against a state root: the sibling hashes from
/// the root down its path, and what the path ends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// The construction's version ([`STATE_TREE_VERSION`]).
    pub version: u8,
    /// Sibling hashes, from the root's children down.
    pub siblings: Vec<Hash>,
    /// What the path ends on.
    pub terminal: Terminal,
}

/// Why a state proof does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateProofError {
    /// A construction this build does not know.
    #[error("state proof of version {0}; this build checks version {STATE_TREE_VERSION}")]
    Version(u8),
    /// More siblings than a path has bits.
    #[error("{0} siblings; a path has 256 bits")]
    TooDeep(usize),
    /// The kind or key is longer than a record address may be.
    #[error("a record address longer than {MAX_ADDRESS_BYTES} bytes")]
    AddressTooLong,
    /// The other record named does not share the path above it, or is the
    /// record asked about.
    #[error("the record the proof ends on does not stand where the asked record's path leads")]
    OtherRecordMisplaced,
    /// The path folds to another root.
    #[error("the proof leads to root {found}, not {expected}")]
    WrongRoot {
        /// The root the proof is checked against.
        expected: Hash,
        /// The root it leads to.
        found: Hash,
    },
}

/// What a proof shows about a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proven {
    /// It exists with a value hashing to this.
    Value(Hash),
    /// It does not exist.
    Absent,
}

impl StateProof {
    /// Checks the proof for `(kind, key)` against `root`; what it shows.
    pub fn verify(&self, root: &Hash, kind: &str, key: &[u8]) -> Result<Proven, StateProofError> {
        if self.version != STATE_TREE_VERSION {
            return Err(StateProofError::Version(self.version));
        }
        let depth = self.siblings.len();
        if depth > 256 {
            return Err(StateProofError::TooDeep(depth));
        }
        if kind.len() > MAX_ADDRESS_BYTES || key.len() > MAX_ADDRESS_BYTES {
            return Err(StateProofError::AddressTooLong);
        }
        let path = path_of(kind, key);
        let (mut h, proven) = match &self.terminal {
            Terminal::Found { value_hash } => {
                (leaf_hash(kind, key, value_hash), Proven::Value(*value_hash))
            }
            Terminal::Empty => (Hash::ZERO, Proven::Absent),
            Terminal::Other {
                kind: other_kind,
                key: other_key,
                value_hash,
            } => {
                if other_kind.len() > MAX_ADDRESS_BYTES || other_key.0.len() > MAX_ADDRESS_BYTES {
                    return Err(StateProofError::AddressTooLong);
                }
                let other = path_of(other_kind, &other_key.0);
                if other == path || (0..depth).any(|d| bit(&other, d) != bit(&path, d)) {
                    return Err(StateProofError::OtherRecordMisplaced);
                }
                (
                    leaf_hash(other_kind, &other_key.0, value_hash),
                    Proven::Absent,
                )
            }
        };
        for (d, sibling) in self.siblings.iter().enumerate().rev() {
            h = if bit(&path, d) {
                inner_hash(sibling, &h)
            } else {
                inner_hash(&h, sibling)
            };
        }
        if h != *root {
            return Err(StateProofError::WrongRoot {
                expected: *root,
                found: h,
            });
        }
        Ok(proven)
    }
}

/// The tree over a state's records. Holds leaf hashes only: the records'
/// kinds, keys and values stay with their owner, who names them when it
/// changes one ([`StateTree::set`]) or asks for a proof ([`StateTree::prove`]).
#[derive(Clone, Debug, Default)]
pub struct StateTree {
    root: Node,
    leaves: u64,
}

impl StateTree {
    /// The empty tree.
    pub fn new() -> StateTree {
        StateTree::default()
    }

    /// The root: what a block's state root commits to.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    /// Records in the tree.
    pub fn len(&self) -> u64 {
        self.leaves
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Sets the record `(kind, key)` to a value hashing to `value_hash`, or
    /// removes it (`None`).
    pub fn set(&mut self, kind: &str, key: &[u8], value_hash: Option<Hash>) {
        self.set_many([(kind, key, value_hash)]);
    }

    /// Sets (or removes, `None`) many records at once: each node on their
    /// paths is rehashed once, and nothing is reallocated that stays. Where
    /// a record is named twice, the last write counts.
    pub fn set_many<'a>(
        &mut self,
        writes: impl IntoIterator<Item = (&'a str, &'a [u8], Option<Hash>)>,
    ) {
        let mut changes: Vec<(usize, Change)> = writes
            .into_iter()
            .enumerate()
            .map(|(n, (kind, key, value))| {
                let leaf = value.map(|v| leaf_hash(kind, key, &v));
                (n, (path_of(kind, key), leaf))
            })
            .collect();
        // By path, the last write of each path kept.
        changes.sort_unstable_by(|(n, (p, _)), (m, (q, _))| p.cmp(q).then(m.cmp(n)));
        changes.dedup_by(|(_, (p, _)), (_, (q, _))| p == q);
        let changes: Vec<Change> = changes.into_iter().map(|(_, c)| c).collect();
        self.apply_sorted(&changes);
    }

    /// Applies a block's record writes (values hashed here) in one pass.
    pub fn apply_writes(&mut self, writes: &[RecordWrite]) {
        self.set_many(writes.iter().map(|w| {
            let value = w.value.as_deref().map(Hash::of);
            (w.kind, w.key.as_slice(), value)
        }));
    }

    /// Applies changes sorted by path, each path once.
    fn apply_sorted(&mut self, changes: &[Change]) {
        let mut leaves = 0i64;
        self.root.apply(changes, 0, &mut leaves);
        self.leaves = self.leaves.saturating_add_signed(leaves);
    }

    /// A proof about `(kind, key)`. `other` names the record a path may end
    /// on instead (its kind, key and value hash, by its path): the tree keeps
    /// only hashes, so the owner of the records answers it.
    pub fn prove(
        &self,
        kind: &str,
        key: &[u8],
        value_hash: Option<Hash>,
        other: impl FnOnce(&Hash) -> Option<(String, Vec<u8>, Hash)>,
    ) -> Option<StateProof> {
        let path = path_of(kind, key);
        let mut siblings = Vec::new();
        let mut node = &self.root;
        let mut depth = 0;
        let terminal = loop {
            match node {
                Node::Empty => break Terminal::Empty,
                Node::Leaf(l) if l.path == path => {
                    let value_hash = value_hash?;
                    if leaf_hash(kind, key, &value_hash) != l.hash {
                        return None;
                    }
                    break Terminal::Found { value_hash };
                }
                Node::Leaf(l) => {
                    let (kind, key, value_hash) = other(&l.path)?;
                    break Terminal::Other {
                        kind,
                        key: Bytes(key),
                        value_hash,
                    };
                }
                Node::Inner(i) => {
                    let (next, sibling) = if bit(&path, depth) {
                        (&i.right, &i.left)
                    } else {
                        (&i.left, &i.right)
                    };
                    siblings.push(sibling.hash());
                    node = next;
                    depth += 1;
                }
            }
        };
        Some(StateProof {
            version: STATE_TREE_VERSION,
            siblings,
            terminal,
        })
    }
}

/// Builds a tree from many records (a store being opened or verified) in
/// batches: memory beyond the tree stays bounded by [`TreeLoader::BATCH`].
/// Each record must be added once.
#[derive(Debug, Default)]
pub struct TreeLoader {
    tree: StateTree,
    pending: Vec<Change>,
}

impl TreeLoader {
    /// Records sorted and applied at a time.
    pub const BATCH: usize = 1 << 16;

    /// An empty tree to load.
    pub fn new() -> TreeLoader {
        TreeLoader::default()
    }

    /// Adds the record `(kind, key)` with a value hashing to `value_hash`.
    pub fn add(&mut self, kind: &str, key: &[u8], value_hash: &Hash) {
        self.pending
            .push((path_of(kind, key), Some(leaf_hash(kind, key, value_hash))));
        if self.pending.len() >= Self::BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.pending.sort_unstable_by_key(|c| c.0);
        self.pending.dedup_by(|a, b| a.0 == b.0);
        self.tree.apply_sorted(&self.pending);
        self.pending.clear();
    }

    /// The tree over every record added.
    pub fn finish(mut self) -> StateTree {
        self.flush();
        self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The root by the definition, from scratch: the reference the
    /// incremental tree is held to.
    fn root_of(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
        match leaves {
            [] => Hash::ZERO,
            [(_, h)] => *h,
            _ => {
                let (l, r): (Vec<_>, Vec<_>) = leaves.iter().partition(|(p, _)| !bit(p, depth));
                inner_hash(&root_of(&l, depth + 1), &root_of(&r, depth + 1))
            }
        }
    }

    type Records = BTreeMap<(String, Vec<u8>), Vec<u8>>;

    fn reference(records: &Records) -> Hash {
        let leaves: Vec<(Hash, Hash)> = records
            .iter()
            .map(|((k, key), v)| (path_of(k, key), leaf_hash(k, key, &Hash::of(v))))
            .collect();
        root_of(&leaves, 0)
    }

    fn other_of(records: &Records) -> impl Fn(&Hash) -> Option<(String, Vec<u8>, Hash)> + '_ {
        |path| {
            records
                .iter()
                .find(|((k, key), _)| path_of(k, key) == *path)
                .map(|((k, key), v)| (k.clone(), key.clone(), Hash::of(v)))
        }
    }

    fn prove(tree: &StateTree, records: &Records, kind: &str, key: &[u8]) -> StateProof {
        let value = records
            .get(&(kind.to_string(), key.to_vec()))
            .map(|v| Hash::of(v));
        tree.prove(kind, key, value, other_of(records))
            .expect("a proof")
    }

    const KINDS: [&str; 3] = ["jobs", "tokens", "equipment"];

    fn op() -> impl Strategy<Value = (usize, u16, Option<u8>)> {
        (
            0..KINDS.len(),
            0u16..200,
            prop::option::weighted(0.8, any::<u8>()),
        )
    }

    #[test]
    fn the_empty_tree_has_the_zero_root_and_proves_absence() {
        let tree = StateTree::new();
        assert_eq!(tree.root(), Hash::ZERO);
        let proof = tree.prove("jobs", b"job-1", None, |_| None).expect("proof");
        assert_eq!(
            proof.verify(&tree.root(), "jobs", b"job-1"),
            Ok(Proven::Absent)
        );
    }

    #[test]
    fn the_kind_is_part_of_the_address() {
        assert_ne!(path_of("jobs", b"x"), path_of("tokens", b"x"));
        assert_ne!(path_of("ab", b"c"), path_of("a", b"bc"));
        let v = Hash::of(b"v");
        assert_ne!(leaf_hash("jobs", b"x", &v), leaf_hash("tokens", b"x", &v));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any order of writes and removals gives the root of the final
        /// set of records, computed from scratch.
        #[test]
        fn the_incremental_root_is_the_root_of_the_final_records(ops in prop::collection::vec(op(), 0..300)) {
            let mut tree = StateTree::new();
            let mut records = Records::new();
            for (k, key, value) in ops {
                let kind = KINDS[k];
                let key = key.to_be_bytes().to_vec();
                match value {
                    Some(v) => {
                        tree.set(kind, &key, Some(Hash::of(&[v])));
                        records.insert((kind.to_string(), key), vec![v]);
                    }
                    None => {
                        tree.set(kind, &key, None);
                        records.remove(&(kind.to_string(), key));
                    }
                }
            }
            prop_assert_eq!(tree.root(), reference(&records));
            prop_assert_eq!(tree.len(), records.len() as u64);
        }

        /// Writes applied in batches (a block's write set; a record may be
        /// named twice, the last write counting) give the same root and
        /// size as the same writes one by one and as the final records
        /// from scratch.
        #[test]
        fn batches_of_writes_give_the_root_of_the_final_records(
            ops in prop::collection::vec(op(), 0..300),
            cuts in prop::collection::vec(0usize..300, 0..12),
        ) {
            let mut one_by_one = StateTree::new();
            let mut batched = StateTree::new();
            let mut records = Records::new();
            let writes: Vec<(&str, Vec<u8>, Option<Hash>)> = ops
                .iter()
                .map(|(k, key, v)| (KINDS[*k], key.to_be_bytes().to_vec(), v.map(|v| Hash::of(&[v]))))
                .collect();
            for ((kind, key, value), (_, _, v)) in writes.iter().zip(&ops) {
                one_by_one.set(kind, key, *value);
                match v {
                    Some(v) => records.insert((kind.to_string(), key.clone()), vec![*v]),
                    None => records.remove(&(kind.to_string(), key.clone())),
                };
            }
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= writes.len()).collect();
            cuts.push(0);
            cuts.push(writes.len());
            cuts.sort_unstable();
            for w in cuts.windows(2) {
                batched.set_many(writes[w[0]..w[1]].iter().map(|(k, key, v)| (*k, key.as_slice(), *v)));
            }
            prop_assert_eq!(batched.root(), reference(&records));
            prop_assert_eq!(batched.root(), one_by_one.root());
            prop_assert_eq!(batched.len(), records.len() as u64);
            prop_assert_eq!(one_by_one.len(), records.len() as u64);
        }

        /// Every present record proves its value, every absent one proves
        /// its absence, and no proof stands for another record or root.
        #[test]
        fn proofs_show_values_and_absence_and_nothing_else(
            writes in prop::collection::vec((0..KINDS.len(), 0u16..64, any::<u8>()), 1..80),
            asked in prop::collection::vec((0..KINDS.len(), 0u16..64), 1..20),
        ) {
            let mut tree = StateTree::new();
            let mut records = Records::new();
            for (k, key, v) in writes {
                let key = key.to_be_bytes().to_vec();
                tree.set(KINDS[k], &key, Some(Hash::of(&[v])));
                records.insert((KINDS[k].to_string(), key), vec![v]);
            }
            let root = tree.root();
            for (k, key) in asked {
                let kind = KINDS[k];
                let key = key.to_be_bytes().to_vec();
                let proof = prove(&tree, &records, kind, &key);
                let expected = match records.get(&(kind.to_string(), key.clone())) {
                    Some(v) => Proven::Value(Hash::of(v)),
                    None => Proven::Absent,
                };
                prop_assert_eq!(proof.verify(&root, kind, &key), Ok(expected));
                // Not for another key, kind or root.
                let mut other_key = key.clone();
                other_key[1] ^= 0x80;
                if let Ok(p) = proof.verify(&root, kind, &other_key) {
                    // Only an absence can hold for two keys (the same empty
                    // subtree), and only if the other key is absent too.
                    prop_assert_eq!(&p, &Proven::Absent);
                    prop_assert!(!records.contains_key(&(kind.to_string(), other_key)));
                }
                let other_kind = KINDS[(k + 1) % KINDS.len()];
                if let Ok(p) = proof.verify(&root, other_kind, &key) {
                    prop_assert_eq!(&p, &Proven::Absent);
                    prop_assert!(!records.contains_key(&(other_kind.to_string(), key.clone())));
                }
                prop_assert!(proof.verify(&Hash::of(b"another root"), kind, &key).is_err());
            }
        }

        /// No change to a proof's siblings, terminal or version verifies.
        #[test]
        fn a_changed_proof_does_not_verify(
            writes in prop::collection::vec((0..KINDS.len(), 0u16..64, any::<u8>()), 2..60),
            pick in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut tree = StateTree::new();
            let mut records = Records::new();
            for (k, key, v) in writes {
                let key = key.to_be_bytes().to_vec();
                tree.set(KINDS[k], &key, Some(Hash::of(&[v])));
                records.insert((KINDS[k].to_string(), key), vec![v]);
            }
            let root = tree.root();
            let keys: Vec<_> = records.keys().cloned().collect();
            let (kind, key) = &keys[pick.index(keys.len())];
            let proof = prove(&tree, &records, kind, key);
            prop_assert!(proof.verify(&root, kind, key).is_ok());
            let mut mutants = Vec::new();
            if !proof.siblings.is_empty() {
                let mut m = proof.clone();
                let i = flip.index(m.siblings.len());
                m.siblings[i].0[flip.index(32)] ^= 1;
                mutants.push(m);
                let mut m = proof.clone();
                m.siblings.pop();
                mutants.push(m);
            }
            let mut m = proof.clone();
            m.siblings.push(Hash::ZERO);
            mutants.push(m);
            let mut m = proof.clone();
            if let Terminal::Found { value_hash } = &mut m.terminal {
                value_hash.0[0] ^= 1;
            }
            mutants.push(m);
            let mut m = proof.clone();
            m.terminal = Terminal::Empty;
            mutants.push(m);
            let mut m = proof.clone();
            m.version = STATE_TREE_VERSION + 1;
            mutants.push(m);
            for m in mutants {
                prop_assert!(m.verify(&root, kind, key).is_err(), "{:?}", m);
            }
        }
    }
}
