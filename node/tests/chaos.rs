//! The fault-injection suite: every `smart testnet chaos` scenario once, on
//! real hub and station processes with real stores. Each run itself checks
//! that no acknowledged tx is lost, none is applied twice, every peer ends
//! on one tip and every folder passes the full ledger verification; this
//! test checks that each scenario ran, passed and measured what it names.

mod common;

use common::*;

#[test]
fn every_fault_scenario_keeps_the_ledger_whole() {
    let out = smart()
        .args(["testnet", "chaos", "--json"])
        .output()
        .expect("run smart testnet chaos");
    let text = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&json["medians"]).unwrap_or_default()
    );
    let runs = json["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs.iter().filter_map(|r| r["scenario"].as_str()).collect();
    assert_eq!(
        names,
        [
            "leader-kill",
            "hub-kill",
            "pause",
            "partition-hub",
            "partition-node",
            "restart",
            "disk-full"
        ]
    );
    for r in runs {
        let name = r["scenario"].as_str().unwrap_or("?");
        assert_eq!(r["passed"], true, "{name}: {r}");
        let skipped = r["note"].as_str().is_some_and(|n| n.starts_with("skipped"));
        if skipped {
            // Only the full disk may be skipped, and only without root.
            assert_eq!(name, "disk-full", "{r}");
            continue;
        }
        let acked = r["acknowledged"].as_u64().unwrap_or(0);
        assert!(acked > 50, "{name}: the load barely ran: {r}");
        assert!(
            r["ledger_txs"].as_u64().unwrap_or(0) >= acked,
            "{name}: {r}"
        );
        let expect: &[&str] = match name {
            "leader-kill" | "partition-hub" => &["failover_ms", "catch_up_ms"],
            "hub-kill" | "pause" | "disk-full" => &["catch_up_ms"],
            "partition-node" => &["handoff_ms"],
            "restart" => &["failover_ms"],
            other => panic!("unknown scenario {other}"),
        };
        for figure in expect {
            assert!(
                r[figure].as_f64().is_some(),
                "{name} measured no {figure}: {r}"
            );
        }
    }
    assert!(out.status.success(), "{text}");
}
