//! `smart bench gossip`: how long a committed block takes to be applied on
//! every station node (real hub and station processes, gossipsub over
//! libp2p on 127.0.0.1), and how fast a stopped node catches up.
//!
//! Commit time is the moment the first submitter of a block is answered
//! (hubs answer after commit and apply). "Applied on every node" is the
//! moment the last station's status shows that height; each station is
//! polled every [`POLL`], so a figure is late by at most that much.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use smart_consensus::TxVerdict;
use smart_ledger::Keypair;

use super::{Latency, latency, soak_reading_tx, tempdir};
use crate::p2p::client::Client;

/// How often each station's height is read.
const POLL: Duration = Duration::from_millis(2);

#[derive(Debug, Serialize)]
struct GossipBench {
    hubs: usize,
    nodes: usize,
    offered_tx_per_s: u64,
    seconds: u64,
    blocks_measured: usize,
    poll_interval_ms: f64,
    /// Commit (first submitter answered) → applied on every node.
    commit_to_all_nodes_applied: Latency,
    /// Commit → applied, per node (p50 and p99 of each).
    per_node: Vec<(String, Latency)>,
    catch_up: Option<CatchUp>,
}

#[derive(Debug, Serialize)]
struct CatchUp {
    node: String,
    blocks: u64,
    txs: u64,
    /// Did the node install a certified state snapshot (it was more than
    /// `smart run --snapshot-gap` blocks behind)?
    snapshot_installed: bool,
    /// Restart → its contract state is at the hubs' tip (it decides on
    /// current state from then on).
    state_current_seconds: f64,
    /// Restart → every block behind it fetched, checked and stored.
    seconds: f64,
    blocks_per_s: f64,
    tx_per_s: f64,
}

/// Reads a station's height every [`POLL`] until `stop`; returns each new
/// height with the moment it was first seen.
async fn watch(client: Client, stop: Arc<AtomicBool>) -> Vec<(u64, Instant)> {
    let mut seen = Vec::new();
    let mut last = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Ok(s) = client.status().await
            && s.height > last
        {
            last = s.height;
            seen.push((last, Instant::now()));
        }
        tokio::time::sleep(POLL).await;
    }
    seen
}

/// The first moment `seen` shows a height of at least `h`.
fn applied_at(seen: &[(u64, Instant)], h: u64) -> Option<Instant> {
    let i = seen.partition_point(|(height, _)| *height < h);
    seen.get(i).map(|(_, t)| *t)
}

