//! API credentials.
//!
//! A credential is `smart_<id>_<secret>`: 16 hex digits of id, 64 of secret.
//! The ledger holds `id → (client, blake3(secret))` (an `IssueApiCredential`
//! tx); the secret is shown once to whoever issued it and never stored.
//! Revocation is a ledger tx too, so every peer agrees at once.

use smart_contracts::State;
use smart_ledger::{Hash, SmartId};

/// A credential as presented.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The public id (as in the ledger).
    pub id: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({} …)", self.id)
    }
}

/// Why a credential is refused (always answered 401, the reason only logged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential presented.
    #[error("no credential")]
    Missing,
    /// Not of the form `smart_<id>_<secret>`.
    #[error("malformed credential")]
    Malformed,
    /// No such id in the ledger.
    #[error("unknown credential {0}")]
    Unknown(String),
    /// The secret does not match.
    #[error("wrong secret for credential {0}")]
    WrongSecret(String),
    /// Revoked in the ledger.
    #[error("credential {0} is revoked")]
    Revoked(String),
    /// Its client account is deactivated.
    #[error("the client of credential {0} is not active")]
    ClientInactive(String),
}

impl Credential {
    /// Makes a new credential: its text (for the client) and the hash the
    /// ledger keeps.
    pub fn mint() -> Result<(String, Credential, Hash), getrandom::Error> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id)?;
        getrandom::fill(&mut secret)?;
        let c = Credential {
            id: hex::encode(id),
            secret,
        };
        let text = format!("smart_{}_{}", c.id, hex::encode(secret));
        let hash = c.secret_hash();
        Ok((text, c, hash))
    }

    /// Parses `smart_<id>_<secret>`.
    pub fn parse(text: &str) -> Result<Credential, AuthError> {
        let rest = text
            .trim()
            .strip_prefix("smart_")
            .ok_or(AuthError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::Malformed)?;
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Malformed);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(secret, &mut bytes).map_err(|_| AuthError::Malformed)?;
        Ok(Credential {
            id: id.to_ascii_lowercase(),
            secret: bytes,
        })
    }

    /// blake3 of the secret, as the ledger keeps it.
    pub fn secret_hash(&self) -> Hash {
        Hash::of(&self.secret)
    }

    /// The client this credential acts for, if the ledger says it is valid.
    pub fn check(&self, state: &State) -> Result<SmartId, AuthError> {
        let c = state
            .credentials
            .get(&self.id)
            .ok_or_else(|| AuthError::Unknown(self.id.clone()))?;
        // blake3::Hash compares in constant time.
        if blake3::Hash::from_bytes(c.secret_hash.0) != blake3::hash(&self.secret) {
            return Err(AuthError::WrongSecret(self.id.clone()));
        }
        if c.revoked_at.is_some() {
            return Err(AuthError::Revoked(self.id.clone()));
        }
        if state.active(&c.client).is_none() {
            return Err(AuthError::ClientInactive(self.id.clone()));
        }
        Ok(c.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_credentials_parse_back_and_malformed_ones_do_not() {
        let (text, c, hash) = Credential::mint().expect("randomness");
        let parsed = Credential::parse(&text).expect("parses");
        assert_eq!(parsed, c);
        assert_eq!(parsed.secret_hash(), hash);
        for bad in [
            "",
            "smart_",
            "smart_zz_00",
            &text[..text.len() - 1],
            &text.replace("smart_", "smurf_"),
            "smart_0123456789abcdef_../../etc/passwd",
        ] {
            assert_eq!(Credential::parse(bad), Err(AuthError::Malformed), "{bad:?}");
        }
    }
}
