//! `smart bench commit --workload jobs`: committed shop actions per second
//! through real hub processes whose state already holds a shop's history.
//!
//! The hubs' ledger is made first by the history generator (`--jobs-in-state`
//! jobs: people, the contract, tokens, equipment, documents) and copied to
//! every hub; then `clients` submitters each run jobs from opening to
//! invoice, one step of each of `per_request` jobs in flight per request
//! (a step waits for the one before it), so every tx changes the state:
//! jobs opened, documents filed, steps recorded, invoices and payouts.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use smart_consensus::TxVerdict;
use smart_contracts::action::Action;
use smart_ledger::{Bytes, Outcome, SignedTx, Timestamp, TxBody};

use super::{Latency, latency, tempdir};
use crate::lab::history::{self, HistoryOptions};

#[derive(Debug, Serialize)]
struct JobsCommitBench {
    workload: &'static str,
    hubs: usize,
    jobs_in_state: u64,
    records_in_state: u64,
    clients: usize,
    per_request: usize,
    jobs_run: usize,
    txs: usize,
    committed_tx_per_s: f64,
    /// Txs whose outcome was the one the shop expected (refusals included).
    as_expected: usize,
    latency_per_request: Latency,
}

/// Runs the jobs workload (see the module docs).
pub(crate) async fn commit_jobs(
    hubs: usize,
    clients: usize,
    per_request: usize,
    jobs_in_state: u64,
    jobs: usize,
    json: bool,
) -> Result<ExitCode> {
    let root = tempdir()?;
    let dir = root.join("net");
    let shape = crate::lab::localnet::Shape {
        hubs,
        nodes: 0,
        gateway: false,
    };
    let (mut net, _) = crate::lab::localnet::open(&dir, shape, "smart-bench")?;
    let genesis = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?;
    let first = dir.join(crate::peer::init::hub_name(0));
    if !json {
        eprintln!("making the hubs' ledger: {jobs_in_state} jobs of shop history");
    }
    history::run(
        &first,
        Some(&dir),
        HistoryOptions {
            jobs: jobs_in_state.max(1),
            block_size: 256,
            print_durable: false,
            deferred: false,
        },
    )?;
    let (records_in_state, ledger_time) = {
        let store = crate::peer::folders::PeerFolder::new(&first).open_existing_store()?;
        let mut n = 0u64;
        store.visit_state(|_, _, _| n += 1)?;
        (n, smart_ledger::store::BlockStore::tip(&store).time)
    };
    let ledger = first.join(smart_ledger::store::RedbStore::FILE_NAME);
    for i in 1..hubs {
        let other = dir.join(crate::peer::init::hub_name(i));
        std::fs::copy(
            &ledger,
            other.join(smart_ledger::store::RedbStore::FILE_NAME),
        )
        .with_context(|| format!("copying the ledger to {}", other.display()))?;
    }
    net.start_all()?;
    let result = drive(
        &net,
        &dir,
        &genesis,
        Workday {
            clients,
            per_request,
            jobs,
            ledger_time,
        },
        json,
    )
    .await;
    net.stop_all();
    let (txs, as_expected, elapsed, lat) = result?;
    let report = JobsCommitBench {
        workload: "jobs",
        hubs,
        jobs_in_state,
        records_in_state,
        clients,
        per_request,
        jobs_run: jobs,
        txs,
        committed_tx_per_s: txs as f64 / elapsed.max(1e-9),
        as_expected,
        latency_per_request: latency(lat),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&root);
    Ok(ExitCode::SUCCESS)
}

type Driven = (usize, usize, f64, Vec<std::time::Duration>);

/// The load: who submits, how, how much, and the ledger time the history
/// reached (a long history runs ahead of the wall clock: fifty jobs a
/// ledger day).
struct Workday {
    clients: usize,
    per_request: usize,
    jobs: usize,
    ledger_time: Timestamp,
}

