//! The one binary encoding of the ledger: a version byte, then postcard.
//!
//! Every decoder takes its input as a byte slice that the caller has already
//! bounded, checks the length against an explicit limit first, and refuses
//! trailing bytes and non-canonical encodings (re-encoding must give back the
//! exact input), so one value has one encoding and one hash.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest signed transaction on the wire (body + signature), in bytes.
pub const MAX_TX_BYTES: usize = 256 * 1024;
/// Largest number of transactions in one block.
pub const MAX_BLOCK_TXS: usize = 16_384;
/// Largest encoded block, in bytes.
pub const MAX_BLOCK_BYTES: usize = 32 * 1024 * 1024;
/// Largest encoded certificate, in bytes (a few hundred hubs at most).
pub const MAX_CERT_BYTES: usize = 64 * 1024;
/// Largest genesis document, in bytes.
pub const MAX_GENESIS_BYTES: usize = 1024 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than the limit for this kind of value.
    #[error("{what}: {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is empty.
    #[error("{what}: empty input")]
    Empty {
        /// What was being decoded.
        what: &'static str,
    },
    /// The version byte is not one this build understands.
    #[error("{what}: unsupported format version {found} (this build reads {expected})")]
    Version {
        /// What was being decoded.
        what: &'static str,
        /// The byte found.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// postcard refused the bytes.
    #[error("{what}: malformed: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// postcard's reason.
        reason: String,
    },
    /// Bytes were left over after a complete value.
    #[error("{what}: {extra} trailing bytes after the value")]
    Trailing {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// The bytes decode, but are not the canonical encoding of the value.
    #[error("{what}: not in canonical encoding")]
    NotCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// The value decoded but breaks a structural rule.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// The rule broken.
        reason: String,
    },
}

/// Current format version of every versioned encoding.
pub const FORMAT_VERSION: u8 = 1;

/// `[FORMAT_VERSION] ++ postcard(value)`.
pub fn encode_versioned<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // postcard only fails on a writer error or an unsupported serde type
    // (none are used in the ledger's types); extend_from_slice never fails.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encode of a ledger type failed: {e}"),
    }
}

/// postcard(value), without a version byte (for values nested in a versioned one).
pub fn encode_plain<T: Serialize>(value: &T) -> Vec<u8> {
    match postcard::to_stdvec(value) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encode of a ledger type failed: {e}"),
    }
}

/// Decodes a value written by [`encode_versioned`], enforcing `limit`,
/// the version, no trailing bytes and canonical form.
pub fn decode_versioned<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty { what })?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version {
            what,
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let value = decode_plain_unchecked(what, body)?;
    if encode_versioned(&value) != bytes {
        return Err(DecodeError::NotCanonical { what });
    }
    Ok(value)
}

/// Decodes postcard bytes with a limit and no trailing bytes (canonical
/// form is the caller's to check when it matters).
pub fn decode_plain<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    decode_plain_unchecked(what, bytes)
}

fn decode_plain_unchecked<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}
