//! openraft's storage conformance suite on our redb log store and state machine.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use smart_consensus::log_store::LogStore;
use smart_consensus::machine::HubMachine;
use smart_consensus::memory::{MemoryTransport, Router};
use smart_consensus::types::{StorageError, TypeConfig};
use smart_ledger::store::RedbStore;
use smart_ledger::{Genesis, GenesisMember, GenesisPeer, Keypair, PeerRole, Role, Timestamp};
use tempfile::TempDir;

struct Builder;

fn genesis(hub: &Keypair) -> Genesis {
    Genesis {
        chain_name: "suite".into(),
        created: Timestamp(0),
        peers: vec![GenesisPeer {
            name: "hub".into(),
            id: hub.id(),
            role: PeerRole::Hub,
        }],
        members: vec![GenesisMember {
            name: "admin".into(),
            id: Keypair::from_seed([2; 32]).id(),
            roles: vec![Role::Admin],
        }],
    }
}

impl StoreBuilder<TypeConfig, LogStore, HubMachine<MemoryTransport>, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, HubMachine<MemoryTransport>), StorageError> {
        let dir = TempDir::new().map_err(|e| openraft::StorageIOError::write(&e))?;
        let log = LogStore::open(&dir.path().join("raft.redb"))?;
        let key = Keypair::from_seed([1; 32]);
        let store = RedbStore::open_or_create(&dir.path().join("ledger.redb"), &genesis(&key))
            .map_err(|e| openraft::StorageIOError::write(&std::io::Error::other(e.to_string())))?;
        let (signed, _) = tokio::sync::mpsc::channel(16);
        let (machine, _ledger) =
            HubMachine::open(store, Arc::new(key), signed, Router::new().transport(1))?;
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite_passes_on_our_stores() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage suite: {e}");
    }
}
