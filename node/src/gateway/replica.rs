//! The gateway's replica: the checked chain and state, and a watch on the
//! tip for the API's event streams.

use std::path::Path;

use smart_ledger::{Block, BlockCert, Genesis};

use crate::p2p::{CertifiedBlock, StateSnapshot};
use crate::peer::follow::Follower;
use crate::peer::replica::{Replica, ReplicaError};

/// The gateway's copy of the chain.
#[derive(Debug)]
pub struct GatewayReplica {
    pub(crate) replica: Replica,
    /// The tip height, for the API's event streams.
    pub(crate) tip: tokio::sync::watch::Sender<u64>,
    /// Certified state snapshots installed since start.
    pub(crate) snapshots_installed: u64,
}

impl GatewayReplica {
    /// Opens (or creates) it in the gateway's folder.
    pub fn open(dir: &Path, genesis: &Genesis) -> anyhow::Result<GatewayReplica> {
        let replica = Replica::open(dir, genesis)?;
        let tip = tokio::sync::watch::channel(replica.height()).0;
        Ok(GatewayReplica {
            replica,
            tip,
            snapshots_installed: 0,
        })
    }
}

impl Follower for GatewayReplica {
    fn replica(&self) -> &Replica {
        &self.replica
    }

    fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), ReplicaError> {
        self.replica.apply(cb)?;
        self.tip.send_replace(self.replica.height());
        Ok(())
    }

    fn apply_range(&mut self, range: Vec<(Block, BlockCert)>) -> (u64, Result<(), ReplicaError>) {
        let applied = self.replica.apply_range(range);
        self.tip.send_replace(self.replica.height());
        applied
    }

    fn install_snapshot(&mut self, snap: &StateSnapshot) -> Result<(), ReplicaError> {
        self.replica.install_snapshot(snap)?;
        self.snapshots_installed += 1;
        Ok(())
    }
}
