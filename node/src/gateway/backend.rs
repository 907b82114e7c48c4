//! What SMART-API reads and does through this peer ([`smart_gateway::Backend`]):
//! the replica's state and store, its tip, alerts broadcast, txs sent to a hub.

use std::sync::{Arc, Mutex};

use libp2p::{Multiaddr, PeerId};
use smart_contracts::State;
use smart_ledger::store::RedbStore;

use crate::gateway::GatewayReplica;
use crate::p2p::{self, P2pHandle, Request, Response};
use crate::peer::follow::lock;

/// The gateway's view of this peer (see [`smart_gateway::Backend`]).
#[derive(Debug)]
pub(crate) struct GatewayBackend {
    pub(crate) replica: Arc<Mutex<GatewayReplica>>,
    pub(crate) handle: P2pHandle,
    pub(crate) hubs: Vec<(PeerId, Multiaddr)>,
}

impl smart_gateway::Backend for GatewayBackend {
    fn broadcast_alert(&self, text: String) {
        let alert = p2p::Alert::Anomaly {
            source: "gateway".into(),
            what: text,
        };
        let handle = self.handle.clone();
        tokio::spawn(async move {
            handle
                .publish(p2p::ALERTS_TOPIC, smart_ledger::codec::encode_plain(&alert))
                .await;
        });
    }

    fn read<R>(&self, f: impl FnOnce(&State, &RedbStore) -> R) -> R {
        let g = lock(&self.replica);
        f(g.replica.state(), &g.replica.store)
    }

    fn tip(&self) -> tokio::sync::watch::Receiver<u64> {
        lock(&self.replica).tip.subscribe()
    }

    async fn submit(&self, tx: smart_ledger::Bytes) -> Result<smart_gateway::Submitted, String> {
        use smart_consensus::TxVerdict;
        use smart_gateway::Submitted;
        let mut last = "no hub configured".to_string();
        for (peer, addr) in &self.hubs {
            match self
                .handle
                .request(*peer, Some(addr.clone()), Request::Submit(vec![tx.clone()]))
                .await
            {
                Ok(Response::Receipts(r)) => {
                    let Some(r) = r.into_iter().next() else {
                        return Err("the hub answered no receipt".into());
                    };
                    return Ok(match r.verdict {
                        TxVerdict::Included { height, outcome } => {
                            Submitted::Included { height, outcome }
                        }
                        TxVerdict::Duplicate { height } => Submitted::Duplicate { height },
                        TxVerdict::Rejected { reason } => Submitted::Rejected(reason),
                        TxVerdict::Unavailable { reason } => {
                            // This hub cannot order it now: the next may.
                            last = reason;
                            continue;
                        }
                        TxVerdict::Provisional { .. } => {
                            Submitted::Rejected("a station answered instead of a hub".into())
                        }
                    });
                }
                Ok(Response::Refused(why)) => last = why,
                Ok(_) => last = "an answer of the wrong kind".into(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}
