//! `smart contract validate` and `smart contract simulate` through the binary.

mod common;

use common::*;

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_examples_and_locates_mistakes() {
    let examples: Vec<String> = std::fs::read_dir(repo("contracts/examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    let mut args = vec!["contract", "validate"];
    args.extend(examples.iter().map(String::as_str));
    let out = run_ok(&args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count(),
        9
    );

    let broken = repo("contracts/tests/broken/unknown-step.yaml");
    let out = smart()
        .args(["contract", "validate", &broken])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unknown-step.yaml:13:"), "{text}");
    assert!(
        text.contains("steps[1].after[0]: no step \"inspection\""),
        "{text}"
    );
}

#[test]
fn simulate_runs_the_po_day_with_each_seed_rule() {
    let out = run_ok(&[
        "contract",
        "simulate",
        &repo("contracts/examples/smart-client-po.yaml"),
        "--events",
        &repo("contracts/histories/po-4471-day.yaml"),
        "--json",
    ]);
    let sim: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let refused: Vec<u64> = sim["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["outcome"]["Refused"]["code"].as_u64())
        .collect();
    // Material cert missing, harden before pre-check, expired token,
    // out-of-limit soak, report before QA, invoice before client approval.
    assert_eq!(refused, vec![11, 7, 5, 16, 7, 7]);
    assert_eq!(sim["state"]["jobs"]["job-4471"]["status"], "Completed");
    assert_eq!(sim["state"]["invoices"][0]["amount_cents"], 486_000);
    assert_eq!(
        sim["state"]["payments"].as_array().map(Vec::len),
        Some(2),
        "no first-pass bonus after a nonconformance"
    );
}

#[test]
fn simulate_against_a_ledger_reports_impact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("vault-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "50",
        "--block-size",
        "25",
    ]);
    let out = run_ok(&[
        "contract",
        "simulate",
        &repo("contracts/examples/smart-client-po.yaml"),
        "--against",
        s(&hub),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would have decided every past job"), "{text}");
}

#[test]
fn simulate_writes_json_for_a_history_with_an_examination() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("exam.yaml");
    std::fs::write(
        &history,
        r#"actors:
  qa-lee: [QA]
  tech-7: [Technician]
events:
  - { at: 2026-11-02T07:00, by: qa-lee, do: { record_education: { person: "@tech-7", record: { exam: { method: Ut, level: 2, part: General, score: 85 } } } } }
"#,
    )
    .expect("history");
    let out = run_ok(&[
        "contract",
        "simulate",
        &repo("contracts/examples/smart-client-po.yaml"),
        "--events",
        history.to_str().expect("utf-8 path"),
        "--json",
    ]);
    let sim: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(sim["events"][0]["outcome"], "Accepted", "{sim}");
    let education = sim["state"]["education"]
        .as_object()
        .expect("transcripts by person");
    let exams = education
        .values()
        .next()
        .and_then(|t| t["exams"].as_array())
        .expect("the examination");
    assert_eq!(exams[0][0], serde_json::json!(["Ut", 2, "General"]));
}
