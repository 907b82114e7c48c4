//! `smart state prove` writes a proof of a contract state record (its
//! value, or its absence) at a certified height — the tip's stored state or
//! an earlier height's, rebuilt by replay — and `smart proof verify` checks
//! it offline; a changed value is refused.

mod common;

use common::*;

fn prove(hub: &std::path::Path, key: &str, height: Option<u64>, out: &std::path::Path) {
    let mut args = vec![
        "state",
        "prove",
        "--data",
        s(hub),
        "--key",
        key,
        "--out",
        s(out),
    ];
    let h = height.map(|h| h.to_string());
    if let Some(h) = &h {
        args.extend(["--height", h.as_str()]);
    }
    run_ok(&args);
}

fn verify(file: &std::path::Path) -> (i32, serde_json::Value) {
    let out = smart()
        .args(["proof", "verify", "--json", s(file)])
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).expect("json"),
    )
}

#[test]
fn state_records_are_proven_at_certified_heights_and_checked_offline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 2);
    let hub = net.join("vault-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "20",
        "--block-size",
        "5",
    ]);
    let genesis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(net.join("genesis.json")).expect("genesis"))
            .expect("json");
    let station = genesis["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["name"] == "station-1")
        .and_then(|p| p["id"].as_str())
        .expect("station-1")
        .to_string();

    // Present at the tip (the stored state) and at height 2 (replayed).
    for height in [None, Some(2)] {
        let file = tmp.path().join(format!("station-{height:?}.json"));
        prove(&hub, &format!("floor.stations/{station}"), height, &file);
        let (code, json) = verify(&file);
        assert_eq!(code, 0, "{json}");
        assert_eq!(json["value"], "station-1", "{json}");
        assert_eq!(json["proven"]["height"], height.unwrap_or(4), "{json}");
    }

    // Absent: a job that was never opened.
    let absent = tmp.path().join("absent.json");
    prove(&hub, "jobs/J-404", None, &absent);
    let (code, json) = verify(&absent);
    assert_eq!(code, 0, "{json}");
    assert!(json["proven"]["value"].is_null(), "{json}");

    // A changed value, or a claim of a value for the absent job, is refused.
    let file = tmp.path().join("station-None.json");
    let mut proof: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let value = proof["value"].as_str().expect("value hex").to_string();
    let mut flipped = hex::decode(&value).expect("hex");
    flipped[1] ^= 1;
    proof["value"] = serde_json::Value::String(hex::encode(flipped));
    std::fs::write(&file, serde_json::to_vec(&proof).expect("json")).expect("write");
    let (code, json) = verify(&file);
    assert_eq!(code, 1, "{json}");
    let mut claim: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&absent).expect("read")).expect("json");
    claim["value"] = serde_json::Value::String(value);
    std::fs::write(&absent, serde_json::to_vec(&claim).expect("json")).expect("write");
    let (code, json) = verify(&absent);
    assert_eq!(code, 1, "{json}");

    // Bad requests get a clear error.
    let (code, text) = run(&["state", "prove", "--data", s(&hub), "--key", "nokind/x"]);
    assert_ne!(code, 0);
    assert!(text.contains("no record kind"), "{text}");
    let (code, text) = run(&[
        "state",
        "prove",
        "--data",
        s(&hub),
        "--key",
        "jobs/x",
        "--height",
        "99",
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("no certified block at height 99"), "{text}");
}
