//! Hubs as real processes (`smart run`) on 127.0.0.1 with real libp2p and
//! real stores in temp dirs: concurrent commits, identical verified ledgers,
//! leader SIGKILL under load, permissioning and hub-only RPCs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use libp2p::Multiaddr;
use smart_consensus::{TxReceipt, TxVerdict};
use smart_ledger::{Bytes, Keypair, Outcome, SignedTx, Timestamp, TxBody, TxKind};
use smart_node::p2p::client::Client;
use smart_node::p2p::{self, Request, Response};

const HUBS: [&str; 3] = ["vault-hub", "floor-hub", "business-hub"];

struct Net {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ports: Vec<u16>,
    addrs: Vec<Option<Multiaddr>>,
    metrics: Vec<Option<String>>,
    procs: Vec<Option<Child>>,
    admin: Keypair,
    chain: smart_ledger::Hash,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Net {
    fn new() -> Net {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = init_network(tmp.path(), 2);
        let admin = Keypair::read_file(&dir.join("people/admin.key")).expect("admin key");
        let genesis = smart_ledger::Genesis::from_json(
            &std::fs::read_to_string(dir.join("genesis.json")).expect("genesis"),
        )
        .expect("parse");
        let ports = (0..3).map(|_| free_port()).collect();
        Net {
            _tmp: tmp,
            dir,
            ports,
            addrs: vec![None; 3],
            metrics: vec![None; 3],
            procs: vec![None, None, None],
            admin,
            chain: genesis.chain_id(),
        }
    }

    fn spawn(&mut self, i: usize, bootstrap: &[Multiaddr]) {
        let mut cmd = smart();
        cmd.args([
            "run",
            "--data",
            s(&self.dir.join(HUBS[i])),
            "--listen",
            &format!("/ip4/127.0.0.1/tcp/{}", self.ports[i]),
            "--metrics",
            "127.0.0.1:0",
        ]);
        if !bootstrap.is_empty() {
            cmd.arg("--bootstrap");
            cmd.args(bootstrap.iter().map(|a| a.to_string()));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hub");
        let out = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        reader.read_line(&mut line).expect("listening line");
        let addr: Multiaddr = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening")
            .parse()
            .expect("multiaddr");
        self.addrs[i] = Some(addr);
        let mut line = String::new();
        reader.read_line(&mut line).expect("metrics line");
        self.metrics[i] = line
            .trim()
            .strip_prefix("metrics http://")
            .and_then(|a| a.strip_suffix("/metrics"))
            .map(str::to_string);
        self.procs[i] = Some(child);
    }

    /// Hubs 1 and 2, then hub 0 (the initialiser) with every address.
    async fn start() -> Net {
        let mut net = Net::new();
        net.spawn(1, &[]);
        net.spawn(2, &[]);
        let others: Vec<Multiaddr> = net.addrs[1..].iter().flatten().cloned().collect();
        net.spawn(0, &others);
        net.wait_leader(Duration::from_secs(15)).await;
        net
    }

    fn addr(&self, i: usize) -> Multiaddr {
        self.addrs[i].clone().expect("address")
    }

    async fn client(&self, i: usize) -> Client {
        Client::connect(&self.admin, self.addr(i))
            .await
            .expect("connect")
    }

    /// Waits until a running hub reports a leader that is running; returns its index.
    async fn wait_leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for i in (0..3).filter(|&i| self.procs[i].is_some()) {
                let Ok(c) = Client::connect(&self.admin, self.addr(i)).await else {
                    continue;
                };
                if let Ok(st) = c.status().await
                    && let Some(l) = st.leader
                    && let Some(j) =
                        (0..3).find(|&j| self.procs[j].is_some() && self.node_id(j) == l)
                {
                    return j;
                }
            }
            assert!(Instant::now() < deadline, "no leader");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn node_id(&self, i: usize) -> u64 {
        let key = Keypair::read_file(&self.dir.join(HUBS[i]).join("peer.key")).expect("key");
        smart_consensus::node_id(&key.id())
    }

    fn tx(&self, nonce: u64) -> Bytes {
        let body = TxBody {
            chain_id: self.chain,
            author: self.admin.id(),
            kind: TxKind::Alert,
            payload: Bytes(format!("station-{} door cycle {nonce}", nonce % 6).into_bytes()),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &self.admin).expect("sign").encode())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate_all(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for c in self.procs.iter_mut().flatten() {
            let _ = c.wait();
        }
        self.procs = vec![None, None, None];
    }

    /// Waits until every running hub is at one height with every certificate final.
    async fn settle(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut st = Vec::new();
            for i in (0..3).filter(|&i| self.procs[i].is_some()) {
                if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), async {
                    self.client(i).await.status().await
                })
                .await
                {
                    st.push((s.height, s.certified));
                }
            }
            if st.len() == self.procs.iter().flatten().count()
                && st.windows(2).all(|w| w[0].0 == w[1].0)
                && st.iter().all(|(h, c)| h == c)
            {
                return;
            }
            assert!(Instant::now() < deadline, "hubs did not settle: {st:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Lets the hubs settle, stops them, then checks each folder verifies
    /// and all tips agree; returns the number of txs.
    async fn verify_all(&mut self, expect_txs: u64) {
        self.settle(Duration::from_secs(20)).await;
        self.terminate_all();
        let mut tips = Vec::new();
        for h in HUBS {
            let (code, json) = verify_json(&self.dir.join(h));
            assert_eq!(code, 0, "{h}: {json}");
            assert_eq!(
                json["report"]["txs"].as_u64(),
                Some(expect_txs),
                "{h}: {json}"
            );
            tips.push(json["report"]["tip_hash"].clone());
        }
        assert!(
            tips.windows(2).all(|w| w[0] == w[1]),
            "hubs disagree: {tips:?}"
        );
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn accepted(r: &TxReceipt) -> bool {
    matches!(
        r.verdict,
        TxVerdict::Included {
            outcome: Outcome::Accepted,
            ..
        }
    )
}

/// `submitters` concurrent clients, round-robin over the running hubs, each
/// sending its share in requests of `per_request` txs.
async fn load(
    net: &Net,
    nonces: std::ops::Range<u64>,
    submitters: usize,
    per_request: usize,
) -> Vec<TxReceipt> {
    let running: Vec<usize> = (0..3).filter(|&i| net.procs[i].is_some()).collect();
    // One connection per hub (one identity), shared by the concurrent submitters.
    let mut clients = Vec::new();
    for &i in &running {
        clients.push(net.client(i).await);
    }
    let all: Vec<u64> = nonces.collect();
    let mut tasks = Vec::new();
    for (k, share) in all.chunks(all.len().div_ceil(submitters)).enumerate() {
        let client = clients[k % clients.len()].clone();
        let txs: Vec<Bytes> = share.iter().map(|&n| net.tx(n)).collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for chunk in txs.chunks(per_request) {
                out.extend(client.submit(chunk.to_vec()).await.expect("submit"));
            }
            out
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.expect("submitter"));
    }
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hub_processes_commit_ten_thousand_txs_with_identical_verified_ledgers() {
    let mut net = Net::start().await;
    let receipts = load(&net, 0..10_000, 16, 50).await;
    assert_eq!(receipts.len(), 10_000);
    let bad: Vec<_> = receipts.iter().filter(|r| !accepted(r)).collect();
    assert!(
        bad.is_empty(),
        "{} not accepted, e.g. {:?}",
        bad.len(),
        bad.first()
    );
    // Every hub serves its metrics and health.
    for i in 0..3 {
        let addr = net.metrics[i].clone().expect("metrics address");
        let metrics = http_get(&addr, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        let txs: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("smart_ledger_txs "))
            .and_then(|v| v.trim().parse().ok())
            .expect("smart_ledger_txs");
        assert!(txs > 0, "{metrics}");
        assert!(metrics.contains("smart_raft_voters 3"), "{metrics}");
        // libp2p's own metrics, in the same registry.
        assert!(
            metrics.contains("smart_libp2p_swarm_connections_established_total"),
            "{metrics}"
        );
        assert!(http_get(&addr, "/health").starts_with("HTTP/1.1 200"));
        // The staff dashboard and its data: the other hubs heard by gossip.
        assert!(http_get(&addr, "/").contains("staff dashboard"));
        let status = http_get(&addr, "/status");
        assert!(status.contains("\"peers\":[{"), "{status}");
    }
    net.verify_all(10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_load_loses_no_acknowledged_tx() {
    let mut net = Net::start().await;
    load(&net, 0..500, 4, 25).await;
    let leader = net.wait_leader(Duration::from_secs(5)).await;
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // Load on the survivors while the leader dies.
    let clients = [
        net.client(survivors[0]).await,
        net.client(survivors[1]).await,
    ];
    let txs: Vec<Bytes> = (500..1500).map(|n| net.tx(n)).collect();
    let load_task = tokio::spawn(async move {
        let mut acked = Vec::new();
        for (k, chunk) in txs.chunks(20).enumerate() {
            // In the ledger either way: newly included, or already there
            // (forwarded to the dying leader, committed, then retried).
            match clients[k % 2].submit(chunk.to_vec()).await {
                Ok(r) => acked.extend(
                    r.into_iter()
                        .filter(|r| accepted(r) || matches!(r.verdict, TxVerdict::Duplicate { .. }))
                        .map(|r| r.tx),
                ),
                Err(e) => panic!("submit: {e}"),
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probes = [
        net.client(survivors[0]).await,
        net.client(survivors[1]).await,
    ];
    let killed_at = Instant::now();
    net.kill(leader);
    // Time until a new leader has committed a tx (probing with open connections).
    let mut probe_nonce = 1_000_000u64;
    let committed_in = loop {
        probe_nonce += 1;
        let probe = net.tx(probe_nonce);
        if let Ok(r) = probes[(probe_nonce % 2) as usize].submit(vec![probe]).await
            && r.iter().all(accepted)
        {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(10),
            "no commit after the leader died"
        );
    };
    let new_leader = net.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    // The time is a figure for the benchmark notes (0.9-1.0 s here against a
    // 1.5 s goal); the assertion only catches a failover that does not happen.
    assert!(
        committed_in < Duration::from_secs(5),
        "first commit after SIGKILL took {committed_in:?}"
    );
    let acked = load_task.await.expect("load");
    assert!(!acked.is_empty());

    // Restart the old leader from disk; every acknowledged tx is in every ledger, once.
    let bootstrap: Vec<Multiaddr> = survivors.iter().map(|&i| net.addr(i)).collect();
    net.spawn(leader, &bootstrap);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unique: std::collections::BTreeSet<_> = acked.iter().collect();
    assert_eq!(unique.len(), 1000, "every tx of the load was acknowledged");
    let probes_committed = probe_nonce - 1_000_000;
    net.verify_all(1500 + probes_committed).await;
    let store =
        smart_ledger::store::RedbStore::open(&net.dir.join(HUBS[leader]).join("ledger.redb"))
            .expect("open");
    for tx in &acked {
        assert!(
            smart_ledger::store::BlockStore::locate_tx(&store, tx)
                .expect("read")
                .is_some(),
            "acknowledged tx {tx} lost"
        );
    }
    eprintln!(
        "first commit by a new leader {committed_in:?} after SIGKILL; {} txs acknowledged during the failover",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peers_cannot_connect_and_non_hubs_cannot_send_raft_rpcs() {
    let net = Net::start().await;
    // A key that is not in the ledger.
    let stranger = Keypair::from_seed([77; 32]);
    let refused = match Client::connect(&stranger, net.addr(0)).await {
        Ok(c) => c.status().await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "an unknown peer got an answer");

    // A registered person (not a hub) sending a Raft vote request.
    let (handle, _inbound, _gossip) = p2p::spawn(
        &net.admin,
        None,
        [smart_node::p2p::split_p2p(&net.addr(0)).expect("peer")],
        Duration::from_secs(5),
    )
    .await
    .expect("spawn");
    let vote = openraft::raft::VoteRequest::new(openraft::Vote::new(99, 1), None);
    let answer = handle
        .request(
            smart_node::p2p::split_p2p(&net.addr(0)).expect("peer"),
            Some(net.addr(0)),
            Request::Raft(smart_consensus::transport::RaftRpc::Vote(vote)),
        )
        .await
        .expect("answer");
    assert!(
        matches!(answer, Response::Refused(ref m) if m.contains("only hubs")),
        "{answer:?}"
    );
    // The hub is unharmed.
    let status = net.client(0).await.status().await.expect("status");
    assert_eq!(status.chain_id, net.chain);
}

#[allow(dead_code)]
fn unused(_: &Path) {}

fn scrape(metrics_addr: &str, name: &str) -> Option<u64> {
    http_get(metrics_addr, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_fourth_hub_process_and_removes_it() {
    let mut net = Net::start().await;
    load(&net, 0..200, 4, 20).await;

    // A hub whose key is not in the genesis.
    let dir = net.dir.join("hub-4");
    std::fs::create_dir_all(&dir).expect("dir");
    run_ok(&["keygen", "--out", s(&dir.join("peer.key"))]);
    std::fs::copy(net.dir.join("genesis.json"), dir.join("genesis.json")).expect("genesis");
    let key4 = Keypair::read_file(&dir.join("peer.key")).expect("key");
    let mut child = smart()
        .args([
            "run",
            "--data",
            s(&dir),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--metrics",
            "127.0.0.1:0",
            "--bootstrap",
        ])
        .arg(net.addr(0).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub-4");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("listening");
    let addr4 = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening")
        .to_string();
    line.clear();
    reader.read_line(&mut line).expect("metrics");
    let metrics4 = line
        .trim()
        .strip_prefix("metrics http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .expect("metrics")
        .to_string();

    let change = |c: smart_ledger::membership::HubChange, nonce: u64| {
        let body = TxBody {
            chain_id: net.chain,
            author: net.admin.id(),
            kind: TxKind::Membership,
            payload: Bytes(c.encode()),
            author_time: Timestamp(nonce),
            location: None,
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &net.admin).expect("sign").encode())
    };
    let client = net.client(1).await;
    let r = client
        .submit(vec![change(
            smart_ledger::membership::HubChange::Add {
                hub: key4.id(),
                addr: addr4,
            },
            50_000,
        )])
        .await
        .expect("add");
    assert!(r.iter().all(accepted), "{r:?}");
    load(&net, 200..400, 4, 20).await;

    // hub-4 becomes a voter and catches up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let height0 = client.status().await.expect("status").height;
        let voters = scrape(&metrics4, "smart_raft_voters");
        let height4 = scrape(&metrics4, "smart_ledger_height");
        if voters == Some(4) && height4 >= Some(height0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hub-4: voters {voters:?}, height {height4:?} vs {height0}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Removed again: back to three voters.
    let r = client
        .submit(vec![change(
            smart_ledger::membership::HubChange::Remove { hub: key4.id() },
            50_001,
        )])
        .await
        .expect("remove");
    assert!(r.iter().all(accepted), "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        let l = net.wait_leader(Duration::from_secs(5)).await;
        if scrape(
            net.metrics[l].as_deref().expect("metrics"),
            "smart_raft_voters",
        ) == Some(3)
        {
            break l;
        }
        assert!(Instant::now() < deadline, "still more than three voters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = leader;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    net.verify_all(402).await;
}

fn spawn_station(dir: &Path, hubs: &[Multiaddr]) -> (Child, Multiaddr) {
    let (child, addr, _) = spawn_station_with_metrics(dir, hubs);
    (child, addr)
}

/// A station process, its address and its metrics address.
fn spawn_station_with_metrics(dir: &Path, hubs: &[Multiaddr]) -> (Child, Multiaddr, String) {
    spawn_station_with(dir, hubs, &[])
}

/// A station process with extra `smart run` arguments.
fn spawn_station_with(
    dir: &Path,
    hubs: &[Multiaddr],
    extra: &[&str],
) -> (Child, Multiaddr, String) {
    let mut child = smart()
        .args([
            "run",
            "--data",
            s(dir),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .args(extra)
        .arg("--bootstrap")
        .args(hubs.iter().map(|a| a.to_string()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn station");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("listening");
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening")
        .parse()
        .expect("multiaddr");
    let mut line = String::new();
    reader.read_line(&mut line).expect("metrics");
    let metrics = line
        .trim()
        .strip_prefix("metrics http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .expect("metrics address")
        .to_string();
    (child, addr, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn station_nodes_replicate_certified_blocks_by_gossip_and_catch_up() {
    let mut net = Net::start().await;
    let hubs: Vec<Multiaddr> = (0..3).map(|i| net.addr(i)).collect();
    // station-1 follows from the start (gossip); station-2 joins late, far
    // enough behind to install a certified state snapshot first, then fills
    // in the blocks behind it (range fetch), then follows by gossip.
    let (mut s1, a1, m1) = spawn_station_with_metrics(&net.dir.join("station-1"), &hubs);
    load(&net, 0..300, 2, 5).await;
    let behind = net.client(0).await.status().await.expect("status").height;
    assert!(behind > 3, "only {behind} blocks");
    let (mut s2, a2, m2) =
        spawn_station_with(&net.dir.join("station-2"), &hubs, &["--snapshot-gap", "2"]);
    load(&net, 300..600, 4, 20).await;
    net.settle(Duration::from_secs(20)).await;
    let target = net.client(0).await.status().await.expect("status");
    for addr in [&a1, &a2] {
        let station = Client::connect(&net.admin, addr.clone())
            .await
            .expect("connect station");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = station.status().await.expect("station status");
            if st.height == target.height {
                assert_eq!(st.tip, target.tip, "station {addr} holds another chain");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "station {addr} at {} of {}",
                st.height,
                target.height
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(scrape(&m1, "smart_snapshots_installed"), Some(0));
    // At least one (a node that falls behind by more than the gap again
    // while the load goes on installs another).
    assert!(
        scrape(&m2, "smart_snapshots_installed").is_some_and(|n| n >= 1),
        "station-2 installed no state snapshot"
    );
    for m in [&m1, &m2] {
        assert_eq!(
            scrape(m, "smart_state_height"),
            scrape(m, "smart_ledger_height"),
            "{m}"
        );
    }
    for c in [&mut s1, &mut s2] {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    }
    net.verify_all(600).await;
    for st in ["station-1", "station-2"] {
        let (code, json) = verify_json(&net.dir.join(st));
        assert_eq!(code, 0, "{st}: {json}");
        assert_eq!(json["report"]["txs"].as_u64(), Some(600), "{st}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_keeps_deciding_with_every_hub_down_and_hands_off_later() {
    use smart_consensus::TxVerdict;
    use smart_contracts::action::Action;
    let mut net = Net::start().await;
    let hubs: Vec<Multiaddr> = (0..3).map(|i| net.addr(i)).collect();
    let station_dir = net.dir.join("station-1");
    let (mut station, station_addr) = spawn_station(&station_dir, &hubs);
    load(&net, 0..50, 2, 25).await;
    net.settle(Duration::from_secs(20)).await;
    let stop = |c: &mut Child| {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    };

    // While the station is away, the hubs register oven-1.
    stop(&mut station);
    let (chain, admin) = (net.chain, net.admin.clone());
    let sign = |action: &Action, nonce: u64| {
        let body = TxBody {
            chain_id: chain,
            author: admin.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(nonce),
            location: Some("station-1".into()),
            contract: None,
            nonce,
        };
        Bytes(SignedTx::sign(body, &admin).expect("sign").encode())
    };
    let oven = Action::RegisterEquipment {
        id: "oven-1".into(),
        description: "oven".into(),
        calibration_due: Timestamp(4_000_000_000_000),
    };
    let r = net
        .client(0)
        .await
        .submit(vec![sign(&oven, 70_000)])
        .await
        .expect("hub registers oven-1");
    assert!(r.iter().all(accepted));
    net.settle(Duration::from_secs(20)).await;

    // Every hub goes down. The station comes back alone and keeps deciding.
    net.terminate_all();
    let (mut station, station_addr2, station_metrics) =
        spawn_station_with_metrics(&station_dir, &hubs);
    let _ = station_addr;
    let client = Client::connect(&net.admin, station_addr2.clone())
        .await
        .expect("connect station");
    let mut offline = vec![sign(&oven, 70_001)]; // allowed here: the station never saw oven-1
    offline.extend((0..10).map(|n| net.tx(80_000 + n)));
    let receipts = client
        .submit(offline.clone())
        .await
        .expect("station decides offline");
    assert!(
        receipts.iter().all(|r| matches!(
            r.verdict,
            TxVerdict::Provisional {
                outcome: Outcome::Accepted,
                ..
            }
        )),
        "{receipts:?}"
    );
    drop(client);
    assert_eq!(scrape(&station_metrics, "smart_outbox_pending"), Some(11));
    // The outbox survives a restart of the station.
    stop(&mut station);
    let pending = smart_node::peer::outbox::Outbox::open(&station_dir)
        .expect("outbox")
        .pending()
        .expect("pending");
    assert_eq!(pending.len(), 11, "every offline decision is on disk");
    let (mut station, _) = spawn_station(&station_dir, &hubs);

    // Hubs return: the outbox is handed off, each action ordered once, and the
    // overturned decision (oven-1 already existed) is flagged.
    net.spawn(1, &[]);
    net.spawn(2, &[]);
    let others: Vec<Multiaddr> = net.addrs[1..].iter().flatten().cloned().collect();
    net.spawn(0, &others);
    net.wait_leader(Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = net.client(0).await.status().await.expect("status");
        // 50 load + 1 oven + 11 from the outbox.
        let txs_in_ledger = {
            let _ = status;
            let metrics = net.metrics[0].clone().expect("metrics");
            scrape(&metrics, "smart_ledger_txs").unwrap_or(0)
        };
        if txs_in_ledger == 62 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ledger has {txs_in_ledger} txs, expected 62"
        );
    }
    net.settle(Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop(&mut station);
    let outbox = smart_node::peer::outbox::Outbox::open(&station_dir).expect("outbox");
    assert!(
        outbox.pending().expect("pending").is_empty(),
        "the outbox was handed off"
    );
    let overturned = outbox.overturned().expect("overturned");
    assert_eq!(overturned.len(), 1, "{overturned:?}");
    assert!(
        matches!(overturned[0].ledger, Outcome::Refused { code: 23, .. }),
        "{overturned:?}"
    );
    drop(outbox);
    net.verify_all(62).await;
    let (code, json) = verify_json(&station_dir);
    assert_eq!(code, 0, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gossiping_invalid_blocks_is_cut_off() {
    let net = Net::start().await;
    let hubs: Vec<Multiaddr> = (0..3).map(|i| net.addr(i)).collect();
    let (mut station, saddr) = spawn_station(&net.dir.join("station-1"), &hubs);
    let speer = smart_node::p2p::split_p2p(&saddr).expect("peer id");
    // A registered identity (allowed to connect) that gossips garbage.
    let (handle, _inbound, _gossip) = p2p::spawn(&net.admin, None, [speer], Duration::from_secs(5))
        .await
        .expect("spawn");
    handle.dial(saddr.clone()).await;
    let first = handle
        .request(speer, Some(saddr.clone()), Request::Status)
        .await;
    assert!(matches!(first, Ok(Response::Status(_))), "{first:?}");
    // Keep gossiping garbage (each message different) until the station cuts
    // the peer off; publishing fails harmlessly until subscriptions are known.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u32;
    loop {
        i += 1;
        let mut garbage = vec![1, 9, 9, 0xff, 0xfe];
        garbage.extend_from_slice(&i.to_be_bytes());
        handle.publish(p2p::BLOCKS_TOPIC, garbage).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = handle
            .request(speer, Some(saddr.clone()), Request::Status)
            .await;
        if r.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the peer was never cut off");
    }
    // The station itself is fine and still follows the hubs.
    let status = Client::connect(
        &Keypair::read_file(&net.dir.join("people/qa.key")).expect("qa key"),
        saddr.clone(),
    )
    .await
    .expect("connect")
    .status()
    .await
    .expect("station still answers others");
    assert_eq!(status.chain_id, net.chain);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &station.id().to_string()])
        .status();
    let _ = station.wait();
}
