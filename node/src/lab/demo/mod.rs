//! The shop day: what `smart testnet up --demo` and `smart demo` run through
//! a real network.
//!
//! Once per network folder the shop is made ready ([`ready`]): people are
//! registered, the SmartClientPO for PO 4471 is proposed and approved by
//! every governance role, the client Acme Aero gets an API credential, tokens,
//! equipment and shop documents are filed. Each demo run then takes one job
//! through the day ([`job_day`]): the client uploads its PO over HTTPS, the
//! job runs from receiving to invoice, and six actions are refused on the
//! way, each by the rule the contract names (material cert missing, test
//! before pre-checks, an expired certification, soak temperature out of
//! limits, report before QA, invoice before client approval). The client
//! approves the report over HTTPS, watches the job over server-sent events
//! and fetches its contract with a proof it checks offline. Then a shift at
//! station-1's kiosk ([`station_shift`]) takes a second job through the
//! station specialists.

mod day;
mod setup;
mod shift;

pub(crate) use day::*;
use setup::*;
pub(crate) use shift::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use smart_consensus::{TxReceipt, TxVerdict};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_gateway::client::ApiClient;
use smart_ledger::{Bytes, Hash, Keypair, Outcome, SignedTx, Timestamp, TxBody, TxKind};

use crate::p2p::client::Client;

pub(crate) const PO_CONTRACT: &str =
    include_str!("../../../../contracts/examples/smart-client-po.yaml");

/// The refusals a job day must meet, one per rule it exercises.
pub(crate) const EXPECTED_REFUSALS: usize = 6;

/// The people of the demo and a way to act as them.
#[derive(Debug)]
struct Shop {
    clients: Vec<Client>,
    chain: Hash,
    keys: BTreeMap<&'static str, Keypair>,
    nonce: u64,
    submitted: usize,
    refusals: Vec<String>,
    steps: Vec<(String, Duration)>,
    /// The job the day's actions are for.
    job: String,
}

impl Shop {
    fn sign(&mut self, who: &str, kind: TxKind, payload: Vec<u8>) -> Result<Bytes> {
        let key = self
            .keys
            .get(who)
            .with_context(|| format!("no key for {who}"))?;
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain,
            author: key.id(),
            kind,
            payload: Bytes(payload),
            author_time: Timestamp(smart_ledger::clock::now_ms()),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        Ok(Bytes(SignedTx::sign(body, key)?.encode()))
    }