async fn drive(
    net: &smart_testnet::Network,
    dir: &std::path::Path,
    genesis: &smart_ledger::Genesis,
    day: Workday,
    json: bool,
) -> Result<Driven> {
    let Workday {
        clients,
        per_request,
        jobs,
        ledger_time,
    } = day;
    net.wait_leader(std::time::Duration::from_secs(60)).await?;
    let signers = crate::lab::devgen::DevSigners::load(dir, genesis)?;
    let people = history::shop_people(genesis, &signers);
    let admin = people.get("admin").context("no admin key")?;
    let conns = crate::lab::localnet::hub_clients(net, admin).await?;
    let chain = genesis.chain_id();
    let id = |name: &str| {
        people
            .get(name)
            .map(|k| k.id())
            .with_context(|| format!("no key for {name}"))
    };
    let mut nonce = 5_000_000_000u64;
    let now = smart_ledger::clock::now_ms();
    // The history's tokens and calibrations may have run out: renewed from
    // the ledger's time, as a shop would before the day's work.
    let from = now.max(ledger_time.0);
    let day = 86_400_000;
    let mut upkeep = history::token_actions("bench", Timestamp(from + 90 * day), id)?;
    upkeep.extend(history::calibration_actions(Timestamp(from + 60 * day)));
    let mut renewals = Vec::new();
    for (who, action) in upkeep {
        nonce += 1;
        let key = people
            .get(&who)
            .with_context(|| format!("no key for {who}"))?;
        renewals.push(sign(chain, key, &action, nonce, Timestamp(now))?);
    }
    let receipts = conns[0].submit(renewals).await?;
    anyhow::ensure!(
        receipts.iter().all(|r| matches!(
            r.verdict,
            TxVerdict::Included {
                outcome: Outcome::Accepted,
                ..
            }
        )),
        "renewing tokens and calibrations was refused: {receipts:?}"
    );
    // Every job's actions, signed up front: (tx, expected accepted).
    let mut all: Vec<Vec<(Bytes, bool)>> = Vec::with_capacity(jobs);
    for j in 0..jobs {
        let n = j as u64;
        let job = format!("bench-{n:06}");
        let mut signed = Vec::new();
        for (who, action, accepted) in history::job_actions(n, &job, id, 10)? {
            nonce += 1;
            let key = people
                .get(&who)
                .with_context(|| format!("no key for {who}"))?;
            signed.push((sign(chain, key, &action, nonce, Timestamp(now))?, accepted));
        }
        all.push(signed);
    }
    if !json {
        eprintln!(
            "{} hubs up; {jobs} jobs ({} txs) from {clients} submitters",
            conns.len(),
            all.iter().map(Vec::len).sum::<usize>()
        );
    }
    let per_client = all.len().div_ceil(clients.max(1)).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut chunks = all.into_iter().peekable();
    let mut k = 0usize;
    while chunks.peek().is_some() {
        let share: Vec<Vec<(Bytes, bool)>> = chunks.by_ref().take(per_client).collect();
        let client = conns[k % conns.len()].clone();
        k += 1;
        tasks.push(tokio::spawn(run_jobs(client, share, per_request)));
    }
    let mut txs = 0usize;
    let mut as_expected = 0usize;
    let mut lat = Vec::new();
    for t in tasks {
        let (n, ok, l) = t.await??;
        txs += n;
        as_expected += ok;
        lat.extend(l);
    }
    Ok((txs, as_expected, start.elapsed().as_secs_f64(), lat))
}

/// One submitter: `per_request` jobs in flight, one step of each per
/// request, the next step of a job only after its last one committed.
async fn run_jobs(
    client: crate::p2p::client::Client,
    jobs: Vec<Vec<(Bytes, bool)>>,
    per_request: usize,
) -> Result<(usize, usize, Vec<std::time::Duration>)> {
    let mut txs = 0usize;
    let mut ok = 0usize;
    let mut lat = Vec::new();
    for group in jobs.chunks(per_request.max(1)) {
        let longest = group.iter().map(Vec::len).max().unwrap_or(0);
        for step in 0..longest {
            let batch: Vec<(Bytes, bool)> =
                group.iter().filter_map(|j| j.get(step).cloned()).collect();
            let t = Instant::now();
            let receipts = client
                .submit(batch.iter().map(|(b, _)| b.clone()).collect())
                .await?;
            lat.push(t.elapsed());
            txs += batch.len();
            for (r, (_, accepted)) in receipts.iter().zip(&batch) {
                let fine = match &r.verdict {
                    TxVerdict::Included { outcome, .. } => {
                        (*outcome == Outcome::Accepted) == *accepted
                    }
                    _ => false,
                };
                ok += usize::from(fine);
            }
        }
    }
    Ok((txs, ok, lat))
}

fn sign(
    chain: smart_ledger::Hash,
    key: &smart_ledger::Keypair,
    action: &Action,
    nonce: u64,
    time: Timestamp,
) -> Result<Bytes> {
    let body = TxBody {
        chain_id: chain,
        author: key.id(),
        kind: action.kind(),
        payload: Bytes(action.encode()),
        author_time: time,
        location: Some("station-1".into()),
        contract: None,
        nonce,
    };
    Ok(Bytes(SignedTx::sign(body, key)?.encode()))
}
