//! A client of the hubs over libp2p: submits signed txs and reads status.
//! Used by `smart submit`, the commit benchmark and the tests.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use smart_consensus::{TransportError, TxReceipt};
use smart_ledger::{Bytes, Keypair};

use crate::p2p::{self, P2pHandle, PeerStatus, Request, Response};

/// A connection to one hub.
#[derive(Clone, Debug)]
pub struct Client {
    handle: P2pHandle,
    hub: PeerId,
    addr: Multiaddr,
}

impl Client {
    /// Connects as `key` (a registered identity) to the hub at `addr`
    /// (ending in `/p2p/PEERID`).
    pub async fn connect(key: &Keypair, addr: Multiaddr) -> Result<Client, TransportError> {
        let hub = crate::p2p::split_p2p(&addr).ok_or_else(|| {
            TransportError::Unreachable(format!("{addr} does not end in /p2p/PEERID"))
        })?;
        let (handle, _inbound, _gossip) = p2p::spawn(key, None, [hub], Duration::from_secs(60))
            .await
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        Ok(Client { handle, hub, addr })
    }

    async fn call(&self, request: Request) -> Result<Response, TransportError> {
        match self
            .handle
            .request(self.hub, Some(self.addr.clone()), request)
            .await?
        {
            Response::Refused(m) => Err(TransportError::Remote(m)),
            r => Ok(r),
        }
    }

    /// The block at `height` with its certificate, if the peer has it.
    pub async fn block(
        &self,
        height: u64,
    ) -> Result<Option<(smart_ledger::Block, smart_ledger::BlockCert)>, TransportError> {
        match self
            .call(Request::Blocks {
                from: height,
                to: height,
            })
            .await?
        {
            Response::Blocks(b) => Ok(b.into_iter().next()),
            _ => Err(TransportError::Remote("answer of the wrong kind".into())),
        }
    }

    /// Submits txs; answers when each is committed (or refused).
    pub async fn submit(&self, txs: Vec<Bytes>) -> Result<Vec<TxReceipt>, TransportError> {
        match self.call(Request::Submit(txs)).await? {
            Response::Receipts(r) => Ok(r),
            _ => Err(TransportError::Remote("answer of the wrong kind".into())),
        }
    }

    /// The hub's chain id, height and leader.
    pub async fn status(&self) -> Result<PeerStatus, TransportError> {
        match self.call(Request::Status).await? {
            Response::Status(s) => Ok(s),
            _ => Err(TransportError::Remote("answer of the wrong kind".into())),
        }
    }
}
