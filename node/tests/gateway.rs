//! SMART-API end to end: three hub processes, the gateway process serving
//! real HTTPS (its self-signed certificate from `smart init`), and curl as
//! the client. A client reads its contract and verifies the proof offline,
//! uploads a PO and resolves the receipt, watches its job over server-sent
//! events; bad input gets the right status and leaves nothing behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use smart_contracts::action::Action;
use smart_ledger::{Hash, Keypair, Role};
use smart_node::p2p::client::Client;

const PO: &str = include_str!("../../contracts/examples/smart-client-po.yaml");

/// An HTTPS call with curl, trusting only the gateway's certificate.
struct Api {
    base: String,
    port: u16,
    cacert: PathBuf,
}

impl Api {
    fn call(&self, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert", s(&self.cacert)])
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", self.port)])
            .args(["-w", "\n%{http_code}"])
            .args(args)
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn get(&self, cred: Option<&str>, path: &str) -> (u16, String) {
        let header = cred.map(|c| format!("Authorization: Bearer {c}"));
        let mut args: Vec<&str> = Vec::new();
        if let Some(h) = &header {
            args.extend(["-H", h]);
        }
        self.call(&args, path)
    }

    fn json(&self, cred: &str, path: &str) -> (u16, serde_json::Value) {
        let (code, body) = self.get(Some(cred), path);
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn upload(&self, cred: &str, query: &str, file: &Path) -> (u16, serde_json::Value) {
        let header = format!("Authorization: Bearer {cred}");
        let data = format!("@{}", s(file));
        let (code, body) = self.call(
            &["-X", "POST", "-H", &header, "--data-binary", &data],
            &format!("/api/uploads?{query}"),
        );
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn verify_proof(proof: &serde_json::Value, dir: &Path, name: &str) {
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(proof).expect("json")).expect("write proof");
    let out = smart()
        .args(["proof", "verify", s(&file)])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "smart proof verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reads_uploads_and_watches_its_job_through_the_https_gateway() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init_network(tmp.path(), 1);
    let mut procs = Procs(Vec::new());
    let (c1, _r1, a1) = spawn(&dir.join("floor-hub"), &[]);
    let (c2, _r2, a2) = spawn(&dir.join("business-hub"), &[]);
    let mut boot = vec!["--bootstrap".to_string(), a1.to_string(), a2.to_string()];
    let (c0, _r0, a0) = spawn(&dir.join("vault-hub"), &boot);
    procs.0.extend([c1, c2, c0]);
    let admin = Keypair::read_file(&dir.join("people/admin.key")).expect("admin");
    let hub = Client::connect(&admin, a0.clone()).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !hub.status().await.is_ok_and(|s| s.leader.is_some()) {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chain = hub.status().await.expect("status").chain_id;

    // The gateway: a gossip-following peer serving HTTPS on a free port.
    boot.insert(1, a0.to_string());
    let mut args = vec!["--https".to_string(), "127.0.0.1:0".to_string()];
    args.extend(boot);
    let gw_dir = dir.join("gateway");
    let (gw, mut gw_out, _) = spawn(&gw_dir, &args);
    procs.0.push(gw);
    let mut line = String::new();
    gw_out.read_line(&mut line).expect("https line");
    let url = line
        .trim()
        .strip_prefix("https ")
        .expect("https url")
        .to_string();
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let api = Api {
        base: format!("https://localhost:{port}"),
        port,
        cacert: gw_dir.join("tls/cert.pem"),
    };

    // The shop: two clients, the PO contract approved, a job for each.
    let mut shop = Shop {
        dir: dir.clone(),
        hub,
        chain,
        nonce: 0,
    };
    let acme = Keypair::generate().expect("key");
    let globex = Keypair::generate().expect("key");
    for (k, name) in [(&acme, "acme-aero"), (&globex, "globex")] {
        shop.act(
            "admin",
            Action::RegisterIdentity {
                id: k.id(),
                name: name.into(),
                roles: vec![Role::Client],
                organisation: Some(name.into()),
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
    for (job, client) in [("job-4471", acme.id()), ("job-9", globex.id())] {
        shop.act(
            "project-manager",
            Action::OpenJob {
                job: job.into(),
                contract: "po-4471-heat-treat".into(),
                client,
                parts: vec!["AA-88213-C x120".into()],
            },
        )
        .await;
    }
    let (cred, c, secret_hash) = smart_gateway::auth::Credential::mint().expect("mint");
    shop.act(
        "project-manager",
        Action::IssueApiCredential {
            id: c.id.clone(),
            client: acme.id(),
            secret_hash,
        },
    )
    .await;

    // The gateway follows the ledger: the credential works once it arrives.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _) = api.get(Some(&cred), "/api/whoami");
        if code == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the credential never worked ({code})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(api.get(None, "/health").0, 200);
    assert_eq!(api.get(None, "/api/contracts").0, 401, "no credential");
    let (_, wrong, _) = smart_gateway::auth::Credential::mint().expect("mint");
    let forged = format!("smart_{}_{}", c.id, "00".repeat(32));
    assert_eq!(
        api.get(Some(&forged), "/api/contracts").0,
        401,
        "wrong secret"
    );
    let unknown = format!("smart_{}_{}", wrong.id, "11".repeat(32));
    assert_eq!(
        api.get(Some(&unknown), "/api/contracts").0,
        401,
        "unknown id"
    );

    // A burst of refused credentials is flagged (advisory: nothing is blocked).
    for _ in 0..smart_gateway::anomaly::AUTH_BURST {
        assert_eq!(api.get(Some(&forged), "/api/jobs").0, 401);
    }
    let (_, health) = api.get(None, "/health");
    let health: serde_json::Value = serde_json::from_str(&health).expect("health json");
    assert!(
        health["anomalies_flagged"].as_u64() >= Some(1),
        "no anomaly flagged: {health}"
    );

    // Contract delivery: only its own, with proofs that verify offline.
    let (code, list) = api.json(&cred, "/api/contracts");
    assert_eq!(code, 200, "{list}");
    let jobs: Vec<&str> = list["contracts"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|j| j["job"].as_str())
        .collect();
    assert_eq!(jobs, vec!["job-4471"]);
    assert_eq!(
        api.get(Some(&cred), "/api/contracts/job-9").0,
        404,
        "another client's job"
    );
    assert_eq!(api.get(Some(&cred), "/api/contracts/..%2F..%2Fetc").0, 404);
    let deadline = Instant::now() + Duration::from_secs(20);
    let contract = loop {
        let (code, v) = api.json(&cred, "/api/contracts/job-4471");
        if code == 200 {
            break v;
        }
        assert!(Instant::now() < deadline, "no contract proof: {code} {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(contract["contract"]["yaml"].as_str(), Some(PO));
    verify_proof(&contract["proofs"]["job_opened"], tmp.path(), "job.json");
    verify_proof(
        &contract["proofs"]["contract_proposed"],
        tmp.path(),
        "contract.json",
    );

    // Upload a PO: a receipt that resolves to a committed tx with its proof.
    let uploads = gw_dir.join("uploads");
    let po = tmp.path().join("po-4471.txt");
    std::fs::write(
        &po,
        "PURCHASE ORDER 4471\n120 x AA-88213 rev C, 36-40 HRC\n",
    )
    .expect("po");
    let (code, receipt) = api.upload(
        &cred,
        "doc_type=client_po&job=job-4471&title=PO%204471",
        &po,
    );
    assert!(code == 201 || code == 202, "{code} {receipt}");
    let doc = Hash::of(&std::fs::read(&po).expect("read"));
    assert_eq!(receipt["document"].as_str(), Some(doc.to_string().as_str()));
    let tx = receipt["tx"].as_str().expect("tx").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let resolved = loop {
        let (code, v) = api.json(&cred, &format!("/api/receipts/{tx}"));
        if code == 200 && v["proof"].is_object() {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the receipt never resolved: {code} {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(resolved["outcome"], "accepted");
    verify_proof(&resolved["proof"], tmp.path(), "upload.json");
    assert_eq!(files_in(&uploads), 1);

    // Bad uploads: the right status, nothing stored.
    let big = tmp.path().join("big.pdf");
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(17 * 1024 * 1024, b'x');
    std::fs::write(&big, bytes).expect("big");
    // The size is refused from the Content-Length, before the body is sent
    // (HTTP/1.1 with Expect: 100-continue, so curl waits for the verdict).
    let h = format!("Authorization: Bearer {cred}");
    let data = format!("@{}", s(&big));
    let (code, body) = api.call(
        &[
            "--http1.1",
            "-X",
            "POST",
            "-H",
            &h,
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &data,
        ],
        "/api/uploads?doc_type=client_po&job=job-4471",
    );
    assert_eq!(code, 413, "{body}");
    let elf = tmp.path().join("tool.bin");
    std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").expect("elf");
    assert_eq!(
        api.upload(&cred, "doc_type=client_po&job=job-4471", &elf).0,
        415
    );
    assert_eq!(
        api.upload(&cred, "doc_type=client_po&job=..%2F..%2Fetc", &po)
            .0,
        404
    );
    assert_eq!(api.upload(&cred, "doc_type=..%2Fprocedure", &po).0, 400);
    assert_eq!(
        api.upload(&cred, "doc_type=client_po&job=job-9", &po).0,
        404
    );
    // A rating goes with feedback only, 1 to 5.
    let note = tmp.path().join("feedback.txt");
    std::fs::write(&note, "Parts arrived early; certs complete.\n").expect("feedback");
    for bad in [
        "doc_type=feedback&job=job-4471&rating=9",
        "doc_type=client_po&job=job-4471&rating=4",
    ] {
        assert_eq!(api.upload(&cred, bad, &note).0, 400, "{bad}");
    }
    assert_eq!(files_in(&uploads), 1, "a refused upload left a file");
    let (code, receipt) = api.upload(
        &cred,
        "doc_type=feedback&job=job-4471&rating=4&title=on%20time",
        &note,
    );
    assert!(code == 201 || code == 202, "{code} {receipt}");
    let (code, _) = api.call(
        &[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data",
            "{\"credential\":",
        ],
        "/api/session",
    );
    assert_eq!(code, 400, "malformed JSON");

    // Approvals: only the client's own step, judged by the contract.
    let approve = |step: &str| {
        let h = format!("Authorization: Bearer {cred}");
        api.call(
            &["-X", "POST", "-H", &h],
            &format!("/api/jobs/job-4471/steps/{step}/approve"),
        )
    };
    assert_eq!(approve("harden").0, 403, "a shop step");
    let (code, body) = approve("client-approval");
    assert_eq!(code, 409, "the report is not ready: {body}");
    assert!(body.contains("refused"), "{body}");

    // LiveStatus: the snapshot, and the stream replayed from height 0.
    let (code, status) = api.json(&cred, "/api/jobs");
    assert_eq!(code, 200);
    assert_eq!(status["jobs"][0]["job"], "job-4471");
    let h = format!("Authorization: Bearer {cred}");
    let (_, events) = api.call(
        &["-N", "--max-time", "3", "-H", &h, "-H", "Last-Event-ID: 0"],
        "/api/events",
    );
    assert!(events.contains("event: jobs"), "{events}");
    assert!(events.contains("job opened"), "{events}");
    assert!(events.contains("ClientPo filed"), "{events}");
    assert!(
        !events.contains("job-9"),
        "another client's job leaked: {events}"
    );
    let (code, doc) = api.get(None, "/api/openapi.json");
    assert_eq!(code, 200);
    assert!(doc.contains("/api/uploads"));

    // Property-based API testing from the OpenAPI document: no input makes
    // the gateway fail (no 5xx). CI installs schemathesis; elsewhere it is
    // used when present.
    let st = Command::new("schemathesis").arg("--version").output();
    if st.as_ref().is_ok_and(|o| o.status.success()) {
        let out = Command::new("schemathesis")
            .args(["run", &format!("{}/api/openapi.json", api.base)])
            .args(["--checks", "not_a_server_error", "--max-examples", "10"])
            .args(["--tls-verify", s(&api.cacert)])
            .args(["-H", &format!("Authorization: Bearer {cred}")])
            .args(["--request-timeout", "10"])
            .env("NO_COLOR", "1")
            .output()
            .expect("run schemathesis");
        assert!(
            out.status.success(),
            "schemathesis found failures:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install schemathesis (see .ci/run)"
        );
        eprintln!("schemathesis is not installed here: the API fuzzing part is skipped");
    }

    // The dashboard in headless Chromium: sign in, see a job appear live
    // (server-sent events, no reload), save a screenshot. CI installs
    // Chromium, its driver and selenium.
    let browser = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success())
        && Path::new("/usr/bin/chromedriver").exists();
    if browser {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.py");
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        let _ = std::fs::remove_file(&shot);
        let mut child = Command::new("python3")
            .arg(&script)
            .args([&format!("{}/", api.base), &cred, "job-77", s(&shot)])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the browser script");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(
            ready.as_deref(),
            Some("READY"),
            "the dashboard did not sign in"
        );
        shop.act(
            "project-manager",
            Action::OpenJob {
                job: "job-77".into(),
                contract: "po-4471-heat-treat".into(),
                client: acme.id(),
                parts: vec!["AA-88213-C x12".into()],
            },
        )
        .await;
        let done = lines.next().and_then(Result::ok);
        let status = child.wait().expect("browser script");
        assert!(
            status.success() && done.as_deref() == Some("DONE"),
            "the dashboard did not show the new job live: {done:?}"
        );
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
        eprintln!("dashboard screenshot: {}", shot.display());
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium, chromium-driver and selenium (see .ci/run)"
        );
        eprintln!("no headless Chromium with selenium here: the browser part is skipped");
    }

    // Revocation in the ledger shuts the credential out.
    shop.act(
        "project-manager",
        Action::RevokeApiCredential { id: c.id.clone() },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.get(Some(&cred), "/api/whoami").0 != 401 {
        assert!(
            Instant::now() < deadline,
            "a revoked credential still works"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(procs);
}

/// Slow-loris: hundreds of connections that open and then send nothing, or
/// a few bytes of a TLS handshake, and stall. The gateway keeps serving real
/// clients meanwhile and cuts every stalled connection after its handshake
/// timeout (5 s), so they cannot hold its connection slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_cut_and_clients_are_served_meanwhile() {
    use smart_testnet::{Layout, Network, PeerKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init_network(tmp.path(), 0);
    let layout = Layout::allocate(&[
        ("vault-hub".to_string(), PeerKind::Hub),
        ("floor-hub".to_string(), PeerKind::Hub),
        ("business-hub".to_string(), PeerKind::Hub),
        ("gateway".to_string(), PeerKind::Gateway),
    ])
    .expect("ports");
    let mut net = Network::new(Path::new(env!("CARGO_BIN_EXE_smart")), &dir, layout);
    net.set_args("gateway", &["--api-rate", "5"]);
    tokio::task::block_in_place(|| net.start_all()).expect("start");
    net.wait_leader(Duration::from_secs(30))
        .await
        .expect("leader");
    let addr = net.gateway_addr().expect("gateway");
    let cert = dir.join("gateway/tls/cert.pem");
    let health = || {
        let t = Instant::now();
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                "--cacert",
            ])
            .arg(&cert)
            .arg(format!("https://{addr}/health"))
            .output()
            .expect("curl");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            t.elapsed(),
        )
    };
    assert_eq!(health().0, "200");

    let mut stalled = Vec::new();
    for i in 0..400 {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        if i % 4 == 0 {
            // The start of a TLS record, then nothing.
            s.write_all(&[0x16, 0x03, 0x01, 0x00]).await.expect("write");
        }
        stalled.push(s);
    }
    let opened = Instant::now();
    let (code, took) = health();
    assert_eq!(
        code, "200",
        "a real client is served while 400 connections stall"
    );
    assert!(took < Duration::from_secs(3), "served in {took:?}");

    // After the handshake timeout every stalled connection is closed by the gateway.
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(opened.elapsed())).await;
    let mut still_open = 0;
    for s in &mut stalled {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) => {
                // An alert before closing is fine; the close must follow.
                if !matches!(
                    tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await,
                    Ok(Ok(0)) | Ok(Err(_))
                ) {
                    still_open += 1;
                }
            }
            Err(_) => still_open += 1,
        }
    }
    assert_eq!(still_open, 0, "stalled connections the gateway kept open");
    assert_eq!(health().0, "200");

    // Calls without a credential are limited per remote address (5/s, bursts
    // of 10): one address hammering gets 429s, another is still served.
    let burst = |from: &str, n: usize| {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--interface", from, "--cacert"]).arg(&cert);
        for _ in 0..n {
            cmd.args(["-o", "/dev/null", "-w", "%{http_code}\n"])
                .arg(format!("https://{addr}/health"));
        }
        let out = cmd.output().expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let hammer = burst("127.0.0.1", 40);
    assert!(hammer.iter().any(|c| c == "429"), "{hammer:?}");
    let other = burst("127.0.0.2", 3);
    assert!(
        other.iter().all(|c| c == "200"),
        "another address is served: {other:?}"
    );

    // Staff see the calls on the gateway's internal dashboard (API status log).
    let metrics = net.metrics_addr("gateway").expect("metrics address");
    let (code, body) = smart_testnet::status::http_get(metrics, "/status", Duration::from_secs(3))
        .await
        .expect("status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let calls: Vec<&str> = status["api_calls"]
        .as_array()
        .expect("api_calls")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(!calls.is_empty() && calls.len() <= 50, "{calls:?}");
    assert!(
        calls.iter().any(|c| c.contains(" 429 GET /health - ")),
        "the refused calls are in the log: {calls:?}"
    );
    tokio::task::block_in_place(|| net.stop_all());
}
