//! A job's day through the network: the client's PO over HTTPS, receiving
//! to invoice with six refusals on the way, the client's approval, events
//! and proof; then the access-log records of the day.

use anyhow::{Context, Result, bail};
use smart_consensus::TxVerdict;
use smart_contracts::action::Action;
use smart_ledger::{Hash, Outcome, Timestamp, TxKind};
use std::time::{Duration, Instant};

use super::*;

/// What one job day did.
#[derive(Debug)]
pub(crate) struct JobReport {
    /// The job.
    pub(crate) job: String,
    /// Shop actions taken (each a tx, or an HTTPS call that made one).
    pub(crate) actions: usize,
    /// The refusals, with their codes and reasons.
    pub(crate) refusals: Vec<String>,
    /// Each action and how long it took from submission to commit.
    pub(crate) steps: Vec<(String, Duration)>,
    /// The invoice's tx.
    pub(crate) invoice_tx: Hash,
    /// Live status events the client received.
    pub(crate) events: usize,
}

/// Runs one job through the day; the job is new on every run of the folder.
pub(crate) async fn job_day(ready: &mut Ready) -> Result<JobReport> {
    let n = ready.file.jobs + 1;
    ready.file.jobs = n;
    write_private(&ready.path, &ready.file)?;
    let job = if n == 1 {
        "job-4471".to_string()
    } else {
        format!("job-4471-{n}")
    };
    let lapse = Timestamp(ready.file.lapse_ms);
    let api = ready.api.clone();
    let shop = &mut ready.shop;
    shop.job = job.clone();
    shop.refusals.clear();
    shop.steps.clear();
    let id = |shop: &Shop, n: &str| shop.keys.get(n).map(|k| k.id()).context("key");
    println!("\n== a job day: PO 4471 arrives and {job} runs");
    let client = id(shop, "acme-aero")?;
    let opened = shop
        .act(
            "project-manager",
            &format!("open {job} for acme-aero"),
            Action::OpenJob {
                job: job.clone(),
                contract: "po-4471-heat-treat".into(),
                client,
                parts: vec!["AA-88213-C x120".into()],
            },
        )
        .await?;
    // The client, from outside: signs in over HTTPS, watches its job live.
    let opened_at = match opened.verdict {
        TxVerdict::Included { height, .. } => height,
        _ => 0,
    };
    let live = wait_for_gateway(&api, opened_at).await?;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watcher = {
        let seen = seen.clone();
        let conn = api.connect().await?;
        tokio::spawn(conn.events(Some(live), move |event, id, data| {
            if let Ok(mut s) = seen.lock() {
                s.push(format!("{event} {id} {data}"));
            }
            true
        }))
    };
    shop.upload(
        &api,
        "client_po",
        "PO 4471",
        format!("PURCHASE ORDER 4471 ({job})\n120 x AA-88213 rev C\n").as_bytes(),
    )
    .await?;
    shop.step("tech-7", "receive-parts", &[("part_count", 120)])
        .await?;
    shop.upload(
        &api,
        "material_cert",
        "Mill cert heat 88127",
        format!("%PDF-1.7\nMill certificate, heat 88127, AISI 4340 ({job})\n").as_bytes(),
    )
    .await?;
    shop.step("tech-7", "receive-parts", &[("part_count", 120)])
        .await?;
    shop.step(
        "tech-7",
        "harden",
        &[("soak_temp", 845), ("soak_time", 62), ("quench_delay", 9)],
    )
    .await?;
    shop.step("tech-7", "pre-check", &[]).await?;
    let wait = lapse.0.saturating_sub(smart_ledger::clock::now_ms()) + 300;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    shop.step(
        "tech-9",
        "harden",
        &[("soak_temp", 845), ("soak_time", 62), ("quench_delay", 9)],
    )
    .await?;
    shop.step(
        "tech-7",
        "harden",
        &[("soak_temp", 860), ("soak_time", 65), ("quench_delay", 8)],
    )
    .await?;
    shop.step(
        "tech-7",
        "harden",
        &[("soak_temp", 848), ("soak_time", 64), ("quench_delay", 8)],
    )
    .await?;
    shop.step(
        "tech-7",
        "temper",
        &[("temper_temp", 541), ("temper_time", 125)],
    )
    .await?;
    shop.step(
        "tech-7",
        "hardness-test",
        &[("hardness_min", 37), ("hardness_max", 39)],
    )
    .await?;
    shop.step("qa", "report", &[]).await?;
    shop.step("qa", "qa-signoff", &[]).await?;
    shop.step("qa", "report", &[]).await?;
    shop.step("project-manager", "invoice", &[]).await?;
    shop.approve(&api, "client-approval").await?;
    let invoice = shop.step("project-manager", "invoice", &[]).await?;

    let (code, contract) = api
        .call("GET", &format!("/api/contracts/{job}"), Vec::new())
        .await?;
    if code != 200 {
        bail!("the client could not fetch its contract: {code} {contract}");
    }
    let opening: smart_ledger::proof::TxProof =
        serde_json::from_value(contract["proofs"]["job_opened"].clone())?;
    let proven = opening.verify(Some(&shop.chain))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    watcher.abort();
    let events = seen.lock().map(|s| s.clone()).unwrap_or_default();
    println!(
        "   client over HTTPS: contract {job} with its proof (opened in block {}, verified offline); {} live status events received",
        proven.height,
        events.len()
    );
    if events.is_empty() {
        bail!("the client saw no live status event");
    }
    Ok(JobReport {
        job,
        actions: shop.steps.len(),
        refusals: shop.refusals.clone(),
        steps: shop.steps.clone(),
        invoice_tx: invoice.tx,
        events: events.len(),
    })
}

/// The rest of the day: `records` access-log records from the stations,
/// submitted in batches of 64 to every hub at once; prints the rate.
pub(crate) async fn access_records(ready: &mut Ready, records: u64) -> Result<()> {
    let shop = &mut ready.shop;
    println!("\n== the rest of the day: {records} access-log records from the stations");
    let t = Instant::now();
    let mut batch = Vec::new();
    for i in 0..records {
        batch.push(shop.sign(
            "admin",
            TxKind::AccessLogBatch,
            format!("station-{} badge-in tech-7 #{i}", i % 6 + 1).into_bytes(),
        )?);
    }
    let mut tasks = Vec::new();
    for (k, chunk) in batch.chunks(64).enumerate() {
        let c = shop.clients[k % shop.clients.len()].clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move { c.submit(chunk).await }));
    }
    let mut accepted = 0usize;
    for task in tasks {
        accepted += task
            .await??
            .iter()
            .filter(|r| {
                matches!(
                    r.verdict,
                    TxVerdict::Included {
                        outcome: Outcome::Accepted,
                        ..
                    }
                )
            })
            .count();
    }
    let rate = records as f64 / t.elapsed().as_secs_f64().max(1e-9);
    println!(
        "   {accepted} of {records} committed in {:.2} s ({rate:.0} tx/s through Raft on this machine)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
