//! The Merkle accumulator against RFC 9162's recursive definitions, for
//! every leaf of every tree size 1..=300 and every consistency pair up to 100,
//! and proptests that a proof for the wrong leaf, index, size or root never
//! verifies.

use proptest::prelude::*;
use smart_ledger::Hash;
use smart_ledger::merkle::{
    self, Accumulator, MemoryTree, consistency_proof, inclusion_proof, leaf_hash, node_hash,
    root_of, verify_consistency, verify_inclusion,
};

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.3.1 PATH, written as the recursion in the RFC.
fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = ref_path(m, &d[..k]);
        p.push(root_of(&d[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &d[k..]);
        p.push(root_of(&d[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF.
fn ref_subproof(m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if whole { vec![] } else { vec![root_of(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = ref_subproof(m, &d[..k], whole);
        p.push(root_of(&d[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &d[k..], false);
        p.push(root_of(&d[..k]));
        p
    }
}

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[&(i as u64).to_be_bytes()[..], &[salt]].concat()))
        .collect()
}

#[test]
fn root_matches_the_rfc_definition_for_every_size() {
    let all = leaves(300, 0);
    let mut acc = Accumulator::new();
    assert_eq!(acc.root(), merkle::empty_root());
    for n in 1..=300 {
        acc.push(all[n - 1], |_| {});
        let expected = root_of(&all[..n]);
        assert_eq!(acc.root(), expected, "size {n}");
        // The RFC's small examples: two leaves are one node.
        if n == 2 {
            assert_eq!(expected, node_hash(&all[0], &all[1]));
        }
    }
}

#[test]
fn inclusion_proofs_for_every_leaf_of_every_size_up_to_300() {
    let all = leaves(300, 1);
    let mut tree = MemoryTree::new();
    for n in 1..=300usize {
        tree.push(all[n - 1]);
        let root = tree.root();
        for m in 0..n {
            let path = inclusion_proof(&tree, m as u64, n as u64).expect("proof");
            assert_eq!(path, ref_path(m, &all[..n]), "PATH({m}, {n})");
            assert!(
                verify_inclusion(&all[m], m as u64, n as u64, &path, &root),
                "verify ({m}, {n})"
            );
            // The wrong leaf never verifies.
            let other = all[(m + 1) % n];
            if n > 1 {
                assert!(!verify_inclusion(&other, m as u64, n as u64, &path, &root));
            }
        }
    }
}

#[test]
fn consistency_proofs_for_all_pairs_up_to_100() {
    let all = leaves(100, 2);
    let tree = MemoryTree::from_leaves(all.iter().copied());
    let roots: Vec<Hash> = (0..=100).map(|n| root_of(&all[..n])).collect();
    for new in 1..=100usize {
        for old in 1..=new {
            let proof = consistency_proof(&tree, old as u64, new as u64).expect("proof");
            assert_eq!(
                proof,
                ref_subproof(old, &all[..new], true),
                "PROOF({old}, {new})"
            );
            assert!(
                verify_consistency(old as u64, new as u64, &roots[old], &roots[new], &proof),
                "verify ({old}, {new})"
            );
            if old < new {
                // Swapped roots never verify.
                assert!(!verify_consistency(
                    old as u64,
                    new as u64,
                    &roots[new],
                    &roots[old],
                    &proof
                ));
            }
        }
    }
}

#[test]
fn out_of_range_requests_are_errors_not_panics() {
    let tree = MemoryTree::from_leaves(leaves(10, 3));
    assert!(inclusion_proof(&tree, 10, 10).is_err());
    assert!(inclusion_proof(&tree, 0, 11).is_err());
    assert!(consistency_proof(&tree, 0, 5).is_err());
    assert!(consistency_proof(&tree, 6, 5).is_err());
    assert!(consistency_proof(&tree, 5, 11).is_err());
    assert!(!verify_inclusion(&Hash::ZERO, 5, 5, &[], &Hash::ZERO));
    assert!(!verify_consistency(0, 5, &Hash::ZERO, &Hash::ZERO, &[]));
}

fn flip(h: &Hash, bit: u8) -> Hash {
    let mut b = h.0;
    b[(bit / 8) as usize % 32] ^= 1 << (bit % 8);
    Hash(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn inclusion_proof_for_wrong_anything_never_verifies(
        n in 1u64..400, m_seed in any::<u64>(), other_seed in any::<u64>(), bit in any::<u8>(), salt in any::<u8>()
    ) {
        let all = leaves(n as usize, salt);
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let m = m_seed % n;
        let root = tree.root();
        let path = inclusion_proof(&tree, m, n).expect("proof");
        let leaf = all[m as usize];
        prop_assert!(verify_inclusion(&leaf, m, n, &path, &root));
        // Wrong leaf (any other leaf, or a flipped one).
        prop_assert!(!verify_inclusion(&flip(&leaf, bit), m, n, &path, &root));
        // Wrong root.
        prop_assert!(!verify_inclusion(&leaf, m, n, &path, &flip(&root, bit)));
        // Wrong index.
        let other = other_seed % n;
        if other != m {
            prop_assert!(!verify_inclusion(&leaf, other, n, &path, &root));
        }
        // Wrong size: the proof for size n checked against the tree of another
        // size (same leaves, fewer or more) never verifies.
        let wrong_size = 1 + other_seed % 500;
        if wrong_size != n {
            let mut grown = all.clone();
            grown.extend(leaves(500, salt.wrapping_add(1)));
            let wrong_root = root_of(&grown[..wrong_size as usize]);
            prop_assert!(!verify_inclusion(&leaf, m, wrong_size, &path, &wrong_root));
        }
        // A tampered, truncated or extended path.
        if !path.is_empty() {
            let i = (other_seed as usize) % path.len();
            let mut bad = path.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(!verify_inclusion(&leaf, m, n, &bad, &root));
            prop_assert!(!verify_inclusion(&leaf, m, n, &path[..path.len() - 1], &root));
        }
        let mut longer = path.clone();
        longer.push(root);
        prop_assert!(!verify_inclusion(&leaf, m, n, &longer, &root));
    }

    #[test]
    fn consistency_proof_for_wrong_anything_never_verifies(
        new in 2u64..300, old_seed in any::<u64>(), bit in any::<u8>(), other_seed in any::<u64>(), salt in any::<u8>()
    ) {
        let all = leaves(new as usize, salt);
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let old = 1 + old_seed % (new - 1); // old < new
        let old_root = root_of(&all[..old as usize]);
        let new_root = tree.root();
        let proof = consistency_proof(&tree, old, new).expect("proof");
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
        prop_assert!(!verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof));
        prop_assert!(!verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof));
        let other_old = 1 + other_seed % new;
        if other_old != old {
            prop_assert!(!verify_consistency(other_old, new, &old_root, &new_root, &proof));
        }
        let other_new = new + 1 + other_seed % 50;
        let mut grown = all.clone();
        grown.extend(leaves(50, salt.wrapping_add(1)));
        let other_root = root_of(&grown[..other_new as usize]);
        prop_assert!(!verify_consistency(old, other_new, &old_root, &other_root, &proof));
        if !proof.is_empty() {
            let i = (other_seed as usize) % proof.len();
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(!verify_consistency(old, new, &old_root, &new_root, &bad));
            prop_assert!(!verify_consistency(old, new, &old_root, &new_root, &proof[..proof.len() - 1]));
        }
        // A ledger that rewrote an old leaf is not consistent with the old root.
        let mut rewritten = all.clone();
        rewritten[(other_seed % old) as usize] = flip(&all[(other_seed % old) as usize], bit);
        let forged = MemoryTree::from_leaves(rewritten.iter().copied());
        let forged_proof = consistency_proof(&forged, old, new).expect("proof");
        prop_assert!(!verify_consistency(old, new, &old_root, &forged.root(), &forged_proof));
    }
}
