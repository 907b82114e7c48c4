//! The station specialists end to end: three hub processes and a station
//! process with its kiosk, a scripted heat-treat shift through the kiosk's
//! HTTP API and through `smart station` (and, where CI installs it, the
//! kiosk page in headless Chromium), every refusal path of the modules, a
//! stretch with every hub down, and the ledger checked afterwards: each
//! decision is a `Station` tx signed by the station, with its module's name.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use smart_consensus::TxVerdict;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_contracts::station::{Module, StationRecord, Verdict};
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Bytes, Hash, Keypair, Outcome, Role, SignedTx, Timestamp, TxBody, TxKind};
use smart_node::p2p::client::Client;
use smart_node::station::specialists::part_label;
use smart_node::station::vision::label_png;
use smart_testnet::{Layout, Network, PeerKind};

const PO: &str = include_str!("../../contracts/examples/smart-client-po.yaml");

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The shop's people and the hubs, for set-up actions.
struct Shop {
    hub: Client,
    chain: Hash,
    nonce: u64,
    keys: BTreeMap<&'static str, Keypair>,
    badges: PathBuf,
}

impl Shop {
    async fn act(&mut self, who: &str, action: Action) {
        self.nonce += 1;
        let key = &self.keys[who];
        let body = TxBody {
            chain_id: self.chain,
            author: key.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: Timestamp(now_ms()),
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
            TxVerdict::Included { outcome, .. } => {
                assert_eq!(outcome, &Outcome::Accepted, "{who}: {action:?}")
            }
            other => panic!("{who}: {action:?} not included: {other:?}"),
        }
    }

    fn id(&self, who: &str) -> smart_ledger::SmartId {
        self.keys[who].id()
    }

    fn badge(&self, who: &str) -> PathBuf {
        self.badges.join(format!("{who}.key"))
    }

    async fn document(&mut self, doc_type: DocumentType, job: Option<&str>, title: &str) {
        self.act(
            "compliance",
            Action::FileDocument {
                hash: Hash::of(title.as_bytes()),
                doc_type,
                job: job.map(str::to_string),
                title: title.into(),
            },
        )
        .await;
    }
}

/// The kiosk's API over HTTP.
struct Kiosk(SocketAddr);

impl Kiosk {
    async fn call(&self, method: &str, path: &str, kind: &str, body: &[u8]) -> (u16, Vec<u8>) {
        smart_testnet::status::http_send(self.0, method, path, kind, body, Duration::from_secs(20))
            .await
            .expect("kiosk answers")
    }

