//! The operator CLI: keys, init, show, prove and offline proof checks.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use smart_ledger::Keypair;

#[test]
fn keygen_writes_a_private_key_and_refuses_a_readable_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = tmp.path().join("tech-7.key");
    let out = run_ok(&["keygen", "--out", s(&key)]);
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let loaded = Keypair::read_file(&key).expect("read own key");
    assert_eq!(loaded.id().to_string(), printed);
    assert_eq!(
        printed.parse::<smart_ledger::SmartId>().expect("parse"),
        loaded.id()
    );

    // Never overwritten.
    let again = smart()
        .args(["keygen", "--out", s(&key)])
        .output()
        .expect("run");
    assert!(!again.status.success());

    // Readable by others: refused with a clear reason.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Keypair::read_file(&key).expect_err("world-readable key");
    assert!(err.to_string().contains("readable by others"), "{err}");
}

#[test]
fn init_makes_a_folder_per_peer_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 2);
    for peer in [
        "vault-hub",
        "floor-hub",
        "business-hub",
        "station-1",
        "station-2",
        "gateway",
    ] {
        assert!(net.join(peer).join("peer.key").exists(), "{peer} key");
        assert!(
            net.join(peer).join("genesis.json").exists(),
            "{peer} genesis"
        );
    }
    for person in ["admin", "compliance", "qa", "project-manager"] {
        assert!(
            net.join("people").join(format!("{person}.key")).exists(),
            "{person}"
        );
    }
    let again = smart()
        .args(["init", "--dir", s(&net)])
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a network"));
}

#[test]
fn prove_and_verify_a_tx_offline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("vault-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "300",
        "--block-size",
        "100",
    ]);
    // Any tx of block 2.
    let shown = run_ok(&["ledger", "show", "--data", s(&hub), "--height", "2"]);
    let block: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    let tx = block["txs"][5]["hash"]
        .as_str()
        .expect("tx hash")
        .to_string();
    let shown = run_ok(&["ledger", "show", "--data", s(&hub), "--tx", &tx]);
    let view: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(view["height"], 2);
    assert_eq!(view["leaf_index"], 105);

    let proof = tmp.path().join("proof.json");
    run_ok(&[
        "ledger",
        "prove",
        "--data",
        s(&hub),
        "--tx",
        &tx,
        "--since",
        "150",
        "--out",
        s(&proof),
    ]);
    let out = run_ok(&["proof", "verify", s(&proof), "--json"]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["verified"], true);
    assert_eq!(result["proven"]["height"], 2);
    assert_eq!(result["proven"]["ledger_size"], 300);

    // The proof is checked against the chain the auditor trusts.
    let wrong_chain = "00".repeat(32);
    let out = smart()
        .args(["proof", "verify", s(&proof), "--chain", &wrong_chain])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));

    // Tampered proofs are refused: another tx's leaf index, a changed outcome.
    let text = std::fs::read_to_string(&proof).expect("read");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["ledger"]["leaf_index"] = serde_json::json!(106);
    std::fs::write(&proof, value.to_string()).expect("write");
    let out = smart()
        .args(["proof", "verify", s(&proof)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROOF REFUSED"));

    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["block"]["outcomes"][5] =
        serde_json::json!({"Refused": {"code": 9, "reason": "rewritten"}});
    std::fs::write(&proof, value.to_string()).expect("write");
    let out = smart()
        .args(["proof", "verify", s(&proof)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));

    // Not a proof at all.
    std::fs::write(&proof, "{\"format\": 1}").expect("write");
    let out = smart()
        .args(["proof", "verify", s(&proof)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not a SMART tx proof"));
}

#[test]
fn verify_of_a_folder_without_a_ledger_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, json) = verify_json(tmp.path());
    assert_eq!(code, 1);
    assert!(
        json["failure"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no ledger"),
        "{json}"
    );
}

#[test]
fn demo_runs_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run_ok(&[
        "demo",
        "--dir",
        s(&tmp.path().join("shop")),
        "--txs",
        "1000",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches(" intact: ").count(),
        10,
        "3 hubs, 6 stations and the gateway: {text}"
    );
    // The client's part went through the gateway over HTTPS.
    assert!(text.contains("upload PO 4471 (HTTPS)"), "{text}");
    assert!(text.contains("step client-approval (HTTPS)"), "{text}");
    assert!(text.contains("verified offline); "), "{text}");
    assert!(text.contains("6 refused (each by its rule)"), "{text}");
    assert!(
        text.contains("invoice  job-4471 final: 4860.00 USD to acme-aero"),
        "{text}"
    );
    assert!(text.contains("with outcome Accepted"), "{text}");
    // State proofs of the job and tech-7's token at the invoice's height.
    assert!(
        text.contains("jobs/job-4471 in the state certified at height"),
        "{text}"
    );
    assert!(text.contains("tokens/"), "{text}");
    // The station shift at station-1's kiosk: the Guardian releases the parts.
    assert!(
        text.contains("release of shift-1's parts — every floor step done"),
        "{text}"
    );
}

/// `smart testnet up` on an existing folder starts the same network again
/// (same addresses, the ledger from disk) and runs a new job; without `--for`
/// it runs until SIGINT, then stops every peer and verifies every ledger.
#[test]
fn testnet_up_restarts_from_its_folder_and_stops_on_ctrl_c() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    let args = [
        "testnet",
        "up",
        "--hubs",
        "3",
        "--nodes",
        "2",
        "--dir",
        s(&dir),
        "--demo",
    ];
    let mut first: Vec<&str> = args.to_vec();
    first.extend(["--for", "0s"]);
    let out = run_ok(&first);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" intact: ").count(), 6, "{text}");
    assert!(text.contains("summary of job-4471\n"), "{text}");
    let layout = std::fs::read_to_string(dir.join("testnet.json")).expect("layout");

    // Again, this time until SIGINT.
    let (mut child, mut out) = spawn_smart(&args);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        text.push_str(&line);
        if line.contains("the network is up") {
            child.interrupt();
        }
    }
    let status = child.wait();
    assert!(status.success(), "{text}");
    assert!(text.contains("(existing folder)"), "{text}");
    assert!(text.contains("summary of job-4471-2\n"), "{text}");
    assert!(text.contains("6 refused (each by its rule)"), "{text}");
    assert_eq!(text.matches(" intact: ").count(), 6, "{text}");
    assert!(text.contains("invoice  job-4471-2 final"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.join("testnet.json")).expect("layout"),
        layout,
        "the network keeps its addresses"
    );
}

