//! A shift at station-1's kiosk: a second job through the station
//! specialists (badge, receiving, the part's label, furnace steps, QA,
//! release), with a reading out of limits and an early release refused.

use anyhow::{Context, Result, bail};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// What the station shift did.
#[derive(Debug)]
pub(crate) struct ShiftReport {
    /// The job.
    pub(crate) job: String,
    /// Module decisions recorded.
    pub(crate) decisions: usize,
    /// Of which refused.
    pub(crate) refused: usize,
    /// The modules that decided.
    pub(crate) modules: std::collections::BTreeSet<String>,
}

/// One kiosk call: POSTs JSON, prints each module's decision, checks the
/// verdict is the one the shift expects.
pub(super) async fn kiosk_post(
    addr: std::net::SocketAddr,
    path: &str,
    kind: &str,
    body: Vec<u8>,
    expect_ok: bool,
    report: &mut ShiftReport,
) -> Result<()> {
    let (code, answer) =
        smart_testnet::status::http_send(addr, "POST", path, kind, &body, Duration::from_secs(20))
            .await?;
    if code != 200 {
        bail!(
            "the kiosk answered {path} with HTTP {code}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let reply: crate::station::kiosk::Reply =
        serde_json::from_slice(&answer).context("the kiosk's answer")?;
    for (module, verdict, what, why) in &reply.decisions {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" — {why}")
        };
        println!("   {module:<17} {verdict:<8} {what}{why}");
        report.decisions += 1;
        report.modules.insert(module.clone());
        if verdict == "Refused" {
            report.refused += 1;
        }
    }
    if reply.ok != expect_ok {
        bail!(
            "{path}: the station {} where the shift expects {}: {}",
            if reply.ok { "allowed" } else { "refused" },
            if expect_ok { "allowed" } else { "refused" },
            reply.message
        );
    }
    Ok(())
}

