//! `smart keygen` and `smart init`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use smart_ledger::{Genesis, GenesisMember, GenesisPeer, Keypair, PeerRole, Role, Timestamp};

use crate::peer::folders::{GENESIS_FILE, PEER_KEY_FILE, PEOPLE_DIR};

pub(crate) fn keygen(out: &Path) -> Result<ExitCode> {
    let key = Keypair::generate()?;
    key.write_file(out)?;
    println!("{}", key.id());
    Ok(ExitCode::SUCCESS)
}

/// The names of the first hubs, in the shop's words.
const HUB_NAMES: [&str; 3] = ["vault-hub", "floor-hub", "business-hub"];

/// People in a new network's genesis: one per governance role, so a contract
/// version can be approved from day one, and SMART-AI Central's advisory
/// identity (it may record suggestions and nothing else).
const PEOPLE: [(&str, Role); 5] = [
    ("admin", Role::Admin),
    ("compliance", Role::Compliance),
    ("qa", Role::Qa),
    ("project-manager", Role::ProjectManager),
    ("smart-ai", Role::Advisor),
];

pub(crate) fn hub_name(i: usize) -> String {
    HUB_NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("hub-{}", i + 1))
}

/// `smart init`: makes the network and prints what it made.
pub(crate) fn init(dir: &Path, hubs: usize, nodes: usize, chain_name: &str) -> Result<ExitCode> {
    let genesis = create(dir, hubs, nodes, chain_name)?;
    println!(
        "chain {} ({chain_name}) in {}",
        genesis.chain_id(),
        dir.display()
    );
    for p in &genesis.peers {
        let role = format!("{:?}", p.role).to_lowercase();
        println!(
            "  {role:<8} {:<14} {}  {}/",
            p.name,
            p.id,
            dir.join(&p.name).display()
        );
    }
    for m in &genesis.members {
        println!("  person   {:<14} {}  {:?}", m.name, m.id, m.roles);
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes a network's folders, keys and genesis; prints nothing.
pub fn create(dir: &Path, hubs: usize, nodes: usize, chain_name: &str) -> Result<Genesis> {
    if hubs == 0 {
        bail!("a network needs at least one hub");
    }
    if dir.join(GENESIS_FILE).exists() {
        bail!(
            "{} already holds a network (genesis.json exists); choose another --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join(PEOPLE_DIR))
        .with_context(|| format!("creating {}", dir.display()))?;

    let mut peers: Vec<(String, PeerRole)> =
        (0..hubs).map(|i| (hub_name(i), PeerRole::Hub)).collect();
    peers.extend((1..=nodes).map(|i| (format!("station-{i}"), PeerRole::Node)));
    peers.push(("gateway".to_string(), PeerRole::Gateway));

    let mut genesis_peers = Vec::new();
    for (name, role) in &peers {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let key = Keypair::generate()?;
        key.write_file(&folder.join(PEER_KEY_FILE))?;
        if *role == PeerRole::Gateway {
            // A self-signed certificate until a real one is given (--tls-cert/--tls-key).
            let (cert, tls_key) = smart_gateway::tls::default_paths(&folder);
            smart_gateway::tls::ensure_self_signed(&cert, &tls_key, &["localhost", "127.0.0.1"])?;
        }
        genesis_peers.push(GenesisPeer {
            name: name.clone(),
            id: key.id(),
            role: *role,
        });
    }
    let mut members = Vec::new();
    for (name, role) in PEOPLE {
        let key = Keypair::generate()?;
        key.write_file(&dir.join(PEOPLE_DIR).join(format!("{name}.key")))?;
        members.push(GenesisMember {
            name: name.to_string(),
            id: key.id(),
            roles: vec![role],
        });
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let genesis = Genesis {
        chain_name: chain_name.to_string(),
        created: Timestamp(created),
        peers: genesis_peers,
        members,
    };
    genesis.validate()?;
    let json = genesis.to_json();
    std::fs::write(dir.join(GENESIS_FILE), &json)?;
    for (name, _) in &peers {
        std::fs::write(dir.join(name).join(GENESIS_FILE), &json)?;
    }

    Ok(genesis)
}
