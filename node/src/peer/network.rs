//! Starting a peer's libp2p side and naming its bootstrap peers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use smart_ledger::Keypair;

use crate::p2p;
use crate::peer::shutdown::announce;

/// Resolves `NAME@MULTIADDR` entries to addresses ending in the genesis
/// peer's `/p2p/` id.
pub fn named_peers(genesis: &smart_ledger::Genesis, entries: &[String]) -> Result<Vec<Multiaddr>> {
    let mut out = Vec::new();
    for entry in entries {
        let (name, addr) = entry
            .split_once('@')
            .with_context(|| format!("{entry:?}: expected NAME@MULTIADDR"))?;
        let peer = genesis
            .peers
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("{entry:?}: no peer named {name:?} in the genesis"))?;
        let addr: Multiaddr = addr
            .parse()
            .with_context(|| format!("{entry:?}: {addr:?} is not a multiaddr"))?;
        out.push(addr.with(libp2p::multiaddr::Protocol::P2p(p2p::peer_id(&peer.id)?)));
    }
    Ok(out)
}

/// Starts a peer's libp2p side as every role does: only the genesis peers and
/// people may connect (hubs add later identities as the ledger grows), libp2p's
/// metrics go into the peer's registry when `/metrics` is served, and
/// `listening ADDR` is printed. Returns the registry, the swarm's channels and
/// this peer's address.
pub(crate) async fn start_network(
    key: &Keypair,
    genesis: &smart_ledger::Genesis,
    listen: Multiaddr,
    metrics: bool,
) -> Result<(
    Option<crate::peer::metrics::Metrics>,
    p2p::Spawned,
    Multiaddr,
)> {
    let mut allowed: Vec<PeerId> = genesis
        .peers
        .iter()
        .map(|p| p.id)
        .chain(genesis.members.iter().map(|m| m.id))
        .filter_map(|id| p2p::peer_id(&id).ok())
        .collect();
    allowed.sort();
    let mut registry = metrics.then(crate::peer::metrics::Metrics::new);
    let spawned = p2p::spawn_with_metrics(
        key,
        Some(listen),
        allowed,
        Duration::from_secs(30),
        registry
            .as_mut()
            .map(crate::peer::metrics::Metrics::registry_mut),
    )
    .await?;
    let my_addr = spawned
        .0
        .listening
        .first()
        .cloned()
        .context("not listening")?
        .with(libp2p::multiaddr::Protocol::P2p(spawned.0.local));
    announce(&format!("listening {my_addr}"));
    if let Some(file) = std::env::var_os(smart_testnet::FAULT_FILE_ENV) {
        tokio::spawn(watch_faults(
            PathBuf::from(file),
            genesis.clone(),
            spawned.0.clone(),
        ));
    }
    Ok((registry, spawned, my_addr))
}

/// Fault injection for testnets (`smart_testnet::faults`): when
/// `SMART_FAULT_FILE` names a file, the peer obeys it every 200 ms.
async fn watch_faults(file: PathBuf, genesis: smart_ledger::Genesis, handle: p2p::P2pHandle) {
    let mut current: std::collections::HashSet<PeerId> = Default::default();
    loop {
        let faults = smart_testnet::Faults::read(&file).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable fault file");
            smart_testnet::Faults::default()
        });
        let wanted: std::collections::HashSet<PeerId> = faults
            .cut
            .iter()
            .filter_map(|name| genesis.peers.iter().find(|p| &p.name == name))
            .filter_map(|p| p2p::peer_id(&p.id).ok())
            .collect();
        if wanted != current {
            handle.cut(wanted.clone()).await;
            current = wanted;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
