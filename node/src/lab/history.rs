//! DEVELOPMENT ONLY: years of shop history in a real ledger, to measure at
//! the size a shop reaches (`smart ledger generate --jobs N`).
//!
//! Every tx is a real shop action signed by a person of the init folder (or
//! a technician or client the generator registers, with keys derived from
//! their names), run through the contract VM and certified by the folder's
//! hub keys: the PO contract proposed and approved by every governance
//! role, technicians' tokens issued and re-issued before they expire,
//! equipment registered and calibrated, and jobs from opening to invoice
//! and payout with their documents and measurements, some refused (a soak
//! temperature out of tolerance, a client approving before the report) and
//! done again. Fifty jobs a ledger day, one furnace: the jobs run one after
//! another. A tx whose outcome is not the one the shop expects stops the
//! generator with the refusal.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use smart_contracts::RootedState;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Hash, Keypair, Outcome, Role, SignedTx, SmartId, Timestamp, TxBody};

use crate::lab::devgen::{BlockTiming, DevSigners, append_block_timed};

/// The contract every generated job runs under.
const CONTRACT: &str = "po-4471-heat-treat";
/// Ledger time between jobs: fifty a day.
const JOB_EVERY_MS: u64 = 86_400_000 / 50;
/// Tokens are issued for this long and re-issued every [`RENEW_EVERY_JOBS`].
const TOKEN_LIFE_MS: u64 = 90 * 86_400_000;
const RENEW_EVERY_JOBS: u64 = 60 * 50;
/// Equipment is calibrated for this long, every [`CALIBRATE_EVERY_JOBS`].
const CALIBRATION_LIFE_MS: u64 = 60 * 86_400_000;
const CALIBRATE_EVERY_JOBS: u64 = 30 * 50;
const TECHNICIANS: u64 = 6;
const CLIENTS: u64 = 10;
const EQUIPMENT: [(&str, &str); 3] = [
    ("furnace-3", "Box furnace, AMS 2750 class 2"),
    ("quench-tank-1", "Oil quench tank"),
    ("rockwell-2", "Rockwell hardness tester"),
];
const TECH_TOKENS: [(TokenKind, &str); 5] = [
    (TokenKind::Access, "receiving"),
    (TokenKind::Training, "furnace-operation"),
    (TokenKind::Safety, "furnace-3"),
    (TokenKind::Certified, "heat-treat-operator"),
    (TokenKind::Certified, "hardness-testing"),
];

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryOptions {
    /// Jobs to run, opening to invoice.
    pub jobs: u64,
    /// Most txs per block.
    pub block_size: usize,
    /// Print `durable HEIGHT` after each block is on disk.
    pub print_durable: bool,
    /// Commit blocks without their own fsync and flush once at the end, as
    /// a hub does (its Raft log is the write-ahead log); `print_durable`
    /// then prints nothing until the end.
    pub deferred: bool,
}

/// The shop as the generator drives it.
struct Shop<'a> {
    store: &'a mut RedbStore,
    signers: &'a DevSigners,
    state: RootedState,
    people: BTreeMap<String, Keypair>,
    chain_id: Hash,
    nonce: u64,
    time: Timestamp,
    /// Txs of the next block, each with whether the shop expects it accepted.
    pending: Vec<(SignedTx, bool)>,
    block_size: usize,
    print_durable: bool,
    refused: u64,
    timings: Vec<BlockTiming>,
}

