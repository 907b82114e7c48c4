//! Gossip topics and the notices peers publish on them: alerts, status
//! broadcasts, how an incoming message is judged, and the board a peer
//! keeps of what it heard.

use libp2p::{PeerId, gossipsub};
use serde::{Deserialize, Serialize};
use smart_ledger::Hash;

/// Gossip topic carrying certified blocks (block + certificate), published by hubs.
pub const BLOCKS_TOPIC: &str = "smart/blocks/1";
/// AlertBroadcast: internal alerts (safety, equivocation), from any peer.
pub const ALERTS_TOPIC: &str = "smart/alerts/1";
/// InfoBroadcast: public operational status, from any peer.
pub const INFO_TOPIC: &str = "smart/info/1";

/// An alert gossiped on [`ALERTS_TOPIC`]. The gossip layer signs it with the
/// sender's key; alerts that concern the ledger are also recorded as txs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alert {
    /// A station's safety event (e-stop, door).
    Safety {
        /// The station.
        station: String,
        /// What happened.
        what: String,
    },
    /// A hub signed two headers at one height; the evidence checks offline.
    Equivocation(Box<smart_ledger::Equivocation>),
    /// An advisory flag from the gateway's API monitoring (SMART-Audit).
    Anomaly {
        /// The peer that raised it.
        source: String,
        /// The finding (JSON).
        what: String,
    },
}

/// A peer's public status on [`INFO_TOPIC`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The peer's name in the genesis.
    pub name: String,
    /// Its role.
    pub role: String,
    /// Its tip height.
    pub height: u64,
    /// Its tip hash.
    pub tip: Hash,
    /// When it said so (ms since the Unix epoch); also makes each status a
    /// distinct gossip message, so an unchanged tip is still announced.
    pub at_ms: u64,
}

/// Largest alert or info message.
pub const MAX_NOTICE_BYTES: usize = 64 * 1024;

/// Checks and logs an alert or info message; the verdict for gossipsub.
pub fn judge_notice(msg: &GossipMessage) -> Verdict {
    match msg.topic.as_str() {
        ALERTS_TOPIC => {
            match smart_ledger::codec::decode_plain::<Alert>("alert", &msg.data, MAX_NOTICE_BYTES) {
                Ok(Alert::Equivocation(e)) if !e.is_proven() => Verdict::Reject,
                Ok(alert) => {
                    tracing::warn!(from = %msg.source, ?alert, "alert");
                    Verdict::Accept
                }
                Err(_) => Verdict::Reject,
            }
        }
        INFO_TOPIC => {
            match smart_ledger::codec::decode_plain::<Info>("info", &msg.data, MAX_NOTICE_BYTES) {
                Ok(info) => {
                    tracing::debug!(from = %msg.source, ?info, "peer status");
                    Verdict::Accept
                }
                Err(_) => Verdict::Reject,
            }
        }
        _ => Verdict::Ignore,
    }
}
/// What a peer has heard on the notice topics, for the staff dashboard:
/// every peer's latest status and the most recent alerts.
#[derive(Debug, Default)]
pub struct NoticeBoard {
    peers: std::collections::BTreeMap<String, (Info, std::time::Instant)>,
    alerts: std::collections::VecDeque<String>,
}

/// Alerts kept on a [`NoticeBoard`].
const BOARD_ALERTS: usize = 50;

/// A peer's status as last heard.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerSeen {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: String,
    /// Its tip height.
    pub height: u64,
    /// Milliseconds since it was heard.
    pub heard_ms_ago: u64,
}

impl NoticeBoard {
    /// Records an accepted notice.
    pub fn record(&mut self, msg: &GossipMessage) {
        match msg.topic.as_str() {
            INFO_TOPIC => {
                if let Ok(info) =
                    smart_ledger::codec::decode_plain::<Info>("info", &msg.data, MAX_NOTICE_BYTES)
                {
                    self.peers
                        .insert(info.name.clone(), (info, std::time::Instant::now()));
                }
            }
            ALERTS_TOPIC => {
                if let Ok(alert) =
                    smart_ledger::codec::decode_plain::<Alert>("alert", &msg.data, MAX_NOTICE_BYTES)
                {
                    let text = match alert {
                        Alert::Safety { station, what } => format!("safety at {station}: {what}"),
                        Alert::Equivocation(e) => format!(
                            "equivocation by hub {} at height {}",
                            e.hub.short(),
                            e.first.0.height
                        ),
                        Alert::Anomaly { source, what } => format!("anomaly from {source}: {what}"),
                    };
                    if self.alerts.len() == BOARD_ALERTS {
                        self.alerts.pop_front();
                    }
                    self.alerts.push_back(text);
                }
            }
            _ => {}
        }
    }

    /// Every peer heard of, and the recent alerts (newest last).
    pub fn view(&self) -> (Vec<PeerSeen>, Vec<String>) {
        let peers = self
            .peers
            .values()
            .map(|(i, at)| PeerSeen {
                name: i.name.clone(),
                role: i.role.clone(),
                height: i.height,
                heard_ms_ago: at.elapsed().as_millis() as u64,
            })
            .collect();
        (peers, self.alerts.iter().cloned().collect())
    }
}

/// Largest gossip message.
pub const MAX_GOSSIP_BYTES: usize = 16 * 1024 * 1024;

/// A gossip message waiting for the peer's validation verdict.
#[derive(Debug)]
pub struct GossipMessage {
    /// The peer that forwarded it (penalised if it is invalid).
    pub source: PeerId,
    /// Its id (blake3 of its bytes).
    pub id: gossipsub::MessageId,
    /// The topic.
    pub topic: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A validation verdict for a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Invalid: drop it and penalise the sender.
    Reject,
    /// Not useful (old, duplicate, ahead of us): drop without penalty.
    Ignore,
}
