//! `smart bench audit`: exporting and verifying a job's audit pack. The
//! ledger is real (a redb store; blocks made by the VM and certified by 3
//! hub keys): the shop set up, the SmartClientPO contract approved, then
//! one job with `txs` decisions (out-of-limit soak readings, refused, then
//! the whole job to its invoice), each block also holding as many
//! unrelated access-log-like txs, which the pack leaves out.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, ensure};
use serde::Serialize;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::simulate::actor_key;
use smart_contracts::state::TokenKind;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Bytes, Hash, Role, SignedTx, Timestamp, TxBody, TxKind};

use super::{Figure, figure};
use crate::lab::devgen::append_block;

#[derive(Debug, Serialize)]
struct AuditBench {
    job_txs: usize,
    unrelated_txs: usize,
    pack_txs: usize,
    pack_bytes: usize,
    runs: usize,
    export_ms: Figure,
    verify_ms: Figure,
    verify_ms_per_10k_txs: Figure,
}

struct Signer {
    chain: Hash,
    nonce: u64,
}

impl Signer {
    fn tx(&mut self, who: &str, kind: TxKind, payload: Vec<u8>) -> Result<SignedTx> {
        self.nonce += 1;
        let key = actor_key(who);
        let body = TxBody {
            chain_id: self.chain,
            author: key.id(),
            kind,
            payload: Bytes(payload),
            author_time: Timestamp(self.nonce),
            location: None,
            contract: None,
            nonce: self.nonce,
        };
        Ok(SignedTx::sign(body, &key)?)
    }

    fn act(&mut self, who: &str, a: &Action) -> Result<SignedTx> {
        self.tx(who, a.kind(), a.encode())
    }
}

const PO: &str = include_str!("../../../../contracts/examples/smart-client-po.yaml");

