//! `smart submit`: sign a tx described in YAML and submit it to a hub.
//!
//! ```yaml
//! kind: Token                 # optional: taken from the action when omitted
//! action:                     # a contract action (see contracts/README.md)
//!   issue_token: { token: t-42, holder: "SMART-ID", kind: Certified, scope: NDT-UT-L2, expires: 1798761600000 }
//! # or, for evidence kinds (Alert, Refusal, AccessLogBatch): text: "door open at station 3"
//! # or, to change the hub set (Admin): hub_change: { add: { hub: "SMART-ID", addr: "/ip4/.../p2p/..." } }
//! location: station-3         # optional
//! contract: { id: po-4471-heat-treat, version: 1 }   # optional
//! nonce: 7                    # optional: defaults to the current time in ns
//! ```

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use serde::Deserialize;
use smart_contracts::Action;
use smart_ledger::{Bytes, ContractRef, Keypair, SignedTx, Timestamp, TxBody, TxKind};

use crate::p2p::client::Client;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxFile {
    #[serde(default)]
    kind: Option<TxKind>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    hub_change: Option<smart_ledger::membership::HubChange>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    contract: Option<ContractRef>,
    #[serde(default)]
    nonce: Option<u64>,
}

fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Builds and signs the tx a file describes.
pub fn build_tx(file: &Path, key: &Keypair, chain_id: smart_ledger::Hash) -> Result<SignedTx> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if text.len() > 256 * 1024 {
        bail!("{} is over 256 KiB", file.display());
    }
    let spec: TxFile = serde_saphyr::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}",
            file.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    let (kind, payload) = match (&spec.action, &spec.text, &spec.hub_change) {
        (Some(a), None, None) => (spec.kind.unwrap_or(a.kind()), a.encode()),
        (None, Some(t), None) => (spec.kind.unwrap_or(TxKind::Alert), t.as_bytes().to_vec()),
        (None, None, Some(c)) => (TxKind::Membership, c.encode()),
        _ => bail!(
            "{}: give exactly one of `action`, `text` or `hub_change`",
            file.display()
        ),
    };
    let body = TxBody {
        chain_id,
        author: key.id(),
        kind,
        payload: Bytes(payload),
        author_time: Timestamp(now().as_millis() as u64),
        location: spec.location,
        contract: spec.contract,
        nonce: spec.nonce.unwrap_or(now().as_nanos() as u64),
    };
    Ok(SignedTx::sign(body, key)?)
}

/// Connects to the hub at `to` as `key` and asks for its chain id. A hub
/// admits a newly registered identity once it has seen the block that
/// registered it (within a fraction of a second): a refused connection is
/// tried again for a few seconds.
async fn connect(key: &Keypair, to: &Multiaddr) -> Result<(Client, smart_ledger::Hash)> {
    let client = Client::connect(key, to.clone()).await?;
    let mut tries = 0;
    loop {
        match client.status().await {
            Ok(s) => return Ok((client, s.chain_id)),
            Err(smart_consensus::TransportError::Unreachable(_)) if tries < 15 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("asking {to} for its chain")),
        }
    }
}

/// A small runtime for a command that submits and waits (one thread).
pub fn command_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// `smart submit --to ADDR --key FILE TX.yaml`.
pub async fn submit(to: Multiaddr, key_file: &Path, tx_file: &Path) -> Result<ExitCode> {
    let key = Keypair::read_file(key_file)?;
    let (client, chain_id) = connect(&key, &to).await?;
    let tx = build_tx(tx_file, &key, chain_id)?;
    let receipts = client.submit(vec![Bytes(tx.encode())]).await?;
    let receipt = receipts.into_iter().next().context("no receipt")?;
    println!("{}", serde_json::to_string_pretty(&receipt)?);
    Ok(match receipt.verdict {
        smart_consensus::TxVerdict::Included {
            outcome: smart_ledger::Outcome::Accepted,
            ..
        } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Signs each of `actions` as `key` and submits them to the hub at `to`,
/// printing one line per receipt; returns how many were not accepted.
pub async fn submit_actions(to: Multiaddr, key: &Keypair, actions: Vec<Action>) -> Result<usize> {
    if actions.is_empty() {
        println!("nothing new to record");
        return Ok(0);
    }
    let (client, chain_id) = connect(key, &to).await?;
    let base = now().as_nanos() as u64;
    let txs: Vec<Bytes> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let body = TxBody {
                chain_id,
                author: key.id(),
                kind: a.kind(),
                payload: Bytes(a.encode()),
                author_time: Timestamp(now().as_millis() as u64),
                location: None,
                contract: None,
                nonce: base + i as u64,
            };
            SignedTx::sign(body, key).map(|tx| Bytes(tx.encode()))
        })
        .collect::<Result<_, _>>()?;
    let receipts = client.submit(txs).await?;
    let mut refused = 0;
    for r in &receipts {
        match &r.verdict {
            smart_consensus::TxVerdict::Included {
                outcome: smart_ledger::Outcome::Accepted,
                height,
                ..
            } => println!("recorded {} at block {height}", r.tx.short()),
            other => {
                refused += 1;
                println!("not recorded {}: {other:?}", r.tx.short());
            }
        }
    }
    Ok(refused + actions.len().saturating_sub(receipts.len()))
}
