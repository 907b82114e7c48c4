//! `smart bench state`: what a block costs as the shop's history grows.
//!
//! For each size, in its own process: a real ledger of that many jobs made
//! by the history generator (`smart ledger generate --jobs`), reopened as a
//! peer opens it (records loaded, state tree built, root checked against
//! the certified header), then more jobs applied in blocks of real actions,
//! each block timed in its parts: the VM, the state root (the write set
//! into the tree) and the write (with an fsync per block as a station
//! writes; without, as a hub writes, its Raft log being the write-ahead
//! log). Then state proofs of stored
//! records, built from the kept tree and verified: the path alone, and the
//! whole file (hub signatures included).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use smart_ledger::store::BlockStore;

use super::{Figure, figure};
use crate::lab::devgen::BlockTiming;
use crate::lab::history::{self, HistoryOptions};

/// Txs per block while measuring (about five jobs' worth of actions).
const MEASURE_BLOCK_TXS: usize = 64;
/// Jobs applied while measuring (half with an fsync per block as a
/// station writes, half as a hub writes).
const MEASURE_JOBS: u64 = 800;
/// State proofs built and verified.
const PROOFS: usize = 4_000;

#[derive(Serialize)]
struct SizeReport {
    jobs: u64,
    records: u64,
    blocks: u64,
    txs: u64,
    /// Generating the ledger (none: measured on a copy of `--ledger`).
    generate_s: Option<f64>,
    /// Reopening: records loaded, tree built, root checked.
    open_s: f64,
    block_txs: usize,
    per_block_ms: Figure,
    vm_per_block_ms: Figure,
    root_per_block_ms: Figure,
    write_per_block_ms: Figure,
    /// Real actions applied per second of VM + root + write, one core.
    actions_per_s: f64,
    /// The same blocks as a hub writes them: no fsync per block (the Raft
    /// log is the write-ahead log).
    hub_per_block_ms: Figure,
    hub_write_per_block_ms: Figure,
    /// The hub's write in its parts (medians, ms): indexing the txs by
    /// hash, the block with its certificate and Merkle nodes, the state's
    /// changed records, the tip and commit.
    hub_write_parts_ms: WriteParts,
    hub_actions_per_s: f64,
    proofs_built_per_s: f64,
    proofs_verified_per_s: f64,
    proof_files_verified_per_s: f64,
    proof_bytes: usize,
    max_rss_mb: f64,
}

#[derive(Serialize)]
struct WriteParts {
    tx_index: f64,
    block: f64,
    state: f64,
    commit: f64,
}

