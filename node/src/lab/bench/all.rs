//! `smart bench all`: every benchmark (each as its own process of this
//! binary, so one cannot warm or starve the next), the machine they ran on,
//! and BENCHMARKS.md-ready tables.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One benchmark: its name, the command that produced it, its JSON.
struct Run {
    name: &'static str,
    args: Vec<String>,
    json: Value,
}

/// The machine, as far as this process can tell.
fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": mem_gib,
        "kernel": kernel,
        "commit": git,
        "date": smart_ledger::clock::now_ms() / 1000,
    })
}

/// `smart bench all`.
pub(crate) fn all(
    quick: bool,
    chaos_runs: u32,
    json: bool,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let exe = std::env::current_exe()?;
    let mut plan: Vec<(&'static str, Vec<&str>)> = vec![
        ("ledger", vec!["bench", "ledger", "--json"]),
        ("vm", vec!["bench", "vm"]),
        ("commit", vec!["bench", "commit", "--json"]),
        ("gossip", vec!["bench", "gossip", "--json"]),
        ("gateway", vec!["bench", "gateway", "--json"]),
        ("station", vec!["bench", "station"]),
        ("audit", vec!["bench", "audit"]),
    ];
    if quick {
        plan[0].1.extend(["--txs", "10240", "--runs", "3"]);
        plan[1].1.extend(["--jobs", "500", "--runs", "3"]);
        plan[2].1.extend(["--txs", "20000"]);
        plan[3]
            .1
            .extend(["--seconds", "4", "--catch-up-blocks", "2000"]);
        plan[4].1.extend(["--seconds", "3", "--sse-clients", "300"]);
        plan[5].1.extend(["--jobs", "500", "--runs", "5"]);
        plan[6].1.extend(["--txs", "2000", "--runs", "3"]);
    }
    let chaos_arg = chaos_runs.to_string();
    if chaos_runs > 0 {
        plan.push((
            "chaos",
            vec!["testnet", "chaos", "--json", "--runs", &chaos_arg],
        ));
    }
    let mut runs = Vec::new();
    for (name, args) in plan {
        if !json {
            eprintln!("== smart {}", args.join(" "));
        }
        let output = Command::new(&exe)
            .args(&args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running smart {}", args.join(" ")))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("smart {} printed no JSON: {text}", args.join(" ")))?;
        if !output.status.success() {
            bail!("smart {} failed: {text}", args.join(" "));
        }
        runs.push(Run {
            name,
            args: args.iter().map(|a| a.to_string()).collect(),
            json: value,
        });
    }
    let machine = machine();
    if json {
        let mut all = serde_json::Map::new();
        all.insert("machine".into(), machine.clone());
        for r in &runs {
            all.insert(
                r.name.into(),
                serde_json::json!({"command": format!("smart {}", r.args.join(" ")), "result": r.json}),
            );
        }
        println!("{}", serde_json::to_string_pretty(&Value::Object(all))?);
    }
    let markdown = render(&machine, &runs);
    match out {
        Some(path) => {
            std::fs::write(path, &markdown)?;
            if !json {
                println!("wrote {}", path.display());
            }
        }
        None if !json => print!("{markdown}"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// A number for a table: integers plain, others with sensible precision.
fn num(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Flattens a benchmark's JSON into (name, value) rows: a `{median, min,
/// max, unit}` figure as one row, a `{p50_ms, p99_ms, max_ms}` latency as
/// one row, other numbers and strings as they are.
fn rows(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if m.contains_key("median") && m.contains_key("unit") => {
            let f = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            out.push((
                prefix.to_string(),
                format!(
                    "**{}** {} (min {}, max {})",
                    num(f("median")),
                    m.get("unit").and_then(Value::as_str).unwrap_or(""),
                    num(f("min")),
                    num(f("max"))
                ),
            ));
        }
        Value::Object(m) if m.contains_key("p50_ms") && m.contains_key("p99_ms") => {
            let f = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            out.push((
                prefix.to_string(),
                format!(
                    "p50 **{} ms**, p99 {} ms, max {} ms",
                    num(f("p50_ms")),
                    num(f("p99_ms")),
                    num(f("max_ms"))
                ),
            ));
        }
        Value::Object(m) => {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                rows(&name, v, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                // `[name, value]` pairs (per-node figures) read better by name.
                if let Value::Array(pair) = item
                    && pair.len() == 2
                    && let Some(n) = pair[0].as_str()
                {
                    rows(&format!("{prefix}.{n}"), &pair[1], out);
                } else {
                    rows(&format!("{prefix}[{i}]"), item, out);
                }
            }
        }
        Value::Number(n) => out.push((prefix.to_string(), num(n.as_f64().unwrap_or(0.0)))),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Null => {}
    }
}

fn render(machine: &Value, runs: &[Run]) -> String {
    let mut md = String::new();
    let m = |k: &str| {
        machine
            .get(k)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    };
    let _ = writeln!(
        md,
        "Machine: {} ({} cores), {} GiB, Linux {}; commit {}. Medians unless noted; the machine is shared and noisy.\n",
        m("cpu"),
        m("cores"),
        m("memory_gib"),
        m("kernel"),
        m("commit").trim_matches('"')
    );
    for r in runs {
        let _ = writeln!(md, "### {}\n\n`smart {}`\n", r.name, r.args.join(" "));
        let _ = writeln!(md, "| figure | value |\n| --- | --- |");
        let mut out = Vec::new();
        if r.name == "chaos" {
            if let Some(Value::Array(medians)) = r.json.get("medians") {
                for pair in medians {
                    if let Value::Array(p) = pair
                        && let (Some(n), Some(v)) = (
                            p.first().and_then(Value::as_str),
                            p.get(1).and_then(Value::as_str),
                        )
                    {
                        out.push((n.to_string(), v.to_string()));
                    }
                }
            }
        } else {
            rows("", &r.json, &mut out);
        }
        for (k, v) in out {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_latencies_become_one_row_each() {
        let v = serde_json::json!({
            "sign": {"median": 55000.5, "min": 50000.0, "max": 56000.0, "unit": "tx/s"},
            "latency": {"p50_ms": 1.5, "p99_ms": 7.25, "max_ms": 9.0},
            "per_node": [["station-1", {"p50_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0}]],
            "hubs": 3,
            "all_accepted": true
        });
        let mut out = Vec::new();
        rows("", &v, &mut out);
        let map: std::collections::BTreeMap<_, _> = out.into_iter().collect();
        assert_eq!(map["sign"], "**55000** tx/s (min 50000, max 56000)");
        assert_eq!(map["latency"], "p50 **1.50 ms**, p99 7.25 ms, max 9 ms");
        assert_eq!(
            map["per_node.station-1"],
            "p50 **2 ms**, p99 3 ms, max 4 ms"
        );
        assert_eq!(map["hubs"], "3");
        assert_eq!(map["all_accepted"], "true");
    }
}
