//! The running peer processes of one network folder.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::TestnetError;
use crate::layout::{Layout, PeerKind, PeerSpec};
use crate::status::{self, PeerStatus};

/// How long a peer may take to announce its address.
const START_WITHIN: Duration = Duration::from_secs(60);
/// How long a peer may take to stop after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// One running peer process.
#[derive(Debug)]
struct Running {
    child: Child,
    paused: bool,
}

/// The peers of one network folder as processes of the `smart` binary.
///
/// Every peer logs (stdout and stderr) to `DIR/logs/NAME.log`. Dropping the
/// network kills whatever still runs; [`Network::stop_all`] stops cleanly.
#[derive(Debug)]
pub struct Network {
    dir: PathBuf,
    exe: PathBuf,
    layout: Layout,
    extra: BTreeMap<String, Vec<String>>,
    running: BTreeMap<String, Running>,
    /// Each peer's libp2p address with `/p2p/PEERID`, as it announced it.
    addrs: BTreeMap<String, String>,
    /// Peers obey their fault files (see `faults`).
    faults: bool,
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Network {
    /// A network of the peers in `layout`, whose folders are in `dir`, run
    /// with the `smart` executable `exe`. Nothing is started yet.
    pub fn new(exe: &Path, dir: &Path, layout: Layout) -> Network {
        Network {
            dir: dir.to_path_buf(),
            exe: exe.to_path_buf(),
            layout,
            extra: BTreeMap::new(),
            running: BTreeMap::new(),
            addrs: BTreeMap::new(),
            faults: false,
        }
    }

    /// Peers started from now on obey their fault files, so
    /// [`Network::partition`] can cut them apart.
    pub fn enable_faults(&mut self) {
        self.faults = true;
    }

    /// Cuts the peers in `side` off from every other peer (both ways), or
    /// with `side` empty heals every partition. Takes effect within about
    /// 200 ms; needs [`Network::enable_faults`] before the peers started.
    pub fn partition(&self, side: &[&str]) -> Result<(), TestnetError> {
        for s in side {
            self.spec(s)?;
        }
        let names: Vec<&str> = self.layout.peers.iter().map(|p| p.name.as_str()).collect();
        for name in &names {
            let cut: Vec<String> = if side.contains(name) {
                names
                    .iter()
                    .filter(|n| !side.contains(n))
                    .map(|n| n.to_string())
                    .collect()
            } else {
                side.iter().map(|n| n.to_string()).collect()
            };
            crate::Faults { cut }.write(&crate::Faults::path(&self.dir.join(name)))?;
        }
        Ok(())
    }

    /// The network folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Is `name` a peer of this network?
    pub fn is_known(&self, name: &str) -> bool {
        self.layout.peer(name).is_some()
    }

    /// Extra `smart run` arguments for peer `name` from its next start on.
    pub fn set_args(&mut self, name: &str, args: &[&str]) {
        self.extra.insert(
            name.to_string(),
            args.iter().map(|a| a.to_string()).collect(),
        );
    }

    fn spec(&self, name: &str) -> Result<&PeerSpec, TestnetError> {
        self.layout
            .peer(name)
            .ok_or_else(|| TestnetError::UnknownPeer(name.to_string()))
    }

    /// Where peer `name` writes its log.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Peer `name`'s libp2p address (with `/p2p/`), once it has announced it.
    pub fn addr(&self, name: &str) -> Option<&str> {
        self.addrs.get(name).map(String::as_str)
    }

    /// The announced addresses of the hubs.
    pub fn hub_addrs(&self) -> Vec<String> {
        self.layout
            .names(PeerKind::Hub)
            .iter()
            .filter_map(|n| self.addrs.get(n).cloned())
            .collect()
    }

    /// Peer `name`'s metrics address (`/metrics`, `/health`, `/status`, dashboard).
    pub fn metrics_addr(&self, name: &str) -> Result<SocketAddr, TestnetError> {
        Ok(SocketAddr::from((
            [127, 0, 0, 1],
            self.spec(name)?.metrics_port,
        )))
    }

    /// The gateway's HTTPS address, if the network has a gateway.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.layout
            .peers
            .iter()
            .find_map(|p| p.https_port)
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Is peer `name`'s process running (possibly paused)?
    pub fn is_running(&self, name: &str) -> bool {
        self.running.contains_key(name)
    }

    /// Names of the peers whose processes run and are not paused.
    pub fn live(&self) -> Vec<String> {
        self.layout
            .peers
            .iter()
            .filter(|p| self.running.get(&p.name).is_some_and(|r| !r.paused))
            .map(|p| p.name.clone())
            .collect()
    }

    /// Starts every peer that is not running: the hubs (the first genesis hub
    /// last, with every other hub's address, so it can make the first Raft
    /// membership), then stations and the gateway, following the hubs.
    pub fn start_all(&mut self) -> Result<(), TestnetError> {
        let hubs = self.layout.names(PeerKind::Hub);
        for name in hubs.iter().skip(1).chain(hubs.first()) {
            if !self.is_running(name) {
                self.start(name)?;
            }
        }
        let others: Vec<String> = self
            .layout
            .peers
            .iter()
            .filter(|p| p.kind != PeerKind::Hub)
            .map(|p| p.name.clone())
            .collect();
        for name in &others {
            if !self.is_running(name) {
                self.start(name)?;
            }
        }
        Ok(())
    }

    /// Starts peer `name` from its folder and waits until it announces its
    /// address (and, for the gateway, its HTTPS address).
    pub fn start(&mut self, name: &str) -> Result<(), TestnetError> {
        let spec = self.spec(name)?.clone();
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| TestnetError::Io(logs.clone(), e))?;
        let log_path = self.log_path(name);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TestnetError::Io(log_path.clone(), e))?;
        let stderr = log
            .try_clone()
            .map_err(|e| TestnetError::Io(log_path.clone(), e))?;

