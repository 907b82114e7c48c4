//! A station node's (or the gateway's) tasks: gossip intake, catch-up,
//! hand-off of the outbox, station I/O, the kiosk, metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use smart_ledger::store::BlockStore;
use smart_ledger::{Genesis, Keypair};

use crate::p2p::{self, CertifiedBlock, P2pHandle, PeerStatus, Request, Response, Verdict};
use crate::peer::replica::{Follower, catch_up, lock};
use crate::station::node::Station;

/// Invalid gossip messages after which a peer is cut off (the same count
/// that makes gossipsub's score graylist it).
const MAX_REFUSED_GOSSIP: u32 = 2;

/// Runs a station node (or, with `gateway`, the gateway) until SIGINT/SIGTERM.
pub async fn run(
    opts: &crate::peer::options::RunOptions,
    key: Keypair,
    genesis: Genesis,
    gateway: Option<crate::gateway::GatewayOptions>,
) -> Result<()> {
    let data = opts.data.as_path();
    let (listen, bootstrap, metrics) = (opts.listen.clone(), opts.bootstrap.clone(), opts.metrics);
    let snapshot_gap = opts.snapshot_gap;
    let role_name = if gateway.is_some() { "gateway" } else { "node" };
    let replica = Arc::new(Mutex::new(Station::open(data, &genesis)?));
    let name = crate::station::specialists::peer_name(&genesis, &key.id());
    let anomalies_flagged: Arc<std::sync::atomic::AtomicU64> = Arc::default();
    let recent_calls = smart_gateway::access_log::RecentCalls::default();
    let board: Arc<Mutex<p2p::NoticeBoard>> = Arc::default();
    let (registry, (handle, mut inbound, mut gossip), _my_addr) =
        crate::peer::network::start_network(&key, &genesis, listen, metrics.is_some()).await?;
    if let (Some(addr), Some(registry)) = (metrics, registry) {
        let probe = replica.clone();
        let flagged = anomalies_flagged.clone();
        let calls = recent_calls.clone();
        let probe_board = board.clone();
        let probe_name = format!("{role_name} {}", key.id().short());
        let station_name = name.clone();
        let backup_replica = replica.clone();
        let backup = crate::peer::backup::hook(data.to_path_buf(), move |file| {
            // Ledger and outbox frozen under one lock: they match.
            let st = lock(&backup_replica);
            st.outbox
                .copy_to(&crate::peer::backup::outbox_beside(file))
                .map_err(|e| e.to_string())?;
            st.replica.store.snapshot().map_err(|e| e.to_string())
        });
        let bound = crate::peer::metrics::serve(
            addr,
            registry,
            move || {
                let (peers, alerts) = probe_board.lock().unwrap_or_else(|p| p.into_inner()).view();
                let st = lock(&probe);
                crate::peer::metrics::Snapshot {
                    name: probe_name.clone(),
                    peers,
                    alerts,
                    anomalies: flagged.load(std::sync::atomic::Ordering::Relaxed),
                    api_calls: calls
                        .list()
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {} {} {} {} ({} B in)",
                                r.at_ms, r.status, r.method, r.route, r.client, r.bytes_in
                            )
                        })
                        .collect(),
                    height: st.height(),
                    state_height: st.replica.state_height(),
                    snapshots_installed: st.snapshots_installed,
                    tip: st.replica.store.tip().hash.to_string(),
                    txs: st.replica.store.tip().acc.size(),
                    certified: st.height(),
                    leader_known: true,
                    outbox_pending: st.outbox.pending().map(|p| p.len() as u64).unwrap_or(0),
                    overturned: st.outbox.overturned().map(|o| o.len() as u64).unwrap_or(0),
                    station_decisions: st
                        .provisional
                        .floor
                        .decisions
                        .iter()
                        .filter(|((station, _, _), _)| *station == station_name)
                        .map(|((_, m, v), n)| {
                            (
                                m.name().to_string(),
                                crate::station::kiosk::verdict_name(*v).to_string(),
                                *n,
                            )
                        })
                        .collect(),
                    ..Default::default()
                }
            },
            Some(backup),
        )
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
        crate::peer::shutdown::announce(&format!("metrics http://{bound}/metrics"));
    }
    for addr in &bootstrap {
        handle.dial(addr.clone()).await;
    }
    let sources: Vec<(PeerId, Multiaddr)> = bootstrap
        .iter()
        .filter_map(|a| crate::p2p::split_p2p(a).map(|p| (p, a.clone())))
        .collect();
    let chain_id = genesis.chain_id();

    // Requests from others: status and block ranges; nothing is ordered here.
    let is_gateway = gateway.is_some();
    let r = replica.clone();
    let h = handle.clone();
    tokio::spawn(async move {
        while let Some(req) = inbound.recv().await {
            let response = {
                let mut rep = lock(&r);
                match req.request {
                    Request::Submit(_) if is_gateway => Response::Refused(
                        "the gateway takes no txs from peers; submit to a hub".into(),
                    ),
                    Request::Submit(txs) => Response::Receipts(
                        txs.into_iter().map(|t| rep.decide(t, &chain_id)).collect(),
                    ),
                    Request::Status => Response::Status(PeerStatus {
                        chain_id,
                        height: rep.height(),
                        tip: rep.replica.store.tip().hash,
                        leader: None,
                        node_id: 0,
                        certified: rep.height(),
                    }),
                    Request::Blocks { from, to } => rep
                        .replica
                        .store
                        .certified_range(from, to)
                        .map(Response::Blocks)
                        .unwrap_or_else(|e| Response::Refused(e.to_string())),
                    Request::Snapshot => rep
                        .replica
                        .snapshot()
                        .map(|s| Response::Snapshot(Box::new(s)))
                        .unwrap_or_else(Response::Refused),
                    _ => Response::Refused(
                        "station nodes answer Status, Blocks and Snapshot only".into(),
                    ),
                }
            };
            h.respond(req.channel, response).await;
        }
    });

    // Station I/O: the interlock follows the provisional state; an e-stop
    // latches the station locked and records a Safety alert signed by this node.
    // InfoBroadcast: this station's status every few seconds.
    let panel: Arc<crate::station::io::Panel> = Arc::default();
    let (info_r, info_h, info_name) = (replica.clone(), handle.clone(), name.clone());
    let info_panel = panel.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let info = {
                let st = lock(&info_r);
                p2p::Info {
                    name: info_name.clone(),
                    role: role_name.into(),
                    height: st.height(),
                    tip: st.replica.store.tip().hash,
                    at_ms: smart_ledger::clock::now_ms(),
                }
            };
            info_h
                .publish(p2p::INFO_TOPIC, smart_ledger::codec::encode_plain(&info))
                .await;
            info_panel
                .info_sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let sources_for_gateway: Vec<(PeerId, Multiaddr)> = bootstrap
        .iter()
        .filter_map(|a| crate::p2p::split_p2p(a).map(|p| (p, a.clone())))
        .collect();
    let mut station_kiosk = None;
    if let Some(g) = gateway {
        let backend = Arc::new(crate::gateway::GatewayBackend {
            station: replica.clone(),
            handle: handle.clone(),
            hubs: sources_for_gateway,
        });
        let tls = smart_gateway::tls::load(&g.cert, &g.key).await?;
        let mut config = smart_gateway::GatewayConfig::new(data.join("uploads"));
        config.client_rate = g.rate;
        config.anomalies_flagged = anomalies_flagged.clone();
        config.recent_calls = recent_calls.clone();
        let app = smart_gateway::App::new(backend, key, config);
        let running = smart_gateway::serve(app, g.https, tls).await?;
        crate::peer::shutdown::announce(&format!("https https://{}/", running.addr));
    } else {
        let cfg = crate::station::specialists::StationConfig {
            name: name.clone(),
            equipment: opts.equipment.clone(),
            logistics: opts.logistics,
        };
        let kiosk = Arc::new(crate::station::kiosk::Kiosk::new(
            replica.clone(),
            cfg.clone(),
            key.clone(),
            chain_id,
            panel.clone(),
        ));
        let bound = crate::station::kiosk::serve(kiosk.clone(), opts.kiosk, data)
            .await
            .with_context(|| format!("serving the kiosk on {}", opts.kiosk))?;
        crate::peer::shutdown::announce(&format!("kiosk http://{bound}/"));
        station_kiosk = Some(kiosk.clone());
        let mut controller = crate::station::io::Controller::new(station_io()?, &cfg.interlock())
            .with_panel(panel.clone());
        let r = replica.clone();
        let alert_handle = handle.clone();
        tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ticks += 1;
                if ticks.is_multiple_of(20) {
                    // MaintenanceNode: overdue calibration locks the equipment out.
                    let k = kiosk.clone();
                    let _ = tokio::task::spawn_blocking(move || k.check_maintenance()).await;
                }
                let events = {
                    let st = lock(&r);
                    controller.tick(st.provisional())
                };
                match events {
                    Ok(events) => {
                        for e in events {
                            let what = match e {
                                crate::station::io::StationEvent::EstopPressed => "e-stop pressed",
                                crate::station::io::StationEvent::DoorOpenedWhileUnlocked => {
                                    "cell door opened while unlocked"
                                }
                            };
                            tracing::warn!(station = %name, "safety incident: {what}");
                            // AlertBroadcast: peers hear of it at once.
                            let alert = p2p::Alert::Safety {
                                station: name.clone(),
                                what: what.to_string(),
                            };
                            alert_handle
                                .publish(
                                    p2p::ALERTS_TOPIC,
                                    smart_ledger::codec::encode_plain(&alert),
                                )
                                .await;
                            panel
                                .alerts_sent
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            // SafetyNode: recorded, and the station's equipment locked out.
                            let k = kiosk.clone();
                            let _ = tokio::task::spawn_blocking(move || k.incident(what)).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "station I/O failed; the interlock stays as it was")
                    }
                }
            }
        });
    }

    // Catch-up from the hubs it was given, and the outbox handed off.
    let r = replica.clone();
    let h = handle.clone();
    let handoff_kiosk = station_kiosk;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            catch_up(&r, &h, &sources, snapshot_gap).await;
            let handed = hand_off(&r, &h, &sources).await;
            if handed != HandOff::Nothing {
                tracing::debug!(?handed, "outbox hand-off");
            }
            let Some(k) = &handoff_kiosk else { continue };
            match handed {
                HandOff::NoHub => k.hubs_unreachable(),
                HandOff::Delivered { entries, .. } => {
                    // HandoffNode: what was decided while no hub answered reached one.
                    if let Some(since) = k.hubs_reachable() {
                        let k = k.clone();
                        let secs = smart_ledger::clock::now_ms().saturating_sub(since) / 1000;
                        let _ =
                            tokio::task::spawn_blocking(move || k.handed_off(entries, secs)).await;
                    }
                }
                HandOff::Nothing => {}
            }
        }
    });

    // Gossip: check, apply, and tell gossipsub whether to forward. A peer
    // whose gossip is refused twice is cut off.
    let stop = crate::peer::shutdown::wait_for_shutdown();
    tokio::pin!(stop);
    let mut refused: std::collections::HashMap<PeerId, u32> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            msg = gossip.recv() => {
                let Some(msg) = msg else { break };
                if msg.topic != p2p::BLOCKS_TOPIC {
                    let verdict = p2p::judge_notice(&msg);
                    if verdict == Verdict::Accept {
                        board.lock().unwrap_or_else(|p| p.into_inner()).record(&msg);
                    }
                    handle.validate(msg.id, msg.source, verdict).await;
                    continue;
                }
                let verdict = match CertifiedBlock::decode(&msg.data) {
                    Err(e) => {
                        tracing::warn!(peer = %msg.source, error = %e, "undecodable block gossip");
                        Verdict::Reject
                    }
                    Ok(cb) => {
                        let mut rep = lock(&replica);
                        let next = rep.height() + 1;
                        if cb.block.header.height != next {
                            // Old, or ahead of us (catch-up fetches the gap).
                            Verdict::Ignore
                        } else {
                            match rep.apply(&cb) {
                                Ok(()) => {
                                    tracing::debug!(height = next, "block applied from gossip");
                                    Verdict::Accept
                                }
                                Err(e) => {
                                    tracing::error!(peer = %msg.source, error = %e, "refused a gossiped block");
                                    Verdict::Reject
                                }
                            }
                        }
                    }
                };
                handle.validate(msg.id, msg.source, verdict).await;
                if verdict == Verdict::Reject {
                    let n = refused.entry(msg.source).or_insert(0);
                    *n += 1;
                    if *n >= MAX_REFUSED_GOSSIP {
                        tracing::warn!(peer = %msg.source, "cutting off a peer that sent invalid blocks");
                        handle.disallow(msg.source).await;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The station's I/O backend: GPIO on a Pi (feature `rpi`), else simulated.
fn station_io() -> Result<Box<dyn crate::station::io::StationIo>> {
    #[cfg(feature = "rpi")]
    {
        // BCM pins: interlock relay 17, alarm light 27, e-stop 22, door switch 23.
        Ok(Box::new(crate::station::io::GpioIo::new(17, 27, 22, 23)?))
    }
    #[cfg(not(feature = "rpi"))]
    {
        Ok(Box::new(crate::station::io::SimulatedIo::default()))
    }
}

/// Sends the outbox to the first hub that answers; settles what is final.
async fn hand_off(
    station: &Arc<Mutex<Station>>,
    handle: &P2pHandle,
    sources: &[(PeerId, Multiaddr)],
) -> HandOff {
    let pending = match lock(station).outbox.pending() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading the outbox");
            return HandOff::Nothing;
        }
    };
    if pending.is_empty() {
        return HandOff::Nothing;
    }
    // First settle what the local ledger already holds.
    lock(station).settle(&pending, &[]);
    let pending = match lock(station).outbox.pending() {
        Ok(p) if !p.is_empty() => p,
        _ => return HandOff::Nothing,
    };
    let batch: Vec<_> = pending.into_iter().take(256).collect();
    let txs: Vec<smart_ledger::Bytes> = batch.iter().map(|(_, p)| p.tx.clone()).collect();
    for (peer, addr) in sources {
        if let Ok(Response::Receipts(receipts)) = handle
            .request(*peer, Some(addr.clone()), Request::Submit(txs.clone()))
            .await
        {
            let receipts: Vec<Option<smart_consensus::TxReceipt>> =
                receipts.into_iter().map(Some).collect();
            lock(station).settle(&batch, &receipts);
            let oldest = batch.iter().map(|(_, p)| p.decided_at.0).min().unwrap_or(0);
            return HandOff::Delivered {
                entries: batch.len(),
                waited_ms: smart_ledger::clock::now_ms().saturating_sub(oldest),
            };
        }
    }
    HandOff::NoHub
}

/// What one hand-off round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandOff {
    /// The outbox was empty (or already in the local ledger).
    Nothing,
    /// This many entries reached a hub; the oldest had waited this long.
    Delivered { entries: usize, waited_ms: u64 },
    /// No hub answered.
    NoHub,
}
