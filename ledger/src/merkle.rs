//! The Merkle accumulator over every tx in ledger order, with the
//! Certificate Transparency construction of RFC 9162 §2.1 (blake3 in place of
//! SHA-256): leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right), the tree
//! of n leaves splits at the largest power of two below n.
//!
//! - [`Accumulator`] keeps only the right edge (one hash per set bit of the
//!   size): O(log n) memory, O(1) amortised append, and it reports each
//!   perfect subtree it completes so a store can keep them.
//! - Proofs are built from perfect subtrees fetched through [`SubtreeSource`]:
//!   any range of the RFC's recursion is a union of O(log n) aligned perfect
//!   subtrees, so a proof costs O(log² n) lookups at most, never a rehash.
//! - The verification functions need nothing but the proof, the leaf hash or
//!   roots, and the sizes.

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// RFC 9162 leaf hash: H(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::of_parts(&[&[0u8], data])
}

/// RFC 9162 interior node hash: H(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash::of(&buf)
}

/// The root of the empty tree: H() (hash of the empty string).
pub fn empty_root() -> Hash {
    Hash::of(&[])
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH over a list of leaf hashes, computed directly.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Where proofs get the hash of a perfect, aligned subtree: the subtree of
/// `2^level` leaves starting at leaf `index << level`. Level 0 is a leaf hash.
pub trait SubtreeSource {
    /// Lookup failure.
    type Error;
    /// The hash of perfect subtree `(level, index)`.
    fn perfect(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// MTH(D[start..end]) for a range produced by the RFC recursion (its start is
/// a multiple of the largest power of two ≤ its length).
fn range_root<S: SubtreeSource>(src: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return src.perfect(level, start >> level);
    }
    let k = split_point(n);
    let left = range_root(src, start, start + k)?;
    let right = range_root(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// Why a proof could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The index or sizes are out of range.
    #[error("{0}")]
    Range(String),
    /// The subtree source failed.
    #[error("subtree lookup failed: {0}")]
    Source(E),
}

/// The root of the first `size` leaves.
pub fn root_at<S: SubtreeSource>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_root(src, 0, size)
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[0..size]): the audit path of leaf `index`.
pub fn inclusion_proof<S: SubtreeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::Range(format!(
            "leaf {index} is not in a tree of size {size}"
        )));
    }
    let mut path = Vec::new();
    // Walk down from the root, remembering siblings, then reverse (the RFC
    // lists the path leaf-first).
    let (mut start, mut end, mut m) = (0u64, size, index);
    while end - start > 1 {
        let k = split_point(end - start);
        if m < k {
            path.push(range_root(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            path.push(range_root(src, start, start + k).map_err(ProofError::Source)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 PROOF(old, D[0..new]): a consistency proof that the
/// tree of size `old` is a prefix of the tree of size `new`.
pub fn consistency_proof<S: SubtreeSource>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old == 0 || old > new {
        return Err(ProofError::Range(format!(
            "no consistency proof from size {old} to size {new}"
        )));
    }
    let mut proof = Vec::new();
    let (mut start, end, mut m, mut whole) = (0u64, new, old, true);
    let mut end = end;
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_root(src, start, end).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(range_root(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            proof.push(range_root(src, start, start + k).map_err(ProofError::Source)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// RFC 9162 §2.1.3.2: does `path` prove leaf `leaf` at `index` in the tree
/// of `size` leaves with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of size `old` with
/// root `old_root` is a prefix of the tree of size `new` with root `new_root`?
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    // If old is a power of two, the old root is the first node of the path.
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

crate::bounded::bounded_vec_fn!(accumulator_peaks, Hash, 64, "peaks");

/// A perfect subtree completed by an append: `(level, index, hash)`.
pub type CompletedNode = (u32, u64, Hash);

/// The right edge of the tree: the roots of the perfect subtrees that make
/// up the first `size` leaves, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accumulator {
    size: u64,
    #[serde(deserialize_with = "accumulator_peaks")]
    peaks: Vec<Hash>,
}

impl Accumulator {
    /// The empty accumulator.
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Structural check of a decoded accumulator: one peak per set bit.
    pub fn is_well_formed(&self) -> bool {
        self.peaks.len() == self.size.count_ones() as usize
    }

    /// Appends a leaf hash; calls `completed` for the leaf and for every
    /// perfect subtree it closes (level ≥ 1).
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(CompletedNode)) {
        let index = self.size;
        completed((0, index, leaf));
        let mut node = leaf;
        let mut level = 0u32;
        // Each trailing 1 bit of the old size is a peak of equal height to merge with.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            node = node_hash(&left, &node);
            level += 1;
            completed((level, index >> level, node));
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// MTH of all leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, peak| node_hash(peak, &acc))
    }
}

/// Every perfect subtree of a tree, in memory: for tests, tools and proofs
/// over a single block.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    acc: Accumulator,
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A tree of these leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.acc.push(leaf, |(level, _, hash)| {
            let level = level as usize;
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            levels[level].push(hash);
        });
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.acc.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.acc.root()
    }
}

/// A perfect subtree that is not in a [`MemoryTree`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no perfect subtree at level {0}, index {1}")]
pub struct MissingSubtree(pub u32, pub u64);

impl SubtreeSource for MemoryTree {
    type Error = MissingSubtree;

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, MissingSubtree> {
        self.levels
            .get(level as usize)
            .and_then(|l| usize::try_from(index).ok().and_then(|i| l.get(i)))
            .copied()
            .ok_or(MissingSubtree(level, index))
    }
}