impl Shop<'_> {
    fn id(&self, who: &str) -> Result<SmartId> {
        Ok(self.key(who)?.id())
    }

    fn key(&self, who: &str) -> Result<&Keypair> {
        self.people
            .get(who)
            .with_context(|| format!("no key for {who}"))
    }

    /// Signs `action` by `who` for the next block.
    fn act(&mut self, who: &str, action: Action, accepted: bool) -> Result<()> {
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain_id,
            author: self.id(who)?,
            kind: action.kind(),
            payload: smart_ledger::Bytes(action.encode()),
            author_time: self.time,
            location: Some("station-1".into()),
            contract: None,
            nonce: self.nonce,
        };
        let tx = SignedTx::sign(body, self.key(who)?)?;
        self.pending.push((tx, accepted));
        if self.pending.len() >= self.block_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Certifies and appends the pending txs as one block; every outcome
    /// must be the one the shop expects.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (txs, expected): (Vec<SignedTx>, Vec<bool>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let (block, timing) =
            append_block_timed(self.store, self.signers, &mut self.state, txs, self.time)?;
        self.timings.push(timing);
        for ((tx, outcome), accepted) in block.txs.iter().zip(&block.outcomes).zip(expected) {
            match (outcome, accepted) {
                (Outcome::Accepted, true) => {}
                (Outcome::Refused { .. }, false) => self.refused += 1,
                (outcome, _) => bail!(
                    "block {}: {:?} by {} came out {outcome:?}, not as the shop expected",
                    block.header.height,
                    smart_contracts::action::Action::decode(&tx.body().payload.0).ok(),
                    tx.author().short()
                ),
            }
        }
        if self.print_durable {
            let mut out = std::io::stdout().lock();
            writeln!(out, "durable {}", block.header.height)?;
            out.flush()?;
        }
        Ok(())
    }

    /// People, the contract, equipment and shop documents (once per ledger).
    fn set_up(&mut self) -> Result<()> {
        let mut newcomers: Vec<(String, Role)> = (1..=TECHNICIANS)
            .map(|i| (format!("tech-{i}"), Role::Technician))
            .collect();
        newcomers.extend((1..=CLIENTS).map(|i| (format!("client-{i}"), Role::Client)));
        for (name, role) in newcomers {
            let id = self.id(&name)?;
            self.act(
                "admin",
                Action::RegisterIdentity {
                    id,
                    name: name.clone(),
                    roles: vec![role],
                    organisation: (role == Role::Client).then(|| format!("{name} aero")),
                },
                true,
            )?;
        }
        self.act(
            "admin",
            Action::ProposeContract {
                yaml: crate::lab::demo::PO_CONTRACT.into(),
            },
            true,
        )?;
        for (who, role) in [
            ("admin", Role::Admin),
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("project-manager", Role::ProjectManager),
        ] {
            self.act(
                who,
                Action::ApproveContract {
                    id: CONTRACT.into(),
                    version: 1,
                    role,
                },
                true,
            )?;
        }
        let due = Timestamp(self.time.0 + CALIBRATION_LIFE_MS);
        for (id, description) in EQUIPMENT {
            self.act(
                "admin",
                Action::RegisterEquipment {
                    id: id.into(),
                    description: description.into(),
                    calibration_due: due,
                },
                true,
            )?;
        }
        for (doc_type, title) in [
            (DocumentType::SafetyDoc, "Furnace 3 JSA and SDS"),
            (DocumentType::Procedure, "WI-HT-012 rev D"),
            (DocumentType::EnvironmentalLog, "Furnace atmosphere log"),
        ] {
            self.act(
                "compliance",
                Action::FileDocument {
                    hash: Hash::of(title.as_bytes()),
                    doc_type,
                    job: None,
                    title: title.into(),
                },
                true,
            )?;
        }
        Ok(())
    }

    /// Every technician's tokens and the QA inspector's (named by the
    /// height of the block they go into, so a run that resumes after a crash
    /// issues new ones).
    fn issue_tokens(&mut self) -> Result<()> {
        let tag = (self.store.tip().height + 1).to_string();
        let expires = Timestamp(self.time.0 + TOKEN_LIFE_MS);
        for (who, action) in token_actions(&tag, expires, |n| self.id(n))? {
            self.act(&who, action, true)?;
        }
        Ok(())
    }

    fn calibrate(&mut self) -> Result<()> {
        for (who, action) in calibration_actions(Timestamp(self.time.0 + CALIBRATION_LIFE_MS)) {
            self.act(&who, action, true)?;
        }
        Ok(())
    }

    /// Job `n`, opening to invoice.
    fn job(&mut self, n: u64) -> Result<()> {
        let clients = CLIENTS;
        for (who, action, accepted) in
            job_actions(n, &format!("job-{n:07}"), |name| self.id(name), clients)?
        {
            self.act(&who, action, accepted)?;
        }
        Ok(())
    }
}