    /// POSTs JSON; returns (ok, message).
    async fn post(&self, path: &str, body: serde_json::Value) -> (bool, String) {
        let (code, answer) = self
            .call(
                "POST",
                path,
                "application/json",
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&answer));
        let v: serde_json::Value = serde_json::from_slice(&answer).expect("reply JSON");
        (
            v["ok"].as_bool().expect("ok"),
            v["message"].as_str().unwrap_or("").to_string(),
        )
    }

    async fn view(&self) -> serde_json::Value {
        let (code, body) = self.call("GET", "/api/view", "text/plain", &[]).await;
        assert_eq!(code, 200);
        serde_json::from_slice(&body).expect("view JSON")
    }

    async fn step_status(&self, step: &str) -> (String, String) {
        let v = self.view().await;
        let s = v["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["id"] == step)
            .unwrap_or_else(|| panic!("no step {step} in {v}"))
            .clone();
        (
            s["status"].as_str().unwrap_or("").to_string(),
            s["why"].as_str().unwrap_or("").to_string(),
        )
    }

    /// Waits until `check` holds for the view (the station follows the hubs by gossip).
    async fn until(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.view().await;
            if check(&v) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `smart station --data DIR ARGS`: (exit code, output).
fn station_cli(data: &Path, args: &[&str]) -> (i32, String) {
    let out = smart()
        .args(["station", "--data", s(data)])
        .args(args)
        .output()
        .expect("run smart station");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn cli_ok(data: &Path, args: &[&str]) -> String {
    let (code, out) = tokio::task::block_in_place(|| station_cli(data, args));
    assert_eq!(code, 0, "smart station {args:?} should be allowed: {out}");
    out
}

fn cli_refused(data: &Path, args: &[&str], module: &str, why: &str) -> String {
    let (code, out) = tokio::task::block_in_place(|| station_cli(data, args));
    assert_eq!(code, 3, "smart station {args:?} should be refused: {out}");
    assert!(
        out.contains(module) && out.contains(why),
        "smart station {args:?}: expected {module} refusing with {why:?}, got: {out}"
    );
    out
}

fn write_png(dir: &Path, name: &str, png: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, png).expect("write image");
    p
}

/// Paints over the middle third of a label: the corners stay, the data is gone.
fn damage(png: &[u8]) -> Vec<u8> {
    let mut img = image::load_from_memory(png).expect("png").to_luma8();
    let (w, h) = img.dimensions();
    for y in h * 3 / 10..h * 7 / 10 {
        for x in w * 3 / 10..w * 7 / 10 {
            let p = img.get_pixel_mut(x, y);
            p.0[0] = 255 - p.0[0];
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heat_treat_shift_at_a_station_through_the_kiosk_and_the_cli() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init_network(tmp.path(), 1);
    let station = dir.join("station-1");
    let layout = Layout::allocate(&[
        ("vault-hub".to_string(), PeerKind::Hub),
        ("floor-hub".to_string(), PeerKind::Hub),
        ("business-hub".to_string(), PeerKind::Hub),
        ("station-1".to_string(), PeerKind::Station),
    ])
    .expect("ports");
    let mut net = Network::new(Path::new(env!("CARGO_BIN_EXE_smart")), &dir, layout);
    for (name, args) in smart_node::lab::localnet::STATIONS {
        if net.is_known(name) {
            net.set_args(name, args);
        }
    }
    tokio::task::block_in_place(|| net.start_all()).expect("start");
    net.wait_leader(Duration::from_secs(30))
        .await
        .expect("leader");
    let kiosk_file = station.join("kiosk.addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kiosk_file.exists() {
        assert!(Instant::now() < deadline, "the station wrote no kiosk.addr");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let k = Kiosk(
        std::fs::read_to_string(&kiosk_file)
            .expect("kiosk.addr")
            .trim()
            .parse()
            .expect("address"),
    );

    // ---- The shop: people, the PO contract, tokens, equipment, documents, two jobs.
    let badges = tmp.path().join("badges");
    std::fs::create_dir_all(&badges).expect("badges");
    let mut keys = BTreeMap::new();
    for p in ["admin", "compliance", "qa", "project-manager"] {
        keys.insert(
            p,
            Keypair::read_file(&dir.join(format!("people/{p}.key"))).expect("key"),
        );
    }
    for p in ["tech-7", "tech-9", "acme-aero"] {
        keys.insert(p, Keypair::generate().expect("key"));
    }
    for (p, key) in &keys {
        key.write_file(&badges.join(format!("{p}.key")))
            .expect("badge file");
    }
    let hub_addr = net.hub_addrs()[0].parse().expect("hub addr");
    let mut shop = Shop {
        hub: Client::connect(&keys["admin"], hub_addr)
            .await
            .expect("client"),
        chain: smart_node::peer::folders::read_genesis(&dir.join("genesis.json"))
            .expect("genesis")
            .chain_id(),
        nonce: now_ms() * 1000,
        keys,
        badges,
    };
    for (n, role) in [
        ("tech-7", Role::Technician),
        ("tech-9", Role::Technician),
        ("acme-aero", Role::Client),
    ] {
        let id = shop.id(n);
        shop.act(
            "admin",
            Action::RegisterIdentity {
                id,
                name: n.into(),
                roles: vec![role],
                organisation: None,
            },
        )
        .await;
    }
    shop.act("admin", Action::ProposeContract { yaml: PO.into() })
        .await;
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("project-manager", Role::ProjectManager),
    ] {
        shop.act(
            who,
            Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        )
        .await;
    }
    let year = Timestamp(now_ms() + 365 * 86_400_000);
    let lapse = Timestamp(now_ms() + 4_000);
    let tokens = [
        ("t7-recv", "tech-7", TokenKind::Access, "receiving", year),
        (
            "t7-tr",
            "tech-7",
            TokenKind::Training,
            "furnace-operation",
            year,
        ),
        ("t7-saf", "tech-7", TokenKind::Safety, "furnace-3", year),
        (
            "t7-ht",
            "tech-7",
            TokenKind::Certified,
            "heat-treat-operator",
            year,
        ),
        (
            "t7-hrc",
            "tech-7",
            TokenKind::Certified,
            "hardness-testing",
            year,
        ),
        (
            "t9-ht",
            "tech-9",
            TokenKind::Certified,
            "heat-treat-operator",
            lapse,
        ),
        ("qa-insp", "qa", TokenKind::Certified, "qa-inspector", year),
    ];
    for (t, holder, kind, scope, expires) in tokens {
        let holder = shop.id(holder);
        shop.act(
            "compliance",
            Action::IssueToken {
                token: t.into(),
                holder,
                kind,
                scope: scope.into(),
                expires,
            },
        )
        .await;
    }
    let soon = Timestamp(now_ms() + 5_000);
    for (e, due) in [
        ("furnace-3", Timestamp(now_ms() + 90 * 86_400_000)),
        ("quench-tank-1", Timestamp(now_ms() + 90 * 86_400_000)),
        ("rockwell-2", soon),
    ] {
        shop.act(
            "admin",
            Action::RegisterEquipment {
                id: e.into(),
                description: e.into(),
                calibration_due: due,
            },
        )
        .await;
    }
    shop.document(DocumentType::SafetyDoc, None, "Furnace 3 JSA")
        .await;
    shop.document(DocumentType::Procedure, None, "WI-HT-012 rev D")
        .await;
    shop.document(DocumentType::EnvironmentalLog, None, "Atmosphere log")
        .await;
    let acme = shop.id("acme-aero");
    let parts: Vec<String> = (1..=120).map(|i| format!("AA-88213-{i:03}")).collect();
    for (job, parts) in [
        ("job-1", parts.clone()),
        ("job-2", vec!["BB-1".to_string(), "BB-2".to_string()]),
    ] {
        shop.act(
            "project-manager",
            Action::OpenJob {
                job: job.into(),
                contract: "po-4471-heat-treat".into(),
                client: acme,
                parts,
            },
        )
        .await;
    }
    shop.document(DocumentType::ClientPo, Some("job-1"), "PO 4471")
        .await;
    k.until("job-1 reaches the station", |v| {
        v["open_jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|x| x == "job-1"))
    })
    .await;

    // ---- Receiving (CLI and HTTP): badge, job, count; a missing material cert refused.
    let out = cli_ok(&station, &["badge", "--key", s(&shop.badge("tech-7"))]);
    assert!(
        out.contains("Gatekeeper") && out.contains("tech-7"),
        "{out}"
    );
    cli_refused(
        &station,
        &["badge", "--key", s(&shop.badge("acme-aero"))],
        "Gatekeeper",
        "none of the floor roles",
    );
    cli_ok(&station, &["badge", "--key", s(&shop.badge("tech-7"))]);
    let (ok, msg) = k
        .post("/api/job", serde_json::json!({"job": "job-1"}))
        .await;
    assert!(ok && msg.contains("PolicyNodeStorage"), "{msg}");
    let (ok, msg) = k
        .post("/api/receive", serde_json::json!({"count": 121}))
        .await;
    assert!(!ok && msg.contains("LogisticsNode"), "{msg}");
    let (ok, msg) = k
        .post("/api/receive", serde_json::json!({"count": 120}))
        .await;
    assert!(ok && msg.contains("LogisticsNode"), "{msg}");
    cli_ok(&station, &["measure", "part_count", "120"]);
    cli_refused(
        &station,
        &["complete", "receive-parts"],
        "ComplianceNode",
        "material-cert",
    );
    shop.document(
        DocumentType::MaterialCert,
        Some("job-1"),
        "Mill cert heat 77",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while k.step_status("receive-parts").await.0 != "unlocked" {
        assert!(Instant::now() < deadline, "receive-parts never unlocked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = cli_ok(&station, &["complete", "receive-parts"]);
    assert!(
        out.contains("Gatekeeper") && out.contains("QANode"),
        "{out}"
    );

    // ---- Vision: wrong part, unknown part, damaged label refused.
    let images = tmp.path().join("images");
    std::fs::create_dir_all(&images).expect("images");
    let good = label_png(&part_label("job-1", "AA-88213-001")).expect("label");
    let wrong = label_png(&part_label("job-2", "BB-1")).expect("label");
    let unknown = label_png(&part_label("job-1", "AA-88213-999")).expect("label");
    cli_refused(
        &station,
        &[
            "scan",
            "--image",
            s(&write_png(&images, "wrong.png", &wrong)),
        ],
        "Vision",
        "wrong part",
    );
    cli_refused(
        &station,
        &[
            "scan",
            "--image",
            s(&write_png(&images, "unknown.png", &unknown)),
        ],
        "Vision",
        "unknown part",
    );
    let out = cli_refused(
        &station,
        &[
            "scan",
            "--image",
            s(&write_png(&images, "damaged.png", &damage(&good))),
        ],
        "Vision",
        "QR code",
    );
    assert!(
        out.contains("damaged") || out.contains("no QR code"),
        "{out}"
    );
    let (status, why) = k.step_status("pre-check").await;
    assert_eq!(status, "locked");
    assert!(why.contains("scan"), "pre-check waits for the part: {why}");
    assert!(
        !k.view().await["io"]["unlocked"].as_bool().expect("io"),
        "nothing unlocked the furnace yet"
    );

    // ---- The kiosk page in headless Chromium: the step unlocks live when
    // the part is scanned; pressing "perform" unlocks the furnace.
    let browser = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success())
        && Path::new("/usr/bin/chromedriver").exists();
    let good_png = write_png(&images, "good.png", &good);
    if browser {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/kiosk.py");
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiosk.png");
        let _ = std::fs::remove_file(&shot);
        let mut child = Command::new("python3")
            .arg(&script)
            .args([
                &format!("http://{}/", k.0),
                s(&shop.badge("tech-7")),
                "job-1",
                "pre-check",
                s(&shot),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the browser script");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::task::block_in_place(|| lines.next().and_then(Result::ok));
        assert_eq!(
            ready.as_deref(),
            Some("READY"),
            "the kiosk page did not show pre-check locked"
        );
        let why = tokio::task::block_in_place(|| lines.next().and_then(Result::ok));
        assert!(
            why.as_deref().is_some_and(|w| w.contains("Vision")),
            "the page says which module keeps the step locked: {why:?}"
        );
        let (ok, msg) = k
            .post(
                "/api/scan",
                serde_json::json!({"text": part_label("job-1", "AA-88213-001")}),
            )
            .await;
        assert!(ok && msg.contains("Vision"), "{msg}");
        let done = tokio::task::block_in_place(|| lines.next().and_then(Result::ok));
        let status = tokio::task::block_in_place(|| child.wait()).expect("browser script");
        assert!(
            status.success() && done.as_deref() == Some("DONE"),
            "the kiosk page did not follow the step and the interlock live: {done:?}"
        );
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
        eprintln!("kiosk screenshot: {}", shot.display());
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium, chromium-driver and selenium (see .ci/run)"
        );
        eprintln!("no headless Chromium with selenium here: the browser part is skipped");
        cli_ok(&station, &["scan", "--image", s(&good_png)]);
        let out = cli_ok(&station, &["complete", "pre-check"]);
        assert!(out.contains("unlock furnace-3"), "{out}");
    }
    k.until("the relay follows the contract's unlock", |v| {
        v["io"]["unlocked"].as_bool() == Some(true)
    })
    .await;

    // ---- Inventory: a stock count, quench oil used, the reorder point crossed.
    let (ok, _) = k
        .post(
            "/api/stock",
            serde_json::json!({"item": "quench-oil", "on_hand": 10, "reorder_at": 8}),
        )
        .await;
    assert!(ok);
    cli_refused(
        &station,
        &["consume", "quench-oil", "11"],
        "InventoryNode",
        "only 10",
    );
    let out = cli_ok(&station, &["consume", "quench-oil", "3"]);
    assert!(out.contains("reorder"), "{out}");

    // ---- An expired certification: tech-9 is refused at harden.
    let wait = lapse.0.saturating_sub(now_ms()) + 200;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let badge9 = std::fs::read_to_string(shop.badge("tech-9")).expect("badge");
    let (ok, _) = k
        .post("/api/badge", serde_json::json!({"badge": badge9}))
        .await;
    assert!(ok);
    k.post("/api/job", serde_json::json!({"job": "job-1"}))
        .await;
    k.post(
        "/api/scan",
        serde_json::json!({"text": part_label("job-1", "AA-88213-001")}),
    )
    .await;
    for (n, v) in [("soak_temp", 845), ("soak_time", 70), ("quench_delay", 9)] {
        let (ok, msg) = k
            .post("/api/measure", serde_json::json!({"name": n, "value": v}))
            .await;
        assert!(ok, "{msg}");
    }
    let (ok, msg) = k
        .post("/api/complete", serde_json::json!({"step": "harden"}))
        .await;
    assert!(
        !ok && msg.contains("Gatekeeper") && msg.contains("[5]"),
        "{msg}"
    );

    // ---- tech-7 again: an out-of-limit reading refused by the QANode.
    cli_ok(&station, &["badge", "--key", s(&shop.badge("tech-7"))]);
    cli_ok(&station, &["job", "job-1"]);
    cli_ok(&station, &["scan", "--image", s(&good_png)]);
    cli_refused(
        &station,
        &["measure", "soak_temp", "900"],
        "QANode",
        "outside",
    );
    cli_ok(&station, &["measure", "soak_temp", "846"]);
    cli_ok(&station, &["measure", "soak_time", "75"]);
    cli_refused(
        &station,
        &["complete", "harden"],
        "QANode",
        "measurement missing: quench_delay",
    );
    cli_ok(&station, &["measure", "quench_delay", "8"]);

    // ---- E-stop: the station latches, locks furnace-3 and quench-tank-1 out;
    // tech-7 may not clear it; compliance does.
    cli_ok(&station, &["estop"]);
    k.until("the e-stop latches", |v| {
        v["io"]["latched"].as_bool() == Some(true) && v["io"]["unlocked"].as_bool() == Some(false)
    })
    .await;
    cli_refused(&station, &["complete", "harden"], "SafetyNode", "e-stop");
    k.until("the lockout is in the state", |v| {
        v["recent"]
            .as_array()
            .is_some_and(|r| r.iter().any(|d| d[0] == "SafetyNode" && d[1] == "Allowed"))
    })
    .await;
    cli_refused(&station, &["clear"], "SafetyNode", "[3]");
    cli_ok(&station, &["badge", "--key", s(&shop.badge("compliance"))]);
    let out = cli_ok(&station, &["clear"]);
    assert!(out.contains("furnace-3"), "{out}");
    k.until("the relay follows the contract again", |v| {
        v["io"]["latched"].as_bool() == Some(false) && v["io"]["unlocked"].as_bool() == Some(true)
    })
    .await;
    cli_ok(&station, &["badge", "--key", s(&shop.badge("tech-7"))]);
    cli_ok(&station, &["job", "job-1"]);
    cli_ok(
        &station,
        &["scan", "--text", &part_label("job-1", "AA-88213-001")],
    );
    for (n, v) in [
        ("soak_temp", "846"),
        ("soak_time", "75"),
        ("quench_delay", "8"),
    ] {
        cli_ok(&station, &["measure", n, v]);
    }
    cli_ok(&station, &["complete", "harden"]);

    // ---- Release before temper: the Guardian blocks it and says what is missing.
    cli_refused(
        &station,
        &["release"],
        "Guardian",
        "measurement missing: temper_temp",
    );
    cli_ok(&station, &["measure", "temper_temp", "541"]);
    cli_ok(&station, &["measure", "temper_time", "130"]);
    let out = cli_ok(&station, &["complete", "temper"]);
    assert!(
        out.contains("MaintenanceNode") && out.contains("lock furnace-3"),
        "{out}"
    );

    // ---- rockwell-2's calibration lapsed: the StandardsNode refuses; calibrated, it passes.
    tokio::time::sleep(Duration::from_millis(soon.0.saturating_sub(now_ms()) + 200)).await;
    cli_ok(&station, &["measure", "hardness_min", "37"]);
    cli_ok(&station, &["measure", "hardness_max", "39"]);
    cli_refused(
        &station,
        &["complete", "hardness-test"],
        "StandardsNode",
        "[12]",
    );
    shop.act(
        "admin",
        Action::Calibrate {
            id: "rockwell-2".into(),
            calibration_due: Timestamp(now_ms() + 30 * 86_400_000),
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while k.step_status("hardness-test").await.0 != "unlocked" {
        assert!(Instant::now() < deadline, "hardness-test never unlocked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cli_ok(&station, &["complete", "hardness-test"]);

    // ---- Every hub down: QA signs off and reports, the Guardian releases,
    // questions are answered — all on the station alone.
    for hub in ["vault-hub", "floor-hub", "business-hub"] {
        tokio::task::block_in_place(|| net.stop(hub));
    }
    let (ok, msg) = k
        .post(
            "/api/badge",
            serde_json::json!({"badge": std::fs::read_to_string(shop.badge("qa")).expect("badge")}),
        )
        .await;
    assert!(ok, "{msg}");
    k.post("/api/job", serde_json::json!({"job": "job-1"}))
        .await;
    for step in ["qa-signoff", "report"] {
        let (ok, msg) = k
            .post("/api/complete", serde_json::json!({"step": step}))
            .await;
        assert!(ok, "{step} offline: {msg}");
    }
    let (ok, msg) = k.post("/api/release", serde_json::json!({})).await;
    assert!(ok && msg.contains("Guardian"), "{msg}");
    assert!(k.view().await["outbox_pending"].as_u64().expect("outbox") > 0);
    k.until("the station notices no hub takes its outbox", |v| {
        v["offline"].as_bool() == Some(true)
    })
    .await;
    let ask = |q: &str| {
        let out = tokio::task::block_in_place(|| {
            smart()
                .args(["ask", "--data", s(&station), q])
                .output()
                .expect("ask")
        });
        assert!(
            out.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let a = ask("What is blocking job 1?");
    assert!(a.contains("client-approval"), "{a}");
    let a = ask("when is rockwell-2 calibration due?");
    assert!(a.contains("rockwell-2 calibration is due"), "{a}");
    let a = ask("who may run furnace-3 today?");
    assert!(a.contains("tech-7") && !a.contains("tech-9 ("), "{a}");
    let a = ask("what is the stock of quench-oil");
    assert!(a.contains("7 on hand") && a.contains("REORDER"), "{a}");
    let bad = tokio::task::block_in_place(|| {
        smart()
            .args(["ask", "--data", s(&station), "make me a sandwich"])
            .output()
            .expect("ask")
    });
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("I understand"));

    // ---- The hubs return: the outbox is handed off, nothing lost or doubled.
    for hub in ["vault-hub", "floor-hub", "business-hub"] {
        tokio::task::block_in_place(|| net.start(hub)).expect("restart hub");
    }
    net.wait_leader(Duration::from_secs(30))
        .await
        .expect("leader again");
    let deadline = Instant::now() + Duration::from_secs(60);
    while k.view().await["outbox_pending"].as_u64() != Some(0) {
        assert!(Instant::now() < deadline, "the outbox was never handed off");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // ---- Shipping: refused without a certificate of conformance, then shipped.
    let (ok, msg) = k.post("/api/ship", serde_json::json!({})).await;
    assert!(!ok && msg.contains("certificate of conformance"), "{msg}");
    shop.document(
        DocumentType::CertificateOfConformance,
        Some("job-1"),
        "CoC job-1",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, msg) = k.post("/api/ship", serde_json::json!({})).await;
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "never shipped: {msg}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // ---- Bad input to the kiosk: a clear error, nothing recorded.
    let (code, body) = k
        .call("POST", "/api/measure", "application/json", b"{\"name\": 5}")
        .await;
    assert!(
        (400..500).contains(&code),
        "malformed JSON: HTTP {code} {}",
        String::from_utf8_lossy(&body)
    );
    let huge = vec![0u8; smart_node::station::kiosk::MAX_REQUEST_BYTES + 1];
    let (code, _) = k.call("POST", "/api/scan-image", "image/png", &huge).await;
    assert_eq!(code, 413, "an oversized frame is refused");
    let metrics = net.metrics_addr("station-1").expect("metrics");
    let (_, text) = smart_testnet::status::http_get(metrics, "/metrics", Duration::from_secs(5))
        .await
        .expect("metrics");
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.lines()
            .any(|l| l.starts_with("smart_station_decisions{")
                && l.contains("module=\"Vision\"")
                && l.contains("verdict=\"refused\"")
                && !l.ends_with(" 0")),
        "the station's decisions are on /metrics: {text}"
    );

    // ---- The modules and the pinned contracts, from the running node.
    let out = tokio::task::block_in_place(|| run_ok(&["modules", "--data", s(&station)]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for m in Module::ALL {
        assert!(
            text.contains(m.name()),
            "smart modules lists {}: {text}",
            m.name()
        );
    }
    let out = tokio::task::block_in_place(|| run_ok(&["contract", "list", "--data", s(&station)]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("po-4471-heat-treat v1 [Active]") && text.contains("Compliance compliance"),
        "{text}"
    );

    // ---- Wait until the station's own ledger holds everything, then stop
    // it and read the ledger: each decision with its module's name.
    let deadline = Instant::now() + Duration::from_secs(60);
    while k.view().await["outbox_pending"].as_u64() != Some(0) {
        assert!(Instant::now() < deadline, "the outbox was never handed off");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| net.stop("station-1"));
    let out = tokio::task::block_in_place(|| run_ok(&["modules", "--data", s(&station), "--json"]));
    let modules: serde_json::Value = serde_json::from_slice(&out.stdout).expect("modules JSON");
    assert_eq!(modules.as_array().map(Vec::len), Some(Module::ALL.len()));
    let out = tokio::task::block_in_place(|| run_ok(&["contract", "list", "--data", s(&station)]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("po-4471-heat-treat v1"));
    let (code, report) = tokio::task::block_in_place(|| verify_json(&station));
    assert_eq!(code, 0, "{report}");

    let genesis =
        smart_node::peer::folders::read_genesis(&dir.join("genesis.json")).expect("genesis");
    let station_id = Keypair::read_file(&station.join("peer.key"))
        .expect("key")
        .id();
    let store =
        RedbStore::open_or_create(&station.join(RedbStore::FILE_NAME), &genesis).expect("store");
    let mut records: Vec<StationRecord> = Vec::new();
    let mut steps_done = BTreeSet::new();
    for h in 1..=store.tip().height {
        let block = store.block(h).expect("read").expect("block");
        for (tx, outcome) in block.txs.iter().zip(&block.outcomes) {
            let body = tx.body();
            if body.kind == TxKind::Station {
                assert_eq!(
                    tx.author(),
                    station_id,
                    "only the station signs its records"
                );
                assert_eq!(outcome, &Outcome::Accepted, "a station record was refused");
                records.push(StationRecord::decode(&body.payload.0).expect("record"));
            }
            let step = (body.kind == TxKind::JobAction && outcome == &Outcome::Accepted)
                .then(|| Action::decode(&body.payload.0).ok())
                .flatten();
            if let Some(Action::CompleteStep { step, station, .. }) = step {
                assert_eq!(station.as_deref(), Some("station-1"));
                steps_done.insert(step);
            }
        }
    }
    for step in [
        "receive-parts",
        "pre-check",
        "harden",
        "temper",
        "hardness-test",
        "qa-signoff",
        "report",
    ] {
        assert!(
            steps_done.contains(step),
            "{step} is not in the ledger: {steps_done:?}"
        );
    }
    let seen: BTreeSet<Module> = records.iter().map(|r| r.module).collect();
    // Every module that decides (InfoBroadcast sends status, NodeQuery answers questions).
    for m in Module::ALL
        .into_iter()
        .filter(|m| !matches!(m, Module::InfoBroadcast | Module::NodeQuery))
    {
        assert!(
            seen.contains(&m),
            "no decision of {} in the ledger",
            m.name()
        );
    }
    let refused = |m: Module, why: &str| {
        records
            .iter()
            .any(|r| r.module == m && r.verdict == Verdict::Refused && r.reason.contains(why))
    };
    for (m, why) in [
        (Module::Vision, "wrong part"),
        (Module::Vision, "QR code"),
        (Module::Gatekeeper, "[5]"),
        (Module::StandardsNode, "[12]"),
        (Module::SafetyNode, "e-stop"),
        (Module::ComplianceNode, "[11]"),
        (Module::Guardian, "measurement missing"),
        (Module::QaNode, "outside"),
        (Module::InventoryNode, "only 10"),
    ] {
        assert!(
            refused(m, why),
            "no {} refusal with {why:?} in the ledger",
            m.name()
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r.module == Module::HandoffNode && r.what.contains("while no hub answered")),
        "the hand-off after the outage is recorded: {:?}",
        records
            .iter()
            .map(|r| (r.module.name(), &r.what))
            .collect::<Vec<_>>()
    );
    assert!(
        records.iter().any(|r| r.module == Module::MaintenanceNode
            && matches!(
                r.fact,
                Some(smart_contracts::station::Fact::EquipmentUsed { .. })
            )),
        "the furnace cycle is counted"
    );
    drop(store);
    net.stop_all();
}
