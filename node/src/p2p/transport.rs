//! Raft's transport over the peer's request-response protocol.

use libp2p::Multiaddr;
use smart_consensus::transport::{RaftReply, RaftRpc, SignedHeader};
use smart_consensus::{TransportError, TxReceipt};
use smart_ledger::{Block, BlockCert, Bytes, SmartId};

use crate::p2p::{P2pHandle, Request, Response, peer_id};

/// The hub transport over libp2p.
#[derive(Clone, Debug)]
pub struct P2pTransport {
    handle: P2pHandle,
}

impl P2pTransport {
    /// Wraps a swarm handle.
    pub fn new(handle: P2pHandle) -> P2pTransport {
        P2pTransport { handle }
    }

    async fn call(
        &self,
        node: &smart_consensus::HubNode,
        request: Request,
    ) -> Result<Response, TransportError> {
        let id: SmartId = node
            .peer
            .parse()
            .map_err(|_| TransportError::Unreachable(format!("bad hub id {}", node.peer)))?;
        let peer = peer_id(&id).map_err(|e| TransportError::Unreachable(e.to_string()))?;
        let addr = node.addr.parse::<Multiaddr>().ok();
        match self.handle.request(peer, addr, request).await? {
            Response::Refused(m) => Err(TransportError::Remote(m)),
            r => Ok(r),
        }
    }
}

fn unexpected<T>() -> Result<T, TransportError> {
    Err(TransportError::Remote("answer of the wrong kind".into()))
}

impl smart_consensus::Transport for P2pTransport {
    async fn raft(
        &self,
        _target: u64,
        node: &smart_consensus::HubNode,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        match self.call(node, Request::Raft(rpc)).await? {
            Response::Raft(r) => Ok(r),
            _ => unexpected(),
        }
    }

    async fn submit(
        &self,
        _target: u64,
        node: &smart_consensus::HubNode,
        txs: Vec<Bytes>,
    ) -> Result<Vec<TxReceipt>, TransportError> {
        match self.call(node, Request::Submit(txs)).await? {
            Response::Receipts(r) => Ok(r),
            _ => unexpected(),
        }
    }

    async fn signature(
        &self,
        _target: u64,
        node: &smart_consensus::HubNode,
        signed: SignedHeader,
    ) -> Result<(), TransportError> {
        match self.call(node, Request::Signature(signed)).await? {
            Response::Ack => Ok(()),
            _ => unexpected(),
        }
    }

    async fn certs(
        &self,
        _target: u64,
        node: &smart_consensus::HubNode,
        from: u64,
        to: u64,
    ) -> Result<Vec<BlockCert>, TransportError> {
        match self.call(node, Request::Certs { from, to }).await? {
            Response::Certs(c) => Ok(c),
            _ => unexpected(),
        }
    }

    async fn blocks(
        &self,
        _target: u64,
        node: &smart_consensus::HubNode,
        from: u64,
        to: u64,
    ) -> Result<Vec<(Block, BlockCert)>, TransportError> {
        match self.call(node, Request::Blocks { from, to }).await? {
            Response::Blocks(b) => Ok(b),
            _ => unexpected(),
        }
    }
}