fn step(s: &str, m: &[(&str, i64)]) -> Action {
    Action::CompleteStep {
        job: "job-1".into(),
        step: s.into(),
        station: None,
        measurements: m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// The bench ledger in `dir`; returns the store and the chain id.
fn build(dir: &std::path::Path, job_txs: usize) -> Result<(RedbStore, Hash)> {
    let (genesis, signers) =
        super::bench_network_of("audit bench", vec![("admin".into(), actor_key("admin"))])?;
    let mut store = RedbStore::open_or_create(&dir.join("ledger.redb"), &genesis)?;
    let mut state = smart_consensus::stored::open_state(&mut store, None)?;
    let mut s = Signer {
        chain: genesis.chain_id(),
        nonce: 0,
    };
    let id = |n: &str| actor_key(n).id();
    let far = Timestamp(4_000_000_000_000);
    let mut setup = Vec::new();
    for (name, role) in [
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("pm", Role::ProjectManager),
        ("tech", Role::Technician),
        ("client", Role::Client),
    ] {
        setup.push(s.act(
            "admin",
            &Action::RegisterIdentity {
                id: id(name),
                name: name.into(),
                roles: vec![role],
                organisation: None,
            },
        )?);
    }
    append_block(&mut store, &signers, &mut state, std::mem::take(&mut setup))?;
    for (i, (holder, kind, scope)) in [
        ("tech", TokenKind::Access, "receiving"),
        ("tech", TokenKind::Training, "furnace-operation"),
        ("tech", TokenKind::Safety, "furnace-3"),
        ("tech", TokenKind::Certified, "heat-treat-operator"),
        ("tech", TokenKind::Certified, "hardness-testing"),
        ("qa", TokenKind::Certified, "qa-inspector"),
    ]
    .into_iter()
    .enumerate()
    {
        setup.push(s.act(
            "compliance",
            &Action::IssueToken {
                token: format!("t{i}"),
                holder: id(holder),
                kind,
                scope: scope.into(),
                expires: far,
            },
        )?);
    }
    for e in ["furnace-3", "quench-tank-1", "rockwell-2"] {
        setup.push(s.act(
            "admin",
            &Action::RegisterEquipment {
                id: e.into(),
                description: e.into(),
                calibration_due: far,
            },
        )?);
    }
    for (i, (d, job)) in [
        (DocumentType::SafetyDoc, None),
        (DocumentType::Procedure, None),
        (DocumentType::EnvironmentalLog, None),
    ]
    .into_iter()
    .enumerate()
    {
        setup.push(s.act(
            "compliance",
            &Action::FileDocument {
                hash: Hash::of(&[i as u8]),
                doc_type: d,
                job: job.map(str::to_string),
                title: format!("doc {i}"),
            },
        )?);
    }
    setup.push(s.act("admin", &Action::ProposeContract { yaml: PO.into() })?);
    append_block(&mut store, &signers, &mut state, std::mem::take(&mut setup))?;
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("pm", Role::ProjectManager),
    ] {
        setup.push(s.act(
            who,
            &Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        )?);
    }
    setup.push(s.act(
        "pm",
        &Action::OpenJob {
            job: "job-1".into(),
            contract: "po-4471-heat-treat".into(),
            client: id("client"),
            parts: vec!["P-1".into()],
        },
    )?);
    for (i, d) in [DocumentType::ClientPo, DocumentType::MaterialCert]
        .into_iter()
        .enumerate()
    {
        setup.push(s.act(
            "compliance",
            &Action::FileDocument {
                hash: Hash::of(&[10 + i as u8]),
                doc_type: d,
                job: Some("job-1".into()),
                title: format!("job-1 doc {i}"),
            },
        )?);
    }
    setup.push(s.act("tech", &step("receive-parts", &[("part_count", 120)]))?);
    setup.push(s.act("tech", &step("pre-check", &[]))?);
    let opened = append_block(&mut store, &signers, &mut state, std::mem::take(&mut setup))?;
    ensure!(
        opened
            .outcomes
            .iter()
            .all(|o| *o == smart_ledger::Outcome::Accepted),
        "the bench job did not open: {:?}",
        opened.outcomes
    );

    // The job's readings, 128 to a block beside 128 unrelated txs.
    let finish = [
        (
            "tech",
            step(
                "harden",
                &[("soak_temp", 847), ("soak_time", 61), ("quench_delay", 9)],
            ),
        ),
        (
            "tech",
            step("temper", &[("temper_temp", 540), ("temper_time", 121)]),
        ),
        (
            "tech",
            step(
                "hardness-test",
                &[("hardness_min", 37), ("hardness_max", 39)],
            ),
        ),
        ("qa", step("qa-signoff", &[])),
        ("qa", step("report", &[])),
        ("client", step("client-approval", &[])),
        ("pm", step("invoice", &[])),
    ];
    let readings = job_txs.saturating_sub(finish.len() + 5);
    let mut made = 0;
    while made < readings {
        let n = (readings - made).min(128);
        let mut txs = Vec::with_capacity(2 * n);
        for i in 0..n {
            txs.push(s.act(
                "tech",
                &step(
                    "harden",
                    &[
                        ("soak_temp", 900 + ((made + i) % 50) as i64),
                        ("soak_time", 61),
                        ("quench_delay", 9),
                    ],
                ),
            )?);
            txs.push(s.tx(
                "tech",
                TxKind::AccessLogBatch,
                format!("access record {}", made + i).into_bytes(),
            )?);
        }
        append_block(&mut store, &signers, &mut state, txs)?;
        made += n;
    }
    let mut txs = Vec::new();
    for (who, a) in &finish {
        txs.push(s.act(who, a)?);
    }
    let last = append_block(&mut store, &signers, &mut state, txs)?;
    ensure!(
        state.state().invoices.len() == 1,
        "the bench job did not reach its invoice: {:?}",
        last.outcomes
    );
    Ok((store, genesis.chain_id()))
}

/// `smart bench audit [--txs N] [--runs R]`.
pub(crate) fn audit(job_txs: usize, runs: usize) -> Result<ExitCode> {
    let runs = runs.max(1);
    let dir = super::tempdir()?;
    let result = (|| {
        let (store, chain) = build(&dir, job_txs)?;
        let mut export_ms = Vec::new();
        let mut verify_ms = Vec::new();
        let mut bytes = Vec::new();
        let mut report = None;
        for _ in 0..runs {
            let t = Instant::now();
            let pack = smart_audit::export::export(&store, "job-1")?;
            bytes = pack.encode();
            export_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            report = Some(smart_audit::verify_pack(&bytes, &chain)?);
            verify_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let report = report.ok_or_else(|| anyhow::anyhow!("no run"))?;
        let pack_txs = report.job_txs.len() + report.context_txs;
        let per_10k: Vec<f64> = verify_ms
            .iter()
            .map(|ms| ms * 10_000.0 / pack_txs as f64)
            .collect();
        let out = AuditBench {
            job_txs: report.job_txs.len(),
            unrelated_txs: store.tip().acc.size() as usize - pack_txs,
            pack_txs,
            pack_bytes: bytes.len(),
            runs,
            export_ms: figure(export_ms, "ms"),
            verify_ms: figure(verify_ms, "ms"),
            verify_ms_per_10k_txs: figure(per_10k, "ms"),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(ExitCode::SUCCESS)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
