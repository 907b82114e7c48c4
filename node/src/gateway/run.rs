//! The gateway's tasks: the follow loops (requests, info, catch-up,
//! gossip), SMART-API over HTTPS, metrics and the staff page.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use smart_gateway::access_log::RecentCalls;
use smart_ledger::store::BlockStore;
use smart_ledger::{Genesis, Keypair};

use crate::gateway::backend::GatewayBackend;
use crate::gateway::{GatewayOptions, GatewayReplica};
use crate::p2p::{self, Response};
use crate::peer::follow::{self, lock};
use crate::peer::options::RunOptions;

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn run(
    opts: &RunOptions,
    key: Keypair,
    genesis: Genesis,
    gateway: GatewayOptions,
) -> Result<()> {
    let data = opts.data.as_path();
    let replica = Arc::new(Mutex::new(GatewayReplica::open(data, &genesis)?));
    let name = crate::peer::folders::peer_name(&genesis, &key.id());
    let flagged: Arc<AtomicU64> = Arc::default();
    let recent_calls = RecentCalls::default();
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
            replica: replica.clone(),
            board: board.clone(),
            flagged: flagged.clone(),
            calls: recent_calls.clone(),
            name: format!("gateway {}", key.id().short()),
        };
        let store = replica.clone();
        let backup = crate::peer::backup::hook(data.to_path_buf(), move |_file| {
            lock(&store)
                .replica
                .store
                .snapshot()
                .map_err(|e| e.to_string())
        });
        crate::peer::metrics::publish(addr, registry, move || probe.look(), Some(backup)).await?;
    }
    for addr in &opts.bootstrap {
        handle.dial(addr.clone()).await;
    }
    let hubs = follow::sources(&opts.bootstrap);
    let chain_id = genesis.chain_id();

    follow::serve_requests(
        replica.clone(),
        handle.clone(),
        inbound,
        chain_id,
        |_, _| Response::Refused("the gateway takes no txs from peers; submit to a hub".into()),
    );
    follow::broadcast_info(replica.clone(), handle.clone(), name, "gateway", || {});

    let backend = Arc::new(GatewayBackend {
        replica: replica.clone(),
        handle: handle.clone(),
        hubs: hubs.clone(),
    });
    let tls = smart_gateway::tls::load(&gateway.cert, &gateway.key).await?;
    let mut config = smart_gateway::GatewayConfig::new(data.join("uploads"));
    config.client_rate = gateway.rate;
    config.anomalies_flagged = flagged;
    config.recent_calls = recent_calls;
    let app = smart_gateway::App::new(backend, key, config);
    let running = smart_gateway::serve(app, gateway.https, tls).await?;
    crate::peer::shutdown::announce(&format!("https https://{}/", running.addr));

    // Catch-up from the hubs it was given.
    let (r, h, gap) = (replica.clone(), handle.clone(), opts.snapshot_gap);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            follow::catch_up(&r, &h, &hubs, gap).await;
        }
    });

    follow::follow_gossip(&replica, &handle, gossip, &board).await;
    Ok(())
}

/// What `/health` and `/metrics` read of the gateway.
struct Probe {
    replica: Arc<Mutex<GatewayReplica>>,
    board: Arc<Mutex<p2p::NoticeBoard>>,
    flagged: Arc<AtomicU64>,
    calls: RecentCalls,
    name: String,
}

impl Probe {
    fn look(&self) -> crate::peer::metrics::Snapshot {
        let (peers, alerts) = lock(&self.board).view();
        let g = lock(&self.replica);
        crate::peer::metrics::Snapshot {
            status: smart_testnet::PeerStatus {
                name: self.name.clone(),
                height: g.replica.height(),
                state_height: g.replica.state_height(),
                snapshots_installed: g.snapshots_installed,
                tip: g.replica.store.tip().hash.to_string(),
                txs: g.replica.store.tip().acc.size(),
                certified: g.replica.height(),
                leader_known: true,
                ..Default::default()
            },
            peers,
            alerts,
            anomalies: self.flagged.load(Ordering::Relaxed),
            api_calls: self
                .calls
                .list()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} {} ({} B in)",
                        r.at_ms, r.status, r.method, r.route, r.client, r.bytes_in
                    )
                })
                .collect(),
            ..Default::default()
        }
    }
}