/// Compliance issuing every technician's tokens and the QA inspector's,
/// ids ending in `tag`, valid until `expires`.
pub(crate) fn token_actions(
    tag: &str,
    expires: Timestamp,
    id: impl Fn(&str) -> Result<SmartId>,
) -> Result<Vec<(String, Action)>> {
    let mut grants: Vec<(String, TokenKind, &str)> = Vec::new();
    for t in 1..=TECHNICIANS {
        for (kind, scope) in TECH_TOKENS {
            grants.push((format!("tech-{t}"), kind, scope));
        }
    }
    grants.push(("qa".into(), TokenKind::Certified, "qa-inspector"));
    grants
        .into_iter()
        .map(|(holder, kind, scope)| {
            Ok((
                "compliance".to_string(),
                Action::IssueToken {
                    token: format!("{holder}-{scope}-{tag}"),
                    holder: id(&holder)?,
                    kind,
                    scope: scope.into(),
                    expires,
                },
            ))
        })
        .collect()
}

/// The admin recording every piece of equipment calibrated until `due`.
pub(crate) fn calibration_actions(due: Timestamp) -> Vec<(String, Action)> {
    EQUIPMENT
        .iter()
        .map(|(id, _)| {
            (
                "admin".to_string(),
                Action::Calibrate {
                    id: (*id).into(),
                    calibration_due: due,
                },
            )
        })
        .collect()
}