/// `smart backup` of running peers (each writes a consistent copy while it
/// goes on) and of a stopped one; `smart restore` makes a folder that
/// verifies; a restore never lands on an existing ledger.
#[test]
fn backups_of_running_and_stopped_peers_restore_and_verify() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    let (mut child, mut out) = spawn_smart(&[
        "testnet",
        "up",
        "--hubs",
        "3",
        "--nodes",
        "1",
        "--dir",
        s(&dir),
        "--demo",
    ]);
    let mut text = String::new();
    while !text.contains("the network is up") {
        let mut line = String::new();
        assert!(out.read_line(&mut line).expect("read") > 0, "{text}");
        text.push_str(&line);
    }
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).expect("layout"))
            .expect("json");
    let metrics = |name: &str| {
        let port = layout["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["metrics_port"].as_u64())
            .expect("port");
        format!("127.0.0.1:{port}")
    };

    // A running peer's store is locked: verify does not call that damage.
    let busy = smart()
        .args(["ledger", "verify", "--data", s(&dir.join("station-1"))])
        .output()
        .expect("run");
    assert_eq!(busy.status.code(), Some(2), "{busy:?}");
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use by a running peer"),
        "{busy:?}"
    );
    assert!(!String::from_utf8_lossy(&busy.stdout).contains("DAMAGED"));

    // A running peer's store is locked: the error says what to do.
    let station_backup = tmp.path().join("station-1.backup");
    let refused = smart()
        .args([
            "backup",
            "--data",
            s(&dir.join("station-1")),
            "--out",
            s(&station_backup),
        ])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--metrics"),
        "{refused:?}"
    );
    assert!(!station_backup.exists());

    let ok = run_ok(&[
        "backup",
        "--data",
        s(&dir.join("station-1")),
        "--metrics",
        &metrics("station-1"),
        "--out",
        s(&station_backup),
    ]);
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        said.contains("the running peer wrote a consistent copy"),
        "{said}"
    );
    assert!(said.contains(", verified"), "{said}");
    // A station's outbox (offline decisions not yet ordered) comes along.
    assert!(said.contains("the station's outbox"), "{said}");
    assert!(tmp.path().join("station-1.backup.outbox").exists());
    let hub_backup = tmp.path().join("vault-hub.backup");
    run_ok(&[
        "backup",
        "--data",
        s(&dir.join("vault-hub")),
        "--metrics",
        &metrics("vault-hub"),
        "--out",
        s(&hub_backup),
    ]);
    // Never overwritten.
    let again = smart()
        .args([
            "backup",
            "--data",
            s(&dir.join("vault-hub")),
            "--metrics",
            &metrics("vault-hub"),
            "--out",
            s(&hub_backup),
        ])
        .output()
        .expect("run");
    assert!(!again.status.success());

    child.interrupt();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut rest);
    assert!(child.wait().success(), "{rest}");

    // A stopped peer: copied from its folder.
    let stopped_backup = tmp.path().join("business-hub.backup");
    let ok = run_ok(&[
        "backup",
        "--data",
        s(&dir.join("business-hub")),
        "--out",
        s(&stopped_backup),
    ]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("the peer is stopped"));

    let restored = tmp.path().join("restored-station");
    let ok = run_ok(&[
        "restore",
        "--from",
        s(&station_backup),
        "--data",
        s(&restored),
        "--key",
        s(&dir.join("station-1").join("peer.key")),
    ]);
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("restored "),
        "{ok:?}"
    );
    let (code, json) = verify_json(&restored);
    assert_eq!(code, 0, "{json}");
    assert!(restored.join("peer.key").exists() && restored.join("genesis.json").exists());
    assert!(
        restored.join("outbox.redb").exists(),
        "the outbox is restored with the ledger"
    );
    let refused = smart()
        .args(["restore", "--from", s(&hub_backup), "--data", s(&restored)])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already holds a ledger"));
    let (code, json) = verify_json(&restored);
    assert_eq!(code, 0, "the refused restore changed nothing: {json}");
}

#[test]
fn ledger_show_into_a_closed_pipe_exits_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("vault-hub");
    // One block of 2,000 txs: far more JSON than a pipe's buffer holds.
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "2000",
        "--block-size",
        "2000",
    ]);
    let mut child = smart()
        .args(["ledger", "show", "--data", s(&hub), "--height", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away at once, like `| head -c 0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}
