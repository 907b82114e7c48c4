//! Helpers for tests that drive the real `smart` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use libp2p::Multiaddr;
use smart_consensus::TxVerdict;
use smart_contracts::action::Action;
use smart_ledger::{Bytes, Hash, Keypair, Outcome, SignedTx, Timestamp, TxBody};
use smart_node::p2p::client::Client;

pub fn smart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smart"))
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = smart().args(args).output().expect("run smart");
    assert!(
        out.status.success(),
        "smart {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `smart ARGS`; returns (exit code, stdout + stderr).
pub fn run(args: &[&str]) -> (i32, String) {
    let out = smart().args(args).output().expect("run smart");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `smart init` into `root/net` with 3 hubs and `nodes` nodes; returns the
/// network folder.
pub fn init_network(root: &Path, nodes: usize) -> PathBuf {
    let dir = root.join("net");
    run_ok(&[
        "init",
        "--dir",
        s(&dir),
        "--hubs",
        "3",
        "--nodes",
        &nodes.to_string(),
    ]);
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `smart ledger verify --json` and returns (exit code, parsed JSON).
pub fn verify_json(data: &Path) -> (i32, serde_json::Value) {
    let out = smart()
        .args(["ledger", "verify", "--json", "--data", s(data)])
        .output()
        .expect("run verify");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// A `smart` process that is stopped (SIGINT, then SIGKILL after 30 s) if
/// the test panics before it ends, so no network outlives a failed test.
pub struct Running(Option<std::process::Child>);

impl Running {
    pub fn new(child: std::process::Child) -> Running {
        Running(Some(child))
    }

    pub fn pid(&self) -> String {
        self.0
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    pub fn interrupt(&self) {
        let _ = Command::new("kill").args(["-INT", &self.pid()]).status();
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.take().expect("running").wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `smart ARGS` with its stdout piped (stderr dropped): the process,
/// stopped if the test fails, and a reader of its stdout.
pub fn spawn_smart(args: &[&str]) -> (Running, std::io::BufReader<std::process::ChildStdout>) {
    let mut child = smart()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smart");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    (Running::new(child), out)
}

/// Kills its processes when dropped.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `smart run` on `folder`; returns the child and its stdout lines
/// reader (first line: `listening ADDR`).
pub fn spawn(
    folder: &Path,
    extra: &[String],
) -> (Child, BufReader<std::process::ChildStdout>, Multiaddr) {
    let mut child = smart()
        .args([
            "run",
            "--data",
            s(folder),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn peer");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("listening line");
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening")
        .parse()
        .expect("multiaddr");
    (child, reader, addr)
}

pub struct Shop {
    pub dir: PathBuf,
    pub hub: Client,
    pub chain: Hash,
    pub nonce: u64,
}

impl Shop {
    pub fn key(&self, who: &str) -> Keypair {
        Keypair::read_file(&self.dir.join(format!("people/{who}.key"))).expect("key")
    }

    pub async fn act_as(&mut self, key: &Keypair, action: Action) -> Outcome {
        self.submit_as(key, action.kind(), action.encode()).await
    }

    /// Signs a tx of `kind` with `payload` as `key`; waits for its outcome.
    pub async fn submit_as(
        &mut self,
        key: &Keypair,
        kind: smart_ledger::TxKind,
        payload: Vec<u8>,
    ) -> Outcome {
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain,
            author: key.id(),
            kind,
            payload: Bytes(payload),
            author_time: Timestamp(self.nonce),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        let tx = SignedTx::sign(body, key).expect("sign");
        let r = self
            .hub
            .submit(vec![Bytes(tx.encode())])
            .await
            .expect("submit");
        match &r[0].verdict {
            TxVerdict::Included { outcome, .. } => outcome.clone(),
            other => panic!("not included: {other:?}"),
        }
    }

    /// Proposes `yaml` as the admin and approves it in the four governance
    /// roles of `smart init`'s people: it is active.
    pub async fn activate(&mut self, yaml: &str) {
        let c = smart_contracts::parse_contract("test", yaml).expect("valid contract");
        self.act("admin", Action::ProposeContract { yaml: yaml.into() })
            .await;
        for (who, role) in [
            ("admin", smart_ledger::Role::Admin),
            ("compliance", smart_ledger::Role::Compliance),
            ("qa", smart_ledger::Role::Qa),
            ("project-manager", smart_ledger::Role::ProjectManager),
        ] {
            self.act(
                who,
                Action::ApproveContract {
                    id: c.id.clone(),
                    version: c.version,
                    role,
                },
            )
            .await;
        }
    }

    pub async fn act(&mut self, who: &str, action: Action) {
        let key = self.key(who);
        let outcome = self.act_as(&key, action.clone()).await;
        assert_eq!(outcome, Outcome::Accepted, "{who}: {action:?}");
    }
}

/// Three hub processes on 127.0.0.1 with a leader: the vault hub serves
/// metrics (for commands that read a running hub's ledger) and the test
/// talks to it as the people of `smart init`.
pub struct HubNet {
    /// The network folder (peer folders, `people/`).
    pub dir: PathBuf,
    /// The hub processes, killed on drop.
    pub procs: Procs,
    /// The vault hub's libp2p address.
    pub vault: Multiaddr,
    /// Every hub's libp2p address (vault, floor, business).
    pub hubs: Vec<Multiaddr>,
    /// The vault hub's metrics address (`127.0.0.1:PORT`).
    pub metrics: String,
    /// A client of the vault hub, signing as the people.
    pub shop: Shop,
}

impl HubNet {
    pub async fn start(root: &Path) -> HubNet {
        let dir = init_network(root, 1);
        let mut procs = Procs(Vec::new());
        let (c1, _r1, a1) = spawn(&dir.join("floor-hub"), &[]);
        let (c2, _r2, a2) = spawn(&dir.join("business-hub"), &[]);
        let (c0, mut r0, vault) = spawn(
            &dir.join("vault-hub"),
            &[
                "--metrics".into(),
                "127.0.0.1:0".into(),
                "--bootstrap".into(),
                a1.to_string(),
                a2.to_string(),
            ],
        );
        procs.0.extend([c1, c2, c0]);
        let hubs = vec![vault.clone(), a1, a2];
        let mut line = String::new();
        r0.read_line(&mut line).expect("metrics line");
        let metrics = line
            .trim()
            .strip_prefix("metrics http://")
            .and_then(|a| a.strip_suffix("/metrics"))
            .expect("metrics address")
            .to_string();
        let admin = Keypair::read_file(&dir.join("people/admin.key")).expect("admin");
        let hub = Client::connect(&admin, vault.clone())
            .await
            .expect("connect");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !hub.status().await.is_ok_and(|s| s.leader.is_some()) {
            assert!(std::time::Instant::now() < deadline, "no leader");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let chain = hub.status().await.expect("status").chain_id;
        let shop = Shop {
            dir: dir.clone(),
            hub,
            chain,
            nonce: 0,
        };
        HubNet {
            dir,
            procs,
            vault,
            hubs,
            metrics,
            shop,
        }
    }

    /// Starts the station `name` of the network (its kiosk on a free
    /// loopback port), following the hubs; it stops with the network.
    pub fn start_station(&mut self, name: &str) -> PathBuf {
        let folder = self.dir.join(name);
        let mut extra = vec!["--bootstrap".to_string()];
        extra.extend(self.hubs.iter().map(|a| a.to_string()));
        let (child, _reader, _addr) = spawn(&folder, &extra);
        self.procs.0.push(child);
        folder
    }
}
