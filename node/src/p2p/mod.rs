//! The peer's libp2p side: TCP + noise + yamux, identify, ping, an allow
//! list of SMART-IDs, connection limits, and one request-response protocol
//! (`/smart/rpc/1`) with a length-prefixed postcard codec and explicit size
//! limits. One task owns the `Swarm`; everything else talks to it through a
//! cloneable [`P2pHandle`] (commands carry a oneshot reply) and receives
//! inbound requests on a bounded channel, so no Raft call is ever awaited
//! inside the swarm loop.

pub mod client;
mod notices;
mod transport;
mod wire;

pub use notices::{
    ALERTS_TOPIC, Alert, BLOCKS_TOPIC, GossipMessage, INFO_TOPIC, Info, MAX_GOSSIP_BYTES,
    MAX_NOTICE_BYTES, NoticeBoard, PeerSeen, Verdict, judge_notice,
};
pub use transport::P2pTransport;
pub use wire::{
    CertifiedBlock, MAX_MESSAGE_BYTES, PeerStatus, RPC_PROTOCOL, Request, Response, SmartCodec,
    StateSnapshot,
};

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, allow_block_list, connection_limits, gossipsub, identify, noise, ping, tcp,
    yamux,
};
use smart_consensus::TransportError;
use smart_ledger::{Keypair, SmartId};
use tokio::sync::{mpsc, oneshot};
const INBOUND_QUEUE: usize = 1024;

/// Gossip scoring: an invalid block (rejected after validation) costs far
/// more than anything a correct peer can earn: the penalty is the square of
/// the count times -50, so a second one graylists the sender (-200 < -80). The block topic is quiet between blocks, so the delivery-rate
/// penalties (P3, P3b) are off, and testnets run every peer on one IP, so
/// the colocation penalty is off too.
fn peer_score_params() -> gossipsub::PeerScoreParams {
    let mut topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 10.0,
        invalid_message_deliveries_weight: -50.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    topic.mesh_message_deliveries_weight = 0.0;
    topic.mesh_failure_penalty_weight = 0.0;
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    params
        .topics
        .insert(gossipsub::IdentTopic::new(BLOCKS_TOPIC).hash(), topic);
    params
}

fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        ..Default::default()
    }
}

/// Every behaviour of a SMART peer.
#[allow(missing_debug_implementations)] // libp2p's behaviours are not Debug
#[derive(NetworkBehaviour)]
pub struct SmartBehaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    rpc: request_response::Behaviour<SmartCodec>,
    gossip: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// The libp2p key of a SMART key (the same ed25519 key).
pub fn libp2p_keypair(key: &Keypair) -> Result<libp2p::identity::Keypair, P2pError> {
    libp2p::identity::Keypair::ed25519_from_bytes(key.seed())
        .map_err(|e| P2pError::Key(e.to_string()))
}

/// The PeerId of a SMART-ID.
pub fn peer_id(id: &SmartId) -> Result<PeerId, P2pError> {
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(&id.0)
        .map_err(|e| P2pError::Key(e.to_string()))?;
    Ok(libp2p::identity::PublicKey::from(pk).to_peer_id())
}

/// The SMART-ID of a PeerId (ed25519 ids inline their key).
pub fn smart_id(peer: &PeerId) -> Option<SmartId> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let pk = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    Some(SmartId(pk.try_into_ed25519().ok()?.to_bytes()))
}

/// The peer could not start its network.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// A key could not be converted.
    #[error("key: {0}")]
    Key(String),
    /// The transport could not be built or could not listen.
    #[error("network: {0}")]
    Network(String),
}

