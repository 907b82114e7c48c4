//! `smart run`: starts the peer its folder holds, in the role the genesis
//! gives its key (a key the genesis does not name joins as a hub).

use anyhow::Result;
use smart_ledger::{Keypair, PeerRole};

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
