//! A station node's tasks: the follow loops (requests, info, catch-up,
//! gossip), the outbox handed off to the hubs, station I/O and the
//! interlock, the kiosk, metrics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use smart_ledger::store::BlockStore;
use smart_ledger::{Genesis, Keypair};

use crate::p2p::{self, P2pHandle, Request, Response};
use crate::peer::follow::{self, lock};
use crate::peer::options::RunOptions;
use crate::station::io::{Controller, Panel, StationEvent};
use crate::station::kiosk::Kiosk;
use crate::station::node::Station;
use crate::station::specialists::StationConfig;

/// Runs a station node until SIGINT/SIGTERM.
pub async fn run(opts: &RunOptions, key: Keypair, genesis: Genesis) -> Result<()> {
    let data = opts.data.as_path();
    let mut station = Station::open(data, &genesis)?;
    station.outbox.set_limit(opts.outbox_limit);
    let station = Arc::new(Mutex::new(station));
    let name = crate::peer::folders::peer_name(&genesis, &key.id());
    let board: Arc<Mutex<p2p::NoticeBoard>> = Arc::default();
    let (registry, (handle, inbound, gossip), _my_addr) = crate::peer::network::start_network(
        &key,
        &genesis,
        opts.listen.clone(),
        opts.metrics.is_some(),
    )
    .await?;
    if let (Some(addr), Some(registry)) = (opts.metrics, registry) {
        let probe = Probe {
            station: station.clone(),
            board: board.clone(),
            name: format!("node {}", key.id().short()),
            station_name: name.clone(),
        };
        let backup_station = station.clone();
        let backup = crate::peer::backup::hook(data.to_path_buf(), move |file| {
            // Ledger and outbox frozen under one lock: they match.
            let st = lock(&backup_station);
            st.outbox
                .copy_to(&crate::peer::backup::outbox_beside(file))
                .map_err(|e| e.to_string())?;
            st.replica.store.snapshot().map_err(|e| e.to_string())
        });
        crate::peer::metrics::publish(addr, registry, move || probe.look(), Some(backup)).await?;
    }
    for addr in &opts.bootstrap {
        handle.dial(addr.clone()).await;
    }
    let sources = follow::sources(&opts.bootstrap);
    let chain_id = genesis.chain_id();

    // Requests from others: status and block ranges; a submission is
    // decided here on the provisional state and kept in the outbox.
    follow::serve_requests(
        station.clone(),
        handle.clone(),
        inbound,
        chain_id,
        move |st, txs| {
            Response::Receipts(txs.into_iter().map(|t| st.decide(t, &chain_id)).collect())
        },
    );
    let panel: Arc<Panel> = Arc::default();
    let sent = panel.clone();
    follow::broadcast_info(
        station.clone(),
        handle.clone(),
        name.clone(),
        "node",
        move || {
            sent.info_sent.fetch_add(1, Ordering::Relaxed);
        },
    );

    let cfg = StationConfig {
        name: name.clone(),
        equipment: opts.equipment.clone(),
        logistics: opts.logistics,
    };
    let kiosk = Arc::new(Kiosk::new(
        station.clone(),
        cfg.clone(),
        key.clone(),
        chain_id,
        panel.clone(),
    ));
    let bound = crate::station::kiosk::serve(kiosk.clone(), opts.kiosk, data)
        .await
        .with_context(|| format!("serving the kiosk on {}", opts.kiosk))?;
    crate::peer::shutdown::announce(&format!("kiosk http://{bound}/"));
    let controller = Controller::new(station_io()?, &cfg.interlock()).with_panel(panel.clone());
    tokio::spawn(drive_io(
        station.clone(),
        kiosk.clone(),
        controller,
        handle.clone(),
        panel,
        name,
    ));

    // Catch-up from the hubs it was given, and the outbox handed off.
    let (r, h, gap) = (station.clone(), handle.clone(), opts.snapshot_gap);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            follow::catch_up(&r, &h, &sources, gap).await;
            let handed = hand_off(&r, &h, &sources).await;
            if handed != HandOff::Nothing {
                tracing::debug!(?handed, "outbox hand-off");
            }
            match handed {
                HandOff::NoHub => kiosk.hubs_unreachable(),
                HandOff::Delivered { entries, .. } => {
                    // HandoffNode: what was decided while no hub answered reached one.
                    if let Some(since) = kiosk.hubs_reachable() {
                        let k = kiosk.clone();
                        let secs = smart_ledger::clock::now_ms().saturating_sub(since) / 1000;
                        joined(
                            "recording the hand-off",
                            tokio::task::spawn_blocking(move || k.handed_off(entries, secs)).await,
                        );
                    }
                }
                HandOff::Nothing => {}
            }
        }
    });

    follow::follow_gossip(&station, &handle, gossip, &board).await;
    Ok(())
}