async fn wait_height(client: &Client, height: u64, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if client.status().await.is_ok_and(|s| s.height >= height) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("a node did not reach height {height} within {within:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `smart bench gossip`.
pub(crate) async fn gossip(
    hubs: usize,
    nodes: usize,
    rate: u64,
    seconds: u64,
    catch_up_blocks: u64,
    json: bool,
) -> Result<ExitCode> {
    if nodes == 0 || hubs == 0 || rate == 0 {
        bail!("--hubs, --nodes and --rate must be at least 1");
    }
    let root = tempdir()?;
    let dir = root.join("net");
    let shape = crate::lab::localnet::Shape {
        hubs,
        nodes,
        gateway: false,
    };
    let (mut net, _) = crate::lab::localnet::open(&dir, shape, "smart-bench")?;
    net.start_all()?;
    let admin = Keypair::read_file(&dir.join("people/admin.key"))?;
    net.wait_leader(Duration::from_secs(20)).await?;
    let chain = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?.chain_id();
    let hub_clients = crate::lab::localnet::hub_clients(&net, &admin).await?;
    let stations = net.layout().names(smart_testnet::PeerKind::Station);
    let mut node_clients = Vec::new();
    for name in &stations {
        node_clients.push(crate::lab::localnet::client_of(&net, name, &admin).await?);
    }
    if !json {
        eprintln!("{hubs} hubs and {nodes} nodes up; {rate} tx/s for {seconds} s");
    }

    // Steady load: single-tx submissions at a fixed rate (open loop).
    let n = (rate * seconds) as usize;
    let txs = (0..n as u64)
        .map(|i| soak_reading_tx(chain, &admin, i))
        .collect::<Result<Vec<_>>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = node_clients
        .iter()
        .map(|c| tokio::spawn(watch(c.clone(), stop.clone())))
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = tokio::time::Instant::now();
    let mut submits = Vec::with_capacity(n);
    for (i, tx) in txs.into_iter().enumerate() {
        tokio::time::sleep_until(begin + interval * i as u32).await;
        let client = hub_clients[i % hub_clients.len()].clone();
        submits.push(tokio::spawn(async move {
            let r = client.submit(vec![tx]).await;
            (r, Instant::now())
        }));
    }
    // The first answer for each height is the block's commit time.
    let mut committed: BTreeMap<u64, Instant> = BTreeMap::new();
    for s in submits {
        let (r, at) = s.await?;
        let receipts = r.context("a submission failed")?;
        for receipt in receipts {
            let TxVerdict::Included { height, .. } = receipt.verdict else {
                bail!("a tx was not included: {:?}", receipt.verdict);
            };
            let first = committed.entry(height).or_insert(at);
            *first = (*first).min(at);
        }
    }
    let top = committed.keys().last().copied().unwrap_or(0);
    for c in &node_clients {
        wait_height(c, top, Duration::from_secs(60)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for w in watchers {
        seen.push(w.await?);
    }
    let mut all = Vec::new();
    let mut per_node = vec![Vec::new(); nodes];
    for (&h, &at) in &committed {
        let mut last = at;
        for (k, s) in seen.iter().enumerate() {
            let t = applied_at(s, h).context("a node never showed a committed height")?;
            per_node[k].push(t.saturating_duration_since(at));
            last = last.max(t);
        }
        all.push(last.saturating_duration_since(at));
    }
    let blocks_measured = all.len();

    // Catch-up: the last node stops while blocks commit, then restarts.
    let catch_up = if catch_up_blocks > 0 {
        let k = nodes - 1;
        net.stop(&stations[k]);
        let from = hub_clients[0].status().await?.height;
        let target = from + catch_up_blocks;
        if !json {
            eprintln!(
                "{} stopped at height {from}; committing {catch_up_blocks} blocks",
                stations[k]
            );
        }
        // Closed loop, 8 submitters of one tx each: about one block per commit.
        let admin = Arc::new(admin);
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let client = hub_clients[w as usize % hub_clients.len()].clone();
            let key = admin.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                let mut nonce = 1_000_000_000 * (w + 1);
                loop {
                    let tx = soak_reading_tx(chain, &key, nonce)?;
                    nonce += 1;
                    let r = client.submit(vec![tx]).await?;
                    sent += 1;
                    match r.first().map(|r| &r.verdict) {
                        Some(TxVerdict::Included { height, .. }) if *height >= target => {
                            return Ok::<u64, anyhow::Error>(sent);
                        }
                        Some(TxVerdict::Included { .. }) => {}
                        other => bail!("a tx was not included: {other:?}"),
                    }
                }
            }));
        }
        let mut sent = 0;
        for t in tasks {
            sent += t.await??;
        }
        let tip = hub_clients[0].status().await?.height;
        let started = Instant::now();
        net.start(&stations[k])?;
        let client = crate::lab::localnet::client_of(&net, &stations[k], &admin).await?;
        let state_current = loop {
            if let Ok(s) = net.status(&stations[k]).await
                && s.state_height >= tip
            {
                break started.elapsed().as_secs_f64();
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("{}'s state did not reach {tip}", stations[k]);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        wait_height(&client, tip, Duration::from_secs(600)).await?;
        let secs = started.elapsed().as_secs_f64();
        let snapshot_installed = net.status(&stations[k]).await?.snapshots_installed > 0;
        let (mine, hubs) = (client.status().await?, hub_clients[0].status().await?);
        if (mine.height, mine.tip) != (hubs.height, hubs.tip) {
            bail!(
                "after catching up {} is at {} {} but the hubs at {} {}",
                stations[k],
                mine.height,
                mine.tip,
                hubs.height,
                hubs.tip
            );
        }
        let blocks = tip - from;
        Some(CatchUp {
            node: stations[k].clone(),
            blocks,
            txs: sent,
            snapshot_installed,
            state_current_seconds: state_current,
            seconds: secs,
            blocks_per_s: blocks as f64 / secs,
            tx_per_s: sent as f64 / secs,
        })
    } else {
        None
    };
    net.stop_all();
    let report = GossipBench {
        hubs,
        nodes,
        offered_tx_per_s: rate,
        seconds,
        blocks_measured,
        poll_interval_ms: POLL.as_secs_f64() * 1000.0,
        commit_to_all_nodes_applied: latency(all),
        per_node: stations
            .iter()
            .cloned()
            .zip(per_node.into_iter().map(latency))
            .collect(),
        catch_up,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&root);
    Ok(ExitCode::SUCCESS)
}