enum Command {
    Request {
        peer: PeerId,
        addr: Option<Multiaddr>,
        request: Box<Request>,
        reply: oneshot::Sender<Result<Response, TransportError>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Allow(PeerId),
    Disallow(PeerId),
    Cut(HashSet<PeerId>),
    Dial(Multiaddr),
    Publish {
        topic: String,
        data: Vec<u8>,
    },
    Validate {
        id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    },
}

/// An inbound request, for the peer's handler.
#[derive(Debug)]
pub struct Inbound {
    /// Who asked (authenticated by noise).
    pub peer: PeerId,
    /// What.
    pub request: Request,
    /// Where the answer goes.
    pub channel: ResponseChannel<Response>,
}

/// A cloneable handle to the swarm task.
#[derive(Clone, Debug)]
pub struct P2pHandle {
    commands: mpsc::Sender<Command>,
    /// This peer's id.
    pub local: PeerId,
    /// Addresses it listens on.
    pub listening: Vec<Multiaddr>,
}

impl P2pHandle {
    /// Sends a request and waits for the answer.
    pub async fn request(
        &self,
        peer: PeerId,
        addr: Option<Multiaddr>,
        request: Request,
    ) -> Result<Response, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                addr,
                request: Box::new(request),
                reply,
            })
            .await
            .map_err(|_| TransportError::Unreachable("network task stopped".into()))?;
        answer
            .await
            .map_err(|_| TransportError::Unreachable("network task stopped".into()))?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, channel: ResponseChannel<Response>, response: Response) {
        let _ = self
            .commands
            .send(Command::Respond { channel, response })
            .await;
    }

    /// Allows a peer to connect.
    pub async fn allow(&self, peer: PeerId) {
        let _ = self.commands.send(Command::Allow(peer)).await;
    }

    /// Cuts a peer off: removed from the allow list, its connections closed.
    pub async fn disallow(&self, peer: PeerId) {
        let _ = self.commands.send(Command::Disallow(peer)).await;
    }

    /// Fault injection (testnets only): no connection to or from `peers`
    /// until a later call leaves them out; allowed peers that are no longer
    /// cut are allowed again.
    pub async fn cut(&self, peers: HashSet<PeerId>) {
        let _ = self.commands.send(Command::Cut(peers)).await;
    }

    /// Dials an address.
    pub async fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.send(Command::Dial(addr)).await;
    }

    /// Publishes on a gossip topic.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) {
        let _ = self
            .commands
            .send(Command::Publish {
                topic: topic.to_string(),
                data,
            })
            .await;
    }

    /// Reports the verdict on a gossip message (forwarded only when accepted).
    pub async fn validate(&self, id: gossipsub::MessageId, source: PeerId, verdict: Verdict) {
        let _ = self
            .commands
            .send(Command::Validate {
                id,
                source,
                verdict,
            })
            .await;
    }
}

/// What [`spawn`] gives back: the handle, inbound requests, gossip messages.
pub type Spawned = (
    P2pHandle,
    mpsc::Receiver<Inbound>,
    mpsc::Receiver<GossipMessage>,
);

/// Starts the swarm task. Only `allowed` peers may connect (both ways).
pub async fn spawn(
    key: &Keypair,
    listen: Option<Multiaddr>,
    allowed: impl IntoIterator<Item = PeerId>,
    request_timeout: Duration,
) -> Result<Spawned, P2pError> {
    spawn_with_metrics(key, listen, allowed, request_timeout, None).await
}

