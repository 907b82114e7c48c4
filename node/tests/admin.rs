//! SMART-Admin (Create-Deploy-Release) on a real 3-hub network with a
//! station: `smart admin bundle` packages two contracts, `deploy` proposes
//! them, each governance role approves with its own key, and the station —
//! which only follows the hubs' blocks by gossip — holds both versions
//! active with the approvals the ledger recorded. A second release
//! supersedes the first; a changed bundle and a repeated approval are
//! refused.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contracts/examples")
        .join(name)
}

/// `smart admin status BUNDLE --data DIR --json [--metrics M] --wait W`.
fn status(
    bundle: &Path,
    data: &Path,
    metrics: Option<&str>,
    wait: u64,
) -> (i32, serde_json::Value) {
    let mut args = vec!["admin", "status", s(bundle), "--data", s(data), "--json"];
    if let Some(m) = metrics {
        args.extend(["--metrics", m]);
    }
    let wait = wait.to_string();
    args.extend(["--wait", &wait]);
    let (code, out) = run(&args);
    let json = serde_json::from_str(out.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("status printed no JSON ({e}): {out}"));
    (code, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_is_proposed_approved_by_each_role_and_reaches_the_station() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut net = HubNet::start(tmp.path()).await;
    let station = net.start_station("station-1");
    let vault = net.dir.join("vault-hub");
    let hub = net.vault.to_string();
    let key = |p: &str| net.dir.join(format!("people/{p}.key"));

    // Create: two checked contracts in one bundle.
    let r1 = tmp.path().join("r1.bundle");
    let heat = example("smart-sp-heat-treat.yaml");
    let po = example("smart-client-po.yaml");
    let (code, said) = run(&[
        "admin",
        "bundle",
        "--out",
        s(&r1),
        "--name",
        "r1",
        s(&heat),
        s(&po),
    ]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("sp-heat-treat-ams2750 v1") && said.contains("po-4471-heat-treat v1"));

    // A bundle changed after it was made is refused before anything is sent.
    let tampered = tmp.path().join("tampered.bundle");
    let text = std::fs::read_to_string(&r1).expect("bundle");
    std::fs::write(&tampered, text.replacen("AMS", "XMS", 1)).expect("write");
    let (code, said) = run(&[
        "admin",
        "deploy",
        s(&tampered),
        "--to",
        &hub,
        "--key",
        s(&key("admin")),
    ]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("does not match its hash"), "{said}");

    // Deploy: both are proposed; nothing is active yet.
    let (code, said) = run(&[
        "admin",
        "deploy",
        s(&r1),
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(said.matches("recorded ").count(), 2, "{said}");
    let (code, json) = status(&r1, &vault, Some(&net.metrics), 0);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["contracts"][0]["status"], "Proposed", "{json}");

    // Approve: each governance role with its own key.
    let roles = [
        ("admin", "Admin"),
        ("compliance", "Compliance"),
        ("qa", "QA"),
    ];
    for (who, role) in roles {
        let (code, said) = run(&[
            "admin",
            "approve",
            s(&r1),
            "--role",
            role,
            "--to",
            &hub,
            "--key",
            s(&key(who)),
        ]);
        assert_eq!(code, 0, "{who}: {said}");
    }
    // Three of four roles: still waiting.
    let (code, json) = status(&r1, &vault, Some(&net.metrics), 0);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["released"], false);
    // A role approves only once.
    let (code, said) = run(&[
        "admin",
        "approve",
        s(&r1),
        "--role",
        "QA",
        "--to",
        &hub,
        "--key",
        s(&key("qa")),
    ]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("already approved"), "{said}");
    // A person cannot approve in a role they do not hold.
    let (code, said) = run(&[
        "admin",
        "approve",
        s(&r1),
        "--role",
        "ProjectManager",
        "--to",
        &hub,
        "--key",
        s(&key("qa")),
    ]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("does not hold the role"), "{said}");
    let (code, said) = run(&[
        "admin",
        "approve",
        s(&r1),
        "--role",
        "ProjectManager",
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 0, "{said}");

    // Release: active on the hub, and on the station by gossip, with the
    // approvals the ledger recorded.
    let (code, json) = status(&r1, &vault, Some(&net.metrics), 20);
    assert_eq!(code, 0, "{json}");
    let (code, json) = status(&r1, &station, None, 30);
    assert_eq!(code, 0, "station: {json}");
    println!("station-1: {json}");
    for c in json["contracts"].as_array().expect("contracts") {
        assert_eq!(c["status"], "Active", "{json}");
        let by: Vec<String> = c["approvals"]
            .as_array()
            .expect("approvals")
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a[0].as_str().unwrap_or(""),
                    a[1].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                "Admin admin",
                "Qa qa",
                "ProjectManager project-manager",
                "Compliance compliance"
            ],
            "{json}"
        );
    }

    // A second release of one contract supersedes the first, everywhere.
    let v2 = tmp.path().join("heat-v2.yaml");
    let text = std::fs::read_to_string(&heat).expect("contract");
    std::fs::write(&v2, text.replacen("version: 1", "version: 2", 1)).expect("write");
    let r2 = tmp.path().join("r2.bundle");
    let (code, said) = run(&["admin", "bundle", "--out", s(&r2), "--name", "r2", s(&v2)]);
    assert_eq!(code, 0, "{said}");
    let (code, said) = run(&[
        "admin",
        "deploy",
        s(&r2),
        "--to",
        &hub,
        "--key",
        s(&key("admin")),
    ]);
    assert_eq!(code, 0, "{said}");
    for (who, role) in roles
        .into_iter()
        .chain([("project-manager", "ProjectManager")])
    {
        let (code, said) = run(&[
            "admin",
            "approve",
            s(&r2),
            "--role",
            role,
            "--to",
            &hub,
            "--key",
            s(&key(who)),
        ]);
        assert_eq!(code, 0, "{who}: {said}");
    }
    let (code, json) = status(&r2, &station, None, 30);
    assert_eq!(code, 0, "station: {json}");
    let (code, json) = status(&r1, &station, None, 0);
    assert_eq!(code, 1, "r1 is no longer all active: {json}");
    assert_eq!(json["contracts"][0]["status"], "Superseded", "{json}");
    assert_eq!(json["contracts"][1]["status"], "Active", "{json}");

    // The module list names the release state.
    let out = run_ok(&["modules", "--data", s(&vault), "--metrics", &net.metrics]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SMART-Admin") && text.contains("nothing awaits approval"),
        "{text}"
    );
}
