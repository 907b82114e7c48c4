//! An in-memory transport: hubs in one process, with switches to isolate a
//! hub or drop messages, for deterministic cluster tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use smart_ledger::{Block, BlockCert, Bytes};

use crate::hub::Hub;
use crate::transport::{RaftReply, RaftRpc, SignedHeader, Transport, TransportError, serve_raft};
use crate::types::{HubNode, TxReceipt};

#[derive(Default)]
struct Switchboard {
    hubs: BTreeMap<u64, Hub<MemoryTransport>>,
    isolated: BTreeSet<u64>,
}

/// The shared router all in-memory hubs register with.
#[derive(Clone, Default)]
pub struct Router {
    board: Arc<Mutex<Switchboard>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Router")
    }
}

impl Router {
    /// A new, empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// The transport for hub `from`.
    pub fn transport(&self, from: u64) -> MemoryTransport {
        MemoryTransport {
            router: self.clone(),
            from,
        }
    }

    /// Registers a started hub so others can reach it.
    pub fn register(&self, hub: Hub<MemoryTransport>) {
        self.lock().hubs.insert(hub.id, hub);
    }

    /// Removes a hub (it crashed or was stopped).
    pub fn remove(&self, id: u64) {
        self.lock().hubs.remove(&id);
    }

    /// Cuts a hub off from every other hub.
    pub fn isolate(&self, id: u64) {
        self.lock().isolated.insert(id);
    }

    /// Reconnects an isolated hub.
    pub fn heal(&self, id: u64) {
        self.lock().isolated.remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Switchboard> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reach(&self, from: u64, to: u64) -> Result<Hub<MemoryTransport>, TransportError> {
        let board = self.lock();
        if board.isolated.contains(&from) || board.isolated.contains(&to) {
            return Err(TransportError::Unreachable(format!(
                "{from} -> {to} is cut"
            )));
        }
        board
            .hubs
            .get(&to)
            .cloned()
            .ok_or_else(|| TransportError::Unreachable(format!("hub {to} is down")))
    }
}

/// One hub's view of the router.
#[derive(Clone, Debug)]
pub struct MemoryTransport {
    router: Router,
    from: u64,
}

impl Transport for MemoryTransport {
    async fn raft(
        &self,
        target: u64,
        _node: &HubNode,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        let hub = self.router.reach(self.from, target)?;
        Ok(serve_raft(&hub.raft, rpc).await)
    }

    async fn submit(
        &self,
        target: u64,
        _node: &HubNode,
        txs: Vec<Bytes>,
    ) -> Result<Vec<TxReceipt>, TransportError> {
        let hub = self.router.reach(self.from, target)?;
        Ok(hub.submit_forwarded(txs).await)
    }

    async fn signature(
        &self,
        target: u64,
        _node: &HubNode,
        signed: SignedHeader,
    ) -> Result<(), TransportError> {
        let hub = self.router.reach(self.from, target)?;
        hub.receive_signature(signed)
            .map_err(TransportError::Remote)
    }

    async fn certs(
        &self,
        target: u64,
        _node: &HubNode,
        from: u64,
        to: u64,
    ) -> Result<Vec<BlockCert>, TransportError> {
        let hub = self.router.reach(self.from, target)?;
        hub.certs(from, to).map_err(TransportError::Remote)
    }

    async fn blocks(
        &self,
        target: u64,
        _node: &HubNode,
        from: u64,
        to: u64,
    ) -> Result<Vec<(Block, BlockCert)>, TransportError> {
        let hub = self.router.reach(self.from, target)?;
        hub.blocks(from, to).map_err(TransportError::Remote)
    }
}
