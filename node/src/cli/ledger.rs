//! `smart ledger ...` and `smart proof verify`.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use smart_ledger::audit::{self, AuditFailure};
use smart_ledger::proof::TxProof;
use smart_ledger::state_proof::StateProofFile;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Block, Hash, Outcome, SignedTx};

use crate::peer::folders::PeerFolder;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check every signature, chain link, Merkle root and certificate. Exit 0 when intact.
    Verify {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a block (default: the tip) or a tx.
    Show {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Block height.
        #[arg(long, conflicts_with = "tx")]
        height: Option<u64>,
        /// Tx hash (hex).
        #[arg(long)]
        tx: Option<String>,
    },
    /// Write an inclusion proof (and a consistency proof with --since) as JSON.
    Prove {
        /// The peer's data folder.
        #[arg(long)]
        data: PathBuf,
        /// Tx hash (hex).
        #[arg(long)]
        tx: String,
        /// An earlier ledger size to prove consistency from.
        #[arg(long)]
        since: Option<u64>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// DEVELOPMENT ONLY: append blocks certified by the hub keys found beside
    /// the peer folder: `--jobs N` years of real shop history through the VM
    /// (jobs, steps, documents, tokens, calibrations, refusals, invoices and
    /// payouts), or `--txs N` signed filler txs.
    Generate {
        /// The peer's data folder (made by `smart init`).
        #[arg(long)]
        data: PathBuf,
        /// Number of filler txs to append.
        #[arg(long, required_unless_present = "jobs", conflicts_with = "jobs")]
        txs: Option<u64>,
        /// Number of shop jobs to append, opening to invoice (fifty a ledger day).
        #[arg(long)]
        jobs: Option<u64>,
        /// Txs per block.
        #[arg(long, default_value_t = 256)]
        block_size: usize,
        /// The `smart init` folder holding hub and people keys (default: the parent of --data).
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print `durable HEIGHT` on stdout after each block is on disk.
        #[arg(long)]
        print_durable: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Check a proof file offline. Exit 0 when it verifies.
    Verify {
        /// The proof (JSON from `smart ledger prove`).
        file: PathBuf,
        /// The chain id you trust (hex); default: trust the genesis in the file.
        #[arg(long)]
        chain: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: LedgerCommand) -> Result<ExitCode> {
    match cmd {
        LedgerCommand::Verify { data, json } => verify(&data, json),
        LedgerCommand::Show { data, height, tx } => show(&data, height, tx.as_deref()),
        LedgerCommand::Prove {
            data,
            tx,
            since,
            out,
        } => {
            let store = PeerFolder::new(&data).open_existing_store()?;
            let hash = Hash::from_hex(&tx)?;
            let proof = prove(&store, &hash, since)?;
            let text = serde_json::to_string_pretty(&proof)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text + "\n")
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("proof of tx {hash} written to {}", path.display());
                }
                None => crate::cli::out::emit(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCommand::Generate {
            data,
            txs,
            jobs,
            block_size,
            keys,
            print_durable,
        } => {
            match (jobs, txs) {
                (Some(jobs), _) => crate::lab::history::generate(
                    &data,
                    keys.as_deref(),
                    crate::lab::history::HistoryOptions {
                        jobs,
                        block_size,
                        print_durable,
                        deferred: false,
                    },
                )?,
                (None, Some(txs)) => crate::lab::devgen::generate(
                    &data,
                    txs,
                    block_size,
                    keys.as_deref(),
                    print_durable,
                )?,
                (None, None) => bail!("give --jobs N or --txs N"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    intact: bool,
    report: Option<&'a audit::AuditReport>,
    state: Option<&'a audit::StateReport>,
    failure: Option<&'a AuditFailure>,
}

/// Full verification with a progress bar on a terminal. Exit 0 when intact, 1 otherwise.
pub(crate) fn verify(data: &Path, json: bool) -> Result<ExitCode> {
    let store = match PeerFolder::new(data).open_existing_store() {
        Ok(s) => s,
        Err(e)
            if e.chain()
                .filter_map(|c| c.downcast_ref::<smart_ledger::store::StoreError>())
                .any(crate::peer::backup::locked) =>
        {
            // Not damage: the peer runs. Verify a copy instead.
            anyhow::bail!(
                "{} is in use by a running peer: stop it, or take a copy with `smart backup --data {} --metrics ADDR --out FILE` and verify that (`smart restore` into a folder, then `smart ledger verify`)",
                data.display(),
                data.display()
            );
        }
        Err(e) => {
            let failure = AuditFailure {
                height: 0,
                tx: None,
                reason: format!("{e:#}"),
            };
            return Ok(report_verify(json, Err(&failure)));
        }
    };
    let bar = if json {
        None
    } else {
        crate::peer::progress::bar(
            store.tip().height,
            "verifying {bar:40} {pos}/{len} blocks {per_sec} {eta}",
        )
    };
    let result = audit::verify_ledger(&store, |done, _| {
        if let Some(b) = &bar {
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Then the contract state: every stored record against the certified state root.
    let result = result.and_then(|report| {
        let header = crate::peer::replica::state_header(&store).map_err(|e| AuditFailure {
            height: store.tip().height,
            tx: None,
            reason: format!("{e:#}"),
        })?;
        let state = audit::verify_state(&store, header.as_ref())?;
        Ok((report, state))
    });
    if let Err(f) = &result {
        tracing::error!(height = f.height, reason = %f.reason, "ledger verification failed");
    }
    Ok(report_verify(
        json,
        result.as_ref().map(|(r, s)| (r, Some(s))),
    ))
}

fn report_verify(
    json: bool,
    result: Result<(&audit::AuditReport, Option<&audit::StateReport>), &AuditFailure>,
) -> ExitCode {
    if json {
        let out = VerifyJson {
            intact: result.is_ok(),
            report: result.ok().map(|(r, _)| r),
            state: result.ok().and_then(|(_, s)| s),
            failure: result.err(),
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        match result {
            Ok((r, s)) => {
                println!(
                    "ledger intact: chain {}, {} blocks, {} txs, tip {}, ledger root {}",
                    r.chain_id, r.blocks, r.txs, r.tip_hash, r.ledger_root
                );
                if let Some(s) = s {
                    println!(
                        "state intact: {} records, state root {} (certified at height {})",
                        s.records, s.state_root, s.height
                    );
                }
            }
            Err(f) => println!("LEDGER DAMAGED: {f}"),
        }
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[derive(Serialize)]
struct TxView {
    hash: Hash,
    author: String,
    author_name: Option<String>,
    kind: String,
    nonce: u64,
    author_time: u64,
    location: Option<String>,
    contract: Option<String>,
    payload_bytes: usize,
    payload_text: Option<String>,
    outcome: Outcome,
}

fn tx_view(store: &RedbStore, tx: &SignedTx, outcome: &Outcome) -> TxView {
    let b = tx.body();
    TxView {
        hash: tx.hash(),
        author: b.author.to_string(),
        author_name: store.genesis().name_of(&b.author).map(str::to_string),
        kind: format!("{:?}", b.kind),
        nonce: b.nonce,
        author_time: b.author_time.0,
        location: b.location.clone(),
        contract: b
            .contract
            .as_ref()
            .map(|c| format!("{}@{}", c.id, c.version)),
        payload_bytes: b.payload.0.len(),
        payload_text: std::str::from_utf8(&b.payload.0)
            .ok()
            .map(|s| s.trim_end().to_string()),
        outcome: outcome.clone(),
    }
}

fn show(data: &Path, height: Option<u64>, tx: Option<&str>) -> Result<ExitCode> {
    let store = PeerFolder::new(data).open_existing_store()?;
    if let Some(tx) = tx {
        let hash = Hash::from_hex(tx)?;
        let loc = store
            .locate_tx(&hash)?
            .ok_or_else(|| anyhow!("tx {hash} is not in this ledger"))?;
        let block = load_block(&store, loc.height)?;
        let i = loc.position as usize;
        let (tx, outcome) = block
            .txs
            .get(i)
            .zip(block.outcomes.get(i))
            .context("tx index points outside its block")?;
        let view = serde_json::json!({
            "height": loc.height, "position": loc.position, "leaf_index": loc.leaf_index,
            "tx": tx_view(&store, tx, outcome),
        });
        crate::cli::out::emit(&serde_json::to_string_pretty(&view)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let h = height.unwrap_or(store.tip().height);
    if h == 0 {
        crate::cli::out::emit(&serde_json::to_string_pretty(&serde_json::json!({
            "height": 0, "chain_id": store.genesis().chain_id(), "genesis": store.genesis(),
        }))?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let block = load_block(&store, h)?;
    let cert = store.cert(h)?;
    let txs: Vec<TxView> = block
        .txs
        .iter()
        .zip(&block.outcomes)
        .map(|(t, o)| tx_view(&store, t, o))
        .collect();
    let view = serde_json::json!({
        "hash": block.hash(), "header": block.header, "certificate": cert, "txs": txs,
    });
    crate::cli::out::emit(&serde_json::to_string_pretty(&view)?)?;
    Ok(ExitCode::SUCCESS)
}

fn load_block(store: &RedbStore, height: u64) -> Result<Block> {
    store
        .block(height)?
        .ok_or_else(|| anyhow!("no block {height} (tip is {})", store.tip().height))
}

/// Builds a proof of `hash` against the tip, with consistency from `since`.
pub(crate) fn prove(store: &RedbStore, hash: &Hash, since: Option<u64>) -> Result<TxProof> {
    Ok(TxProof::build(store, hash, since)?)
}

pub(crate) fn run_proof(cmd: ProofCommand) -> Result<ExitCode> {
    let ProofCommand::Verify { file, chain, json } = cmd;
    let meta = std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
    if meta.len() > 16 * 1024 * 1024 {
        bail!(
            "{} is {} bytes: too large for a proof",
            file.display(),
            meta.len()
        );
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let expected = chain.as_deref().map(Hash::from_hex).transpose()?;
    let format = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["format"].as_str().map(str::to_string))
        .unwrap_or_default();
    if format.starts_with("smart-state-proof/") {
        return verify_state_proof(&text, expected.as_ref(), json);
    }
    let result = serde_json::from_str::<TxProof>(&text)
        .map_err(|e| format!("not a SMART tx proof: {e}"))
        .and_then(|p| p.verify(expected.as_ref()).map_err(|e| e.to_string()));
    if json {
        let out = match &result {
            Ok(p) => serde_json::json!({"verified": true, "proven": p}),
            Err(e) => serde_json::json!({"verified": false, "error": e}),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &result {
            Ok(p) => {
                println!(
                    "proof verified: tx {} is in block {} of chain {} with outcome {:?}",
                    p.tx_hash, p.height, p.chain_id, p.outcome
                );
                println!(
                    "  included in the ledger of {} txs with root {}",
                    p.ledger_size, p.ledger_root
                );
                if let Some((size, root)) = p.consistent_with {
                    println!(
                        "  and that ledger extends the earlier ledger of {size} txs with root {root}"
                    );
                }
            }
            Err(e) => println!("PROOF REFUSED: {e}"),
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Checks a state proof file (see `smart state prove`).
fn verify_state_proof(text: &str, expected: Option<&Hash>, json: bool) -> Result<ExitCode> {
    let result = serde_json::from_str::<StateProofFile>(text)
        .map_err(|e| format!("not a SMART state proof: {e}"))
        .and_then(|p| p.verify(expected).map_err(|e| e.to_string()));
    let readable = result.as_ref().ok().map(|p| {
        smart_contracts::State::record_json(
            &p.kind,
            &p.key.0,
            p.value.as_ref().map(|v| v.0.as_slice()),
        )
    });
    if json {
        let out = match (&result, &readable) {
            (Ok(p), Some(Ok((key, value)))) => {
                serde_json::json!({"verified": true, "proven": p, "key": key, "value": value})
            }
            (Ok(p), _) => serde_json::json!({"verified": true, "proven": p}),
            (Err(e), _) => serde_json::json!({"verified": false, "error": e}),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &result {
            Ok(p) => {
                let name = smart_ledger::state_tree::record_name(&p.kind, &p.key.0);
                match &p.value {
                    Some(_) => println!(
                        "proof verified: state record {name} existed in the state certified at height {} of chain {}",
                        p.height, p.chain_id
                    ),
                    None => println!(
                        "proof verified: state record {name} did not exist in the state certified at height {} of chain {}",
                        p.height, p.chain_id
                    ),
                }
                println!(
                    "  state root {}, certified by a majority of {} hubs",
                    p.state_root,
                    p.hubs.len()
                );
                if let Some(Ok((_, Some(value)))) = &readable {
                    println!("  value: {value}");
                }
            }
            Err(e) => println!("PROOF REFUSED: {e}"),
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