/// Station I/O: the interlock follows the provisional state; an e-stop
/// latches the station locked and records a Safety alert signed by this
/// node; an overdue calibration locks its equipment out (MaintenanceNode).
async fn drive_io(
    station: Arc<Mutex<Station>>,
    kiosk: Arc<Kiosk>,
    mut controller: Controller,
    handle: P2pHandle,
    panel: Arc<Panel>,
    name: String,
) {
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ticks += 1;
        if ticks.is_multiple_of(20) {
            let k = kiosk.clone();
            joined(
                "checking maintenance",
                tokio::task::spawn_blocking(move || k.check_maintenance()).await,
            );
        }
        let events = {
            let st = lock(&station);
            controller.tick(st.provisional())
        };
        let events = match events {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(error = %e, "station I/O failed; the interlock stays as it was");
                continue;
            }
        };
        for e in events {
            let what = match e {
                StationEvent::EstopPressed => "e-stop pressed",
                StationEvent::DoorOpenedWhileUnlocked => "cell door opened while unlocked",
            };
            tracing::warn!(station = %name, "safety incident: {what}");
            // AlertBroadcast: peers hear of it at once.
            let alert = p2p::Alert::Safety {
                station: name.clone(),
                what: what.to_string(),
            };
            handle
                .publish(p2p::ALERTS_TOPIC, smart_ledger::codec::encode_plain(&alert))
                .await;
            panel.alerts_sent.fetch_add(1, Ordering::Relaxed);
            // SafetyNode: recorded, and the station's equipment locked out.
            let k = kiosk.clone();
            joined(
                "recording a safety incident",
                tokio::task::spawn_blocking(move || k.incident(what)).await,
            );
        }
    }
}

/// A blocking task's end: a panic in it is logged, not lost.
fn joined(what: &str, result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "{what} failed");
    }
}

/// What `/health` and `/metrics` read of the station.
struct Probe {
    station: Arc<Mutex<Station>>,
    board: Arc<Mutex<p2p::NoticeBoard>>,
    name: String,
    station_name: String,
}

impl Probe {
    fn look(&self) -> crate::peer::metrics::Snapshot {
        let (peers, alerts) = lock(&self.board).view();
        let st = lock(&self.station);
        let (outbox_pending, overturned) = st.outbox_counts();
        crate::peer::metrics::Snapshot {
            status: smart_testnet::PeerStatus {
                name: self.name.clone(),
                height: st.replica.height(),
                state_height: st.replica.state_height(),
                snapshots_installed: st.snapshots_installed,
                tip: st.replica.store.tip().hash.to_string(),
                txs: st.replica.store.tip().acc.size(),
                certified: st.replica.height(),
                leader_known: true,
                outbox_pending,
                overturned,
                ..Default::default()
            },
            peers,
            alerts,
            station_decisions: st
                .provisional()
                .floor
                .decisions
                .iter()
                .filter(|((station, _, _), _)| *station == self.station_name)
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
    }
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