    /// Signs `action` as `who`, submits it to a hub and prints the outcome.
    async fn act(&mut self, who: &str, what: &str, action: Action) -> Result<TxReceipt> {
        let tx = self.sign(who, action.kind(), action.encode())?;
        let t = Instant::now();
        // A hub that is down or has no leader right now: the next one, the
        // same bytes (hubs de-duplicate), for up to 30 s.
        let receipt = loop {
            let hub = self.clients[self.submitted % self.clients.len()].clone();
            self.submitted += 1;
            let answer = tokio::time::timeout(Duration::from_secs(5), hub.submit(vec![tx.clone()]))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|r| r.into_iter().next());
            match answer {
                // A hub ordered it although we stopped waiting: read its outcome from the block.
                Some(TxReceipt {
                    tx: hash,
                    verdict: TxVerdict::Duplicate { height },
                }) => {
                    let outcome = hub
                        .block(height)
                        .await?
                        .and_then(|(b, _)| {
                            let at = b.txs.iter().position(|t| t.hash() == hash)?;
                            b.outcomes.get(at).cloned()
                        })
                        .with_context(|| format!("{what}: not found in block {height}"))?;
                    break TxReceipt {
                        tx: hash,
                        verdict: TxVerdict::Included { height, outcome },
                    };
                }
                Some(r) if !matches!(r.verdict, TxVerdict::Unavailable { .. }) => break r,
                other if t.elapsed() > Duration::from_secs(30) => {
                    bail!("{what}: no hub ordered it within 30 s (last answer {other:?})")
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let took = t.elapsed();
        match &receipt.verdict {
            TxVerdict::Included {
                height,
                outcome: Outcome::Accepted,
            } => println!(
                "   ok       block {height:>3}  {who:<16} {what}  ({} ms)",
                took.as_millis()
            ),
            TxVerdict::Included {
                height,
                outcome: Outcome::Refused { code, reason },
            } => {
                println!(
                    "   REFUSED  block {height:>3}  {who:<16} {what}\n            [{code}] {reason}"
                );
                self.refusals.push(format!("[{code}] {reason}"));
            }
            other => bail!("{what}: not ordered: {other:?}"),
        }
        self.steps.push((what.to_string(), took));
        Ok(receipt)
    }

    async fn step(
        &mut self,
        who: &str,
        step: &str,
        measurements: &[(&str, i64)],
    ) -> Result<TxReceipt> {
        let m = measurements
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let what = if measurements.is_empty() {
            format!("step {step}")
        } else {
            format!(
                "step {step} {}",
                measurements
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        self.act(
            who,
            &what,
            Action::CompleteStep {
                job: self.job.clone(),
                step: step.into(),
                station: None,
                measurements: m,
            },
        )
        .await
    }

    async fn document(
        &mut self,
        who: &str,
        doc_type: DocumentType,
        job: Option<&str>,
        title: &str,
    ) -> Result<TxReceipt> {
        let hash = Hash::of(format!("{title} (document body)").as_bytes());
        self.act(
            who,
            &format!("file {title}"),
            Action::FileDocument {
                hash,
                doc_type,
                job: job.map(str::to_string),
                title: title.into(),
            },
        )
        .await
    }
}

impl Shop {
    /// The client uploads a document for the job through the gateway.
    async fn upload(
        &mut self,
        api: &smart_gateway::client::ApiClient,
        doc_type: &str,
        title: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let t = Instant::now();
        let path = format!(
            "/api/uploads?doc_type={doc_type}&job={}&title={}",
            self.job,
            title.replace(' ', "%20")
        );
        let (code, receipt) = api.call("POST", &path, bytes.to_vec()).await?;
        let what = format!("upload {title} (HTTPS)");
        println!(
            "   {}  block {:>3}  acme-aero        {what}\n            receipt: document {} tx {}",
            if code == 201 { "ok     " } else { "REFUSED" },
            receipt["height"].as_u64().unwrap_or(0),
            short(&receipt["document"]),
            short(&receipt["tx"]),
        );
        if code != 201 {
            bail!("{what}: {code} {receipt}");
        }
        self.steps.push((what, t.elapsed()));
        Ok(())
    }

    /// The client approves a step through the gateway.
    async fn approve(&mut self, api: &smart_gateway::client::ApiClient, step: &str) -> Result<()> {
        let t = Instant::now();
        let (code, r) = api
            .call(
                "POST",
                &format!("/api/jobs/{}/steps/{step}/approve", self.job),
                Vec::new(),
            )
            .await?;
        let what = format!("step {step} (HTTPS)");
        println!(
            "   {}  block {:>3}  acme-aero        {what}",
            if code == 201 { "ok     " } else { "REFUSED" },
            r["height"].as_u64().unwrap_or(0)
        );
        if code != 201 {
            bail!("{what}: {code} {r}");
        }
        self.steps.push((what, t.elapsed()));
        Ok(())
    }
}

/// The first 12 characters of a JSON string.
fn short(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("?").chars().take(12).collect()
}

/// Waits until the gateway accepts the client's credential and has applied
/// block `height` (the gateway follows the hubs by gossip, so a job the hubs
/// just opened may not be there yet: an upload for it would be a 404);
/// returns the gateway's height.
async fn wait_for_gateway(api: &smart_gateway::client::ApiClient, height: u64) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _)) = api.call("GET", "/api/whoami", Vec::new()).await
            && let Ok((200, h)) = api.call("GET", "/health", Vec::new()).await
            && let Some(at) = h["height"].as_u64()
            && at >= height
        {
            return Ok(at);
        }
        if Instant::now() > deadline {
            bail!("the gateway did not accept the client's credential or reach block {height}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn person(dir: &Path, name: &str) -> Result<Keypair> {
    Ok(Keypair::read_file(
        &dir.join("people").join(format!("{name}.key")),
    )?)
}

/// The shop of a running network, ready for job days.
#[derive(Debug)]
pub(crate) struct Ready {
    shop: Shop,
    file: ShopFile,
    path: PathBuf,
    /// The client's API client (with its credential) for the gateway.
    pub(crate) api: ApiClient,
    /// The client's credential.
    pub(crate) credential: String,
}

/// Makes the shop of network folder `dir` ready: the first time, registers
/// people, approves the contract, issues the client's credential and files
/// tokens, equipment and documents (printing each action); later, reads what
/// that left in `shop.json`.
pub(crate) async fn ready(
    hubs: &[libp2p::Multiaddr],
    gateway: std::net::SocketAddr,
    dir: &Path,
) -> Result<Ready> {
    let genesis = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?;
    let admin = person(dir, "admin")?;
    let path = dir.join("shop.json");
    let existing: Option<ShopFile> = match std::fs::read(&path) {
        Ok(b) => Some(serde_json::from_slice(&b).with_context(|| format!("{}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    let mut keys = BTreeMap::new();
    for p in ["admin", "compliance", "qa", "project-manager"] {
        keys.insert(p, person(dir, p)?);
    }
    for p in ["tech-7", "tech-9", "acme-aero"] {
        let k = if existing.is_some() {
            person(dir, p)?
        } else {
            let k = Keypair::generate()?;
            let file = dir.join("people").join(format!("{p}.key"));
            if file.exists() {
                std::fs::remove_file(&file)?;
            }
            k.write_file(&file)?;
            k
        };
        keys.insert(p, k);
    }
    let mut shop = Shop {
        clients: {
            let mut c = Vec::new();
            for a in hubs {
                c.push(Client::connect(&admin, a.clone()).await?);
            }
            c
        },
        chain: genesis.chain_id(),
        keys,
        nonce: smart_ledger::clock::now_ms() * 1000,
        submitted: 0,
        refusals: Vec::new(),
        steps: Vec::new(),
        job: String::new(),
    };
    let file = match existing {
        Some(f) => f,
        None => setup(&mut shop).await?,
    };
    write_private(&path, &file)?;
    let api = ApiClient::new(
        gateway,
        &smart_gateway::tls::default_paths(&dir.join("gateway")).0,
    )?
    .with_credential(&file.credential);
    Ok(Ready {
        credential: file.credential.clone(),
        shop,
        file,
        path,
        api,
    })
}
