//! `smart testnet chaos`: faults injected into a real network under load.
//!
//! Each scenario starts a new network (3 hub processes and station nodes on
//! 127.0.0.1, real stores in a temporary folder), runs a closed-loop load of
//! signed txs against the hubs, breaks something on purpose, repairs it, and
//! then checks what must always hold:
//!
//! - no acknowledged tx is lost: every tx a hub (or a station, offline)
//!   acknowledged is in the final ledger;
//! - no tx is applied twice: a worker whose submission failed or timed out
//!   re-sends the same bytes to another hub, so the hubs' de-duplication is
//!   exercised (the count of re-sent txs found already ordered is reported);
//!   the ledger is scanned for a repeated hash (the store also refuses one
//!   at append, so a double apply would surface as a stalled hub, which the
//!   convergence check catches);
//! - every peer converges to the same tip and every folder passes the full
//!   ledger verification (signatures, links, Merkle roots, certificates).
//!
//! It prints figures: failover (fault → first commit of a tx submitted after
//! it), catch-up (repair → the peer at the tip), outbox handoff (partition
//! healed → the station's outbox empty).

mod disk;
mod load;
mod offline;
mod report;

use disk::*;
use load::*;
use offline::*;
use report::*;

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use smart_consensus::TxVerdict;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Hash, Keypair};
use smart_testnet::{Network, PeerKind};

use crate::lab::localnet::Shape;
use smart_contracts::action::Action;

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// SIGKILL the Raft leader under load, restart it from disk.
    LeaderKill,
    /// SIGKILL two randomly chosen hubs, one after the other, each restarted.
    HubKill,
    /// SIGSTOP a random hub for 3 s (it holds its sockets, answers nothing).
    Pause,
    /// Cut the leader off from every other peer for 3 s (a minority of one).
    PartitionHub,
    /// Cut a station off from every peer; it decides actions offline and
    /// hands its outbox over when the partition heals.
    PartitionNode,
    /// Stop every peer (SIGTERM) under load and start them all from disk.
    Restart,
    /// A hub's disk fills up (a small tmpfs; needs root): the others go
    /// on, and after space is freed it restarts and catches up.
    DiskFull,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 7] = [
        Scenario::LeaderKill,
        Scenario::HubKill,
        Scenario::Pause,
        Scenario::PartitionHub,
        Scenario::PartitionNode,
        Scenario::Restart,
        Scenario::DiskFull,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::LeaderKill => "leader-kill",
            Scenario::HubKill => "hub-kill",
            Scenario::Pause => "pause",
            Scenario::PartitionHub => "partition-hub",
            Scenario::PartitionNode => "partition-node",
            Scenario::Restart => "restart",
            Scenario::DiskFull => "disk-full",
        }
    }
}

/// What one run of a scenario showed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// The scenario.
    pub scenario: String,
    /// Which run (1-based).
    pub run: u32,
    /// Everything held.
    pub passed: bool,
    /// Why not, if not; or why the scenario could not run here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Txs acknowledged to the load's workers (and offline to the station).
    pub acknowledged: u64,
    /// Txs in the final ledger.
    pub ledger_txs: u64,
    /// Re-sent txs a hub answered as already ordered (de-duplicated, not applied again).
    pub deduplicated: u64,
    /// Fault → first commit of a tx submitted after the fault (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_ms: Option<f64>,
    /// Repair → the repaired peer at the tip the others had (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_up_ms: Option<f64>,
    /// Partition healed → the station's outbox empty (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_ms: Option<f64>,
    /// partition-node: actions the station decided while cut off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_actions: Option<u64>,
    /// partition-node: offline decisions the ledger overturned (flagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overturned: Option<u64>,
    /// The whole run (s).
    pub seconds: f64,
}

/// Options of `smart testnet chaos`.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Runs of each.
    pub runs: u32,
    /// Station nodes.
    pub nodes: usize,
    /// Concurrent submitters.
    pub workers: usize,
    /// partition-node: how long the station stays cut off, deciding actions.
    pub offline_for: Duration,
    /// Print JSON instead of a table.
    pub json: bool,
}

/// `smart testnet chaos`.
pub fn run(opts: ChaosOptions) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_all(opts))
}

