//! Which peers a testnet has and where each listens: decided once, when the
//! network folder is made, and kept in `testnet.json` so a restarted peer (or
//! a restarted network) comes back on the same addresses its peers know.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TestnetError;

/// What a peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// A Raft member that orders the ledger.
    Hub,
    /// A test station's node, following the hubs by gossip.
    Station,
    /// The gateway: a following replica that serves SMART-API over HTTPS.
    Gateway,
}

/// One peer of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSpec {
    /// Folder name under the network folder (`vault-hub`, `station-3`, ...).
    pub name: String,
    /// What it does.
    pub kind: PeerKind,
    /// libp2p TCP port on 127.0.0.1.
    pub p2p_port: u16,
    /// `/metrics`, `/health`, `/status` and the staff dashboard.
    pub metrics_port: u16,
    /// The gateway's public HTTPS port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}

/// Every peer of a network folder, in start order (hubs first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The peers.
    pub peers: Vec<PeerSpec>,
}

impl Layout {
    /// The file in the network folder that holds the layout.
    pub const FILE_NAME: &'static str = "testnet.json";

    /// A layout for `peers` (name, kind) with free 127.0.0.1 ports.
    ///
    /// The ports are kept for the life of the folder, so they are chosen
    /// below the kernel's ephemeral range when it leaves room: a port from
    /// that range could be taken by some outgoing connection by the time a
    /// peer restarts.
    pub fn allocate(peers: &[(String, PeerKind)]) -> Result<Layout, TestnetError> {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| {
                t.split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
            })
            .unwrap_or(32768);
        const LOWEST: u16 = 10_000;
        let span = ephemeral_low.saturating_sub(LOWEST);
        // Start somewhere different each time, so networks made side by side rarely meet.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id().wrapping_mul(2_654_435_761);
        let mut next = if span > 1000 {
            (seed % span as u32) as u16
        } else {
            0
        };
        // Keep every listener open until all are chosen so no port repeats.
        let mut held = Vec::new();
        let mut port = || -> Result<u16, TestnetError> {
            if span > 1000 {
                for _ in 0..span {
                    let p = LOWEST + next % span;
                    next = next.wrapping_add(1) % span;
                    if let Ok(l) = TcpListener::bind(("127.0.0.1", p)) {
                        held.push(l);
                        return Ok(p);
                    }
                }
            }
            let l = TcpListener::bind("127.0.0.1:0").map_err(TestnetError::Ports)?;
            let p = l.local_addr().map_err(TestnetError::Ports)?.port();
            held.push(l);
            Ok(p)
        };
        let mut out = Vec::new();
        for (name, kind) in peers {
            out.push(PeerSpec {
                name: name.clone(),
                kind: *kind,
                p2p_port: port()?,
                metrics_port: port()?,
                https_port: match kind {
                    PeerKind::Gateway => Some(port()?),
                    _ => None,
                },
            });
        }
        Ok(Layout { peers: out })
    }

    /// The layout file of network folder `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(Self::FILE_NAME)
    }

    /// Reads `dir/testnet.json`; `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Layout>, TestnetError> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| TestnetError::Layout(path, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TestnetError::Io(path, e)),
        }
    }

    /// Writes `dir/testnet.json`.
    pub fn save(&self, dir: &Path) -> Result<(), TestnetError> {
        let path = Self::path(dir);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TestnetError::Layout(path.clone(), e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| TestnetError::Io(path, e))
    }

    /// The peer named `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerSpec> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Names of the peers of one kind, in order.
    pub fn names(&self, kind: PeerKind) -> Vec<String> {
        self.peers
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_the_layout_round_trips() {
        let peers = vec![
            ("hub-a".to_string(), PeerKind::Hub),
            ("station-1".to_string(), PeerKind::Station),
            ("gateway".to_string(), PeerKind::Gateway),
        ];
        let layout = Layout::allocate(&peers).expect("ports");
        let mut ports: Vec<u16> = layout
            .peers
            .iter()
            .flat_map(|p| [Some(p.p2p_port), Some(p.metrics_port), p.https_port])
            .flatten()
            .collect();
        assert_eq!(ports.len(), 7);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 7, "a port was handed out twice");
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Layout::load(dir.path()).expect("load"), None);
        layout.save(dir.path()).expect("save");
        assert_eq!(Layout::load(dir.path()).expect("load"), Some(layout));
        std::fs::write(Layout::path(dir.path()), b"{\"peers\": 3}").expect("write");
        let err = Layout::load(dir.path()).expect_err("bad layout");
        assert!(err.to_string().contains("testnet.json"), "{err}");
    }
}