        let mut cmd = Command::new(&self.exe);
        cmd.arg("run")
            .arg("--data")
            .arg(self.dir.join(name))
            .arg("--listen")
            .arg(format!("/ip4/127.0.0.1/tcp/{}", spec.p2p_port))
            .arg("--metrics")
            .arg(format!("127.0.0.1:{}", spec.metrics_port));
        if let Some(port) = spec.https_port {
            cmd.arg("--https").arg(format!("127.0.0.1:{port}"));
        }
        let bootstrap: Vec<String> = self
            .hub_addrs()
            .into_iter()
            .filter(|a| Some(a.as_str()) != self.addr(name))
            .collect();
        if !bootstrap.is_empty() {
            cmd.arg("--bootstrap").args(&bootstrap);
        }
        if let Some(extra) = self.extra.get(name) {
            cmd.args(extra);
        }
        if self.faults {
            cmd.env(
                crate::FAULT_FILE_ENV,
                crate::Faults::path(&self.dir.join(name)),
            );
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| TestnetError::Spawn(name.to_string(), e))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestnetError::NotStarted(
                name.to_string(),
                "no stdout".into(),
                log_path,
            ));
        };
        // A thread copies the peer's stdout into its log and hands the first
        // lines over until the peer has said what we wait for.
        let (lines_tx, lines) = mpsc::channel::<String>();
        let mut copy = log;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(copy, "{line}");
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + START_WITHIN;
        let mut addr = None;
        let mut https = spec.https_port.is_none();
        while addr.is_none() || !https {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening ") {
                        addr = Some(a.trim().to_string());
                    }
                    https |= line.starts_with("https ");
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let why = match e {
                        mpsc::RecvTimeoutError::Timeout => {
                            format!("nothing within {START_WITHIN:?}")
                        }
                        mpsc::RecvTimeoutError::Disconnected => "it exited".to_string(),
                    };
                    return Err(TestnetError::NotStarted(name.to_string(), why, log_path));
                }
            }
        }
        if let Some(a) = addr {
            self.addrs.insert(name.to_string(), a);
        }
        self.running.insert(
            name.to_string(),
            Running {
                child,
                paused: false,
            },
        );
        tracing::info!(peer = name, "started");
        Ok(())
    }

    /// Stops peer `name` with SIGTERM (killing it if it does not stop in time).
    pub fn stop(&mut self, name: &str) {
        if let Some(mut r) = self.running.remove(name) {
            if r.paused {
                signal(&r.child, "-CONT");
            }
            signal(&r.child, "-TERM");
            let deadline = Instant::now() + STOP_WITHIN;
            loop {
                match r.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        tracing::warn!(peer = name, "did not stop after SIGTERM; killed");
                        let _ = r.child.kill();
                        let _ = r.child.wait();
                        break;
                    }
                }
            }
        }
    }

    /// Kills peer `name` with SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self, name: &str) {
        if let Some(mut r) = self.running.remove(name) {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    /// Freezes peer `name` (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn pause(&mut self, name: &str) {
        if let Some(r) = self.running.get_mut(name)
            && !r.paused
        {
            signal(&r.child, "-STOP");
            r.paused = true;
        }
    }

    /// Lets a paused peer go on (SIGCONT).
    pub fn resume(&mut self, name: &str) {
        if let Some(r) = self.running.get_mut(name)
            && r.paused
        {
            signal(&r.child, "-CONT");
            r.paused = false;
        }
    }

    /// Stops every peer: stations and the gateway first, then the hubs, all
    /// with SIGTERM at once.
    pub fn stop_all(&mut self) {
        for r in self.running.values_mut() {
            if r.paused {
                signal(&r.child, "-CONT");
                r.paused = false;
            }
        }
        let order: Vec<String> = self
            .layout
            .peers
            .iter()
            .rev()
            .map(|p| p.name.clone())
            .collect();
        for name in &order {
            if let Some(r) = self.running.get(name) {
                signal(&r.child, "-TERM");
            }
        }
        for name in &order {
            self.stop(name);
        }
    }

    /// Reads peer `name`'s `/status`.
    pub async fn status(&self, name: &str) -> Result<PeerStatus, TestnetError> {
        let addr = self.metrics_addr(name)?;
        status::fetch(addr)
            .await
            .map_err(|e| TestnetError::Timeout(format!("{name}: {e}")))
    }

    /// Waits until a running hub leads; returns its name.
    pub async fn wait_leader(&self, within: Duration) -> Result<String, TestnetError> {
        let deadline = Instant::now() + within;
        loop {
            for name in self.layout.names(PeerKind::Hub) {
                if self.live().contains(&name)
                    && let Ok(s) = self.status(&name).await
                    && s.leader
                {
                    return Ok(name);
                }
            }
            if Instant::now() > deadline {
                return Err(TestnetError::Timeout(format!(
                    "no hub became leader within {within:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every live peer has one tip (same height and header hash)
    /// and every live hub's certificates are final up to it; returns it.
    pub async fn wait_converged(&self, within: Duration) -> Result<PeerStatus, TestnetError> {
        let deadline = Instant::now() + within;
        loop {
            let mut statuses = Vec::new();
            for name in self.live() {
                match self.status(&name).await {
                    Ok(s) => statuses.push((name, s)),
                    Err(e) => statuses.push((
                        name,
                        PeerStatus {
                            name: e.to_string(),
                            ..Default::default()
                        },
                    )),
                }
            }
            let same = statuses
                .windows(2)
                .all(|w| w[0].1.height == w[1].1.height && w[0].1.tip == w[1].1.tip);
            let certified = statuses.iter().all(|(name, s)| {
                self.layout.peer(name).map(|p| p.kind) != Some(PeerKind::Hub)
                    || s.certified == s.height
            });
            if same && certified && !statuses.is_empty() && statuses[0].1.height > 0 {
                return Ok(statuses.swap_remove(0).1);
            }
            if Instant::now() > deadline {
                let seen: Vec<String> = statuses
                    .iter()
                    .map(|(n, s)| format!("{n} at {} (certified {})", s.height, s.certified))
                    .collect();
                return Err(TestnetError::Timeout(format!(
                    "peers did not converge within {within:?}: {}",
                    seen.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for r in self.running.values_mut() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}