pub(super) async fn kiosk_view(addr: std::net::SocketAddr) -> Result<serde_json::Value> {
    let (code, body) =
        smart_testnet::status::http_get(addr, "/api/view", Duration::from_secs(10)).await?;
    if code != 200 {
        bail!("the kiosk's view answered HTTP {code}");
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Waits (≤ 30 s) until the kiosk's view satisfies `check`.
pub(super) async fn kiosk_until(
    addr: std::net::SocketAddr,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if check(&kiosk_view(addr).await?) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("station-1's kiosk: timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A heat-treat shift at station-1's kiosk (network folder `dir`): the
/// technician badges in, receives the parts, scans a part's QR label, runs
/// the furnace steps, QA signs off, the Guardian releases; a reading out of
/// limits and an early release are refused on the way. Every decision is a
/// `Station` tx with its module's name.
pub(crate) async fn station_shift(ready: &mut Ready, dir: &Path) -> Result<ShiftReport> {
    let station = dir.join("station-1");
    let addr_file = station.join(crate::station::kiosk::ADDR_FILE);
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: std::net::SocketAddr = loop {
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            break text.trim().parse().context("kiosk.addr")?;
        }
        if Instant::now() > deadline {
            bail!("station-1 wrote no kiosk address");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job = format!("shift-{}", ready.file.jobs);
    let shop = &mut ready.shop;
    println!(
        "\n== a station shift at station-1's kiosk (http://{addr}/): {job}, every specialist on the way"
    );
    let client = shop.keys.get("acme-aero").map(|k| k.id()).context("key")?;
    let parts: Vec<String> = (1..=120).map(|i| format!("AA-88213-{i:03}")).collect();
    shop.act(
        "project-manager",
        &format!("open {job} for acme-aero (120 serialised parts)"),
        Action::OpenJob {
            job: job.clone(),
            contract: "po-4471-heat-treat".into(),
            client,
            parts,
        },
    )
    .await?;
    shop.document(
        "compliance",
        DocumentType::ClientPo,
        Some(&job),
        &format!("PO 4471 ({job})"),
    )
    .await?;
    let filed = shop
        .document(
            "compliance",
            DocumentType::MaterialCert,
            Some(&job),
            &format!("Mill cert heat 88127 ({job})"),
        )
        .await?;
    let filed_at = match filed.verdict {
        smart_consensus::TxVerdict::Included { height, .. } => height,
        _ => 0,
    };
    // The job and both its documents at the station before anyone acts.
    kiosk_until(addr, "the job and its documents at the station", |v| {
        v["open_jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|x| x.as_str() == Some(job.as_str())))
            && v["height"].as_u64().is_some_and(|h| h >= filed_at)
    })
    .await?;
    let mut report = ShiftReport {
        job: job.clone(),
        decisions: 0,
        refused: 0,
        modules: Default::default(),
    };
    let badge = |who: &str| -> Result<Vec<u8>> {
        let text = std::fs::read_to_string(dir.join("people").join(format!("{who}.key")))?;
        Ok(serde_json::json!({ "badge": text })
            .to_string()
            .into_bytes())
    };
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    let jsn = "application/json";
    let r = &mut report;
    kiosk_post(addr, "/api/badge", jsn, badge("tech-7")?, true, r).await?;
    kiosk_post(
        addr,
        "/api/job",
        jsn,
        json(serde_json::json!({"job": job})),
        true,
        r,
    )
    .await?;
    kiosk_post(
        addr,
        "/api/receive",
        jsn,
        json(serde_json::json!({"count": 120})),
        true,
        r,
    )
    .await?;
    let measure = |n: &str, v: i64| json(serde_json::json!({"name": n, "value": v}));
    let complete = |s: &str| json(serde_json::json!({"step": s}));
    kiosk_post(
        addr,
        "/api/measure",
        jsn,
        measure("part_count", 120),
        true,
        r,
    )
    .await?;
    kiosk_post(
        addr,
        "/api/complete",
        jsn,
        complete("receive-parts"),
        true,
        r,
    )
    .await?;
    let label = crate::station::vision::label_png(&crate::station::specialists::part_label(
        &job,
        "AA-88213-001",
    ))?;
    kiosk_post(addr, "/api/scan-image", "image/png", label, true, r).await?;
    kiosk_post(addr, "/api/complete", jsn, complete("pre-check"), true, r).await?;
    kiosk_until(addr, "the furnace relay to open", |v| {
        v["io"]["unlocked"].as_bool() == Some(true)
    })
    .await?;
    println!("   furnace-3 relay: UNLOCKED (the contract's unlock, through the station's I/O)");
    let stock = json(serde_json::json!({"item": "quench-oil", "on_hand": 12, "reorder_at": 10}));
    kiosk_post(addr, "/api/stock", jsn, stock, true, r).await?;
    let used = json(serde_json::json!({"item": "quench-oil", "quantity": 3}));
    kiosk_post(addr, "/api/consume", jsn, used, true, r).await?;
    kiosk_post(
        addr,
        "/api/measure",
        jsn,
        measure("soak_temp", 862),
        false,
        r,
    )
    .await?;
    for (n, v) in [("soak_temp", 846), ("soak_time", 64), ("quench_delay", 8)] {
        kiosk_post(addr, "/api/measure", jsn, measure(n, v), true, r).await?;
    }
    kiosk_post(addr, "/api/complete", jsn, complete("harden"), true, r).await?;
    kiosk_post(addr, "/api/release", jsn, b"{}".to_vec(), false, r).await?;
    for (n, v) in [("temper_temp", 541), ("temper_time", 125)] {
        kiosk_post(addr, "/api/measure", jsn, measure(n, v), true, r).await?;
    }
    kiosk_post(addr, "/api/complete", jsn, complete("temper"), true, r).await?;
    for (n, v) in [("hardness_min", 37), ("hardness_max", 39)] {
        kiosk_post(addr, "/api/measure", jsn, measure(n, v), true, r).await?;
    }
    kiosk_post(
        addr,
        "/api/complete",
        jsn,
        complete("hardness-test"),
        true,
        r,
    )
    .await?;
    kiosk_post(addr, "/api/badge", jsn, badge("qa")?, true, r).await?;
    kiosk_post(
        addr,
        "/api/job",
        jsn,
        json(serde_json::json!({"job": job})),
        true,
        r,
    )
    .await?;
    kiosk_post(addr, "/api/complete", jsn, complete("qa-signoff"), true, r).await?;
    kiosk_post(addr, "/api/complete", jsn, complete("report"), true, r).await?;
    kiosk_post(addr, "/api/release", jsn, b"{}".to_vec(), true, r).await?;
    kiosk_post(addr, "/api/logout", jsn, b"{}".to_vec(), true, r).await?;
    kiosk_until(addr, "the outbox handed off to the hubs", |v| {
        v["outbox_pending"].as_u64() == Some(0)
    })
    .await?;
    println!(
        "   {}: {} decisions by {} modules ({} refused), each a Station tx in the ledger; `smart modules --data {}` lists them",
        report.job,
        report.decisions,
        report.modules.len(),
        report.refused,
        station.display()
    );
    Ok(report)
}
