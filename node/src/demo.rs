//! `smart demo`: the ledger end to end, in one command.
//!
//! Until the testnet exists this is the best end-to-end walk-through: a new
//! network is initialised, a development ledger is signed and stored on the
//! Business Hub's disk, the whole chain is verified, an auditor records the
//! ledger's size and root, more blocks arrive, and a tx proof with a
//! consistency proof is written and checked offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use smart_ledger::Hash;
use smart_ledger::store::BlockStore;

use crate::folders::PeerFolder;

pub(crate) fn run(dir: Option<PathBuf>, txs: u64) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => crate::bench::tempdir()?.join("network"),
    };
    let txs = txs.max(2);
    println!("== 1. smart init --dir {}", dir.display());
    crate::init::init(&dir, 3, 6, "smart-demo-shop")?;

    let hub = dir.join(crate::init::hub_name(2));
    let folder = PeerFolder::new(&hub);
    println!(
        "\n== 2. DEV ledger: {} signed txs in blocks of 256 on {}",
        txs / 2,
        hub.display()
    );
    crate::devgen::generate(&hub, txs / 2, 256, Some(&dir), false)?;
    let (old_size, old_root, first_tx) = {
        let store = folder.open_existing_store()?;
        let tip = store.tip();
        let first = store
            .block(1)?
            .and_then(|b| b.txs.first().map(|t| t.hash()));
        (tip.acc.size(), tip.acc.root(), first)
    };
    println!("   an auditor records: ledger size {old_size}, root {old_root}");

    println!("\n== 3. {} more txs arrive", txs - txs / 2);
    crate::devgen::generate(&hub, txs - txs / 2, 256, Some(&dir), false)?;

    println!("\n== 4. smart ledger verify --data {}", hub.display());
    let code = crate::ledger_cmd::verify(&hub, false)?;
    if code != ExitCode::SUCCESS {
        bail!("verification failed");
    }

    let Some(tx) = first_tx else {
        bail!("the demo ledger has no tx")
    };
    let proof_file = dir.join("proof.json");
    println!(
        "\n== 5. smart ledger prove --tx {tx} --since {old_size} --out {}",
        proof_file.display()
    );
    let proof = {
        let store = folder.open_existing_store()?;
        crate::ledger_cmd::prove(&store, &tx, Some(old_size))?
    };
    std::fs::write(&proof_file, serde_json::to_string_pretty(&proof)?)?;

    println!(
        "\n== 6. smart proof verify {} (offline: needs only the file)",
        proof_file.display()
    );
    let proven = proof.verify(Some(&proof.chain_id))?;
    println!(
        "   tx {} is in block {} with outcome {:?}",
        proven.tx_hash, proven.height, proven.outcome
    );
    println!(
        "   ledger of {} txs, root {}",
        proven.ledger_size, proven.ledger_root
    );
    if proven.consistent_with != Some((old_size, old_root)) {
        bail!("the consistency proof does not match the auditor's record");
    }
    println!(
        "   extends the ledger the auditor recorded ({old_size} txs, root {old_root}): nothing was rewritten"
    );
    let _: Hash = proven.chain_id;
    println!("\nnetwork folder: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
