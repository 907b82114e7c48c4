//! `smart bench ledger`: medians of repeated measurements, printed as JSON.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{
    Genesis, GenesisMember, GenesisPeer, Keypair, PeerRole, Role, SignedTx, Timestamp, merkle,
};

use crate::lab::devgen::{self, DevSigners};

mod all;
mod audit;
pub(crate) mod commit_jobs;
mod gateway;
mod gossip;
pub(crate) mod state;
mod station;
pub(crate) use all::all;
pub(crate) use audit::audit;
pub(crate) use gateway::gateway;
pub(crate) use gossip::gossip;
pub(crate) use station::station;

/// Txs per block in the append and verify measurements.
const BLOCK_TXS: usize = 256;

#[derive(Debug, Serialize)]
struct Figure {
    /// Median over the runs.
    median: f64,
    min: f64,
    max: f64,
    unit: &'static str,
}

fn figure(mut samples: Vec<f64>, unit: &'static str) -> Figure {
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    Figure {
        median,
        min: samples.first().copied().unwrap_or(0.0),
        max: samples.last().copied().unwrap_or(0.0),
        unit,
    }
}

#[derive(Debug, Serialize)]
struct LedgerBench {
    txs_per_run: usize,
    runs: usize,
    block_txs: usize,
    cores: usize,
    sign: Figure,
    verify_single: Figure,
    verify_batch_one_core: Figure,
    verify_batch_all_cores: Figure,
    durable_append: Figure,
    blocks_per_second: Figure,
    full_verify: Figure,
    inclusion_proof_generate: Figure,
    inclusion_proof_verify: Figure,
    consistency_proof_generate: Figure,
    consistency_proof_verify: Figure,
}

/// An in-memory network for benches: 3 hubs, 4 people.
pub(crate) fn bench_network() -> Result<(Genesis, DevSigners)> {
    let authors: Vec<(String, Keypair)> = (0..4)
        .map(|i| Keypair::generate().map(|k| (format!("person-{i}"), k)))
        .collect::<Result<_, _>>()?;
    bench_network_of("bench", authors)
}

/// A network named `chain_name` of 3 new hub keys and `authors` (name,
/// key), each an Admin in the genesis.
pub(crate) fn bench_network_of(
    chain_name: &str,
    authors: Vec<(String, Keypair)>,
) -> Result<(Genesis, DevSigners)> {
    let hubs: Vec<Keypair> = (0..3)
        .map(|_| Keypair::generate())
        .collect::<Result<_, _>>()?;
    let genesis = Genesis {
        chain_name: chain_name.into(),
        created: Timestamp(0),
        peers: hubs
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisPeer {
                name: format!("hub-{i}"),
                id: k.id(),
                role: PeerRole::Hub,
            })
            .collect(),
        members: authors
            .iter()
            .map(|(name, k)| GenesisMember {
                name: name.clone(),
                id: k.id(),
                roles: vec![Role::Admin],
            })
            .collect(),
    };
    let authors = authors.into_iter().map(|(_, k)| k).collect();
    Ok((genesis, DevSigners { authors, hubs }))
}

