//! SMART-IDs (ed25519 public keys), signing keys, signatures and key files.
//!
//! One acceptance rule for signatures on every peer: **strict** ed25519
//! (`verify_strict`: canonical `s`, no small-order `R` or key). Bulk checks
//! may use batch verification as a fast path: a batch accepts every set of
//! strictly valid signatures, and when a batch fails each signature is
//! re-checked strictly to name the bad one. Admission of new txs always uses
//! the strict check.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::fixed_bytes;

fixed_bytes!(
    /// An ed25519 signature (R || s).
    Signature,
    64
);

/// How many decompressed verifying keys signature checks keep cached.
pub const KEY_CACHE_MAX: usize = 16_384;

type KeyCache = std::sync::RwLock<std::collections::HashMap<SmartId, VerifyingKey>>;
static KEY_CACHE: std::sync::OnceLock<KeyCache> = std::sync::OnceLock::new();

/// A SMART-ID: the ed25519 public key of a person, a client or a peer.
///
/// The same key is the peer's libp2p identity, so a PeerId and a SMART-ID
/// name the same thing. Its text form is base58 (Bitcoin alphabet) of the 32
/// key bytes: about 44 characters, no look-alike characters, double-click
/// copyable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmartId(pub [u8; 32]);

impl SmartId {
    /// The raw public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 characters of the text form, for logs.
    pub fn short(&self) -> String {
        self.to_string().chars().take(8).collect()
    }

    /// The ed25519 verifying key, refusing weak (small-order) keys and bytes
    /// that are not a curve point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::BadKey(*self))?;
        if key.is_weak() {
            return Err(SignatureError::BadKey(*self));
        }
        Ok(key)
    }

    /// [`SmartId::verifying_key`] for checking signatures. Decompressing a
    /// key costs about a third of a verification and a ledger has few
    /// authors, so good keys are kept in a process-wide cache
    /// ([`KEY_CACHE_MAX`] keys; emptied when full). Bad keys are never
    /// cached. Decoders validate keys with the uncached form, so decoding
    /// never grows the cache.
    fn checking_key(&self) -> Result<VerifyingKey, SignatureError> {
        let cache = KEY_CACHE.get_or_init(Default::default);
        if let Some(key) = cache.read().unwrap_or_else(|p| p.into_inner()).get(self) {
            return Ok(*key);
        }
        let key = self.verifying_key()?;
        let mut keys = cache.write().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(*self, key);
        Ok(key)
    }

    /// Strictly verifies `signature` over `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let key = self.checking_key()?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig)
            .map_err(|_| SignatureError::Invalid(*self))
    }
}

impl fmt::Display for SmartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for SmartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmartId({self})")
    }
}

/// Text that is not a SMART-ID.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a SMART-ID: {0:?} (expected base58 of a 32-byte ed25519 key)")]
pub struct ParseSmartIdError(pub String);

impl FromStr for SmartId {
    type Err = ParseSmartIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        match bs58::decode(s.trim()).onto(&mut out) {
            Ok(32) => Ok(SmartId(out)),
            _ => Err(ParseSmartIdError(s.to_string())),
        }
    }
}

impl Serialize for SmartId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for SmartId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            d.deserialize_bytes(crate::bytes::FixedVisitor::<32>)
                .map(SmartId)
        }
    }
}

/// A signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key is not a valid (or is a weak) ed25519 key.
    #[error("SMART-ID {0} is not a valid ed25519 public key")]
    BadKey(SmartId),
    /// The signature does not verify under the key.
    #[error("signature by {0} does not verify")]
    Invalid(SmartId),
}

/// An ed25519 signing key with its SMART-ID.
pub struct Keypair {
    signing: SigningKey,
    id: SmartId,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.id)
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair::from_seed(self.signing.to_bytes())
    }
}

impl Keypair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Keypair, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Keypair::from_seed(seed))
    }

    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        let signing = SigningKey::from_bytes(&seed);
        let id = SmartId(signing.verifying_key().to_bytes());
        Keypair { signing, id }
    }

    /// The SMART-ID (public key).
    pub fn id(&self) -> SmartId {
        self.id
    }

    /// The 32-byte secret seed (what a key file holds).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// Writes a key file readable only by its owner (mode 0600), refusing
    /// to overwrite an existing file.
    pub fn write_file(&self, path: &Path) -> Result<(), KeyError> {
        let text = format!("{KEY_FILE_TAG} {}\n", hex::encode(self.seed()));
        let io = |e: std::io::Error| KeyError::Io(path.display().to_string(), e.to_string());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file, refusing one that others can read or write.
    pub fn read_file(path: &Path) -> Result<Keypair, KeyError> {
        let shown = path.display().to_string();
        let io = |e: std::io::Error| KeyError::Io(shown.clone(), e.to_string());
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions(shown, mode));
            }
        }
        if meta.len() > 4096 {
            return Err(KeyError::Format(shown, "file too large".into()));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Keypair::parse(&text).map_err(|why| KeyError::Format(shown, why))
    }

    /// Reads a key from a key file's text (a station badge carries the same text).
    pub fn from_text(text: &str) -> Result<Keypair, KeyError> {
        Keypair::parse(text).map_err(|why| KeyError::Format("badge".into(), why))
    }

    fn parse(text: &str) -> Result<Keypair, String> {
        let hex_seed = text
            .trim()
            .strip_prefix(KEY_FILE_TAG)
            .ok_or_else(|| format!("missing {KEY_FILE_TAG:?} tag"))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(hex_seed.trim(), &mut seed)
            .map_err(|_| "expected 64 hex digits after the tag".to_string())?;
        Ok(Keypair::from_seed(seed))
    }
}

const KEY_FILE_TAG: &str = "smart-ed25519-secret-v1";

/// A key could not be made, read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// The OS random source failed.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    /// Reading or writing the file failed.
    #[error("key file {0}: {1}")]
    Io(String, String),
    /// The file is readable or writable by group or others.
    #[error("key file {0} has mode {1:o}: refusing a secret key readable by others (chmod 600 it)")]
    Permissions(String, u32),
    /// The file is not a key file.
    #[error("key file {0} is not a SMART key file: {1}")]
    Format(String, String),
}

/// Verifies many `(key, message, signature)` triples, using batch
/// verification as a fast path. Returns the index of the first signature that
/// fails the strict check, with the reason.
pub fn verify_many(items: &[(SmartId, &[u8], Signature)]) -> Result<(), (usize, SignatureError)> {
    let Some(first) = items.first() else {
        return Ok(());
    };
    let mut keys = Vec::with_capacity(items.len());
    for (i, (id, _, _)) in items.iter().enumerate() {
        keys.push(id.checking_key().map_err(|e| (i, e))?);
    }
    let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
        return Ok(());
    }
    for (i, (id, message, sig)) in items.iter().enumerate() {
        id.verify(message, sig).map_err(|e| (i, e))?;
    }
    // The batch failed but every signature is strictly valid: impossible for
    // honest inputs, so report the first as suspect rather than accept.
    Err((0, SignatureError::Invalid(first.0)))
}
