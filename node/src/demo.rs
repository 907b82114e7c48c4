//! `smart demo`: a shop day through a real local network.
//!
//! Three hub processes (the `smart` binary in `run` mode, real libp2p on
//! 127.0.0.1, real redb stores) order every action. The SmartClientPO for
//! PO 4471 is proposed and approved by every governance role, then the job
//! flows: receiving, pre-checks, heat treat, temper, hardness, QA, report,
//! client approval, invoice and payouts. Six actions are refused on the way,
//! each by the rule the contract names (material cert missing, test before
//! pre-checks, an expired certification, soak temperature out of limits,
//! report before QA, invoice before client approval). Then every hub's ledger
//! is verified, and a proof of the invoice is checked offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use smart_consensus::{TxReceipt, TxVerdict};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_ledger::store::RedbStore;
use smart_ledger::{Bytes, Hash, Keypair, Outcome, Role, SignedTx, Timestamp, TxBody, TxKind};

use crate::client::Client;
use crate::localnet::LocalHubs;

const PO_CONTRACT: &str = include_str!("../../contracts/examples/smart-client-po.yaml");

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The people of the demo and a way to act as them.
struct Shop {
    clients: Vec<Client>,
    chain: Hash,
    keys: BTreeMap<&'static str, Keypair>,
    nonce: u64,
    submitted: usize,
    refusals: Vec<String>,
    steps: Vec<(String, Duration)>,
    invoice_tx: Option<Hash>,
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
            author_time: Timestamp(now_ms()),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        Ok(Bytes(SignedTx::sign(body, key)?.encode()))
    }

    /// Signs `action` as `who`, submits it to a hub and prints the outcome.
    async fn act(&mut self, who: &str, what: &str, action: Action) -> Result<TxReceipt> {
        let tx = self.sign(who, action.kind(), action.encode())?;
        let hub = self.clients[self.submitted % self.clients.len()].clone();
        self.submitted += 1;
        let t = Instant::now();
        let receipt = hub
            .submit(vec![tx])
            .await?
            .into_iter()
            .next()
            .context("no receipt")?;
        let took = t.elapsed();
        match &receipt.verdict {
            TxVerdict::Included {
                height,
                outcome: Outcome::Accepted,
            } => println!("   ok       block {height:>3}  {who:<16} {what}"),
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
                job: "job-4471".into(),
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
    /// The client uploads a document for job-4471 through the gateway.
    async fn upload(
        &mut self,
        api: &smart_gateway::client::ApiClient,
        doc_type: &str,
        title: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let t = Instant::now();
        let path = format!(
            "/api/uploads?doc_type={doc_type}&job=job-4471&title={}",
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
                &format!("/api/jobs/job-4471/steps/{step}/approve"),
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

/// Waits until the gateway has the client's credential; returns its height.
async fn wait_for_gateway(api: &smart_gateway::client::ApiClient) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _)) = api.call("GET", "/api/whoami", Vec::new()).await
            && let Ok((200, h)) = api.call("GET", "/health", Vec::new()).await
        {
            return Ok(h["height"].as_u64().unwrap_or(0));
        }
        if Instant::now() > deadline {
            bail!("the gateway did not accept the client's credential");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn person(dir: &Path, name: &str) -> Result<Keypair> {
    Ok(Keypair::read_file(
        &dir.join("people").join(format!("{name}.key")),
    )?)
}

pub(crate) fn run(dir: Option<PathBuf>, records: u64) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => crate::bench::tempdir()?.join("network"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(shop_day(&dir, records))
}

async fn shop_day(dir: &Path, records: u64) -> Result<ExitCode> {
    let started = Instant::now();
    println!(
        "== 1. a network: 3 hubs (Vault, Floor, Business), 6 stations, gateway in {}",
        dir.display()
    );
    let mut net = LocalHubs::start(dir, 3, 6)?;
    let admin = person(dir, "admin")?;
    net.wait_leader(&admin, Duration::from_secs(20)).await?;
    for (name, addr) in net.names.iter().zip(&net.addrs) {
        println!("   {name:<13} {addr}");
    }
    net.start_stations(6)?;
    println!("   station-1..6  follow the hubs by gossip (not Raft members)");
    let gateway_addr = net.start_gateway(&[])?;
    println!("   gateway       https://{gateway_addr}/ (SMART-API and the client dashboard)");
    let genesis = crate::folders::read_genesis(&dir.join("genesis.json"))?;
    let mut keys = BTreeMap::new();
    for p in ["admin", "compliance", "qa", "project-manager"] {
        keys.insert(p, person(dir, p)?);
    }
    for p in ["tech-7", "tech-9", "acme-aero"] {
        let k = Keypair::generate()?;
        k.write_file(&dir.join("people").join(format!("{p}.key")))?;
        keys.insert(p, k);
    }
    let mut shop = Shop {
        clients: net.clients(&admin).await?,
        chain: genesis.chain_id(),
        keys,
        nonce: 0,
        submitted: 0,
        refusals: Vec::new(),
        steps: Vec::new(),
        invoice_tx: None,
    };
    let id = |shop: &Shop, n: &str| shop.keys.get(n).map(|k| k.id()).context("key");

    println!("\n== 2. people and the contract (proposed, approved by every governance role)");
    for (n, role, org) in [
        ("tech-7", Role::Technician, None),
        ("tech-9", Role::Technician, None),
        ("acme-aero", Role::Client, Some("Acme Aero")),
    ] {
        let new_id = id(&shop, n)?;
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
    let acme_id = id(&shop, "acme-aero")?;
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
    let api = smart_gateway::client::ApiClient::new(
        gateway_addr,
        &smart_gateway::tls::default_paths(&dir.join("gateway")).0,
    )?
    .with_credential(&credential);

    println!("\n== 3. tokens, equipment, shop documents");
    let year = Timestamp(now_ms() + 365 * 86_400_000);
    let tech7 = id(&shop, "tech-7")?;
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
    let qa = id(&shop, "qa")?;
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
    let lapse = Timestamp(now_ms() + 2_000);
    let tech9 = id(&shop, "tech-9")?;
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
                calibration_due: Timestamp(now_ms() + 90 * 86_400_000),
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

    println!("\n== 4. PO 4471 arrives and the job runs");
    let client = id(&shop, "acme-aero")?;
    shop.act(
        "project-manager",
        "open job-4471 for acme-aero",
        Action::OpenJob {
            job: "job-4471".into(),
            contract: "po-4471-heat-treat".into(),
            client,
            parts: vec!["AA-88213-C x120".into()],
        },
    )
    .await?;
    // The client, from outside: signs in over HTTPS, watches its job live.
    let live = wait_for_gateway(&api).await?;
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
        b"PURCHASE ORDER 4471\n120 x AA-88213 rev C\n",
    )
    .await?;
    shop.step("tech-7", "receive-parts", &[("part_count", 120)])
        .await?;
    shop.upload(
        &api,
        "material_cert",
        "Mill cert heat 88127",
        b"%PDF-1.7\nMill certificate, heat 88127, AISI 4340\n",
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
    let wait = lapse.0.saturating_sub(now_ms()) + 300;
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
    shop.invoice_tx = Some(invoice.tx);

    let (code, contract) = api
        .call("GET", "/api/contracts/job-4471", Vec::new())
        .await?;
    if code != 200 {
        bail!("the client could not fetch its contract: {code} {contract}");
    }
    let opening: smart_ledger::proof::TxProof =
        serde_json::from_value(contract["proofs"]["job_opened"].clone())?;
    let proven = opening.verify(Some(&genesis.chain_id()))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    watcher.abort();
    let events = seen.lock().map(|s| s.clone()).unwrap_or_default();
    println!(
        "   client over HTTPS: contract job-4471 with its proof (opened in block {}, verified offline); {} live status events received",
        proven.height,
        events.len()
    );
    if events.is_empty() {
        bail!("the client saw no live status event");
    }

    println!("\n== 5. the rest of the day: {records} access-log records from the stations");
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

    // Let every certificate complete, then stop the hubs.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut st = Vec::new();
        for c in &shop.clients {
            if let Ok(s) = c.status().await {
                st.push((s.height, s.certified));
            }
        }
        if st.len() == 3
            && st.windows(2).all(|w| w[0].0 == w[1].0)
            && st.iter().all(|(h, c)| h == c)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("hubs did not agree on a certified tip: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let target = shop.clients[0].status().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (name, addr) in net.stations.clone() {
        let station = Client::connect(&admin, addr).await?;
        loop {
            let st = station.status().await?;
            if st.height == target.height && st.tip == target.tip {
                break;
            }
            if Instant::now() > deadline {
                bail!("{name} is at {} of {}", st.height, target.height);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        if let Ok((200, h)) = api.call("GET", "/health", Vec::new()).await
            && h["height"].as_u64() == Some(target.height)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the gateway did not reach height {}", target.height);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.stop();

    println!(
        "\n== 6. every ledger verified (signatures, links, Merkle roots, certificates, VM re-run on stations)"
    );
    let mut tips = Vec::new();
    let peers: Vec<String> = net
        .names
        .iter()
        .cloned()
        .chain(net.stations.iter().map(|(n, _)| n.clone()))
        .chain(["gateway".to_string()])
        .collect();
    for name in &peers {
        let store = RedbStore::open(&dir.join(name).join(RedbStore::FILE_NAME))?;
        let report = smart_ledger::audit::verify_ledger(&store, |_, _| {})
            .map_err(|f| anyhow::anyhow!("{name}: {f}"))?;
        println!(
            "   {name:<13} intact: {} blocks, {} txs, tip {}",
            report.blocks,
            report.txs,
            report.tip_hash.short()
        );
        tips.push(report.tip_hash);
    }
    if !tips.windows(2).all(|w| w[0] == w[1]) {
        bail!("peers hold different chains");
    }
    let business = dir.join(&net.names[2]);
    let store = RedbStore::open(&business.join(RedbStore::FILE_NAME))?;
    let state = smart_consensus::machine::stored_state(&store)
        .map_err(anyhow::Error::msg)?
        .context("no contract state")?;
    crate::contract_cmd::print_money(&state, "   ");

    println!("\n== 7. the client's proof of the invoice, checked offline");
    let invoice_tx = shop.invoice_tx.context("no invoice")?;
    let proof = crate::ledger_cmd::prove(&store, &invoice_tx, Some(1))?;
    let proof_file = dir.join("invoice-proof.json");
    std::fs::write(&proof_file, serde_json::to_string_pretty(&proof)?)?;
    let proven = proof.verify(Some(&genesis.chain_id()))?;
    println!(
        "   tx {} in block {} with outcome {:?}, in a ledger of {} txs (root {}); written to {}",
        proven.tx_hash.short(),
        proven.height,
        proven.outcome,
        proven.ledger_size,
        proven.ledger_root.short(),
        proof_file.display()
    );

    println!("\n== summary");
    println!(
        "   {} shop actions, {} refused (each by its rule):",
        shop.steps.len(),
        shop.refusals.len()
    );
    for r in &shop.refusals {
        println!("     {r}");
    }
    let slowest = shop
        .steps
        .iter()
        .max_by_key(|(_, d)| *d)
        .map(|(w, d)| format!("{w} ({} ms)", d.as_millis()))
        .unwrap_or_default();
    let mean = shop.steps.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>()
        / shop.steps.len().max(1) as f64;
    println!(
        "   commit latency per action: mean {:.1} ms, slowest {slowest}",
        mean * 1000.0
    );
    println!(
        "   total {:.1} s; network folder {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    if shop.refusals.len() != 6 || state.invoices.len() != 1 {
        bail!("the shop day did not go as the contract says");
    }
    Ok(ExitCode::SUCCESS)
}
