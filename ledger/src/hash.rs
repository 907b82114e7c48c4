//! blake3 digests and the domain-separated hashing every structure uses.

use crate::bytes::fixed_bytes;

fixed_bytes!(
    /// A blake3 digest: tx hashes, block hashes, Merkle nodes, the chain id.
    Hash,
    32
);

impl Hash {
    /// The all-zero hash; used only where a value is structurally absent.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// blake3 of `data`.
    pub fn of(data: &[u8]) -> Hash {
        Hash(*blake3::hash(data).as_bytes())
    }

    /// blake3 over several parts, as if concatenated.
    pub fn of_parts(parts: &[&[u8]]) -> Hash {
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(p);
        }
        Hash(*h.finalize().as_bytes())
    }

    /// First eight hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}
