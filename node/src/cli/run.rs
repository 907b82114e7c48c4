//! `smart run`: starts the peer its folder holds, in the role the genesis
//! gives its key (a key the genesis does not name joins as a hub).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use smart_ledger::{Keypair, PeerRole};

use crate::cli::runtime::runtime;
use crate::peer::folders::{PEER_KEY_FILE, PeerFolder};
use crate::peer::options::RunOptions;

/// Runs the peer in `opts.data` until SIGINT/SIGTERM.
pub(crate) async fn run(opts: RunOptions) -> Result<()> {
    let folder = PeerFolder::new(&opts.data);
    let genesis = folder.genesis()?;
    let key = Keypair::read_file(&opts.data.join(PEER_KEY_FILE))?;
    let me = key.id();
    // A key that is not in the genesis runs as a joining hub: it waits until
    // an admin's Membership tx adds it and the leader replicates to it.
    let role = genesis
        .peers
        .iter()
        .find(|p| p.id == me)
        .map(|p| p.role)
        .unwrap_or(PeerRole::Hub);
    match role {
        PeerRole::Node => crate::station::run::run(&opts, key, genesis).await,
        PeerRole::Gateway => {
            let (cert, tls_key) = match &opts.tls {
                Some(pair) => pair.clone(),
                None => {
                    let (c, k) = smart_gateway::tls::default_paths(&opts.data);
                    if smart_gateway::tls::ensure_self_signed(&c, &k, &["localhost", "127.0.0.1"])?
                    {
                        tracing::info!(cert = %c.display(), "made a self-signed TLS certificate");
                    }
                    (c, k)
                }
            };
            let gateway = crate::gateway::GatewayOptions {
                https: opts.https,
                cert,
                key: tls_key,
                rate: opts.api_rate,
            };
            crate::gateway::run(&opts, key, genesis, gateway).await
        }
        PeerRole::Hub => crate::hub::run(opts, key, genesis).await,
    }
}

/// `smart run`: the options of a peer, by role.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The peer's folder (made by `smart init`).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: libp2p::Multiaddr,
    /// Other peers' addresses, ending in /p2p/PEERID (the first hub needs every hub's).
    #[arg(long, num_args = 0..)]
    pub bootstrap: Vec<libp2p::Multiaddr>,
    /// A genesis peer by name and address, e.g. `vault-hub@/ip4/10.77.0.11/tcp/7000`:
    /// its /p2p/ id is read from the genesis (repeatable; for fixed layouts
    /// such as docker compose).
    #[arg(long = "peer", value_name = "NAME@MULTIADDR")]
    pub named_peers: Vec<String>,
    /// Serve /metrics and /health on this address (e.g. 127.0.0.1:9100).
    #[arg(long)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Gateway only: the public HTTPS address of SMART-API.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub https: std::net::SocketAddr,
    /// Gateway only: TLS certificate (PEM); default: the folder's self-signed one.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Gateway only: TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Gateway only: requests per second per client credential (bursts of twice that).
    #[arg(long, default_value_t = 200)]
    pub api_rate: u32,
    /// Nodes: when this many blocks behind, install a certified state
    /// snapshot first, then fetch and check the blocks behind it.
    #[arg(long, default_value_t = crate::peer::replica::SNAPSHOT_GAP)]
    pub snapshot_gap: u64,
    /// Nodes: the most actions the outbox holds while no hub takes them;
    /// when it is full the station refuses new actions and says so.
    #[arg(long, default_value_t = crate::peer::outbox::DEFAULT_LIMIT)]
    pub outbox_limit: u64,
    /// Nodes: equipment this station drives, comma-separated; the first is
    /// its interlock (default: the station's name).
    #[arg(long, value_delimiter = ',')]
    pub equipment: Vec<String>,
    /// Nodes: this station receives and ships parts (LogisticsNode).
    #[arg(long)]
    pub logistics: bool,
    /// Nodes: the kiosk (station screen and `smart station` API), loopback only;
    /// its address is written to `kiosk.addr` in the folder.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub kiosk: std::net::SocketAddr,
}

/// Starts the peer `args` name, with the bootstrap addresses of `--peer`
/// names read from its genesis, and runs it until SIGINT/SIGTERM.
pub(crate) fn start(args: RunArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let genesis = crate::peer::folders::PeerFolder::new(&args.data).genesis()?;
    let mut bootstrap = args.bootstrap;
    bootstrap.extend(crate::peer::network::named_peers(
        &genesis,
        &args.named_peers,
    )?);
    rt.block_on(run(RunOptions {
        data: args.data,
        listen: args.listen,
        bootstrap,
        config: Default::default(),
        metrics: args.metrics,
        https: args.https,
        tls: args.tls_cert.zip(args.tls_key),
        api_rate: args.api_rate,
        snapshot_gap: args.snapshot_gap,
        equipment: args.equipment,
        logistics: args.logistics,
        kiosk: args.kiosk,
        outbox_limit: args.outbox_limit,
    }))?;
    Ok(ExitCode::SUCCESS)
}
