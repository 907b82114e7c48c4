//! `smart bench`: the benchmarks, each printing JSON.

use clap::Subcommand;
use std::path::PathBuf;

/// The txs of `smart bench commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Alert txs with a 256-byte payload (no state change).
    Alert,
    /// Shop jobs: documents, steps with measurements, invoices, payouts.
    Jobs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Signing, verification, durable append, full verify and proofs.
    Ledger {
        /// Print JSON only.
        #[arg(long)]
        json: bool,
        /// Txs per measurement.
        #[arg(long, default_value_t = 51_200)]
        txs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Committed tx/s and latency through real hub processes over libp2p.
    /// `--workload alert` sends Alert txs (they leave the state unchanged);
    /// `--workload jobs` runs shop jobs against hubs whose state already
    /// holds `--jobs-in-state` jobs of history.
    Commit {
        /// What the txs are.
        #[arg(long, value_enum, default_value_t = Workload::Alert)]
        workload: Workload,
        /// Jobs of history in the hubs' state before the jobs workload.
        #[arg(long, default_value_t = 1_000)]
        jobs_in_state: u64,
        /// Jobs the jobs workload runs, opening to invoice (about 12 txs each).
        #[arg(long, default_value_t = 2_000)]
        jobs: usize,
        /// Hub processes.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Concurrent submitters.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Txs to commit.
        #[arg(long, default_value_t = 100_000)]
        txs: usize,
        /// Txs per submit request.
        #[arg(long, default_value_t = 32)]
        per_request: usize,
        /// Open-loop rate for the latency measurement (tx/s); 0 skips it.
        #[arg(long, default_value_t = 2_000)]
        offered: u64,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Commit → applied on every station node (gossip), and a stopped node's
    /// catch-up, through real hub and station processes.
    Gossip {
        /// Hub processes.
        #[arg(long, default_value_t = 3)]
        hubs: usize,
        /// Station node processes.
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// Offered load (tx/s, one tx per submission).
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Blocks committed while one node is stopped (0 skips the catch-up).
        #[arg(long, default_value_t = 10_000)]
        catch_up_blocks: u64,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// SMART-API over HTTPS (3 hubs and the gateway as processes): status
    /// GETs per second, and server-sent-event fan-out latency.
    Gateway {
        /// Kept-alive HTTPS connections for the GETs.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds of GETs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Event-stream subscribers.
        #[arg(long, default_value_t = 1000)]
        sse_clients: usize,
        /// Status changes committed while they listen.
        #[arg(long, default_value_t = 20)]
        updates: usize,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Every benchmark (ledger, vm, commit, gossip, gateway; optionally the
    /// chaos suite), each as its own process; BENCHMARKS.md-ready tables
    /// with the machine noted.
    All {
        /// Shorter runs (a smoke test of the whole set).
        #[arg(long)]
        quick: bool,
        /// Also run every chaos scenario this many times.
        #[arg(long, default_value_t = 0)]
        chaos_runs: u32,
        /// Print every result as one JSON document.
        #[arg(long)]
        json: bool,
        /// Write the Markdown tables to this file (default: stdout unless --json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A station's specialists on one core: QR from a camera frame, the
    /// Gatekeeper judging a step, the kiosk's screen (JSON, medians in ms).
    Station {
        /// Finished jobs in the station's state.
        #[arg(long, default_value_t = 2_000)]
        jobs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Exporting and verifying a job's audit pack (JSON, medians in ms).
    Audit {
        /// Txs of the job in the pack (each block also holds as many unrelated txs).
        #[arg(long, default_value_t = 10_000)]
        txs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// What a block costs as history grows: a real ledger of each size of
    /// shop history (one process per size), blocks of real actions applied
    /// (VM, state root, durable write), state proofs built and verified.
    State {
        /// Jobs in the ledger, one size or several (e.g. 1000,100000,1000000).
        #[arg(long, value_delimiter = ',', default_value = "1000,20000")]
        jobs: Vec<u64>,
        /// Measure a copy of this `smart init` folder instead of generating
        /// (its hub made by `smart ledger generate --jobs N`, N the one
        /// size given to --jobs): a million jobs take an hour to generate.
        #[arg(long)]
        ledger: Option<std::path::PathBuf>,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Contract VM apply throughput on the SmartClientPO example (one core).
    Vm {
        /// Jobs per run (each is a full PO history).
        #[arg(long, default_value_t = 2_000)]
        jobs: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

/// Runs one benchmark.
pub(crate) fn run(cmd: BenchCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        BenchCommand::Ledger { json, txs, runs } => crate::lab::bench::ledger(json, txs, runs),
        BenchCommand::Vm { jobs, runs } => crate::lab::bench::vm(jobs, runs),
        BenchCommand::State { jobs, ledger, json } => {
            crate::lab::bench::state::state(&jobs, ledger.as_deref(), json)
        }
        BenchCommand::Station { jobs, runs } => crate::lab::bench::station(jobs, runs),
        BenchCommand::Audit { txs, runs } => crate::lab::bench::audit(txs, runs),
        BenchCommand::All {
            quick,
            chaos_runs,
            json,
            out,
        } => crate::lab::bench::all(quick, chaos_runs, json, out.as_deref()),
        BenchCommand::Commit {
            workload: Workload::Jobs,
            jobs_in_state,
            jobs,
            hubs,
            clients,
            per_request,
            json,
            ..
        } => crate::cli::runtime::runtime().and_then(|rt| {
            rt.block_on(crate::lab::bench::commit_jobs::commit_jobs(
                hubs,
                clients,
                per_request,
                jobs_in_state,
                jobs,
                json,
            ))
        }),
        BenchCommand::Commit {
            hubs,
            clients,
            txs,
            per_request,
            offered,
            json,
            ..
        } => crate::cli::runtime::runtime().and_then(|rt| {
            rt.block_on(crate::lab::bench::commit(
                hubs,
                clients,
                txs,
                per_request,
                offered,
                json,
            ))
        }),
        BenchCommand::Gossip {
            hubs,
            nodes,
            rate,
            seconds,
            catch_up_blocks,
            json,
        } => crate::cli::runtime::runtime().and_then(|rt| {
            rt.block_on(crate::lab::bench::gossip(
                hubs,
                nodes,
                rate,
                seconds,
                catch_up_blocks,
                json,
            ))
        }),
        BenchCommand::Gateway {
            connections,
            seconds,
            sse_clients,
            updates,
            json,
        } => crate::cli::runtime::runtime().and_then(|rt| {
            rt.block_on(crate::lab::bench::gateway(
                connections,
                seconds,
                sse_clients,
                updates,
                json,
            ))
        }),
    }
}