/// The actions of job `n` (id `job`), opening to invoice, in order: who
/// signs each, the action, and whether the shop expects it accepted (some
/// jobs have a soak temperature out of tolerance, or a client approving
/// before the report: refused, then done right).
pub(crate) fn job_actions(
    n: u64,
    job: &str,
    id: impl Fn(&str) -> Result<SmartId>,
    clients: u64,
) -> Result<Vec<(String, Action, bool)>> {
    let tech = format!("tech-{}", n % TECHNICIANS + 1);
    let client = format!("client-{}", n % clients.max(1) + 1);
    let mut out: Vec<(String, Action, bool)> = Vec::with_capacity(14);
    out.push((
        "project-manager".into(),
        Action::OpenJob {
            job: job.to_string(),
            contract: CONTRACT.into(),
            client: id(&client)?,
            parts: vec![format!("P-{}", 1000 + n % 400)],
        },
        true,
    ));
    for (doc_type, title) in [
        (DocumentType::ClientPo, "PO"),
        (DocumentType::MaterialCert, "Material certification"),
    ] {
        out.push((
            client.clone(),
            Action::FileDocument {
                hash: Hash::of(format!("{job} {title}").as_bytes()),
                doc_type,
                job: Some(job.to_string()),
                title: format!("{title} for {job}"),
            },
            true,
        ));
    }
    let step = |s: &str, values: &[(&str, i64)]| Action::CompleteStep {
        job: job.to_string(),
        step: s.into(),
        station: Some("station-1".into()),
        measurements: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    let v = (n % 7) as i64;
    out.push((
        tech.clone(),
        step("receive-parts", &[("part_count", 120)]),
        true,
    ));
    out.push((tech.clone(), step("pre-check", &[]), true));
    let harden = |soak: i64| {
        step(
            "harden",
            &[
                ("soak_temp", soak),
                ("soak_time", 60 + v),
                ("quench_delay", 6 + v),
            ],
        )
    };
    if n % 23 == 7 {
        out.push((tech.clone(), harden(870), false));
    }
    out.push((tech.clone(), harden(842 + v), true));
    out.push((
        tech.clone(),
        step(
            "temper",
            &[("temper_temp", 537 + v), ("temper_time", 120 + v)],
        ),
        true,
    ));
    out.push((
        tech.clone(),
        step(
            "hardness-test",
            &[("hardness_min", 37), ("hardness_max", 38 + v % 2)],
        ),
        true,
    ));
    out.push(("qa".into(), step("qa-signoff", &[]), true));
    if n % 31 == 11 {
        out.push((client.clone(), step("client-approval", &[]), false));
    }
    out.push(("qa".into(), step("report", &[]), true));
    out.push((client.clone(), step("client-approval", &[]), true));
    out.push(("project-manager".into(), step("invoice", &[]), true));
    Ok(out)
}

/// Everyone who signs in the generated shop: the genesis members (keys
/// from the init folder) and the technicians and clients it registers.
pub(crate) fn shop_people(
    genesis: &smart_ledger::Genesis,
    signers: &DevSigners,
) -> BTreeMap<String, Keypair> {
    let mut people: BTreeMap<String, Keypair> = genesis
        .members
        .iter()
        .zip(&signers.authors)
        .map(|(m, k)| (m.name.clone(), k.clone()))
        .collect();
    for name in (1..=TECHNICIANS)
        .map(|i| format!("tech-{i}"))
        .chain((1..=CLIENTS).map(|i| format!("client-{i}")))
    {
        people.insert(name.clone(), derived_key(&name));
    }
    people
}

/// A person's development key, derived from their name.
pub(crate) fn derived_key(name: &str) -> Keypair {
    Keypair::from_seed(Hash::of(format!("smart/dev-history/{name}").as_bytes()).0)
}

/// What a run of the generator did.
#[derive(Debug)]
pub(crate) struct HistoryRun {
    /// Each block's apply time.
    pub timings: Vec<BlockTiming>,
    /// Txs refused as the shop expected.
    pub refused: u64,
}

/// Appends `opts.jobs` jobs of shop history to the ledger in `data`.
pub(crate) fn generate(data: &Path, keys: Option<&Path>, opts: HistoryOptions) -> Result<()> {
    let run = run(data, keys, opts)?;
    let folder = crate::peer::folders::PeerFolder::new(data);
    let store = folder.open_existing_store()?;
    let tip = store.tip();
    eprintln!(
        "DEV history: {} jobs appended ({} refusals, each done again), {} blocks, {} txs, tip {}",
        opts.jobs,
        run.refused,
        tip.height,
        tip.acc.size(),
        tip.hash
    );
    Ok(())
}

/// [`generate`], returning what it did.
pub(crate) fn run(data: &Path, keys: Option<&Path>, opts: HistoryOptions) -> Result<HistoryRun> {
    let (genesis, signers, mut store) = crate::lab::devgen::open_dev(data, keys, opts.block_size)?;
    let people = shop_people(&genesis, &signers);
    store.set_deferred_durability(opts.deferred);
    let certified = smart_consensus::stored::tip_header(&store)?;
    let state = smart_consensus::stored::open_state(&mut store, certified.as_ref())?;
    let fresh = !state.state().contracts.contains_key(CONTRACT);
    let first_job = state.state().jobs.len() as u64;
    let start = Timestamp(store.tip().time.0.max(1_790_000_000_000) + 1000);
    let nonce = store.tip().acc.size() + 1_000_000;
    let mut shop = Shop {
        store: &mut store,
        signers: &signers,
        state,
        people,
        chain_id: genesis.chain_id(),
        nonce,
        time: start,
        pending: Vec::new(),
        block_size: opts.block_size,
        print_durable: opts.print_durable,
        refused: 0,
        timings: Vec::new(),
    };
    if fresh {
        shop.set_up()?;
    }
    let begun = std::time::Instant::now();
    for n in first_job..first_job + opts.jobs {
        if (n - first_job).is_multiple_of(RENEW_EVERY_JOBS) {
            shop.issue_tokens()?;
        }
        if n.is_multiple_of(CALIBRATE_EVERY_JOBS) && n > 0 {
            shop.calibrate()?;
        }
        shop.job(n)?;
        shop.time = Timestamp(shop.time.0 + JOB_EVERY_MS);
        let done = n - first_job + 1;
        if done.is_multiple_of(10_000) {
            eprintln!(
                "DEV history: {done} jobs, height {}, {:.0} jobs/s",
                shop.store.tip().height,
                done as f64 / begun.elapsed().as_secs_f64()
            );
        }
    }
    shop.flush()?;
    let run = HistoryRun {
        timings: shop.timings,
        refused: shop.refused,
    };
    store.flush()?;
    Ok(run)
}
