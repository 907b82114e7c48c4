//! The figures of a chaos run: one row per scenario run, and medians.

use std::time::Duration;

use super::*;

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn print_row(r: &RunReport) {
    let fig =
        |name: &str, v: Option<f64>| v.map(|v| format!(" {name} {v:.0} ms")).unwrap_or_default();
    println!(
        "{:<15} run {:>2}  {}  {} acked ({} re-sent, found ordered), {} in ledger{}{}{}  ({:.1} s){}",
        r.scenario,
        r.run,
        if r.passed { "PASS" } else { "FAIL" },
        r.acknowledged,
        r.deduplicated,
        r.ledger_txs,
        fig("failover", r.failover_ms),
        fig("catch-up", r.catch_up_ms),
        fig("handoff", r.handoff_ms),
        r.seconds,
        r.note
            .as_ref()
            .map(|n| format!("\n      {n}"))
            .unwrap_or_default()
    );
}

pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

pub(super) fn medians(reports: &[RunReport]) -> Vec<(String, String)> {
    let mut names: Vec<&str> = reports.iter().map(|r| r.scenario.as_str()).collect();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let of = |f: fn(&RunReport) -> Option<f64>| {
                median(
                    reports
                        .iter()
                        .filter(|r| r.scenario == name)
                        .filter_map(f)
                        .collect(),
                )
            };
            let runs: Vec<&RunReport> = reports.iter().filter(|r| r.scenario == name).collect();
            let mut text = format!(
                "{}/{} passed",
                runs.iter().filter(|r| r.passed).count(),
                runs.len()
            );
            for (label, v) in [
                ("failover", of(|r| r.failover_ms)),
                ("catch-up", of(|r| r.catch_up_ms)),
                ("handoff", of(|r| r.handoff_ms)),
            ] {
                if let Some(v) = v {
                    text.push_str(&format!(", {label} {v:.0} ms"));
                }
            }
            (name.to_string(), text)
        })
        .collect()
}