fn per_second(count: usize, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// xorshift64: reproducible positions without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

pub(crate) fn ledger(json: bool, txs: usize, runs: usize) -> Result<ExitCode> {
    let runs = runs.max(1);
    let txs = txs.max(BLOCK_TXS);
    let (genesis, signers) = bench_network()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut s = Samples::default();
    let tmp = tempdir()?;
    let mut signed: Vec<SignedTx> = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        signed = devgen::sign_txs(&genesis, &signers, (run * txs) as u64, txs)?;
        s.sign.push(per_second(txs, t));

        let verify_n = txs.min(20_000);
        let t = Instant::now();
        for tx in &signed[..verify_n] {
            tx.verify_signature()?;
        }
        s.verify_single.push(per_second(verify_n, t));

        let triples: Vec<_> = signed
            .iter()
            .map(|t| (t.author(), t.body_bytes(), *t.signature()))
            .collect();
        let t = Instant::now();
        for chunk in triples.chunks(BLOCK_TXS) {
            smart_ledger::id::verify_many(chunk)
                .map_err(|(i, e)| anyhow::anyhow!("tx {i}: {e}"))?;
        }
        s.verify_batch_one.push(per_second(txs, t));

        let t = Instant::now();
        let per_core = triples.len().div_ceil(cores);
        std::thread::scope(|scope| {
            for part in triples.chunks(per_core) {
                scope.spawn(move || {
                    part.chunks(BLOCK_TXS)
                        .all(|c| smart_ledger::id::verify_many(c).is_ok())
                });
            }
        });
        s.verify_batch_all.push(per_second(txs, t));

        // Durable append into a fresh store.
        let path = tmp.join(format!("run-{run}.redb"));
        let mut store = RedbStore::open_or_create(&path, &genesis)?;
        let blocks: Vec<Vec<SignedTx>> =
            signed.chunks(BLOCK_TXS).map(<[SignedTx]>::to_vec).collect();
        let n_blocks = blocks.len();
        let mut state = smart_consensus::stored::open_state(&mut store, None)?;
        let t = Instant::now();
        for b in blocks {
            devgen::append_block(&mut store, &signers, &mut state, b)?;
        }
        s.append.push(per_second(txs, t));
        s.blocks.push(per_second(n_blocks, t));

        let t = Instant::now();
        smart_ledger::audit::verify_ledger(&store, |_, _| {})?;
        s.full_verify.push(per_second(txs, t));

        // Proofs over the whole store.
        let size = store.tip().acc.size();
        let root = store.tip().acc.root();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ run as u64;
        let picks: Vec<u64> = (0..2000).map(|_| next(&mut rng) % size).collect();
        let t = Instant::now();
        let paths: Vec<_> = picks
            .iter()
            .map(|&i| store.inclusion_proof(i, size))
            .collect::<Result<_, _>>()?;
        s.incl_gen.push(per_second(picks.len(), t));
        let leaves: Vec<_> = picks
            .iter()
            .map(|&i| signed[i as usize].leaf_hash())
            .collect();
        let t = Instant::now();
        let ok = picks
            .iter()
            .zip(&paths)
            .zip(&leaves)
            .all(|((&i, p), l)| merkle::verify_inclusion(l, i, size, p, &root));
        s.incl_verify.push(per_second(picks.len(), t));
        anyhow::ensure!(ok, "an inclusion proof did not verify");

        let olds: Vec<u64> = (0..2000).map(|_| next(&mut rng) % size + 1).collect();
        let t = Instant::now();
        let proofs: Vec<_> = olds
            .iter()
            .map(|&o| store.consistency_proof(o, size))
            .collect::<Result<_, _>>()?;
        s.cons_gen.push(per_second(olds.len(), t));
        let old_roots: Vec<_> = olds
            .iter()
            .map(|&o| store.root_at(o))
            .collect::<Result<_, _>>()?;
        let t = Instant::now();
        let ok = olds
            .iter()
            .zip(&proofs)
            .zip(&old_roots)
            .all(|((&o, p), r)| merkle::verify_consistency(o, size, r, &root, p));
        s.cons_verify.push(per_second(olds.len(), t));
        anyhow::ensure!(ok, "a consistency proof did not verify");
        drop(store);
        let _ = std::fs::remove_file(&path);
        if !json {
            eprintln!("run {}/{} done", run + 1, runs);
        }
    }
    drop(signed);
    let _ = std::fs::remove_dir_all(&tmp);
    let report = LedgerBench {
        txs_per_run: txs,
        runs,
        block_txs: BLOCK_TXS,
        cores,
        sign: figure(s.sign, "tx/s"),
        verify_single: figure(s.verify_single, "sig/s"),
        verify_batch_one_core: figure(s.verify_batch_one, "sig/s"),
        verify_batch_all_cores: figure(s.verify_batch_all, "sig/s"),
        durable_append: figure(s.append, "tx/s"),
        blocks_per_second: figure(s.blocks, "block/s"),
        full_verify: figure(s.full_verify, "tx/s"),
        inclusion_proof_generate: figure(s.incl_gen, "proof/s"),
        inclusion_proof_verify: figure(s.incl_verify, "proof/s"),
        consistency_proof_generate: figure(s.cons_gen, "proof/s"),
        consistency_proof_verify: figure(s.cons_verify, "proof/s"),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct Samples {
    sign: Vec<f64>,
    verify_single: Vec<f64>,
    verify_batch_one: Vec<f64>,
    verify_batch_all: Vec<f64>,
    append: Vec<f64>,
    blocks: Vec<f64>,
    full_verify: Vec<f64>,
    incl_gen: Vec<f64>,
    incl_verify: Vec<f64>,
    cons_gen: Vec<f64>,
    cons_verify: Vec<f64>,
}

/// A fresh folder under the system temp dir.
pub(crate) fn tempdir() -> Result<std::path::PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("smart-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The SmartClientPO example, embedded so the bench needs no files.
const PO_EXAMPLE: &str = include_str!("../../../../contracts/examples/smart-client-po.yaml");

#[derive(Debug, Serialize)]
struct VmBench {
    contract: String,
    jobs_per_run: usize,
    txs_per_run: usize,
    runs: usize,
    accepted_per_run: usize,
    apply: Figure,
    state_root_per_block_of_256: Figure,
    /// The state tree kept from each block's write set (the last quarter
    /// of the run's blocks of 256 txs, the state near its final size).
    kept_tree_per_block_of_256: Figure,
    /// Records in the state at the end, and building their tree from scratch.
    records: usize,
    tree_build: Figure,
}

/// `smart bench vm`: VM apply throughput on one core, SmartClientPO jobs.
/// The SmartClientPO shop of the VM and station benches: the base state
/// (people, tokens, equipment, shop documents, the contract active), then
/// `jobs` full job histories from opening to invoice (12 txs each, encoded),
/// and the ledger time they start at.
pub(crate) struct PoHistory {
    /// The contract id.
    pub(crate) contract: String,
    /// People, tokens, equipment, documents, the contract.
    pub(crate) base: smart_contracts::State,
    /// Each job's txs in order: author, kind, payload.
    pub(crate) txs: Vec<(smart_ledger::SmartId, smart_ledger::TxKind, Vec<u8>)>,
    /// Ledger time of the first tx (one second apart).
    pub(crate) start: Timestamp,
}

/// Txs per job in [`PoHistory`].
pub(crate) const PO_TXS_PER_JOB: usize = 12;

pub(crate) fn po_history(jobs: usize) -> Result<PoHistory> {
    use smart_contracts::action::Action;
    use smart_contracts::model::DocumentType;
    use smart_contracts::simulate::{actor_key, install_active};
    use smart_contracts::state::{Identity, TokenKind};
    use smart_contracts::{State, TxInput, apply};
    use std::collections::BTreeMap;

    let contract = smart_contracts::parse_contract("smart-client-po.yaml", PO_EXAMPLE)?;
    let mut base = State::default();
    let people = [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("pm", Role::ProjectManager),
        ("tech", Role::Technician),
        ("client", Role::Client),
    ];
    for (name, role) in people {
        base.identities
            .insert(actor_key(name).id(), Identity::new(name, [role]));
    }
    install_active(&mut base, &contract, PO_EXAMPLE);
    let id = |n: &str| actor_key(n).id();
    let far = Timestamp(4_000_000_000_000);
    let mut setup: Vec<(&str, Action)> = Vec::new();
    for (token, holder, kind, scope) in [
        ("t1", "tech", TokenKind::Access, "receiving"),
        ("t2", "tech", TokenKind::Training, "furnace-operation"),
        ("t3", "tech", TokenKind::Safety, "furnace-3"),
        ("t4", "tech", TokenKind::Certified, "heat-treat-operator"),
        ("t5", "tech", TokenKind::Certified, "hardness-testing"),
        ("t6", "qa", TokenKind::Certified, "qa-inspector"),
    ] {
        setup.push((
            "compliance",
            Action::IssueToken {
                token: token.into(),
                holder: id(holder),
                kind,
                scope: scope.into(),
                expires: far,
            },
        ));
    }
    for e in ["furnace-3", "quench-tank-1", "rockwell-2"] {
        setup.push((
            "admin",
            Action::RegisterEquipment {
                id: e.into(),
                description: e.into(),
                calibration_due: far,
            },
        ));
    }
    for (i, d) in [
        DocumentType::SafetyDoc,
        DocumentType::Procedure,
        DocumentType::EnvironmentalLog,
    ]
    .into_iter()
    .enumerate()
    {
        setup.push((
            "compliance",
            Action::FileDocument {
                hash: smart_ledger::Hash::of(&[i as u8]),
                doc_type: d,
                job: None,
                title: "shop".into(),
            },
        ));
    }
    let start = Timestamp(1_790_000_000_000);
    for (by, action) in &setup {
        let payload = action.encode();
        let applied = apply(
            &mut base,
            &TxInput {
                author: id(by),
                kind: action.kind(),
                payload: &payload,
                time: start,
                tx_hash: smart_ledger::Hash::ZERO,
            },
        );
        anyhow::ensure!(
            applied.outcome == smart_ledger::Outcome::Accepted,
            "setup refused: {:?}",
            applied.outcome
        );
    }

    // Every job's txs, encoded once.
    let m = |pairs: &[(&str, i64)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    let mut txs: Vec<(smart_ledger::SmartId, Action)> = Vec::new();
    for j in 0..jobs {
        let job = format!("job-{j}");
        let step = |s: &str, meas: BTreeMap<String, i64>| Action::CompleteStep {
            job: job.clone(),
            step: s.into(),
            station: None,
            measurements: meas,
        };
        txs.push((
            id("pm"),
            Action::OpenJob {
                job: job.clone(),
                contract: contract.id.clone(),
                client: id("client"),
                parts: vec!["P-1".into()],
            },
        ));
        txs.push((
            id("client"),
            Action::FileDocument {
                hash: smart_ledger::Hash::of(format!("po-{j}").as_bytes()),
                doc_type: DocumentType::ClientPo,
                job: Some(job.clone()),
                title: "PO".into(),
            },
        ));
        txs.push((
            id("client"),
            Action::FileDocument {
                hash: smart_ledger::Hash::of(format!("mc-{j}").as_bytes()),
                doc_type: DocumentType::MaterialCert,
                job: Some(job.clone()),
                title: "cert".into(),
            },
        ));
        txs.push((id("tech"), step("receive-parts", m(&[("part_count", 120)]))));
        txs.push((id("tech"), step("pre-check", m(&[]))));
        txs.push((
            id("tech"),
            step(
                "harden",
                m(&[("soak_temp", 847), ("soak_time", 61), ("quench_delay", 9)]),
            ),
        ));
        txs.push((
            id("tech"),
            step("temper", m(&[("temper_temp", 540), ("temper_time", 121)])),
        ));
        txs.push((
            id("tech"),
            step(
                "hardness-test",
                m(&[("hardness_min", 37), ("hardness_max", 39)]),
            ),
        ));
        txs.push((id("qa"), step("qa-signoff", m(&[]))));
        txs.push((id("qa"), step("report", m(&[]))));
        txs.push((id("client"), step("client-approval", m(&[]))));
        txs.push((id("pm"), step("invoice", m(&[]))));
    }
    let encoded: Vec<(smart_ledger::SmartId, smart_ledger::TxKind, Vec<u8>)> = txs
        .iter()
        .map(|(a, act)| (*a, act.kind(), act.encode()))
        .collect();
    Ok(PoHistory {
        contract: contract.id.clone(),
        base,
        txs: encoded,
        start,
    })
}

pub(crate) fn vm(jobs: usize, runs: usize) -> Result<ExitCode> {
    use smart_contracts::{TxInput, apply};
    let runs = runs.max(1);
    let PoHistory {
        contract,
        base,
        txs: encoded,
        start,
    } = po_history(jobs)?;

    let mut apply_rates = Vec::new();
    let mut root_rates = Vec::new();
    let mut kept_rates = Vec::new();
    let mut accepted = 0;
    let mut records = 0;
    let mut build_ms = Vec::new();
    for _ in 0..runs {
        // The state tree kept block by block, timed apart from the VM.
        let mut state = base.clone();
        let mut tree = state.state_tree();
        state.take_write_set();
        let blocks = encoded.len() / 256;
        let mut kept = std::time::Duration::ZERO;
        let mut kept_blocks = 0usize;
        for (i, (author, kind, payload)) in encoded.iter().enumerate() {
            let time = Timestamp(start.0 + 1000 * i as u64);
            apply(
                &mut state,
                &TxInput {
                    author: *author,
                    kind: *kind,
                    payload,
                    time,
                    tx_hash: smart_ledger::Hash::ZERO,
                },
            );
            if (i + 1) % 256 == 0 {
                let t = Instant::now();
                state.update_tree(&mut tree);
                if (i + 1) / 256 > blocks * 3 / 4 {
                    kept += t.elapsed();
                    kept_blocks += 1;
                }
            }
        }
        if kept_blocks > 0 {
            let per_block = kept.as_secs_f64() / kept_blocks as f64;
            kept_rates.push(256.0 / per_block.max(1e-12));
        }
        let t = Instant::now();
        let full = state.state_tree();
        build_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        state.update_tree(&mut tree);
        anyhow::ensure!(
            full.root() == tree.root(),
            "the kept state tree drifted from the tree of every record"
        );
        records = usize::try_from(full.len()).unwrap_or(usize::MAX);

        let mut state = base.clone();
        let t = Instant::now();
        accepted = 0;
        for (i, (author, kind, payload)) in encoded.iter().enumerate() {
            let time = Timestamp(start.0 + 1000 * i as u64);
            let applied = apply(
                &mut state,
                &TxInput {
                    author: *author,
                    kind: *kind,
                    payload,
                    time,
                    tx_hash: smart_ledger::Hash::ZERO,
                },
            );
            accepted += usize::from(applied.outcome == smart_ledger::Outcome::Accepted);
        }
        apply_rates.push(per_second(encoded.len(), t));
        let t = Instant::now();
        let n_roots = 20;
        for _ in 0..n_roots {
            std::hint::black_box(state.root());
        }
        // A root per block of 256 txs: its cost per tx.
        let per_root = t.elapsed().as_secs_f64() / n_roots as f64;
        root_rates.push(256.0 / per_root.max(1e-12));
    }
    anyhow::ensure!(
        accepted == encoded.len(),
        "only {accepted} of {} bench txs were accepted",
        encoded.len()
    );
    let report = VmBench {
        contract,
        jobs_per_run: jobs,
        txs_per_run: encoded.len(),
        runs,
        accepted_per_run: accepted,
        apply: figure(apply_rates, "tx/s"),
        state_root_per_block_of_256: figure(root_rates, "tx/s"),
        kept_tree_per_block_of_256: figure(kept_rates, "tx/s"),
        records,
        tree_build: figure(build_ms, "ms"),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// A signed Alert tx with a 256-byte payload that reads like a furnace
/// reading, sequence number `n`, by `author`.
pub(crate) fn soak_reading_tx(
    chain: smart_ledger::Hash,
    author: &Keypair,
    n: u64,
) -> Result<smart_ledger::Bytes> {
    use smart_ledger::{Bytes, TxBody, TxKind};
    let mut payload = format!("furnace-3 soak reading {n}").into_bytes();
    payload.resize(256, b' ');
    let body = TxBody {
        chain_id: chain,
        author: author.id(),
        kind: TxKind::Alert,
        payload: Bytes(payload),
        author_time: Timestamp(n),
        location: None,
        contract: None,
        nonce: n,
    };
    Ok(Bytes(SignedTx::sign(body, author)?.encode()))
}

#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub(crate) fn latency(mut samples: Vec<std::time::Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Latency {
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: samples
            .last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
    }
}

#[derive(Debug, Serialize)]
struct CommitBench {
    hubs: usize,
    clients: usize,
    txs: usize,
    per_request: usize,
    payload_bytes: usize,
    committed_tx_per_s: f64,
    all_accepted: bool,
    latency_under_load: Latency,
    offered_tx_per_s: u64,
    latency_at_offered: Option<Latency>,
}

/// `smart bench commit`: hub processes over libp2p with durable stores.
pub(crate) async fn commit(
    hubs: usize,
    clients: usize,
    txs: usize,
    per_request: usize,
    offered: u64,
    json: bool,
) -> Result<ExitCode> {
    use smart_consensus::TxVerdict;
    use smart_ledger::Bytes;
    let dir = tempdir()?.join("net");
    let shape = crate::lab::localnet::Shape {
        hubs,
        nodes: 0,
        gateway: false,
    };
    let (mut net, _) = crate::lab::localnet::open(&dir, shape, "smart-bench")?;
    net.start_all()?;
    let admin = Keypair::read_file(&dir.join("people/admin.key"))?;
    net.wait_leader(std::time::Duration::from_secs(20)).await?;
    let chain = crate::peer::folders::read_genesis(&dir.join("genesis.json"))?.chain_id();
    if !json {
        eprintln!("{hubs} hubs up; signing {txs} txs");
    }
    let sign = |n: u64| soak_reading_tx(chain, &admin, n);
    let signed: Vec<Bytes> = (0..txs as u64).map(sign).collect::<Result<_>>()?;
    let conns = crate::lab::localnet::hub_clients(&net, &admin).await?;

    // Closed loop: `clients` submitters, round-robin over the hubs.
    let per_client = signed.len().div_ceil(clients.max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (k, share) in signed.chunks(per_client.max(1)).enumerate() {
        let client = conns[k % conns.len()].clone();
        let share = share.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ok = true;
            for chunk in share.chunks(per_request.max(1)) {
                let t = Instant::now();
                match client.submit(chunk.to_vec()).await {
                    Ok(r) => {
                        ok &= r.iter().all(|r| {
                            matches!(
                                r.verdict,
                                TxVerdict::Included {
                                    outcome: smart_ledger::Outcome::Accepted,
                                    ..
                                }
                            )
                        })
                    }
                    Err(_) => ok = false,
                }
                lat.extend(std::iter::repeat_n(t.elapsed(), chunk.len()));
            }
            (lat, ok)
        }));
    }
    let mut lat = Vec::new();
    let mut all_ok = true;
    for t in tasks {
        let (l, ok) = t.await?;
        lat.extend(l);
        all_ok &= ok;
    }
    let rate = txs as f64 / start.elapsed().as_secs_f64();

    // Open loop: single-tx requests at a fixed offered rate for 5 s.
    let latency_at_offered = if offered > 0 {
        let n = (offered * 5) as usize;
        let extra: Vec<Bytes> = (0..n as u64)
            .map(|i| sign(10_000_000_000 + i))
            .collect::<Result<_>>()?;
        let interval = std::time::Duration::from_secs_f64(1.0 / offered as f64);
        let begin = tokio::time::Instant::now();
        let mut handles = Vec::with_capacity(n);
        for (i, tx) in extra.into_iter().enumerate() {
            tokio::time::sleep_until(begin + interval * i as u32).await;
            let client = conns[i % conns.len()].clone();
            handles.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = client.submit(vec![tx]).await;
                (t.elapsed(), r.is_ok())
            }));
        }
        let mut l = Vec::new();
        for h in handles {
            let (d, ok) = h.await?;
            all_ok &= ok;
            l.push(d);
        }
        Some(latency(l))
    } else {
        None
    };
    net.stop_all();
    let report = CommitBench {
        hubs,
        clients,
        txs,
        per_request,
        payload_bytes: 256,
        committed_tx_per_s: rate,
        all_accepted: all_ok,
        latency_under_load: latency(lat),
        offered_tx_per_s: offered,
        latency_at_offered,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
    Ok(ExitCode::SUCCESS)
}