async fn run_all(opts: ChaosOptions) -> Result<ExitCode> {
    let mut reports = Vec::new();
    for &scenario in &opts.scenarios {
        for run in 1..=opts.runs {
            let started = Instant::now();
            let root = crate::lab::bench::tempdir()?;
            let result = one(scenario, &root.join("net"), &opts).await;
            let mut report = match result {
                Ok(r) => r,
                Err(e) => RunReport {
                    passed: false,
                    note: Some(format!("{e:#}")),
                    ..Default::default()
                },
            };
            report.scenario = scenario.name().to_string();
            report.run = run;
            report.seconds = started.elapsed().as_secs_f64();
            if !opts.json {
                print_row(&report);
            }
            if report.passed {
                let _ = std::fs::remove_dir_all(&root);
            } else if !opts.json {
                println!("      network folder kept: {}", root.display());
            }
            reports.push(report);
        }
    }
    let failed = reports.iter().filter(|r| !r.passed).count();
    if opts.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": reports,
                "medians": medians(&reports),
            }))?
        );
    } else {
        println!("\nmedians per scenario:");
        for (name, m) in medians(&reports) {
            println!("   {name:<15} {m}");
        }
        println!(
            "{} runs, {} passed, {failed} failed",
            reports.len(),
            reports.len() - failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Waits until peer `name` reports at least `height`; returns how long it took.
async fn wait_height(net: &Network, name: &str, height: u64, within: Duration) -> Result<Duration> {
    let t = Instant::now();
    loop {
        if let Ok(s) = net.status(name).await
            && s.height >= height
        {
            return Ok(t.elapsed());
        }
        if t.elapsed() > within {
            bail!("{name} did not reach height {height} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long peer `name` takes to reach `target` (at most a minute), in ms.
async fn catch_up_ms(net: &Network, name: &str, target: u64) -> Result<f64> {
    Ok(ms(
        wait_height(net, name, target, Duration::from_secs(60)).await?
    ))
}

/// The highest height any live hub other than `except` reports.
async fn tip_of_others(net: &Network, except: &str) -> u64 {
    let mut best = 0;
    for h in net.layout().names(PeerKind::Hub) {
        if h != except
            && net.live().contains(&h)
            && let Ok(s) = net.status(&h).await
        {
            best = best.max(s.height);
        }
    }
    best
}

async fn one(scenario: Scenario, dir: &Path, opts: &ChaosOptions) -> Result<RunReport> {
    let shape = Shape {
        hubs: 3,
        nodes: opts.nodes.max(1),
        gateway: false,
    };
    let (mut net, _) = crate::lab::localnet::open(dir, shape, "smart-chaos")?;
    net.enable_faults();
    let hubs = net.layout().names(PeerKind::Hub);
    let stations = net.layout().names(PeerKind::Station);
    let mut dice = Dice::new();
    let mut report = RunReport::default();

    // The disk that will fill up is in place before the hub first starts.
    let small_disk = if scenario == Scenario::DiskFull {
        let victim = dice.pick(&hubs).to_string();
        match SmallDisk::mount(&dir.join(&victim), 3) {
            Ok(d) => Some((victim, d)),
            Err(e) => {
                report.passed = true;
                report.note = Some(format!("skipped: {e:#}"));
                return Ok(report);
            }
        }
    } else {
        None
    };

    tokio::task::block_in_place(|| net.start_all())?;
    net.wait_leader(Duration::from_secs(30)).await?;
    let admin = Arc::new(Keypair::read_file(&dir.join("people/admin.key"))?);
    let chain = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?.chain_id();
    let clients = crate::lab::localnet::hub_clients(&net, &admin).await?;
    let load = Load::start(clients, chain, admin.clone(), opts.workers);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut offline_acks = Vec::new();

    match scenario {
        Scenario::LeaderKill => {
            let leader = net.wait_leader(Duration::from_secs(10)).await?;
            let t = Instant::now();
            tokio::task::block_in_place(|| net.kill(&leader));
            report.failover_ms = Some(ms(load.first_ack_after(t, Duration::from_secs(30)).await?));
            tokio::time::sleep(Duration::from_secs(1)).await;
            let target = tip_of_others(&net, &leader).await;
            tokio::task::block_in_place(|| net.start(&leader))?;
            report.catch_up_ms = Some(catch_up_ms(&net, &leader, target).await?);
        }
        Scenario::HubKill => {
            let mut catch_up = Vec::new();
            for _ in 0..2 {
                let victim = dice.pick(&hubs).to_string();
                tokio::task::block_in_place(|| net.kill(&victim));
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let target = tip_of_others(&net, &victim).await;
                tokio::task::block_in_place(|| net.start(&victim))?;
                catch_up.push(catch_up_ms(&net, &victim, target).await?);
            }
            report.catch_up_ms = catch_up.into_iter().reduce(f64::max);
        }
        Scenario::Pause => {
            let victim = dice.pick(&hubs).to_string();
            net.pause(&victim);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let target = tip_of_others(&net, &victim).await;
            net.resume(&victim);
            report.catch_up_ms = Some(catch_up_ms(&net, &victim, target).await?);
        }
        Scenario::PartitionHub => {
            let leader = net.wait_leader(Duration::from_secs(10)).await?;
            net.partition(&[leader.as_str()])?;
            // Peers read their fault files every 200 ms: the cut is in force after that.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let t = Instant::now();
            report.failover_ms = Some(ms(load.first_ack_after(t, Duration::from_secs(30)).await?));
            tokio::time::sleep(Duration::from_secs(3)).await;
            let target = tip_of_others(&net, &leader).await;
            net.partition(&[])?;
            report.catch_up_ms = Some(catch_up_ms(&net, &leader, target).await?);
        }
        Scenario::PartitionNode => {
            let station = stations[0].clone();
            net.partition(&[station.as_str()])?;
            // Give the cut a moment, then act at the station: it decides alone.
            tokio::time::sleep(Duration::from_millis(800)).await;
            let client = crate::lab::localnet::client_of(&net, &station, &admin).await?;
            // Meanwhile the hubs register an oven that the station, not
            // knowing, registers too: its decision must be overturned.
            let race = |nonce| {
                equipment_tx(
                    chain,
                    &admin,
                    nonce,
                    Action::RegisterEquipment {
                        id: "oven-race".into(),
                        description: "registered at a hub and offline at a station".into(),
                        calibration_due: smart_ledger::Timestamp(4_000_000_000_000),
                    },
                )
            };
            let hub = crate::lab::localnet::client_of(&net, &hubs[0], &admin).await?;
            let first = hub.submit(vec![race(2_000_000_000)?]).await?;
            if !first.iter().all(|r| {
                matches!(
                    r.verdict,
                    TxVerdict::Included {
                        outcome: smart_ledger::Outcome::Accepted,
                        ..
                    }
                )
            }) {
                bail!("the hubs did not register oven-race: {first:?}");
            }
            let actions = offline_actions(&station, chain, &admin, opts.offline_for)?;
            let mut decided = 0u64;
            for (tx, expect_accepted) in actions.into_iter().chain([(race(2_000_000_001)?, true)]) {
                let submitted = Instant::now();
                let receipts = client.submit(vec![tx]).await?;
                for r in &receipts {
                    match &r.verdict {
                        TxVerdict::Provisional { outcome, .. }
                            if matches!(outcome, smart_ledger::Outcome::Accepted)
                                == expect_accepted => {}
                        other => bail!(
                            "{station}, cut off, answered {other:?} to action {decided} (accepted expected: {expect_accepted})"
                        ),
                    }
                    offline_acks.push(Ack {
                        tx: r.tx,
                        submitted,
                        acked: Instant::now(),
                        duplicate: false,
                    });
                }
                decided += 1;
                tokio::time::sleep(OFFLINE_PACE).await;
            }
            report.offline_actions = Some(decided);
            let t = Instant::now();
            net.partition(&[])?;
            loop {
                if let Ok(s) = net.status(&station).await
                    && s.outbox_pending == 0
                {
                    break;
                }
                if t.elapsed() > Duration::from_secs(60) {
                    bail!("{station} did not hand its outbox over within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            report.handoff_ms = Some(ms(t.elapsed()));
            let overturned = net.status(&station).await?.overturned;
            if overturned != 1 {
                bail!("{station} flagged {overturned} overturned decisions, not 1 (oven-race)");
            }
            report.overturned = Some(overturned);
        }
        Scenario::Restart => {
            tokio::task::block_in_place(|| net.stop_all());
            let t = Instant::now();
            tokio::task::block_in_place(|| net.start_all())?;
            report.failover_ms = Some(ms(load.first_ack_after(t, Duration::from_secs(60)).await?));
        }
        Scenario::DiskFull => {
            let (victim, disk) = small_disk.as_ref().context("no small disk")?;
            // Load until the hub's disk is full: its log says so, or it stops.
            let t = Instant::now();
            let full = loop {
                let log = std::fs::read_to_string(net.log_path(victim)).unwrap_or_default();
                if log.contains("No space left") || log.contains("ENOSPC") {
                    break true;
                }
                if t.elapsed() > Duration::from_secs(60) {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if !full {
                bail!("{victim}'s 3 MiB disk did not fill within 60 s");
            }
            // The others go on: a tx submitted now commits.
            load.first_ack_after(Instant::now(), Duration::from_secs(30))
                .await?;
            tokio::task::block_in_place(|| net.kill(victim));
            disk.grow(512)?;
            let target = tip_of_others(&net, victim).await;
            tokio::task::block_in_place(|| net.start(victim))?;
            report.catch_up_ms = Some(catch_up_ms(&net, victim, target).await?);
        }
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut acks = load.finish().await?;
    acks.extend(offline_acks);
    report.acknowledged = acks.len() as u64;
    report.deduplicated = acks.iter().filter(|a| a.duplicate).count() as u64;

    // Repair whatever is still broken, then everyone must agree.
    net.partition(&[])?;
    for name in net
        .layout()
        .peers
        .iter()
        .map(|p| p.name.clone())
        .collect::<Vec<_>>()
    {
        net.resume(&name);
        if !net.is_running(&name) {
            tokio::task::block_in_place(|| net.start(&name))?;
        }
    }
    net.wait_converged(Duration::from_secs(120)).await?;
    tokio::task::block_in_place(|| net.stop_all());
    report.ledger_txs = check_ledgers(&net, &acks)?;
    if let Some((_, mut disk)) = small_disk {
        disk.keep = false;
    }
    report.passed = true;
    Ok(report)
}

/// Verifies every folder, checks one tip for all, and that every ack is in
/// the ledger exactly once; returns the ledger's tx count.
fn check_ledgers(net: &Network, acks: &[Ack]) -> Result<u64> {
    let mut tips = Vec::new();
    for p in &net.layout().peers {
        let store = RedbStore::open(&net.dir().join(&p.name).join(RedbStore::FILE_NAME))?;
        let report = smart_ledger::audit::verify_ledger(&store, |_, _| {})
            .map_err(|f| anyhow::anyhow!("{}: ledger verification failed: {f}", p.name))?;
        tips.push((p.name.clone(), report.tip_hash, report.blocks));
    }
    if let Some(first) = tips.first()
        && let Some(other) = tips.iter().find(|t| t.1 != first.1)
    {
        bail!(
            "{} ends at block {} {} but {} at {} {}",
            first.0,
            first.2,
            first.1.short(),
            other.0,
            other.2,
            other.1.short()
        );
    }
    let hub = net
        .layout()
        .names(PeerKind::Hub)
        .into_iter()
        .next()
        .context("no hub")?;
    let store = RedbStore::open(&net.dir().join(&hub).join(RedbStore::FILE_NAME))?;
    let mut seen: HashMap<Hash, u32> = HashMap::new();
    for h in 1..=store.tip().height {
        let block = store
            .block(h)?
            .with_context(|| format!("block {h} missing"))?;
        for tx in &block.txs {
            *seen.entry(tx.hash()).or_default() += 1;
        }
    }
    if let Some((tx, n)) = seen.iter().find(|(_, n)| **n > 1) {
        bail!("tx {} is in the ledger {n} times", tx.short());
    }
    let lost: Vec<&Ack> = acks.iter().filter(|a| !seen.contains_key(&a.tx)).collect();
    if let Some(a) = lost.first() {
        bail!(
            "{} acknowledged txs are not in the ledger (first: {})",
            lost.len(),
            a.tx.short()
        );
    }
    Ok(seen.len() as u64)
}