/// Like [`spawn`], recording libp2p's own metrics (connections, identify,
/// ping, gossipsub, bandwidth) under `libp2p_` in `registry`.
pub async fn spawn_with_metrics(
    key: &Keypair,
    listen: Option<Multiaddr>,
    allowed: impl IntoIterator<Item = PeerId>,
    request_timeout: Duration,
    registry: Option<&mut prometheus_client::registry::Registry>,
) -> Result<Spawned, P2pError> {
    let recorder = registry.map(libp2p::metrics::Metrics::new);
    let keypair = libp2p_keypair(key)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| P2pError::Network(e.to_string()))?
        .with_behaviour(
            |key| -> Result<SmartBehaviour, Box<dyn std::error::Error + Send + Sync>> {
                Ok(SmartBehaviour {
                    allow: allow_block_list::Behaviour::default(),
                    limits: connection_limits::Behaviour::new(
                        connection_limits::ConnectionLimits::default()
                            .with_max_established_per_peer(Some(16))
                            .with_max_pending_incoming(Some(64))
                            .with_max_established(Some(1024)),
                    ),
                    gossip: {
                        let config = gossipsub::ConfigBuilder::default()
                            .validate_messages()
                            .max_transmit_size(MAX_GOSSIP_BYTES)
                            .heartbeat_interval(Duration::from_millis(500))
                            .message_id_fn(|m: &gossipsub::Message| {
                                gossipsub::MessageId::from(
                                    blake3::hash(&m.data).as_bytes().to_vec(),
                                )
                            })
                            .build()
                            .map_err(|e| P2pError::Network(e.to_string()))?;
                        let mut gossip = gossipsub::Behaviour::new(
                            gossipsub::MessageAuthenticity::Signed(key.clone()),
                            config,
                        )
                        .map_err(|e| P2pError::Network(e.to_string()))?;
                        gossip
                            .with_peer_score(peer_score_params(), peer_score_thresholds())
                            .map_err(P2pError::Network)?;
                        gossip
                    },
                    rpc: request_response::Behaviour::with_codec(
                        SmartCodec,
                        [(RPC_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default()
                            .with_request_timeout(request_timeout)
                            .with_max_concurrent_streams(1024),
                    ),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/smart/1".into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::new(ping::Config::new()),
                })
            },
        )
        .map_err(|e| P2pError::Network(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let allowed: HashSet<PeerId> = allowed.into_iter().collect();
    for p in &allowed {
        swarm.behaviour_mut().allow.allow_peer(*p);
    }
    for topic in [BLOCKS_TOPIC, ALERTS_TOPIC, INFO_TOPIC] {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&gossipsub::IdentTopic::new(topic))
            .map_err(|e| P2pError::Network(e.to_string()))?;
    }
    let mut listening = Vec::new();
    if let Some(addr) = listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| P2pError::Network(format!("listen on {addr}: {e}")))?;
        // Wait for the actual address (port 0 resolves here).
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => {
                    listening.push(address);
                    break;
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(P2pError::Network(error.to_string()));
                }
                _ => {}
            }
        }
    }
    let local = *swarm.local_peer_id();
    let (commands, command_rx) = mpsc::channel(4096);
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    let (gossip_tx, gossip) = mpsc::channel(INBOUND_QUEUE);
    tokio::spawn(swarm_loop(
        swarm, allowed, command_rx, inbound_tx, gossip_tx, recorder,
    ));
    Ok((
        P2pHandle {
            commands,
            local,
            listening,
        },
        inbound,
        gossip,
    ))
}

