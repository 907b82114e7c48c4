//! The genesis document: the first hubs, nodes, gateways and admins of a
//! chain. Its hash is the chain id every tx and block carries.

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError, MAX_GENESIS_BYTES};
use crate::hash::Hash;
use crate::id::SmartId;
use crate::tx::Timestamp;

/// A role a person or account holds in the shop.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Role {
    /// Registers identities and tokens, approves contract versions.
    Admin,
    /// Runs tests at a station.
    Technician,
    /// Quality assurance: signs off measurements and reports.
    #[serde(rename = "QA")]
    Qa,
    /// A customer of the shop.
    Client,
    /// Plans and tracks jobs.
    ProjectManager,
    /// Compliance officer: documents, standards, audits.
    Compliance,
    /// SMART-AI Central: records advisory suggestions and nothing else.
    Advisor,
}

/// What part a peer plays in the network.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerRole {
    /// A Raft voter that orders txs and certifies blocks.
    Hub,
    /// A station peer.
    Node,
    /// The internet-facing gateway.
    Gateway,
}

/// A peer listed in the genesis.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GenesisPeer {
    /// Human name, e.g. `vault-hub`, `station-3`.
    pub name: String,
    /// Its SMART-ID (also its libp2p identity).
    pub id: SmartId,
    /// Its role.
    pub role: PeerRole,
}

/// A person listed in the genesis with roles.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GenesisMember {
    /// Human name.
    pub name: String,
    /// Their SMART-ID.
    pub id: SmartId,
    /// Their roles.
    #[serde(deserialize_with = "member_roles")]
    pub roles: Vec<Role>,
}

/// The genesis document.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Genesis {
    /// A name for the chain (e.g. the shop's name).
    pub chain_name: String,
    /// When it was made (creator's clock).
    pub created: Timestamp,
    /// The first peers.
    #[serde(deserialize_with = "genesis_peers")]
    pub peers: Vec<GenesisPeer>,
    /// The first people (at least one Admin).
    #[serde(deserialize_with = "genesis_members")]
    pub members: Vec<GenesisMember>,
}

crate::bounded::bounded_vec_fn!(member_roles, Role, 16, "roles");
crate::bounded::bounded_vec_fn!(genesis_peers, GenesisPeer, 10_000, "peers");
crate::bounded::bounded_vec_fn!(genesis_members, GenesisMember, 10_000, "members");

/// A genesis document breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Bytes did not decode.
    #[error("genesis does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// JSON did not parse.
    #[error("genesis JSON: {0}")]
    Json(String),
    /// A structural rule is broken.
    #[error("genesis is invalid: {0}")]
    Invalid(String),
}

impl Genesis {
    /// Canonical bytes (version byte + postcard).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// The chain id: blake3 of the canonical bytes. Independent of how the
    /// JSON file is formatted.
    pub fn chain_id(&self) -> Hash {
        Hash::of(&self.canonical_bytes())
    }

    /// Decodes canonical bytes and checks the rules.
    pub fn decode(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let g: Genesis = codec::decode_versioned("genesis", bytes, MAX_GENESIS_BYTES)?;
        g.validate()?;
        Ok(g)
    }

    /// Parses the JSON file form and checks the rules.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        if text.len() > MAX_GENESIS_BYTES {
            return Err(GenesisError::Json(format!(
                "{} bytes is over the limit",
                text.len()
            )));
        }
        let g: Genesis =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// The JSON file form.
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(s) => s,
            Err(e) => unreachable!("genesis always serializes to JSON: {e}"),
        }
    }

    /// The rules: at least one hub and one admin, names and ids unique, ids
    /// are valid keys.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if !self.peers.iter().any(|p| p.role == PeerRole::Hub) {
            return Err(GenesisError::Invalid("no hub".into()));
        }
        if !self.members.iter().any(|m| m.roles.contains(&Role::Admin)) {
            return Err(GenesisError::Invalid(
                "no member with the Admin role".into(),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        let all = self
            .peers
            .iter()
            .map(|p| (&p.name, p.id))
            .chain(self.members.iter().map(|m| (&m.name, m.id)));
        for (name, id) in all {
            if !ids.insert(id) {
                return Err(GenesisError::Invalid(format!("SMART-ID {id} listed twice")));
            }
            if !names.insert(name.clone()) {
                return Err(GenesisError::Invalid(format!("name {name:?} listed twice")));
            }
            if id.verifying_key().is_err() {
                return Err(GenesisError::Invalid(format!(
                    "{name}: {id} is not a valid ed25519 key"
                )));
            }
        }
        Ok(())
    }

    /// The hub set at genesis, sorted.
    pub fn hubs(&self) -> Vec<SmartId> {
        let mut hubs: Vec<SmartId> = self
            .peers
            .iter()
            .filter(|p| p.role == PeerRole::Hub)
            .map(|p| p.id)
            .collect();
        hubs.sort();
        hubs
    }

    /// Is this id listed (as a peer or a member)?
    pub fn knows(&self, id: &SmartId) -> bool {
        self.peers.iter().any(|p| &p.id == id) || self.members.iter().any(|m| &m.id == id)
    }

    /// The name given to an id, if listed.
    pub fn name_of(&self, id: &SmartId) -> Option<&str> {
        self.peers
            .iter()
            .find(|p| &p.id == id)
            .map(|p| p.name.as_str())
            .or_else(|| {
                self.members
                    .iter()
                    .find(|m| &m.id == id)
                    .map(|m| m.name.as_str())
            })
    }
}
