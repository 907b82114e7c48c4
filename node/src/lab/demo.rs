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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use smart_consensus::{TxReceipt, TxVerdict};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_gateway::client::ApiClient;
use smart_ledger::{Bytes, Hash, Keypair, Outcome, Role, SignedTx, Timestamp, TxBody, TxKind};

use crate::p2p::client::Client;

const PO_CONTRACT: &str = include_str!("../../../contracts/examples/smart-client-po.yaml");

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

/// What a network folder keeps of its shop between runs (`shop.json`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ShopFile {
    /// The client's API credential (a local testnet prints it; the ledger holds only its hash).
    credential: String,
    /// When tech-9's certification lapses (ms since the epoch).
    lapse_ms: u64,
    /// Job days run so far.
    jobs: u32,
}

/// Writes `shop.json` as the keys are written: readable by its owner only,
/// and whole (a temporary file renamed over the old one).
fn write_private(path: &Path, file: &ShopFile) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("{}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(file)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(())
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

async fn setup(shop: &mut Shop) -> Result<ShopFile> {
    let id = |shop: &Shop, n: &str| shop.keys.get(n).map(|k| k.id()).context("key");

    println!(
        "\n== the shop: people, the contract (proposed, approved by every governance role), a client credential"
    );
    for (n, role, org) in [
        ("tech-7", Role::Technician, None),
        ("tech-9", Role::Technician, None),
        ("acme-aero", Role::Client, Some("Acme Aero")),
    ] {
        let new_id = id(shop, n)?;
        shop.act(
            "admin",
            &format!("register {n} as {role:?}"),
            Action::RegisterIdentity {
                id: new_id,
                name: n.into(),
                roles: vec![role],
                organisation: org.map(str::to_string),
            },
        )
        .await?;
    }
    shop.act(
        "admin",
        "propose po-4471-heat-treat v1",
        Action::ProposeContract {
            yaml: PO_CONTRACT.into(),
        },
    )
    .await?;
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("project-manager", Role::ProjectManager),
    ] {
        shop.act(
            who,
            &format!("approve as {role:?}"),
            Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        )
        .await?;
    }

    let (credential, cred, secret_hash) =
        smart_gateway::auth::Credential::mint().map_err(|e| anyhow::anyhow!("{e}"))?;
    let acme_id = id(shop, "acme-aero")?;
    shop.act(
        "project-manager",
        "issue an API credential to acme-aero (the ledger keeps its hash)",
        Action::IssueApiCredential {
            id: cred.id.clone(),
            client: acme_id,
            secret_hash,
        },
    )
    .await?;

    println!("\n== tokens, equipment, shop documents");
    let year = Timestamp(smart_ledger::clock::now_ms() + 365 * 86_400_000);
    let tech7 = id(shop, "tech-7")?;
    for (t, kind, scope) in [
        ("t7-recv", TokenKind::Access, "receiving"),
        ("t7-furnace", TokenKind::Training, "furnace-operation"),
        ("t7-safety", TokenKind::Safety, "furnace-3"),
        ("t7-ht", TokenKind::Certified, "heat-treat-operator"),
        ("t7-hrc", TokenKind::Certified, "hardness-testing"),
    ] {
        shop.act(
            "compliance",
            &format!("token {}:{scope} for tech-7", kind.name()),
            Action::IssueToken {
                token: t.into(),
                holder: tech7,
                kind,
                scope: scope.into(),
                expires: year,
            },
        )
        .await?;
    }
    let qa = id(shop, "qa")?;
    shop.act(
        "compliance",
        "token Certified:qa-inspector for qa",
        Action::IssueToken {
            token: "qa-insp".into(),
            holder: qa,
            kind: TokenKind::Certified,
            scope: "qa-inspector".into(),
            expires: year,
        },
    )
    .await?;
    // tech-9's certification lapses in two seconds.
    let lapse = Timestamp(smart_ledger::clock::now_ms() + 2_000);
    let tech9 = id(shop, "tech-9")?;
    shop.act(
        "compliance",
        "token Certified:heat-treat-operator for tech-9 (lapses in 2 s)",
        Action::IssueToken {
            token: "t9-ht".into(),
            holder: tech9,
            kind: TokenKind::Certified,
            scope: "heat-treat-operator".into(),
            expires: lapse,
        },
    )
    .await?;
    for (e, d) in [
        ("furnace-3", "Box furnace, AMS 2750 class 2"),
        ("quench-tank-1", "Oil quench tank"),
        ("rockwell-2", "Rockwell hardness tester"),
    ] {
        shop.act(
            "admin",
            &format!("register {e}"),
            Action::RegisterEquipment {
                id: e.into(),
                description: d.into(),
                calibration_due: Timestamp(smart_ledger::clock::now_ms() + 90 * 86_400_000),
            },
        )
        .await?;
    }
    shop.document(
        "compliance",
        DocumentType::SafetyDoc,
        None,
        "Furnace 3 JSA and SDS",
    )
    .await?;
    shop.document(
        "compliance",
        DocumentType::Procedure,
        None,
        "WI-HT-012 rev D",
    )
    .await?;
    shop.document(
        "compliance",
        DocumentType::EnvironmentalLog,
        None,
        "Furnace atmosphere log",
    )
    .await?;

    Ok(ShopFile {
        credential,
        lapse_ms: lapse.0,
        jobs: 0,
    })
}

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
async fn kiosk_post(
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

async fn kiosk_view(addr: std::net::SocketAddr) -> Result<serde_json::Value> {
    let (code, body) =
        smart_testnet::status::http_get(addr, "/api/view", Duration::from_secs(10)).await?;
    if code != 200 {
        bail!("the kiosk's view answered HTTP {code}");
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Waits (≤ 30 s) until the kiosk's view satisfies `check`.
async fn kiosk_until(
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
    shop.document(
        "compliance",
        DocumentType::MaterialCert,
        Some(&job),
        &format!("Mill cert heat 88127 ({job})"),
    )
    .await?;
    kiosk_until(addr, "the job at the station", |v| {
        v["open_jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|x| x.as_str() == Some(job.as_str())))
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
