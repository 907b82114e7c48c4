//! The folder layout `smart init` writes:
//!
//! ```text
//! DIR/genesis.json            the shared genesis
//! DIR/<peer>/peer.key         each peer's secret key (0600)
//! DIR/<peer>/genesis.json     a copy of the genesis
//! DIR/<peer>/ledger.redb      the peer's store (made on first use)
//! DIR/people/<name>.key       keys of the people in the genesis
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use smart_ledger::store::RedbStore;
use smart_ledger::{Genesis, Keypair};

pub const GENESIS_FILE: &str = "genesis.json";
pub const PEER_KEY_FILE: &str = "peer.key";
pub(crate) const PEOPLE_DIR: &str = "people";

/// Reads and checks a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Genesis::from_json(&text).with_context(|| format!("in {}", path.display()))
}

/// A peer's data folder.
#[derive(Debug, Clone)]
pub(crate) struct PeerFolder {
    pub dir: PathBuf,
}

impl PeerFolder {
    pub fn new(dir: &Path) -> PeerFolder {
        PeerFolder {
            dir: dir.to_path_buf(),
        }
    }

    pub fn genesis(&self) -> Result<Genesis> {
        read_genesis(&self.dir.join(GENESIS_FILE))
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join(RedbStore::FILE_NAME)
    }

    /// Opens the peer's store, creating it from the genesis if new.
    pub fn open_store(&self) -> Result<RedbStore> {
        let genesis = self.genesis()?;
        RedbStore::open_or_create(&self.store_path(), &genesis)
            .with_context(|| format!("opening the store of {}", self.dir.display()))
    }

    /// Opens an existing store read-mostly (for verify, show, prove).
    pub fn open_existing_store(&self) -> Result<RedbStore> {
        let path = self.store_path();
        if !path.exists() {
            anyhow::bail!(
                "{} has no ledger yet ({} missing)",
                self.dir.display(),
                path.display()
            );
        }
        RedbStore::open(&path).with_context(|| format!("opening {}", path.display()))
    }
}

/// Loads the key of every named peer or person of a genesis found under an
/// init folder.
pub(crate) fn find_key(root: &Path, name: &str) -> Result<Keypair> {
    let peer = root.join(name).join(PEER_KEY_FILE);
    let person = root.join(PEOPLE_DIR).join(format!("{name}.key"));
    let path = if peer.exists() { peer } else { person };
    Keypair::read_file(&path).with_context(|| format!("key of {name}"))
}

/// A peer's name in the genesis (its short id if it is not there).
pub fn peer_name(genesis: &smart_ledger::Genesis, id: &smart_ledger::SmartId) -> String {
    genesis
        .peers
        .iter()
        .find(|p| p.id == *id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| id.short())
}
