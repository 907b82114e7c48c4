//! What crosses the wire between peers: requests and responses of
//! `/smart/rpc/1` with their length-prefixed postcard codec and size limits,
//! and the certified block as gossiped.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::{self};
use serde::{Deserialize, Serialize};
use smart_consensus::TxReceipt;
use smart_consensus::transport::{RaftReply, RaftRpc, SignedHeader};
use smart_ledger::{Block, BlockCert, Bytes, Hash};

/// A block with its certificate, as gossiped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertifiedBlock {
    /// The block.
    pub block: Block,
    /// Hub signatures over its header.
    pub cert: BlockCert,
}

impl CertifiedBlock {
    /// Gossip bytes.
    pub fn encode(&self) -> Vec<u8> {
        smart_ledger::codec::encode_versioned(self)
    }

    /// Decodes gossip bytes with the size limit.
    pub fn decode(bytes: &[u8]) -> Result<CertifiedBlock, smart_ledger::codec::DecodeError> {
        smart_ledger::codec::decode_versioned(
            "certified block",
            bytes,
            super::notices::MAX_GOSSIP_BYTES,
        )
    }
}

/// The request-response protocol of SMART peers.
pub const RPC_PROTOCOL: StreamProtocol = StreamProtocol::new("/smart/rpc/1");
/// Largest request or response on the wire.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What one peer asks another.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// A Raft RPC (hubs only).
    Raft(RaftRpc),
    /// Signed txs to order (from a client, or forwarded by a hub to the leader).
    Submit(Vec<Bytes>),
    /// A hub's signature over a header (hubs only).
    Signature(SignedHeader),
    /// Certificates of a block range.
    Certs {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// Blocks with certificates.
    Blocks {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// Chain id, height, leader.
    Status,
    /// The contract state at the peer's certified tip, for a node far behind.
    Snapshot,
}

/// The contract state after a certified block: what a node far behind
/// installs instead of re-running every block (it still fetches and checks
/// the blocks behind it afterwards).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The header whose `state_root` is the hash of `state`.
    pub header: smart_ledger::BlockHeader,
    /// A majority of the hub set over `header`.
    pub cert: BlockCert,
    /// The contract state's canonical bytes.
    pub state: Bytes,
}

/// A peer's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The chain.
    pub chain_id: Hash,
    /// Tip height.
    pub height: u64,
    /// Tip hash.
    pub tip: Hash,
    /// The Raft leader this hub knows of (node id).
    pub leader: Option<u64>,
    /// This hub's Raft node id.
    pub node_id: u64,
    /// Height up to which every certificate is final (a majority of hubs signed).
    pub certified: u64,
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// To `Raft`.
    Raft(RaftReply),
    /// To `Submit`: one receipt per tx.
    Receipts(Vec<TxReceipt>),
    /// To `Signature`.
    Ack,
    /// To `Certs`.
    Certs(Vec<BlockCert>),
    /// To `Blocks`.
    Blocks(Vec<(Block, BlockCert)>),
    /// To `Status`.
    Status(PeerStatus),
    /// To `Snapshot`.
    Snapshot(Box<StateSnapshot>),
    /// The request was refused (not allowed for this peer, busy, invalid).
    Refused(String),
}

/// Length-prefixed postcard, with the limit checked before allocating.
#[derive(Clone, Debug, Default)]
pub struct SmartCodec;

pub(crate) async fn read_frame<T: AsyncRead + Unpin + Send, M: serde::de::DeserializeOwned>(
    io: &mut T,
) -> io::Result<M> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_MESSAGE_BYTES {
        tracing::warn!(
            bytes = n,
            limit = MAX_MESSAGE_BYTES,
            "refused an oversized message"
        );
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {n} bytes is over the limit of {MAX_MESSAGE_BYTES}"),
        ));
    }
    let mut buf = vec![0u8; n];
    io.read_exact(&mut buf).await?;
    smart_ledger::codec::decode_plain("message", &buf, MAX_MESSAGE_BYTES).map_err(|e| {
        tracing::warn!(error = %e, "refused an undecodable message");
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    })
}

pub(crate) async fn write_frame<T: AsyncWrite + Unpin + Send, M: Serialize>(
    io: &mut T,
    msg: &M,
) -> io::Result<()> {
    let bytes = smart_ledger::codec::encode_plain(msg);
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message over the size limit",
        ));
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.flush().await
}

impl request_response::Codec for SmartCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        read_frame(io).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        read_frame(io).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()> {
        write_frame(io, &req).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()> {
        write_frame(io, &res).await
    }
}
