//! AuditCentral: `smart audit export` and `smart audit verify`.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::services::query::cents;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use smart_audit::{AuditReport, MAX_PACK_BYTES};
use smart_ledger::Hash;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write one file with everything an auditor needs to check a job offline.
    Export {
        /// The peer's folder (a hub's, or any peer with the whole ledger).
        #[arg(long)]
        data: PathBuf,
        /// The job.
        #[arg(long)]
        job: String,
        /// Where to write the pack (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// A running peer's metrics address: it writes a consistent copy to export from.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Check a pack offline with nothing but the file and the chain id. Exit 0 when it verifies.
    Verify {
        /// The pack.
        file: PathBuf,
        /// The chain id (genesis hash, hex) you trust.
        #[arg(long)]
        genesis: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `smart audit export --data DIR --job ID --out FILE [--metrics ADDR]`.
///
/// A stopped peer's store is read directly; a running peer's (its store is
/// locked) is first copied by the peer itself through `POST /backup` on its
/// metrics address, and the pack is made from that consistent copy.
pub fn export(data: &Path, job: &str, out: &Path, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    if out.exists() {
        bail!(
            "{} exists; an export never overwrites a file",
            out.display()
        );
    }
    let started = Instant::now();
    let store = crate::peer::backup::StoreView::open(data, metrics)?;
    let pack = smart_audit::export::export(store.store(), job);
    drop(store);
    let pack = pack?;
    let bytes = pack.encode();
    let txs: usize = pack.blocks.iter().map(|b| b.txs.len()).sum();
    write_new(out, &bytes)?;
    println!(
        "audit pack of {job}: {} blocks, {txs} txs ({} of the job), {} bytes, chain {} -> {} ({} ms)",
        pack.blocks.len(),
        pack.ledger_paths.len(),
        bytes.len(),
        pack.genesis.chain_id(),
        out.display(),
        started.elapsed().as_millis()
    );
    println!(
        "verify it anywhere with: smart audit verify {} --genesis {}",
        out.display(),
        pack.genesis.chain_id()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// `smart audit verify FILE --genesis HASH [--json]`: exit 0 verified, 1 not.
pub fn verify(file: &Path, genesis: &str, json: bool) -> Result<ExitCode> {
    let expected = Hash::from_hex(genesis.trim()).context("--genesis: a chain id in hex")?;
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if meta.len() > MAX_PACK_BYTES as u64 {
        bail!(
            "{} is {} bytes: over the audit pack limit of {MAX_PACK_BYTES}",
            file.display(),
            meta.len()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let started = Instant::now();
    let result = smart_audit::verify_pack(&bytes, &expected);
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    if json {
        let out = match &result {
            Ok(r) => serde_json::json!({"verified": true, "report": r, "took_ms": took_ms}),
            Err(e) => serde_json::json!({"verified": false, "error": e.to_string()}),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &result {
            Ok(r) => print_report(r, took_ms),
            Err(e) => println!("AUDIT PACK REFUSED: {e}"),
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(r: &AuditReport, took_ms: f64) {
    println!(
        "audit pack verified: job {} of chain {} ({} blocks, {} signatures, {} context txs re-run; {took_ms:.1} ms)",
        r.job, r.chain_id, r.blocks, r.signatures, r.context_txs
    );
    println!(
        "  contract {} version {} (YAML blake3 {}) pinned when the job opened in block {}; every step judged again under it",
        r.contract, r.pinned_version, r.pinned_yaml_hash, r.opened_at
    );
    for v in &r.versions {
        let active = match v.active_from {
            Some(h) if v.version == r.pinned_version => format!("active from block {h} (pinned)"),
            Some(h) => format!("active from block {h}"),
            None => "never active in the pack".into(),
        };
        println!("    v{} {}: {active}", v.version, v.yaml_hash.short());
    }
    println!(
        "  status {}; steps done: {}",
        r.status,
        r.steps_done.join(", ")
    );
    println!(
        "  {} txs of the job, {} refused; each outcome recorded by the hubs equals the re-run's:",
        r.job_txs.len(),
        r.refused
    );
    for t in &r.job_txs {
        let outcome = match &t.outcome {
            smart_ledger::Outcome::Accepted => "ok".to_string(),
            smart_ledger::Outcome::Refused { code, reason } => format!("REFUSED [{code}] {reason}"),
        };
        println!(
            "    block {:>5}  {:<16} {:<40} {outcome}",
            t.height, t.author, t.what
        );
    }
    for d in &r.documents {
        println!(
            "  document {} {} \"{}\"{}",
            d.hash.short(),
            d.doc_type,
            d.title,
            if d.of_job { "" } else { " (shop-wide)" }
        );
    }
    println!(
        "  invoiced {}, paid out {}",
        cents(r.invoiced_cents),
        cents(r.paid_cents)
    );
    if !r.relied_on.is_empty() {
        println!("  what the steps relied on, proven in the certified state at each step's block:");
    }
    for x in &r.relied_on {
        let value = x
            .value
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "absent".into());
        println!(
            "    {} (block {}): {} = {value}",
            x.step, x.height, x.record
        );
    }
    for (from, hubs) in &r.hub_sets {
        let names: Vec<String> = hubs.iter().map(|h| h.short()).collect();
        println!("  hub set from block {from}: {}", names.join(" "));
    }
    println!(
        "  anchored at block {}: ledger of {} txs, root {}",
        r.anchor_height, r.anchor_ledger_size, r.anchor_ledger_root
    );
}

/// Runs one `smart audit` command.
pub(crate) fn run(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Export {
            data,
            job,
            out,
            metrics,
        } => crate::cli::audit::export(&data, &job, &out, metrics),
        AuditCommand::Verify {
            file,
            genesis,
            json,
        } => crate::cli::audit::verify(&file, &genesis, json),
    }
}
