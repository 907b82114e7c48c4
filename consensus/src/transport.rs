//! Hub-to-hub messages behind a trait: Raft RPCs, forwarded submissions,
//! header signatures and block ranges. The node crate carries them over
//! libp2p; [`crate::memory`] routes them in memory for deterministic tests.

use std::future::Future;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use smart_ledger::{Block, BlockCert, Bytes, Hash, Signature};

use crate::types::{HubNode, TxReceipt, TypeConfig};

/// A Raft RPC.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Replicate entries / heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Ask for a vote.
    Vote(VoteRequest<u64>),
    /// A snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

/// The answer to a [`RaftRpc`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    /// To AppendEntries.
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// To Vote.
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// To InstallSnapshot.
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
}

/// A hub's signature over the header it computed at a height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHeader {
    /// Height.
    pub height: u64,
    /// The header hash the hub computed.
    pub header_hash: Hash,
    /// The hub (SMART-ID bytes).
    pub hub: smart_ledger::SmartId,
    /// Its signature over `BlockHeader::cert_message(header_hash)`.
    pub signature: Signature,
    /// The signed header itself (sent by its signer, so a conflicting
    /// signature can be kept as complete evidence).
    pub header: Option<smart_ledger::BlockHeader>,
}

/// A transport failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached (down, partitioned, not connected).
    #[error("hub unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with an error or something undecodable.
    #[error("hub answered badly: {0}")]
    Remote(String),
}

/// How a hub talks to the other hubs.
pub trait Transport: Clone + Send + Sync + 'static {
    /// Sends a Raft RPC to hub `target`.
    fn raft(
        &self,
        target: u64,
        node: &HubNode,
        rpc: RaftRpc,
    ) -> impl Future<Output = Result<RaftReply, TransportError>> + Send;
    /// Forwards submitted txs to hub `target` (the leader) and returns their receipts.
    fn submit(
        &self,
        target: u64,
        node: &HubNode,
        txs: Vec<Bytes>,
    ) -> impl Future<Output = Result<Vec<TxReceipt>, TransportError>> + Send;
    /// Sends this hub's header signature to hub `target`.
    fn signature(
        &self,
        target: u64,
        node: &HubNode,
        signed: SignedHeader,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Fetches the certificates of blocks `from..=to` from hub `target`.
    fn certs(
        &self,
        target: u64,
        node: &HubNode,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<BlockCert>, TransportError>> + Send;
    /// Fetches blocks `from..=to` with their certificates from hub `target`.
    fn blocks(
        &self,
        target: u64,
        node: &HubNode,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<(Block, BlockCert)>, TransportError>> + Send;
}

/// openraft's network factory over a [`Transport`].
#[derive(Clone, Debug)]
pub struct Network<T> {
    transport: T,
}

impl<T> Network<T> {
    /// Wraps a transport.
    pub fn new(transport: T) -> Network<T> {
        Network { transport }
    }
}

/// One peer's client (created lazily by openraft; connecting is the transport's business).
#[derive(Clone, Debug)]
pub struct Client<T> {
    transport: T,
    target: u64,
    node: HubNode,
}

impl<T: Transport> RaftNetworkFactory<TypeConfig> for Network<T> {
    type Network = Client<T>;

    async fn new_client(&mut self, target: u64, node: &HubNode) -> Client<T> {
        Client {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
        }
    }
}

fn transport_err<E: std::error::Error>(e: TransportError) -> RPCError<u64, HubNode, E> {
    match e {
        TransportError::Unreachable(m) => {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(m)))
        }
        TransportError::Remote(m) => {
            RPCError::Network(NetworkError::new(&std::io::Error::other(m)))
        }
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<u64, HubNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(
        "reply of the wrong kind",
    )))
}

impl<T: Transport> RaftNetwork<TypeConfig> for Client<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, HubNode, RaftError<u64>>> {
        match self
            .transport
            .raft(self.target, &self.node, RaftRpc::AppendEntries(rpc))
            .await
            .map_err(transport_err)?
        {
            RaftReply::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, HubNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .transport
            .raft(self.target, &self.node, RaftRpc::InstallSnapshot(rpc))
            .await
            .map_err(transport_err)?
        {
            RaftReply::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, HubNode, RaftError<u64>>> {
        match self
            .transport
            .raft(self.target, &self.node, RaftRpc::Vote(rpc))
            .await
            .map_err(transport_err)?
        {
            RaftReply::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }
}

/// Serves an incoming Raft RPC on the local Raft.
pub async fn serve_raft(raft: &crate::types::Raft, rpc: RaftRpc) -> RaftReply {
    match rpc {
        RaftRpc::AppendEntries(r) => RaftReply::AppendEntries(raft.append_entries(r).await),
        RaftRpc::Vote(r) => RaftReply::Vote(raft.vote(r).await),
        RaftRpc::InstallSnapshot(r) => RaftReply::InstallSnapshot(raft.install_snapshot(r).await),
    }
}