#[derive(Serialize)]
struct Report {
    bench: &'static str,
    sizes: Vec<serde_json::Value>,
    /// Median per-block cost at the largest size over the smallest (with an
    /// fsync per block, as a station applies a block from gossip).
    per_block_ratio: Option<f64>,
    /// The same without the fsync per block (as hubs apply, and stations
    /// catching up).
    hub_per_block_ratio: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn max_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs each size in its own process and prints the figures.
pub(crate) fn state(sizes: &[u64], ledger: Option<&Path>, json: bool) -> Result<ExitCode> {
    if sizes.is_empty() {
        bail!("--jobs needs at least one size");
    }
    if let Some(from) = ledger {
        let [one] = sizes else {
            bail!("--ledger measures one ledger: give its size as one --jobs value");
        };
        let report = one_size(*one, Some(from))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let [one] = sizes {
        let report = one_size(*one, None)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe()?;
    let mut out = Vec::new();
    for size in sizes {
        if !json {
            eprintln!("bench state: {size} jobs (its own process)");
        }
        let run = std::process::Command::new(&exe)
            .args(["bench", "state", "--json", "--jobs", &size.to_string()])
            .output()?;
        if !run.status.success() {
            bail!(
                "bench state at {size} jobs failed: {}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        out.push(serde_json::from_slice::<serde_json::Value>(&run.stdout)?);
    }
    let ratio = |field: &str| {
        let cost = |v: &serde_json::Value| v[field]["median"].as_f64();
        match (out.first().and_then(cost), out.last().and_then(cost)) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a),
            _ => None,
        }
    };
    let report = Report {
        bench: "state",
        per_block_ratio: ratio("per_block_ms"),
        hub_per_block_ratio: ratio("hub_per_block_ms"),
        sizes: out,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Applies [`MEASURE_JOBS`] / 2 more jobs in blocks of [`MEASURE_BLOCK_TXS`]
/// real actions; each whole block's timing. `deferred`: as a hub writes.
fn timed_blocks(hub: &Path, deferred: bool) -> Result<Vec<BlockTiming>> {
    let run = history::run(
        hub,
        None,
        HistoryOptions {
            jobs: MEASURE_JOBS / 2,
            block_size: MEASURE_BLOCK_TXS,
            print_durable: false,
            deferred,
        },
    )?;
    Ok(run
        .timings
        .into_iter()
        .filter(|t| t.txs == MEASURE_BLOCK_TXS)
        .collect())
}

fn one_size(jobs: u64, from: Option<&Path>) -> Result<SizeReport> {
    let tmp = super::tempdir()?;
    let report = measure(&tmp, jobs, from);
    let _ = std::fs::remove_dir_all(&tmp);
    report
}

/// Copies the folder tree `from` into `to` (a generated ledger, measured on
/// a copy so that it can be measured again).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn measure(tmp: &Path, jobs: u64, from: Option<&Path>) -> Result<SizeReport> {
    let net = tmp.join("net");
    let hub = net.join("vault-hub");
    let generate_s = match from {
        Some(from) => {
            copy_tree(from, &net)?;
            if !hub.is_dir() {
                bail!(
                    "{} holds no vault-hub folder (made by `smart init`)",
                    from.display()
                );
            }
            None
        }
        None => {
            crate::peer::init::create(&net, 3, 1, "state-bench")?;
            let t = Instant::now();
            history::run(
                &hub,
                None,
                HistoryOptions {
                    jobs,
                    block_size: 256,
                    print_durable: false,
                    deferred: true,
                },
            )?;
            Some(t.elapsed().as_secs_f64())
        }
    };

    let t = Instant::now();
    let records = {
        let folder = crate::peer::folders::PeerFolder::new(&hub);
        let mut store = folder.open_existing_store()?;
        let header = smart_consensus::stored::tip_header(&store)?;
        let state = smart_consensus::stored::open_state(&mut store, header.as_ref())?;
        state.tree().len()
    };
    let open_s = t.elapsed().as_secs_f64();

    let station = timed_blocks(&hub, false)?;
    let hub_blocks = timed_blocks(&hub, true)?;
    let total: Duration = station.iter().map(|t| t.vm + t.root + t.write).sum();
    let actions: usize = station.iter().map(|t| t.txs).sum();
    let hub_total: Duration = hub_blocks.iter().map(|t| t.vm + t.root + t.write).sum();
    let hub_actions: usize = hub_blocks.iter().map(|t| t.txs).sum();
    let store = crate::peer::folders::PeerFolder::new(&hub).open_existing_store()?;
    let certified = crate::peer::proofs::CertifiedState::at(&store, None)?;
    let state = certified.state.state();
    let mut keys: Vec<(&'static str, Vec<u8>)> = Vec::with_capacity(PROOFS);
    let enc = |s: &String| smart_ledger::codec::encode_plain(s);
    let job_ids: Vec<&String> = state.jobs.keys().collect();
    let token_ids: Vec<&String> = state.tokens.keys().collect();
    let mut seed = 0x5741_7E5Eu64;
    for i in 0..PROOFS {
        let r = super::next(&mut seed) as usize;
        let key = if i % 4 == 3 && !token_ids.is_empty() {
            ("tokens", enc(token_ids[r % token_ids.len()]))
        } else {
            (
                "jobs",
                enc(job_ids
                    .get(r % job_ids.len().max(1))
                    .copied()
                    .context("no jobs")?),
            )
        };
        keys.push(key);
    }
    let t = Instant::now();
    let proofs: Vec<_> = keys
        .iter()
        .map(|(kind, key)| certified.state.prove(kind, key))
        .collect::<Option<Vec<_>>>()
        .context("a stored record could not be proven")?;
    let proofs_built_per_s = PROOFS as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let root = certified.header.state_root;
    let t = Instant::now();
    for ((kind, key), proof) in keys.iter().zip(&proofs) {
        proof
            .verify(&root, kind, key)
            .map_err(|e| anyhow::anyhow!("a proof did not verify: {e}"))?;
    }
    let proofs_verified_per_s = PROOFS as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let files: Vec<_> = keys
        .iter()
        .take(400)
        .map(|(kind, key)| certified.prove(kind, key))
        .collect::<Result<Vec<_>>>()?;
    let chain = store.genesis().chain_id();
    let t = Instant::now();
    for f in &files {
        f.verify(Some(&chain))?;
    }
    let proof_files_verified_per_s = files.len() as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let proof_bytes = serde_json::to_vec(&files[0])?.len();

    let pick =
        |f: fn(&BlockTiming) -> Duration| figure(station.iter().map(|t| ms(f(t))).collect(), "ms");
    let pick_hub = |f: fn(&BlockTiming) -> Duration| {
        figure(hub_blocks.iter().map(|t| ms(f(t))).collect(), "ms")
    };
    Ok(SizeReport {
        jobs,
        records,
        blocks: store.tip().height,
        txs: store.tip().acc.size(),
        generate_s,
        open_s,
        block_txs: MEASURE_BLOCK_TXS,
        per_block_ms: pick(|t| t.vm + t.root + t.write),
        vm_per_block_ms: pick(|t| t.vm),
        root_per_block_ms: pick(|t| t.root),
        write_per_block_ms: pick(|t| t.write),
        actions_per_s: actions as f64 / total.as_secs_f64().max(1e-9),
        hub_per_block_ms: pick_hub(|t| t.vm + t.root + t.write),
        hub_write_per_block_ms: pick_hub(|t| t.write),
        hub_write_parts_ms: WriteParts {
            tx_index: pick_hub(|t| t.write_parts.tx_index).median,
            block: pick_hub(|t| t.write_parts.block).median,
            state: pick_hub(|t| t.write_parts.state).median,
            commit: pick_hub(|t| t.write_parts.commit).median,
        },
        hub_actions_per_s: hub_actions as f64 / hub_total.as_secs_f64().max(1e-9),
        proofs_built_per_s,
        proofs_verified_per_s,
        proof_files_verified_per_s,
        proof_bytes,
        max_rss_mb: max_rss_mb(),
    })
}

#[cfg(test)]
mod tests {
    /// The bench runs end to end on a small history and reports every part.
    #[test]
    fn a_small_history_reports_block_costs_and_proof_rates() {
        let report = super::one_size(30, None).expect("bench");
        assert_eq!(report.jobs, 30);
        assert!(report.records > 30 * 3, "{} records", report.records);
        assert!(report.per_block_ms.median > 0.0);
        assert!(report.actions_per_s > 0.0);
        assert!(report.proofs_built_per_s > 0.0 && report.proofs_verified_per_s > 0.0);
        assert!(report.proof_files_verified_per_s > 0.0);
        // The write's parts are timed inside it: none longer than a whole write.
        let p = &report.hub_write_parts_ms;
        for part in [p.tx_index, p.block, p.state, p.commit] {
            assert!(part > 0.0 && part <= report.hub_write_per_block_ms.max);
        }
    }

    /// A ledger generated beforehand is measured on a copy, left as it was.
    #[test]
    fn a_generated_ledger_is_measured_on_a_copy() {
        use smart_ledger::store::BlockStore;
        let dir = tempfile::tempdir().expect("tmp");
        let net = dir.path().join("net");
        crate::peer::init::create(&net, 3, 1, "state-bench").expect("init");
        let hub = net.join("vault-hub");
        let options = super::HistoryOptions {
            jobs: 20,
            block_size: 256,
            print_durable: false,
            deferred: false,
        };
        super::history::run(&hub, None, options).expect("generate");
        let height = || {
            crate::peer::folders::PeerFolder::new(&hub)
                .open_existing_store()
                .expect("store")
                .tip()
                .height
        };
        let before = height();
        let report = super::one_size(20, Some(&net)).expect("bench");
        assert!(report.generate_s.is_none());
        assert!(report.blocks > before, "the copy grew");
        assert!(report.per_block_ms.median > 0.0);
        assert_eq!(height(), before, "the ledger measured is left as it was");
    }
}
