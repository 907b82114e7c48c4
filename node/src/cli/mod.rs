//! The command line.

pub mod admin;
pub mod audit;
pub mod bench;
pub mod client;
pub mod contract;
pub mod hub;
pub mod id;
pub mod ledger;
pub mod maintenance;
mod out;
mod run;
mod runtime;
pub mod state;
pub mod station;
pub mod submit;
pub mod testnet;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::audit::AuditCommand;
use self::bench::BenchCommand;
use self::contract::ContractCommand;
use self::hub::PayCommand;
use self::ledger::{LedgerCommand, ProofCommand};
use self::runtime::runtime;
use self::testnet::TestnetCommand;

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
    /// Offline proof checks (tx proofs and state proofs).
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Prove records of the contract state.
    #[command(subcommand)]
    State(self::state::StateCommand),
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
    Run(crate::cli::run::RunArgs),
    /// A station's actions, as at its kiosk (the node must be running).
    Station {
        /// The station's folder.
        #[arg(long)]
        data: PathBuf,
        /// Print the kiosk's answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: crate::cli::station::StationAction,
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
    Id(crate::cli::id::IdCommand),
    /// TokenAccessLayer: issue and revoke tokens (signed and submitted to a
    /// hub; exit 1 when the VM refuses).
    #[command(subcommand)]
    Token(crate::cli::id::TokenCommand),
    /// SMART-Admin (Create-Deploy-Release): bundle contracts, propose them,
    /// approve them per governance role, and watch them become active on
    /// any peer (stations receive them with the blocks they follow).
    #[command(subcommand)]
    Admin(crate::cli::admin::AdminCommand),
    /// CertifiedPeople / Education: record training, experience hours,
    /// examinations and vision tests; the certification framework (NAS 410
    /// shape) issues, renews and revokes Certified, Training and Safety
    /// tokens as records arrive (exit 1 when the VM refuses).
    #[command(subcommand)]
    Education(crate::cli::id::EducationCommand),
    /// MaintenanceHub: plan equipment maintenance by usage, and open service
    /// jobs for what is due (InventoryHub's orders: `smart ask "what should
    /// we order"`, recorded by `smart advise --record`).
    #[command(subcommand)]
    Maintenance(crate::cli::maintenance::MaintenanceCommand),
    /// ClientManager: client accounts and their gateway credentials.
    #[command(subcommand)]
    Client(crate::cli::client::ClientCommand),
    /// Projects: a client's milestones over its jobs (`smart ask "what is
    /// the status of project ID"` tracks them).
    #[command(subcommand)]
    Project(crate::cli::client::ProjectCommand),
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
        Command::Keygen { out } => crate::peer::init::keygen(&out),
        Command::Init {
            dir,
            hubs,
            nodes,
            chain_name,
        } => crate::peer::init::init(&dir, hubs, nodes, &chain_name),
        Command::Ledger(cmd) => crate::cli::ledger::run(cmd),
        Command::Proof(cmd) => crate::cli::ledger::run_proof(cmd),
        Command::State(cmd) => crate::cli::state::run(cmd),
        Command::Audit(cmd) => crate::cli::audit::run(cmd),
        Command::Bench(cmd) => crate::cli::bench::run(cmd),
        Command::Contract(cmd) => crate::cli::contract::run(cmd),
        Command::Demo { dir, txs } => crate::cli::testnet::demo(dir, txs),
        Command::Testnet(cmd) => crate::cli::testnet::run(cmd),
        Command::Run(args) => crate::cli::run::start(args),
        Command::Station { data, json, action } => {
            crate::cli::station::station(&data, json, action)
        }
        Command::Modules {
            data,
            metrics,
            json,
        } => crate::cli::hub::is_hub(&data).and_then(|hub| {
            if hub {
                crate::cli::hub::modules(&data, metrics, json)
            } else {
                crate::cli::station::modules(&data, json)
            }
        }),
        Command::Advise {
            data,
            metrics,
            record,
            key,
            json,
        } => crate::cli::hub::advise(&data, metrics, record.zip(key), json),
        Command::Ask {
            data,
            metrics,
            question,
        } => crate::cli::hub::is_hub(&data).and_then(|hub| {
            if hub {
                crate::cli::hub::ask(&data, &question, metrics)
            } else {
                crate::cli::station::ask(&data, &question)
            }
        }),
        Command::Pay(cmd) => crate::cli::hub::pay(cmd),
        Command::Backup { data, out, metrics } => crate::peer::backup::backup(&data, &out, metrics),
        Command::Restore { from, data, key } => {
            crate::peer::backup::restore(&from, &data, key.as_deref())
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
        Command::Id(cmd) => runtime().and_then(|rt| rt.block_on(crate::cli::id::id(cmd))),
        Command::Token(cmd) => runtime().and_then(|rt| rt.block_on(crate::cli::id::token(cmd))),
        Command::Admin(cmd) => crate::cli::admin::run(cmd),
        Command::Maintenance(cmd) => crate::cli::maintenance::run(cmd),
        Command::Client(cmd) => crate::cli::client::client(cmd),
        Command::Project(cmd) => crate::cli::client::project(cmd),
        Command::Education(cmd) => {
            runtime().and_then(|rt| rt.block_on(crate::cli::id::education(cmd)))
        }
        Command::Submit { to, key, tx } => {
            runtime().and_then(|rt| rt.block_on(crate::cli::submit::submit(to, &key, &tx)))
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
