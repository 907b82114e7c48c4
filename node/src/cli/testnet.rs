//! `smart testnet up` (the README's main command) and `smart demo`.
//!
//! `up` makes a network folder the first time (`smart init`, fixed ports in
//! `testnet.json`), starts every peer as a process on 127.0.0.1, waits for a
//! Raft leader and for every peer to reach one tip, makes the shop ready (see
//! `demo`), prints where everything is, and with `--demo` runs a job day
//! through the real interfaces. It keeps the network up until Ctrl-C (or
//! `--for`), then stops every peer cleanly and verifies every ledger.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use smart_ledger::store::RedbStore;
use smart_testnet::{Network, PeerKind};

use crate::lab::localnet::Shape;

#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Start a whole network on 127.0.0.1 (made on first use): hubs, station
    /// nodes and the gateway as processes; prints where everything is; runs
    /// until Ctrl-C (or --for), then stops every peer and verifies every ledger.
    Up {
        /// Hubs of a new network folder.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Station nodes of a new network folder.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// The network folder (made when it holds no network yet).
        #[arg(long, default_value = "smart-testnet")]
        dir: PathBuf,
        /// Run a shop day through the network: a client PO over HTTPS, the
        /// job from receiving to invoice, refusals, payouts.
        #[arg(long)]
        demo: bool,
        /// Access-log records the stations add after the shop day.
        #[arg(long, default_value_t = 0)]
        records: u64,
        /// Stop after this long (e.g. 90s, 10m; 0s: as soon as the demo is done).
        #[arg(long = "for", value_parser = crate::cli::testnet::parse_duration)]
        run_for: Option<std::time::Duration>,
        /// The gateway's requests per second per client credential (or per address without one).
        #[arg(long, default_value_t = 200)]
        api_rate: u32,
    },
    /// Write docker/compose.yaml and docker/prometheus.yml for a network of
    /// containers (or check that they are current).
    Compose {
        /// Folder to write into.
        #[arg(long, default_value = "docker")]
        out: PathBuf,
        /// Hubs.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Station nodes.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// Only compare; exit 1 when the files differ.
        #[arg(long)]
        check: bool,
    },
    /// Run a job day through a network running elsewhere (e.g. docker
    /// compose): its folder (people's keys, genesis), hubs and gateway.
    Demo {
        /// The network folder.
        #[arg(long)]
        dir: PathBuf,
        /// Hubs by name and address, e.g. `vault-hub@/ip4/10.77.0.11/tcp/7000`.
        #[arg(long = "peer", value_name = "NAME@MULTIADDR", required = true)]
        peers: Vec<String>,
        /// The gateway's HTTPS address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        gateway: std::net::SocketAddr,
    },
    /// Fault injection under load on new networks (3 hubs + stations in a
    /// temporary folder): kills, pauses, partitions, restarts, a full disk.
    /// Checks no acknowledged tx is lost, none is applied twice, every peer
    /// converges and every ledger verifies; prints failover, catch-up and
    /// outbox handoff times.
    Chaos {
        /// Scenarios to run (default: all).
        #[arg(long = "scenario", value_enum)]
        scenarios: Vec<crate::lab::chaos::Scenario>,
        /// Runs of each scenario.
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// Station nodes.
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Concurrent submitters of the load.
        #[arg(long, default_value_t = 6)]
        workers: usize,
        /// partition-node: how long the station stays cut off, deciding
        /// actions (e.g. 5m).
        #[arg(long, default_value = "3s", value_parser = crate::cli::testnet::parse_duration)]
        offline_for: std::time::Duration,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `smart testnet up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Hubs and stations of a new folder (an existing folder keeps its own).
    pub shape: Shape,
    /// The network folder.
    pub dir: PathBuf,
    /// Run a job day through the network.
    pub demo: bool,
    /// Access-log records to add after the job day.
    pub records: u64,
    /// Stop after this long (default: at Ctrl-C).
    pub run_for: Option<Duration>,
    /// The gateway's requests per second per client.
    pub api_rate: u32,
}

/// `smart demo`: a new network in a temporary folder, one job day, a stop
/// and every ledger verified.
pub(crate) fn demo(dir: Option<PathBuf>, records: u64) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => crate::lab::bench::tempdir()?.join("network"),
    };
    up(UpOptions {
        shape: Shape {
            hubs: 3,
            nodes: 6,
            gateway: true,
        },
        dir,
        demo: true,
        records,
        run_for: Some(Duration::ZERO),
        api_rate: 200,
    })
}

/// `smart testnet up`.
pub fn up(opts: UpOptions) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(up_async(opts))
}

/// Parses `90s`, `5m`, `2h` or a number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 5m, 2h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Runs `fut` unless a stop signal comes first.
async fn unless_stopped<T>(
    stop: &mut tokio::sync::watch::Receiver<bool>,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = fut => r,
        _ = stop.wait_for(|s| *s) => bail!("stopped by a signal"),
    }
}

/// Starts the network, makes the shop ready, runs the demo, then waits for
/// the end (`--for` or a signal). Returns the job day, if one ran.
async fn run_network(
    net: &mut Network,
    opts: &UpOptions,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Option<crate::lab::demo::JobReport>> {
    let dir = &opts.dir;
    let rate = opts.api_rate.to_string();
    net.set_args("gateway", &["--api-rate", &rate]);
    tokio::task::block_in_place(|| net.start_all())?;
    let leader = unless_stopped(stop, async {
        Ok(net.wait_leader(Duration::from_secs(60)).await?)
    })
    .await?;
    let hub_addrs = net
        .hub_addrs()
        .iter()
        .map(|a| a.parse())
        .collect::<Result<Vec<libp2p::Multiaddr>, _>>()?;
    let gateway = net.gateway_addr().context("the network has no gateway")?;
    let mut ready = unless_stopped(stop, crate::lab::demo::ready(&hub_addrs, gateway, dir)).await?;
    let tip = unless_stopped(stop, async {
        Ok(net.wait_converged(Duration::from_secs(120)).await?)
    })
    .await?;
    print_directory(net, &leader, &ready.credential, tip.height)?;

    let mut report = None;
    if opts.demo {
        let day = unless_stopped(stop, crate::lab::demo::job_day(&mut ready)).await?;
        if net.is_known("station-1") {
            unless_stopped(stop, crate::lab::demo::station_shift(&mut ready, dir)).await?;
        }
        if opts.records > 0 {
            unless_stopped(
                stop,
                crate::lab::demo::access_records(&mut ready, opts.records),
            )
            .await?;
        }
        let tip = unless_stopped(stop, async {
            Ok(net.wait_converged(Duration::from_secs(120)).await?)
        })
        .await?;
        print_summary(&day, Some((tip.height, tip.txs)));
        report = Some(day);
    }

    match opts.run_for {
        Some(d) if d.is_zero() => {}
        Some(d) => {
            println!("\nthe network runs for {d:?} (Ctrl-C stops it sooner)");
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        None => {
            println!("\nthe network is up; Ctrl-C stops every peer and verifies every ledger");
            let _ = stop.wait_for(|s| *s).await;
        }
    }
    Ok(report)
}

async fn up_async(opts: UpOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let dir = &opts.dir;
    // SIGINT/SIGTERM are caught from the start, so a stop during start-up or
    // the demo still stops every peer (instead of leaving them running).
    let (signalled, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::peer::shutdown::wait_for_shutdown().await;
        let _ = signalled.send(true);
    });
    tokio::task::yield_now().await;
    let (mut net, fresh) = crate::lab::localnet::open(dir, opts.shape, "smart-testnet")?;
    let hubs = net.layout().names(PeerKind::Hub).len();
    let stations = net.layout().names(PeerKind::Station).len();
    println!(
        "== a SMART network: {hubs} hubs, {stations} stations and the gateway in {} ({})",
        dir.display(),
        if fresh { "new" } else { "existing folder" }
    );
    let run = run_network(&mut net, &opts, &mut stop).await;
    let report = match run {
        Ok(r) => r,
        Err(e) => {
            net.stop_all();
            return Err(e);
        }
    };
    println!("\n== stopping every peer (SIGTERM), then verifying every ledger");
    net.stop_all();
    let store = verify_all(&net)?;
    if let Some(day) = report {
        let state = smart_consensus::stored::load_state(&store)?;
        crate::cli::contract::print_money(&state, "   ");
        prove_invoice(&store, dir, &day.invoice_tx)?;
        prove_records(&store, dir, &day.job, &day.invoice_tx)?;
        if day.refusals.len() != crate::lab::demo::EXPECTED_REFUSALS
            || !state.invoices.iter().any(|i| i.job == day.job)
        {
            bail!(
                "the job day did not go as the contract says: {} refusals, invoice for {}: {}",
                day.refusals.len(),
                day.job,
                state.invoices.iter().any(|i| i.job == day.job)
            );
        }
    }
    println!(
        "\n   total {:.1} s; network folder {} (run the same command to start it again)",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `smart testnet demo`: a job day through a network running elsewhere
/// (e.g. docker compose), reached by its hubs' addresses and the gateway's.
pub fn remote_demo(
    dir: &Path,
    peers: &[String],
    gateway: std::net::SocketAddr,
) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let genesis = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?;
        let hubs = crate::peer::network::named_peers(&genesis, peers)?;
        if hubs.is_empty() {
            bail!("name at least one hub with --peer NAME@MULTIADDR");
        }
        let mut ready = crate::lab::demo::ready(&hubs, gateway, dir).await?;
        println!("   client credential (Acme Aero)   {}", ready.credential);
        let day = crate::lab::demo::job_day(&mut ready).await?;
        print_summary(&day, None);
        if day.refusals.len() != crate::lab::demo::EXPECTED_REFUSALS {
            bail!(
                "{} refusals, expected {}",
                day.refusals.len(),
                crate::lab::demo::EXPECTED_REFUSALS
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `smart testnet compose`: writes (or, with `check`, compares) the compose
/// file and Prometheus' configuration in `out`.
pub fn compose(out: &Path, hubs: usize, nodes: usize, check: bool) -> Result<ExitCode> {
    use smart_testnet::compose::{ComposeSpec, compose_yaml, prometheus_yaml};
    let spec = ComposeSpec::standard(
        (0..hubs).map(crate::peer::init::hub_name).collect(),
        (1..=nodes).map(|i| format!("station-{i}")).collect(),
    );
    let files = [
        ("compose.yaml", compose_yaml(&spec)),
        ("prometheus.yml", prometheus_yaml(&spec)),
    ];
    let mut drift = false;
    for (name, text) in files {
        let path = out.join(name);
        if check {
            let now = std::fs::read_to_string(&path).unwrap_or_default();
            if now != text {
                println!(
                    "{} differs from what `smart testnet compose` makes",
                    path.display()
                );
                drift = true;
            }
        } else {
            std::fs::create_dir_all(out)?;
            std::fs::write(&path, text)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(if drift {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_directory(net: &Network, leader: &str, credential: &str, height: u64) -> Result<()> {
    println!("\n== every peer is up, at height {height}; Raft leader: {leader}");
    println!(
        "   {:<14} {:<8} {:<70} staff dashboard and /metrics",
        "peer", "role", "libp2p address"
    );
    for p in &net.layout().peers {
        let role = match p.kind {
            PeerKind::Hub => "hub",
            PeerKind::Station => "station",
            PeerKind::Gateway => "gateway",
        };
        println!(
            "   {:<14} {:<8} {:<70} http://{}/",
            p.name,
            role,
            net.addr(&p.name).unwrap_or("-"),
            net.metrics_addr(&p.name)?
        );
    }
    let gateway = net.gateway_addr().context("no gateway")?;
    let cert = smart_gateway::tls::default_paths(&net.dir().join("gateway")).0;
    println!(
        "\n   client dashboard and SMART-API  https://{gateway}/  (self-signed: {})",
        cert.display()
    );
    println!("   client credential (Acme Aero)   {credential}");
    println!(
        "   try: curl --cacert {} -H 'authorization: Bearer {credential}' https://{gateway}/api/jobs",
        cert.display()
    );
    println!("   logs: {}", net.dir().join("logs").display());
    Ok(())
}

fn print_summary(day: &crate::lab::demo::JobReport, ledger: Option<(u64, u64)>) {
    println!("\n== summary of {}", day.job);
    println!(
        "   {} shop actions, {} refused (each by its rule){}:",
        day.actions,
        day.refusals.len(),
        ledger
            .map(|(h, t)| format!("; ledger now {h} blocks, {t} txs"))
            .unwrap_or_default()
    );
    for r in &day.refusals {
        println!("     {r}");
    }
    let mean =
        day.steps.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>() / day.steps.len().max(1) as f64;
    let slowest = day
        .steps
        .iter()
        .max_by_key(|(_, d)| *d)
        .map(|(w, d)| format!("{w} ({} ms)", d.as_millis()))
        .unwrap_or_default();
    println!(
        "   time per action (submission to commit): mean {:.1} ms, slowest {slowest}; {} live status events reached the client",
        mean * 1000.0,
        day.events
    );
}

/// Verifies every peer's ledger (stopped); all must hold one chain. Returns
/// the last hub's store.
fn verify_all(net: &Network) -> Result<RedbStore> {
    let mut tips = Vec::new();
    for p in &net.layout().peers {
        let store = RedbStore::open(&net.dir().join(&p.name).join(RedbStore::FILE_NAME))?;
        let report = smart_ledger::audit::verify_ledger(&store, |_, _| {})
            .map_err(|f| anyhow::anyhow!("{}: {f}", p.name))?;
        println!(
            "   {:<13} intact: {} blocks, {} txs, tip {}",
            p.name,
            report.blocks,
            report.txs,
            report.tip_hash.short()
        );
        tips.push(report.tip_hash);
    }
    if !tips.windows(2).all(|w| w[0] == w[1]) {
        bail!("peers hold different chains");
    }
    let hubs = net.layout().names(PeerKind::Hub);
    let last = hubs.last().context("no hub")?;
    Ok(RedbStore::open(
        &net.dir().join(last).join(RedbStore::FILE_NAME),
    )?)
}

fn prove_invoice(store: &RedbStore, dir: &Path, invoice_tx: &smart_ledger::Hash) -> Result<()> {
    println!("\n== the client's proof of the invoice, checked offline");
    let genesis = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?;
    let proof = crate::cli::ledger::prove(store, invoice_tx, Some(1))?;
    let proof_file = dir.join("invoice-proof.json");
    std::fs::write(&proof_file, serde_json::to_string_pretty(&proof)?)?;
    let proven = proof.verify(Some(&genesis.chain_id()))?;
    println!(
        "   tx {} in block {} with outcome {:?}, in a ledger of {} txs (root {}); written to {}",
        proven.tx_hash.short(),
        proven.height,
        proven.outcome,
        proven.ledger_size,
        proven.ledger_root.short(),
        proof_file.display()
    );
    Ok(())
}

/// State proofs at the height the invoice was accepted: the job's record
/// and tech-7's operator token, each checked offline.
fn prove_records(
    store: &RedbStore,
    dir: &Path,
    job: &str,
    invoice_tx: &smart_ledger::Hash,
) -> Result<()> {
    println!("\n== state proofs at the invoice's height, checked offline");
    use smart_ledger::store::BlockStore;
    let height = store
        .locate_tx(invoice_tx)?
        .context("the invoice is not in the ledger")?
        .height;
    let certified = crate::peer::proofs::CertifiedState::at(store, Some(height))?;
    let state = certified.state.state();
    let tech = state
        .identities
        .iter()
        .find(|(_, i)| i.name == "tech-7")
        .map(|(id, _)| *id)
        .context("no tech-7 in the state")?;
    let token = state
        .tokens_of(&tech)
        .next()
        .map(|(id, _)| id.to_string())
        .context("tech-7 holds no token")?;
    for (kind, id, file) in [
        ("jobs", job.to_string(), "job-proof.json"),
        ("tokens", token, "token-proof.json"),
    ] {
        let proof = certified.prove(kind, &certified.key_of(kind, &id))?;
        let path = dir.join(file);
        std::fs::write(&path, serde_json::to_string_pretty(&proof)?)?;
        let proven = proof.verify(Some(&store.genesis().chain_id()))?;
        if proven.value.is_none() {
            bail!("{kind}/{id} is not in the state at height {height}");
        }
        println!(
            "   {kind}/{id} in the state certified at height {} (state root {}); written to {}",
            proven.height,
            proven.state_root.short(),
            path.display()
        );
    }
    Ok(())
}

/// Runs one `smart testnet` command.
pub(crate) fn run(cmd: TestnetCommand) -> Result<ExitCode> {
    match cmd {
        TestnetCommand::Compose {
            out,
            hubs,
            nodes,
            check,
        } => crate::cli::testnet::compose(&out, hubs, nodes, check),
        TestnetCommand::Demo {
            dir,
            peers,
            gateway,
        } => crate::cli::testnet::remote_demo(&dir, &peers, gateway),
        TestnetCommand::Chaos {
            scenarios,
            runs,
            nodes,
            workers,
            offline_for,
            json,
        } => crate::lab::chaos::run(crate::lab::chaos::ChaosOptions {
            scenarios: if scenarios.is_empty() {
                crate::lab::chaos::Scenario::ALL.to_vec()
            } else {
                scenarios
            },
            runs,
            nodes,
            workers: workers.max(1),
            offline_for,
            json,
        }),
        TestnetCommand::Up {
            hubs,
            nodes,
            dir,
            demo,
            records,
            run_for,
            api_rate,
        } => crate::cli::testnet::up(crate::cli::testnet::UpOptions {
            shape: crate::lab::localnet::Shape {
                hubs,
                nodes,
                gateway: true,
            },
            dir,
            demo,
            records,
            run_for,
            api_rate,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn the_committed_compose_file_is_what_the_generator_makes() {
        use smart_testnet::compose::{ComposeSpec, compose_yaml, prometheus_yaml};
        let spec = ComposeSpec::standard(
            (0..3).map(crate::peer::init::hub_name).collect(),
            (1..=6).map(|i| format!("station-{i}")).collect(),
        );
        assert_eq!(
            include_str!("../../../docker/compose.yaml"),
            compose_yaml(&spec),
            "run `smart testnet compose --out docker`"
        );
        assert_eq!(
            include_str!("../../../docker/prometheus.yml"),
            prometheus_yaml(&spec),
            "run `smart testnet compose --out docker`"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