/// The one task that owns the swarm.
async fn swarm_loop(
    mut swarm: libp2p::Swarm<SmartBehaviour>,
    mut allowed: HashSet<PeerId>,
    mut commands: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<Inbound>,
    gossip: mpsc::Sender<GossipMessage>,
    recorder: Option<libp2p::metrics::Metrics>,
) {
    use libp2p::metrics::Recorder;
    let mut pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, TransportError>>> =
        HashMap::new();
    // Peers cut off by fault injection: not allowed, whatever `allowed` says.
    let mut cut: HashSet<PeerId> = HashSet::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Request { peer, addr, request, reply }) => {
                    if let Some(a) = addr {
                        swarm.add_peer_address(peer, a);
                    }
                    let id = swarm.behaviour_mut().rpc.send_request(&peer, *request);
                    pending.insert(id, reply);
                }
                Some(Command::Respond { channel, response }) => {
                    let _ = swarm.behaviour_mut().rpc.send_response(channel, response);
                }
                Some(Command::Allow(peer)) => {
                    allowed.insert(peer);
                    if !cut.contains(&peer) {
                        swarm.behaviour_mut().allow.allow_peer(peer);
                    }
                }
                Some(Command::Disallow(peer)) => {
                    allowed.remove(&peer);
                    swarm.behaviour_mut().allow.disallow_peer(peer);
                }
                Some(Command::Cut(peers)) => {
                    for p in peers.difference(&cut) {
                        swarm.behaviour_mut().allow.disallow_peer(*p);
                    }
                    for p in cut.difference(&peers) {
                        if allowed.contains(p) {
                            swarm.behaviour_mut().allow.allow_peer(*p);
                        }
                    }
                    tracing::warn!(peers = peers.len(), "fault injection: cut off from peers");
                    cut = peers;
                }
                Some(Command::Publish { topic, data }) => {
                    if let Err(e) = swarm.behaviour_mut().gossip.publish(gossipsub::IdentTopic::new(topic), data) {
                        tracing::debug!(error = %e, "publish failed");
                    }
                }
                Some(Command::Validate { id, source, verdict }) => {
                    let acceptance = match verdict {
                        Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                        Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                        Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    };
                    let _ = swarm.behaviour_mut().gossip.report_message_validation_result(&id, &source, acceptance);
                }
                Some(Command::Dial(addr)) => {
                    if let Err(e) = swarm.dial(addr.clone()) {
                        tracing::debug!(%addr, error = %e, "dial failed");
                    }
                }
            },
            event = swarm.select_next_some() => {
                if let Some(m) = &recorder {
                    m.record(&event);
                    match &event {
                        SwarmEvent::Behaviour(SmartBehaviourEvent::Gossip(e)) => m.record(e),
                        SwarmEvent::Behaviour(SmartBehaviourEvent::Identify(e)) => m.record(e),
                        SwarmEvent::Behaviour(SmartBehaviourEvent::Ping(e)) => m.record(e),
                        _ => {}
                    }
                }
                match event {
                SwarmEvent::Behaviour(SmartBehaviourEvent::Rpc(e)) => match e {
                    request_response::Event::Message { peer, message, .. } => match message {
                        request_response::Message::Request { request, channel, .. } => {
                            if let Err(mpsc::error::TrySendError::Full(i)) = inbound.try_send(Inbound { peer, request, channel }) {
                                let _ = swarm.behaviour_mut().rpc.send_response(i.channel, Response::Refused("busy".into()));
                            }
                        }
                        request_response::Message::Response { request_id, response } => {
                            if let Some(reply) = pending.remove(&request_id) {
                                let _ = reply.send(Ok(response));
                            }
                        }
                    },
                    request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                        tracing::debug!(%peer, %error, "request failed");
                        if let Some(reply) = pending.remove(&request_id) {
                            let _ = reply.send(Err(TransportError::Unreachable(error.to_string())));
                        }
                    }
                    request_response::Event::InboundFailure { peer, error, .. } => {
                        tracing::debug!(%peer, %error, "inbound request failed");
                    }
                    request_response::Event::ResponseSent { .. } => {}
                },
                SwarmEvent::Behaviour(SmartBehaviourEvent::Gossip(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                    let msg = GossipMessage { source: propagation_source, id: message_id, topic: message.topic.as_str().to_string(), data: message.data };
                    if let Err(mpsc::error::TrySendError::Full(m)) = gossip.try_send(msg) {
                        let _ = swarm.behaviour_mut().gossip.report_message_validation_result(&m.id, &m.source, gossipsub::MessageAcceptance::Ignore);
                    }
                }
                SwarmEvent::IncomingConnectionError { error, peer_id, send_back_addr, .. } => {
                    tracing::warn!(peer = ?peer_id, addr = %send_back_addr, %error, "refused an incoming connection");
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    tracing::debug!(peer = %peer_id, "connected");
                }
                _ => {}
            }},
        }
    }
}

