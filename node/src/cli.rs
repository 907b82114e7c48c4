//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "smart",
    version,
    about = "SMART: a permissioned, replicated ledger for a special-process shop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new SMART-ID (ed25519 key) and print it.
    Keygen {
        /// Where to write the secret key (mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a new network: a folder per peer (its key and the genesis) and people's keys.
    Init {
        /// Folder to create.
        #[arg(long)]
        dir: PathBuf,
        /// Number of hubs (the first three are the Vault, Floor and Business hubs).
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Number of station nodes.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// Name of the chain.
        #[arg(long, default_value = "smart-shop")]
        chain_name: String,
    },
    /// Inspect, verify and prove the ledger of a peer.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Offline proof checks.
    #[command(subcommand)]
    Proof(ProofCommand),
    /// AuditCentral: a job's offline audit pack.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Validate and simulate SmartContracts.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Benchmarks that print JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run this peer (hubs: libp2p + Raft + the contract VM) until SIGINT/SIGTERM.
    Run {
        /// The peer's folder (made by `smart init`).
        #[arg(long)]
        data: PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
        listen: libp2p::Multiaddr,
        /// Other peers' addresses, ending in /p2p/PEERID (the first hub needs every hub's).
        #[arg(long, num_args = 0..)]
        bootstrap: Vec<libp2p::Multiaddr>,
        /// A genesis peer by name and address, e.g. `vault-hub@/ip4/10.77.0.11/tcp/7000`:
        /// its /p2p/ id is read from the genesis (repeatable; for fixed layouts
        /// such as docker compose).
        #[arg(long = "peer", value_name = "NAME@MULTIADDR")]
        named_peers: Vec<String>,
        /// Serve /metrics and /health on this address (e.g. 127.0.0.1:9100).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Gateway only: the public HTTPS address of SMART-API.
        #[arg(long, default_value = "127.0.0.1:8443")]
        https: std::net::SocketAddr,
        /// Gateway only: TLS certificate (PEM); default: the folder's self-signed one.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Gateway only: TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Gateway only: requests per second per client credential (bursts of twice that).
        #[arg(long, default_value_t = 200)]
        api_rate: u32,
        /// Nodes: when this many blocks behind, install a certified state
        /// snapshot first, then fetch and check the blocks behind it.
        #[arg(long, default_value_t = crate::station::SNAPSHOT_GAP)]
        snapshot_gap: u64,
        /// Nodes: equipment this station drives, comma-separated; the first is
        /// its interlock (default: the station's name).
        #[arg(long, value_delimiter = ',')]
        equipment: Vec<String>,
        /// Nodes: this station receives and ships parts (LogisticsNode).
        #[arg(long)]
        logistics: bool,
        /// Nodes: the kiosk (station screen and `smart station` API), loopback only;
        /// its address is written to `kiosk.addr` in the folder.
        #[arg(long, default_value = "127.0.0.1:0")]
        kiosk: std::net::SocketAddr,
    },
    /// A station's actions, as at its kiosk (the node must be running).
    Station {
        /// The station's folder.
        #[arg(long)]
        data: PathBuf,
        /// Print the kiosk's answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: crate::station_cmd::StationAction,
    },
    /// The modules running on a peer, with their state: a station's
    /// specialists (running or stopped), or a hub's services.
    Modules {
        /// The station's or hub's folder.
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// SMART-AI Central (advisory only): findings over a hub's ledger, each
    /// with what it is based on; --record writes new ones as Suggestion
    /// records signed by the Advisor identity (which can do nothing else).
    Advise {
        /// The hub's folder.
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Record new findings: the hub to submit to (ending in /p2p/PEERID).
        #[arg(long, requires = "key")]
        record: Option<libp2p::Multiaddr>,
        /// The Advisor identity's key (`people/smart-ai.key` of `smart init`).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a station about its local state, offline (NodeQuery): "what is
    /// blocking job JOB", "who may run EQUIPMENT today", "when is EQUIPMENT
    /// calibration due", "what is the stock of ITEM", "which steps of job JOB
    /// are done", "what is locked out". Ask a hub about the whole ledger
    /// (HubQuery): "which jobs are late [this week]", "which certifications
    /// expire in N days", "which tokens does PERSON hold", "what does PERSON
    /// need for NDT-UT-L2", "what renewals are due in N days", "why was job
    /// JOB refused [at step STEP]", "what is the status of job JOB", "what was
    /// paid for job JOB", "what is refused most [by rule|station|person]",
    /// "what incidents happened in N days", "how is the shop doing", "what do
    /// clients say", "what is the status of project ID", "which jobs are
    /// staged", "what maintenance is due", "what should we order", "what does
    /// smart-ai suggest".
    Ask {
        /// The station's or hub's folder.
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// The question.
        question: String,
    },
    /// SMART-Pay.
    #[command(subcommand)]
    Pay(PayCommand),
    /// SMART-ID: register, change roles, deactivate, rotate keys (signed and
    /// submitted to a hub; exit 1 when the VM refuses).
    #[command(subcommand)]
    Id(crate::id_cmd::IdCommand),
    /// TokenAccessLayer: issue and revoke tokens (signed and submitted to a
    /// hub; exit 1 when the VM refuses).
    #[command(subcommand)]
    Token(crate::id_cmd::TokenCommand),
    /// SMART-Admin (Create-Deploy-Release): bundle contracts, propose them,
    /// approve them per governance role, and watch them become active on
    /// any peer (stations receive them with the blocks they follow).
    #[command(subcommand)]
    Admin(crate::admin_cmd::AdminCommand),
    /// CertifiedPeople / Education: record training, experience hours,
    /// examinations and vision tests; the certification framework (NAS 410
    /// shape) issues, renews and revokes Certified, Training and Safety
    /// tokens as records arrive (exit 1 when the VM refuses).
    #[command(subcommand)]
    Education(crate::id_cmd::EducationCommand),
    /// MaintenanceHub: plan equipment maintenance by usage, and open service
    /// jobs for what is due (InventoryHub's orders: `smart ask "what should
    /// we order"`, recorded by `smart advise --record`).
    #[command(subcommand)]
    Maintenance(crate::maintenance_cmd::MaintenanceCommand),
    /// ClientManager: client accounts and their gateway credentials.
    #[command(subcommand)]
    Client(crate::client_cmd::ClientCommand),
    /// Projects: a client's milestones over its jobs (`smart ask "what is
    /// the status of project ID"` tracks them).
    #[command(subcommand)]
    Project(crate::client_cmd::ProjectCommand),
    /// A consistent copy of a peer's ledger (running: the peer writes it;
    /// stopped: copied from its folder), verified.
    Backup {
        /// The peer's folder.
        #[arg(long)]
        data: PathBuf,
        /// The backup file (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// The running peer's metrics address (it writes the copy itself).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// A new peer folder from a backup, verified before anything is written.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The new peer folder.
        #[arg(long)]
        data: PathBuf,
        /// The peer's key, copied into the folder.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Exit 0 when the peer whose metrics address is given answers /health
    /// with 200 (for container health checks); prints the answer.
    Health {
        /// The peer's metrics address.
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics: std::net::SocketAddr,
    },
    /// Sign a tx described in YAML and submit it to a hub; prints the receipt.
    Submit {
        /// The hub's address, ending in /p2p/PEERID.
        #[arg(long)]
        to: libp2p::Multiaddr,
        /// The signing key (a registered identity).
        #[arg(long)]
        key: PathBuf,
        /// The tx (see `smart submit --help` in the README).
        tx: PathBuf,
    },
    /// A local network of peer processes (`smart testnet up`).
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// `smart testnet up --demo --for 0s` in a new temporary folder: a shop
    /// day through 3 hubs, 6 stations and the gateway, then every ledger is
    /// verified and a proof is checked offline.
    Demo {
        /// Folder to use (default: a new temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Access-log records the stations add during the day.
        #[arg(long, default_value_t = 5_000)]
        txs: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestnetCommand {
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
        #[arg(long = "for", value_parser = crate::testnet_cmd::parse_duration)]
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
        scenarios: Vec<crate::chaos::Scenario>,
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
        #[arg(long, default_value = "3s", value_parser = crate::testnet_cmd::parse_duration)]
        offline_for: std::time::Duration,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCommand {
    /// Check every signature, chain link, Merkle root and certificate. Exit 0 when intact.
    Verify {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a block (default: the tip) or a tx.
    Show {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Block height.
        #[arg(long, conflicts_with = "tx")]
        height: Option<u64>,
        /// Tx hash (hex).
        #[arg(long)]
        tx: Option<String>,
    },
    /// Write an inclusion proof (and a consistency proof with --since) as JSON.
    Prove {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Tx hash (hex).
        #[arg(long)]
        tx: String,
        /// An earlier ledger size to prove consistency from.
        #[arg(long)]
        since: Option<u64>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// DEVELOPMENT ONLY: append blocks of signed filler txs (real keys, real
    /// store, certified by the hub keys found beside the peer folder) until
    /// consensus exists to make a real ledger.
    Generate {
        /// The peer's data folder (made by `smart init`).
        #[arg(long)]
        data: PathBuf,
        /// Number of txs to append.
        #[arg(long)]
        txs: u64,
        /// Txs per block.
        #[arg(long, default_value_t = 256)]
        block_size: usize,
        /// The `smart init` folder holding hub and people keys (default: the parent of --data).
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print `durable HEIGHT` on stdout after each block is on disk.
        #[arg(long)]
        print_durable: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PayCommand {
    /// Invoices, payouts and bonuses as CSV for accounting, exact to the cent.
    Export {
        /// A hub's (or any full peer's) folder.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the CSV (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// A running peer's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Write one file with everything an auditor needs to check a job offline.
    Export {
        /// The peer's folder (a hub's, or any peer with the whole ledger).
        #[arg(long)]
        data: PathBuf,
        /// The job.
        #[arg(long)]
        job: String,
        /// Where to write the pack (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// A running peer's metrics address: it writes a consistent copy to export from.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Check a pack offline with nothing but the file and the chain id. Exit 0 when it verifies.
    Verify {
        /// The pack.
        file: PathBuf,
        /// The chain id (genesis hash, hex) you trust.
        #[arg(long)]
        genesis: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProofCommand {
    /// Check a proof file offline. Exit 0 when it verifies.
    Verify {
        /// The proof (JSON from `smart ledger prove`).
        file: PathBuf,
        /// The chain id you trust (hex); default: trust the genesis in the file.
        #[arg(long)]
        chain: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContractCommand {
    /// The contract versions a peer holds, with status and approvals (PolicyNodeStorage; offline).
    List {
        /// The peer's folder.
        #[arg(long)]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Parse and check contract files; exit 0 when every one is valid.
    Validate {
        /// Contract YAML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a contract against a history (YAML events), or against a real
    /// ledger with --against to list past jobs it would decide differently.
    Simulate {
        /// The contract YAML.
        contract: PathBuf,
        /// The history file (see contracts/README.md).
        #[arg(long, required_unless_present = "against")]
        events: Option<PathBuf>,
        /// A peer's data folder whose ledger to replay.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Signing, verification, durable append, full verify and proofs.
    Ledger {
        /// Print JSON only.
        #[arg(long)]
        json: bool,
        /// Txs per measurement.
        #[arg(long, default_value_t = 51_200)]
        txs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Committed tx/s and latency through real hub processes over libp2p.
    Commit {
        /// Hub processes.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Concurrent submitters.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Txs to commit.
        #[arg(long, default_value_t = 100_000)]
        txs: usize,
        /// Txs per submit request.
        #[arg(long, default_value_t = 32)]
        per_request: usize,
        /// Open-loop rate for the latency measurement (tx/s); 0 skips it.
        #[arg(long, default_value_t = 2_000)]
        offered: u64,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Commit → applied on every station node (gossip), and a stopped node's
    /// catch-up, through real hub and station processes.
    Gossip {
        /// Hub processes.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Station node processes.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// Offered load (tx/s, one tx per submission).
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Blocks committed while one node is stopped (0 skips the catch-up).
        #[arg(long, default_value_t = 10_000)]
        catch_up_blocks: u64,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// SMART-API over HTTPS (3 hubs and the gateway as processes): status
    /// GETs per second, and server-sent-event fan-out latency.
    Gateway {
        /// Kept-alive HTTPS connections for the GETs.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds of GETs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Event-stream subscribers.
        #[arg(long, default_value_t = 1000)]
        sse_clients: usize,
        /// Status changes committed while they listen.
        #[arg(long, default_value_t = 20)]
        updates: usize,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Every benchmark (ledger, vm, commit, gossip, gateway; optionally the
    /// chaos suite), each as its own process; BENCHMARKS.md-ready tables
    /// with the machine noted.
    All {
        /// Shorter runs (a smoke test of the whole set).
        #[arg(long)]
        quick: bool,
        /// Also run every chaos scenario this many times.
        #[arg(long, default_value_t = 0)]
        chaos_runs: u32,
        /// Print every result as one JSON document.
        #[arg(long)]
        json: bool,
        /// Write the Markdown tables to this file (default: stdout unless --json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A station's specialists on one core: QR from a camera frame, the
    /// Gatekeeper judging a step, the kiosk's screen (JSON, medians in ms).
    Station {
        /// Finished jobs in the station's state.
        #[arg(long, default_value_t = 2_000)]
        jobs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Exporting and verifying a job's audit pack (JSON, medians in ms).
    Audit {
        /// Txs of the job in the pack (each block also holds as many unrelated txs).
        #[arg(long, default_value_t = 10_000)]
        txs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Contract VM apply throughput on the SmartClientPO example (one core).
    Vm {
        /// Jobs per run (each is a full PO history).
        #[arg(long, default_value_t = 2_000)]
        jobs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Entry point of the `smart` binary.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMART_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { out } => crate::init::keygen(&out),
        Command::Init {
            dir,
            hubs,
            nodes,
            chain_name,
        } => crate::init::init(&dir, hubs, nodes, &chain_name),
        Command::Ledger(cmd) => crate::ledger_cmd::run(cmd),
        Command::Proof(cmd) => crate::ledger_cmd::run_proof(cmd),
        Command::Audit(AuditCommand::Export {
            data,
            job,
            out,
            metrics,
        }) => crate::audit_cmd::export(&data, &job, &out, metrics),
        Command::Audit(AuditCommand::Verify {
            file,
            genesis,
            json,
        }) => crate::audit_cmd::verify(&file, &genesis, json),
        Command::Bench(BenchCommand::Ledger { json, txs, runs }) => {
            crate::bench::ledger(json, txs, runs)
        }
        Command::Bench(BenchCommand::Vm { jobs, runs }) => crate::bench::vm(jobs, runs),
        Command::Bench(BenchCommand::Station { jobs, runs }) => crate::bench::station(jobs, runs),
        Command::Bench(BenchCommand::Audit { txs, runs }) => crate::bench::audit(txs, runs),
        Command::Bench(BenchCommand::All {
            quick,
            chaos_runs,
            json,
            out,
        }) => crate::bench::all(quick, chaos_runs, json, out.as_deref()),
        Command::Bench(BenchCommand::Commit {
            hubs,
            clients,
            txs,
            per_request,
            offered,
            json,
        }) => runtime().and_then(|rt| {
            rt.block_on(crate::bench::commit(
                hubs,
                clients,
                txs,
                per_request,
                offered,
                json,
            ))
        }),
        Command::Bench(BenchCommand::Gossip {
            hubs,
            nodes,
            rate,
            seconds,
            catch_up_blocks,
            json,
        }) => runtime().and_then(|rt| {
            rt.block_on(crate::bench::gossip(
                hubs,
                nodes,
                rate,
                seconds,
                catch_up_blocks,
                json,
            ))
        }),
        Command::Bench(BenchCommand::Gateway {
            connections,
            seconds,
            sse_clients,
            updates,
            json,
        }) => runtime().and_then(|rt| {
            rt.block_on(crate::bench::gateway(
                connections,
                seconds,
                sse_clients,
                updates,
                json,
            ))
        }),
        Command::Contract(cmd) => crate::contract_cmd::run(cmd),
        Command::Demo { dir, txs } => crate::testnet_cmd::demo(dir, txs),
        Command::Testnet(TestnetCommand::Compose {
            out,
            hubs,
            nodes,
            check,
        }) => crate::testnet_cmd::compose(&out, hubs, nodes, check),
        Command::Testnet(TestnetCommand::Demo {
            dir,
            peers,
            gateway,
        }) => crate::testnet_cmd::remote_demo(&dir, &peers, gateway),
        Command::Testnet(TestnetCommand::Chaos {
            scenarios,
            runs,
            nodes,
            workers,
            offline_for,
            json,
        }) => crate::chaos::run(crate::chaos::ChaosOptions {
            scenarios: if scenarios.is_empty() {
                crate::chaos::Scenario::ALL.to_vec()
            } else {
                scenarios
            },
            runs,
            nodes,
            workers: workers.max(1),
            offline_for,
            json,
        }),
        Command::Testnet(TestnetCommand::Up {
            hubs,
            nodes,
            dir,
            demo,
            records,
            run_for,
            api_rate,
        }) => crate::testnet_cmd::up(crate::testnet_cmd::UpOptions {
            shape: crate::localnet::Shape {
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
        Command::Run {
            data,
            listen,
            mut bootstrap,
            named_peers,
            metrics,
            https,
            tls_cert,
            tls_key,
            api_rate,
            snapshot_gap,
            equipment,
            logistics,
            kiosk,
        } => runtime().and_then(|rt| {
            let genesis = crate::folders::PeerFolder::new(&data).genesis()?;
            bootstrap.extend(crate::run::named_peers(&genesis, &named_peers)?);
            rt.block_on(crate::run::run(crate::run::RunOptions {
                data,
                listen,
                bootstrap,
                config: Default::default(),
                metrics,
                https,
                tls: tls_cert.zip(tls_key),
                api_rate,
                snapshot_gap,
                equipment,
                logistics,
                kiosk,
            }))
            .map(|()| ExitCode::SUCCESS)
        }),
        Command::Station { data, json, action } => crate::station_cmd::station(&data, json, action),
        Command::Modules {
            data,
            metrics,
            json,
        } => crate::hub_cmd::is_hub(&data).and_then(|hub| {
            if hub {
                crate::hub_cmd::modules(&data, metrics, json)
            } else {
                crate::station_cmd::modules(&data, json)
            }
        }),
        Command::Advise {
            data,
            metrics,
            record,
            key,
            json,
        } => crate::hub_cmd::advise(&data, metrics, record.zip(key), json),
        Command::Ask {
            data,
            metrics,
            question,
        } => crate::hub_cmd::is_hub(&data).and_then(|hub| {
            if hub {
                crate::hub_cmd::ask(&data, &question, metrics)
            } else {
                crate::station_cmd::ask(&data, &question)
            }
        }),
        Command::Pay(PayCommand::Export { data, out, metrics }) => {
            crate::hub_cmd::pay_export(&data, &out, metrics)
        }
        Command::Backup { data, out, metrics } => crate::backup::backup(&data, &out, metrics),
        Command::Restore { from, data, key } => {
            crate::backup::restore(&from, &data, key.as_deref())
        }
        Command::Health { metrics } => runtime().and_then(|rt| {
            let (code, body) = rt.block_on(smart_testnet::status::http_get(
                metrics,
                "/health",
                std::time::Duration::from_secs(3),
            ))?;
            println!("{code} {}", String::from_utf8_lossy(&body).trim());
            Ok(if code == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Command::Id(cmd) => runtime().and_then(|rt| rt.block_on(crate::id_cmd::id(cmd))),
        Command::Token(cmd) => runtime().and_then(|rt| rt.block_on(crate::id_cmd::token(cmd))),
        Command::Admin(cmd) => crate::admin_cmd::run(cmd),
        Command::Maintenance(cmd) => crate::maintenance_cmd::run(cmd),
        Command::Client(cmd) => crate::client_cmd::client(cmd),
        Command::Project(cmd) => crate::client_cmd::project(cmd),
        Command::Education(cmd) => {
            runtime().and_then(|rt| rt.block_on(crate::id_cmd::education(cmd)))
        }
        Command::Submit { to, key, tx } => {
            runtime().and_then(|rt| rt.block_on(crate::submit::submit(to, &key, &tx)))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
