//! A network of `smart` processes on 127.0.0.1 made from an init folder: the
//! glue between `smart init` (the folders) and the `smart-testnet` crate (the
//! processes), for `smart testnet`, `smart demo` and the benchmarks.

use std::path::Path;

use anyhow::{Context, Result};
use smart_ledger::Keypair;
use smart_testnet::{Layout, Network, PeerKind};

use crate::p2p::client::Client;

/// Which peers of an init folder to run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Hubs.
    pub hubs: usize,
    /// Station nodes.
    pub nodes: usize,
    /// The gateway.
    pub gateway: bool,
}

/// The network in `dir`: `smart init` when the folder has no genesis yet,
/// and the layout of `testnet.json` (fixed ports) or a new one for `shape`.
/// Returns the network (nothing started) and whether the folder is new.
pub fn open(dir: &Path, shape: Shape, chain: &str) -> Result<(Network, bool)> {
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        crate::peer::init::create(dir, shape.hubs, shape.nodes, chain)?;
    }
    let layout = match Layout::load(dir)? {
        Some(l) => l,
        None => {
            let mut peers: Vec<(String, PeerKind)> = (0..shape.hubs)
                .map(|i| (crate::peer::init::hub_name(i), PeerKind::Hub))
                .collect();
            peers.extend((1..=shape.nodes).map(|i| (format!("station-{i}"), PeerKind::Station)));
            if shape.gateway {
                peers.push(("gateway".to_string(), PeerKind::Gateway));
            }
            for (name, _) in &peers {
                let folder = dir.join(name);
                anyhow::ensure!(
                    folder.join("peer.key").exists(),
                    "{} has no peer folder {name} (made by a smaller `smart init`?)",
                    dir.display()
                );
            }
            let l = Layout::allocate(&peers)?;
            l.save(dir)?;
            l
        }
    };
    let exe = std::env::current_exe().context("finding the smart executable")?;
    let mut net = Network::new(&exe, dir, layout);
    for (station, args) in STATIONS {
        if net.is_known(station) {
            net.set_args(station, args);
        }
    }
    Ok((net, fresh))
}

/// The shop floor of a local network: what each station drives (its
/// interlock first) and which one receives and ships parts.
pub const STATIONS: [(&str, &[&str]); 2] = [
    (
        "station-1",
        &["--equipment", "furnace-3,quench-tank-1", "--logistics"],
    ),
    ("station-2", &["--equipment", "rockwell-2"]),
];

/// A client of every running hub, signing as `key`.
pub async fn hub_clients(net: &Network, key: &Keypair) -> Result<Vec<Client>> {
    let mut out = Vec::new();
    for a in net.hub_addrs() {
        out.push(Client::connect(key, a.parse()?).await?);
    }
    Ok(out)
}

/// A client of peer `name` (hub or station), signing as `key`.
pub async fn client_of(net: &Network, name: &str, key: &Keypair) -> Result<Client> {
    let addr = net
        .addr(name)
        .with_context(|| format!("{name} is not running"))?;
    Ok(Client::connect(key, addr.parse()?).await?)
}