/// The address part of a multiaddr and its PeerId, if it ends in `/p2p/...`.
pub fn split_p2p(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::wire::{read_frame, write_frame};
    use super::*;
    use futures::io::Cursor;
    use smart_ledger::Hash;
    use std::io;

    fn frame(len: u32, body: &[u8]) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_reading_it() {
        // Claims 4 GiB; nothing that large is ever allocated or read.
        let mut io = Cursor::new(frame(u32::MAX, &[0; 16]));
        let err = read_frame::<_, Request>(&mut io)
            .await
            .expect_err("oversized");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("over the limit"), "{err}");
        assert_eq!(io.position(), 4, "only the length prefix was read");
    }

    #[tokio::test]
    async fn garbage_and_truncated_frames_are_errors_not_panics() {
        let valid = {
            let mut out = Vec::new();
            write_frame(
                &mut Cursor::new(&mut out),
                &Request::Certs { from: 1, to: 9 },
            )
            .await
            .expect("write");
            out
        };
        let back: Request = read_frame(&mut Cursor::new(valid.clone()))
            .await
            .expect("round trip");
        assert!(matches!(back, Request::Certs { from: 1, to: 9 }));
        for cut in 0..valid.len() {
            assert!(
                read_frame::<_, Request>(&mut Cursor::new(valid[..cut].to_vec()))
                    .await
                    .is_err()
            );
        }
        let mut seed = 0x1234_5678_9abc_def0u64;
        for n in 0..2000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let body: Vec<u8> = (0..n % 300).map(|i| (seed >> (i % 56)) as u8).collect();
            let _ =
                read_frame::<_, Request>(&mut Cursor::new(frame(body.len() as u32, &body))).await;
            let _ =
                read_frame::<_, Response>(&mut Cursor::new(frame(body.len() as u32, &body))).await;
        }
    }

    fn notice(topic: &str, data: Vec<u8>) -> GossipMessage {
        GossipMessage {
            source: PeerId::random(),
            id: gossipsub::MessageId::new(b"x"),
            topic: topic.into(),
            data,
        }
    }

    #[test]
    fn alerts_with_real_evidence_are_accepted_and_forged_ones_rejected() {
        use smart_ledger::{BlockHeader, ChainTip, Equivocation, Outcome};
        let hub = Keypair::from_seed([3; 32]);
        let tip = ChainTip::genesis(Hash::of(b"chain"));
        let a = tip
            .next_block(
                vec![],
                vec![],
                Hash::of(b"one"),
                1,
                smart_ledger::Timestamp(1),
            )
            .header;
        let b = tip
            .next_block(
                vec![],
                Vec::<Outcome>::new(),
                Hash::of(b"two"),
                1,
                smart_ledger::Timestamp(1),
            )
            .header;
        let sign = |h: &BlockHeader| hub.sign(&BlockHeader::cert_message(&h.hash()));
        let real = Alert::Equivocation(Box::new(Equivocation {
            hub: hub.id(),
            first: (a.clone(), sign(&a)),
            second: (b.clone(), sign(&b)),
        }));
        let forged = Alert::Equivocation(Box::new(Equivocation {
            hub: hub.id(),
            first: (a.clone(), sign(&a)),
            second: (b.clone(), sign(&a)),
        }));
        let enc = |a: &Alert| smart_ledger::codec::encode_plain(a);
        assert_eq!(
            judge_notice(&notice(ALERTS_TOPIC, enc(&real))),
            Verdict::Accept
        );
        assert_eq!(
            judge_notice(&notice(ALERTS_TOPIC, enc(&forged))),
            Verdict::Reject
        );
        assert_eq!(
            judge_notice(&notice(ALERTS_TOPIC, vec![9; 40])),
            Verdict::Reject
        );
        let safety = Alert::Safety {
            station: "station-3".into(),
            what: "EstopPressed".into(),
        };
        assert_eq!(
            judge_notice(&notice(ALERTS_TOPIC, enc(&safety))),
            Verdict::Accept
        );
        let info = Info {
            name: "station-3".into(),
            role: "node".into(),
            height: 7,
            tip: Hash::ZERO,
            at_ms: 1,
        };
        assert_eq!(
            judge_notice(&notice(
                INFO_TOPIC,
                smart_ledger::codec::encode_plain(&info)
            )),
            Verdict::Accept
        );
        assert_eq!(
            judge_notice(&notice("smart/other/1", vec![])),
            Verdict::Ignore
        );
    }

    #[test]
    fn smart_ids_and_peer_ids_name_the_same_key() {
        let key = Keypair::from_seed([5; 32]);
        let peer = peer_id(&key.id()).expect("peer id");
        assert_eq!(smart_id(&peer), Some(key.id()));
        assert_eq!(
            libp2p_keypair(&key).expect("keypair").public().to_peer_id(),
            peer
        );
    }
}
