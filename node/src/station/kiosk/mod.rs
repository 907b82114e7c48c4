//! The station kiosk: a local web page (and the JSON API behind it and
//! behind `smart station …`) generated from the pinned contract of the job
//! on the bench. It binds to loopback only: it is the station's screen.
//!
//! One task owns nothing here: the kiosk holds the operator's session, and
//! every action takes the station's lock, asks the specialists
//! (`specialists.rs`), signs what they decided (the operator's action with
//! the operator's key, each module's decision with the station's key) and
//! hands it to the station's `decide` — the same path as any tx: judged on
//! the provisional state, kept in the durable outbox, handed off to the
//! hubs when they are reachable.

mod http;
#[cfg(test)]
mod tests;

pub use http::serve;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use smart_consensus::TxVerdict;
use smart_contracts::station::{Module, Verdict};
use smart_contracts::{Action, State};
use smart_ledger::{Bytes, Hash, Keypair, Outcome, SignedTx, Timestamp, TxBody, TxKind};

use crate::station::io::Panel;
use crate::station::node::Station;
use crate::station::specialists::{self as sp, Decision, IoView, Session, StationConfig};

/// Most bytes of a kiosk request (a camera frame).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The file in a peer folder that holds the kiosk's address.
pub const ADDR_FILE: &str = "kiosk.addr";

/// The file in a peer folder that holds the station's set-up.
pub const CONFIG_FILE: &str = "station.json";

/// Writes `text` to `name` in `dir` whole (a temporary file renamed over it).
fn write_whole(dir: &std::path::Path, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// The operator's session and the decisions shown on screen.
#[derive(Debug, Default)]
struct Bench {
    session: Session,
    operator_key: Option<Keypair>,
    recent: Vec<Decision>,
}

/// The kiosk of one station.
#[derive(Debug)]
pub struct Kiosk {
    station: Arc<Mutex<Station>>,
    cfg: StationConfig,
    key: Keypair,
    chain_id: Hash,
    bench: Mutex<Bench>,
    panel: Arc<Panel>,
    nonce: AtomicU64,
    questions: AtomicU64,
}

/// What the kiosk answers to an action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// Every module allowed it.
    pub ok: bool,
    /// The decisions recorded, in order: `(module, verdict, what, reason)`.
    pub decisions: Vec<(String, String, String, String)>,
    /// Text for people.
    pub message: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> Timestamp {
    Timestamp(smart_ledger::clock::now_ms())
}

impl Kiosk {
    /// A kiosk for the station.
    pub fn new(
        station: Arc<Mutex<Station>>,
        cfg: StationConfig,
        key: Keypair,
        chain_id: Hash,
        panel: Arc<Panel>,
    ) -> Kiosk {
        Kiosk {
            station,
            cfg,
            key,
            chain_id,
            bench: Mutex::new(Bench::default()),
            panel,
            nonce: AtomicU64::new(smart_ledger::clock::now_ms().wrapping_mul(1000)),
            questions: AtomicU64::new(0),
        }
    }

    fn sign(&self, key: &Keypair, kind: TxKind, payload: Vec<u8>) -> Result<Bytes, String> {
        let body = TxBody {
            chain_id: self.chain_id,
            author: key.id(),
            kind,
            payload: Bytes(payload),
            author_time: now(),
            location: Some(self.cfg.name.clone()),
            contract: None,
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
        };
        SignedTx::sign(body, key)
            .map(|t| Bytes(t.encode()))
            .map_err(|e| e.to_string())
    }

    /// Signs a module's decision with the station's key and decides it.
    /// Returns the local outcome.
    pub fn record(
        &self,
        st: &mut Station,
        d: &Decision,
        session: &Session,
    ) -> Result<Outcome, NotRecorded> {
        let rec = d.record(&self.cfg.name, session);
        tracing::info!(module = d.module.name(), verdict = ?d.verdict, what = %d.what, reason = %d.reason, "station decision");
        let tx = self
            .sign(&self.key, TxKind::Station, rec.encode())
            .map_err(NotRecorded::Signing)?;
        outcome_of(st.decide(tx, &self.chain_id).verdict)
    }

    /// The operator's action, judged once and applied once: the VM judges
    /// it on (a copy of what it reads of) the provisional state; a refused
    /// action is not signed or handed to the hubs (the module's refusal is
    /// recorded instead); an accepted one is signed and decided (applied to
    /// the provisional state and kept in the outbox).
    fn act(
        &self,
        st: &mut Station,
        key: &Keypair,
        action: &Action,
        at: Timestamp,
    ) -> Result<Outcome, NotRecorded> {
        match sp::dry_run(st.provisional(), key.id(), action, at) {
            Outcome::Accepted => self.apply(st, key, action),
            refused => Ok(refused),
        }
    }

    /// Signs the operator's action and decides it (already judged).
    fn apply(
        &self,
        st: &mut Station,
        key: &Keypair,
        action: &Action,
    ) -> Result<Outcome, NotRecorded> {
        let tx = self
            .sign(key, action.kind(), action.encode())
            .map_err(NotRecorded::Signing)?;
        outcome_of(st.decide(tx, &self.chain_id).verdict)
    }

    /// The refusal shown when an action was judged refused or not recorded.
    fn refusal(
        fallback: Module,
        what: String,
        result: Result<Outcome, NotRecorded>,
    ) -> Option<Decision> {
        match result {
            Ok(Outcome::Accepted) => None,
            Ok(Outcome::Refused { code, reason }) => Some(Decision::refuse(
                sp::module_of(code),
                what,
                format!("[{code}] {reason}"),
            )),
            Err(e) => Some(Decision::refuse(fallback, what, e.to_string())),
        }
    }

    /// Records decisions and builds the reply; the reply is ok when none refused.
    fn conclude(&self, st: &mut Station, bench: &mut Bench, decisions: Vec<Decision>) -> Reply {
        let mut ok = true;
        let mut out = Vec::new();
        for d in decisions {
            match self.record(st, &d, &bench.session) {
                Ok(Outcome::Accepted) => {}
                Ok(Outcome::Refused { code, reason }) => {
                    tracing::error!(code, %reason, "a station record was refused");
                    ok = false;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a station record was not recorded");
                    ok = false;
                }
            }
            ok &= !d.refused();
            out.push((
                d.module.name().to_string(),
                format!("{:?}", d.verdict),
                d.what.clone(),
                d.reason.clone(),
            ));
            bench.recent.push(d);
        }
        let excess = bench.recent.len().saturating_sub(12);
        bench.recent.drain(..excess);
        let message = out
            .iter()
            .map(|(m, v, w, r)| {
                if r.is_empty() {
                    format!("{m}: {v}: {w}")
                } else {
                    format!("{m}: {v}: {w} — {r}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        Reply {
            ok,
            decisions: out,
            message,
        }
    }

    fn refuse_now(&self, module: Module, what: &str, reason: &str) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        self.conclude(
            &mut st,
            &mut bench,
            vec![Decision::refuse(module, what, reason)],
        )
    }

    /// Gatekeeper: badge in with a badge (the text of the operator's key file or its QR).
    pub fn badge(&self, badge: &str) -> Reply {
        let key = match Keypair::from_text(badge) {
            Ok(k) => k,
            Err(e) => {
                return self.refuse_now(
                    Module::Gatekeeper,
                    "badge-in",
                    &format!("unreadable badge: {e}"),
                );
            }
        };
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = sp::badge(st.provisional(), &key.id(), now());
        if !d.refused() {
            bench.session = Session {
                operator: Some(key.id()),
                ..Session::default()
            };
            bench.operator_key = Some(key);
        }
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// Ends the session.
    pub fn logout(&self) -> Reply {
        let mut bench = lock(&self.bench);
        let who = bench.operator_key.take().map(|k| k.id());
        bench.session = Session::default();
        Reply {
            ok: true,
            decisions: Vec::new(),
            message: format!("badged out {}", who.map(|w| w.short()).unwrap_or_default()),
        }
    }

    /// Selects the job on the bench.
    pub fn select_job(&self, job: &str) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let state = st.provisional();
        let d = match state.jobs.get(job) {
            None => Decision::refuse(
                Module::Gatekeeper,
                format!("select {job}"),
                format!("unknown job {job}"),
            ),
            Some(j) if sp::pinned_steps(state, j).is_none() => Decision::refuse(
                Module::PolicyNodeStorage,
                format!("select {job}"),
                format!("contract {} v{} is not on this node", j.contract, j.version),
            ),
            Some(j) => Decision::allow(Module::PolicyNodeStorage, format!("select {job}"))
                .because(format!("pinned contract {} v{}", j.contract, j.version)),
        };
        if !d.refused() {
            bench.session.job = Some(job.to_string());
            bench.session.part = None;
            bench.session.draft.clear();
        }
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// Vision: a part label read from a QR code (text already decoded).
    pub fn scan_text(&self, text: &str) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = sp::scan(st.provisional(), bench.session.job.as_deref(), text);
        if let Some(smart_contracts::station::Fact::PartScanned { serial }) = &d.fact {
            bench.session.part = Some(serial.clone());
        }
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// Vision: a camera frame or image file (PNG, JPEG): decoded, then matched.
    pub fn scan_image(&self, image: &[u8]) -> Reply {
        match crate::station::vision::read_qr(image) {
            Ok(text) => self.scan_text(&text),
            Err(e) => self.refuse_now(Module::Vision, "part scan", &e.to_string()),
        }
    }

    /// QANode: a measurement for the next step that measures it.
    pub fn measure(&self, name: &str, value: i64) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = match self.step_measuring(st.provisional(), &bench.session, name) {
            Some(step) => sp::measure(&step, name, value),
            None => Decision::refuse(
                Module::QaNode,
                format!("{name} = {value}"),
                "no open step of the selected job measures it",
            ),
        };
        if !d.refused() {
            bench.session.draft.insert(name.to_string(), value);
        }
        self.conclude(&mut st, &mut bench, vec![d])
    }

    fn step_measuring(
        &self,
        state: &State,
        session: &Session,
        name: &str,
    ) -> Option<smart_contracts::model::Step> {
        let job = state.jobs.get(session.job.as_deref()?)?;
        sp::pinned_steps(state, job)?
            .iter()
            .find(|s| {
                !job.steps.contains_key(&s.id) && s.measurements.iter().any(|l| l.name == name)
            })
            .cloned()
    }

    /// Gatekeeper (with every module it consults): performs a step.
    pub fn complete(&self, step_id: &str) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let io = self.panel.io();
        let at = now();
        let what = format!("step {step_id}");
        let step = {
            let state = st.provisional();
            bench
                .session
                .job
                .as_ref()
                .and_then(|j| state.jobs.get(j))
                .and_then(|j| sp::pinned_steps(state, j))
                .and_then(|steps| steps.iter().find(|s| s.id == step_id).cloned())
        };
        let Some(step) = step else {
            let d = Decision::refuse(
                Module::Gatekeeper,
                what,
                "select a job whose contract has this step",
            );
            return self.conclude(&mut st, &mut bench, vec![d]);
        };
        let ready = match sp::ready(
            st.provisional(),
            &self.cfg,
            &bench.session,
            &io,
            &step,
            true,
        ) {
            Ok(Some(ready)) => ready,
            Ok(None) => {
                let d = Decision::refuse(Module::Gatekeeper, what, "select a job first");
                return self.conclude(&mut st, &mut bench, vec![d]);
            }
            Err(d) => return self.conclude(&mut st, &mut bench, vec![d]),
        };
        let Some(key) = bench
            .operator_key
            .as_ref()
            .map(|k| Keypair::from_seed(k.seed()))
        else {
            let d = Decision::refuse(Module::Gatekeeper, what, "badge in first");
            return self.conclude(&mut st, &mut bench, vec![d]);
        };
        let judged = self.act(&mut st, &key, &ready.action, at);
        if let Some(d) = Self::refusal(Module::Gatekeeper, what, judged) {
            return self.conclude(&mut st, &mut bench, vec![d]);
        }
        let records = sp::completion_records(&self.cfg, &bench.session, &step, at.0);
        let unlocks = step.effects.iter().any(|e| {
            matches!(e, smart_contracts::model::Effect::Unlock(x) if self.cfg.equipment.contains(x))
        });
        bench.session.draft.clear();
        if unlocks {
            bench.session.unlocked_at = Some(at.0);
        }
        self.conclude(&mut st, &mut bench, records)
    }

    /// Guardian: releases the job's parts from the station.
    pub fn release(&self) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = match &bench.session.job {
            None => Decision::refuse(Module::Guardian, "release", "select a job first"),
            Some(j) => sp::release(st.provisional(), j),
        };
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// SafetyNode: the kiosk's e-stop (the I/O task latches and records it).
    pub fn estop(&self) -> Reply {
        self.panel.estop.store(true, Ordering::SeqCst);
        Reply {
            ok: true,
            decisions: Vec::new(),
            message: "e-stop pressed".into(),
        }
    }

    /// SafetyNode: clears the station's lockouts (Admin or Compliance, by
    /// the VM's rule) and releases the e-stop latch.
    pub fn clear(&self) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let what = format!("clear the incident at {}", self.cfg.name);
        let Some(key) = bench
            .operator_key
            .as_ref()
            .map(|k| Keypair::from_seed(k.seed()))
        else {
            let d = Decision::refuse(Module::SafetyNode, what, "badge in first");
            return self.conclude(&mut st, &mut bench, vec![d]);
        };
        let locked: Vec<String> = self
            .cfg
            .equipment
            .iter()
            .filter(|e| {
                st.provisional()
                    .equipment
                    .get(*e)
                    .is_some_and(|q| q.locked_out.is_some())
            })
            .cloned()
            .collect();
        let at = now();
        for e in &locked {
            let action = Action::ClearLockOut { id: e.clone() };
            if let Outcome::Refused { code, reason } =
                sp::dry_run(st.provisional(), key.id(), &action, at)
            {
                let d = Decision::refuse(Module::SafetyNode, what, format!("[{code}] {reason}"));
                return self.conclude(&mut st, &mut bench, vec![d]);
            }
        }
        for e in &locked {
            // Judged above, all of them before any is applied.
            let cleared = self.apply(&mut st, &key, &Action::ClearLockOut { id: e.clone() });
            // Not recorded: the latch stays, and the screen says why.
            if let Some(d) = Self::refusal(Module::SafetyNode, what.clone(), cleared) {
                return self.conclude(&mut st, &mut bench, vec![d]);
            }
        }
        self.panel.clear.store(true, Ordering::SeqCst);
        let d = Decision::allow(Module::SafetyNode, what).because(if locked.is_empty() {
            "e-stop latch released".to_string()
        } else {
            format!(
                "cleared lockout of {}; e-stop latch released",
                locked.join(", ")
            )
        });
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// InventoryNode: consumables used for the selected job.
    pub fn consume(&self, item: &str, quantity: u32) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = sp::consume(st.provisional(), item, quantity);
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// InventoryNode: a stock count or delivery.
    pub fn stock(&self, item: &str, on_hand: u32, reorder_at: u32) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = sp::stock(item, on_hand, reorder_at);
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// LogisticsNode: parts received for the selected job.
    pub fn receive(&self, count: u32) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = match &bench.session.job {
            None => Decision::refuse(Module::LogisticsNode, "receiving", "select a job first"),
            Some(j) => sp::receive(st.provisional(), &self.cfg, j, count),
        };
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// LogisticsNode: ships the selected job.
    pub fn ship(&self) -> Reply {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = match &bench.session.job {
            None => Decision::refuse(Module::LogisticsNode, "shipping", "select a job first"),
            Some(j) => sp::ship(st.provisional(), &self.cfg, j),
        };
        self.conclude(&mut st, &mut bench, vec![d])
    }

    /// Records an incident (e-stop, door) seen by the I/O task: SafetyNode
    /// locks the station's equipment out.
    pub fn incident(&self, what: &str) {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = sp::incident(&self.cfg, what);
        let alert = Decision::allow(
            Module::AlertBroadcast,
            format!("alert to every peer: {what} at {}", self.cfg.name),
        );
        self.conclude(&mut st, &mut bench, vec![d, alert]);
    }

    /// HandoffNode: no hub answered the hand-off.
    pub fn hubs_unreachable(&self) {
        lock(&self.panel.offline_since).get_or_insert_with(smart_ledger::clock::now_ms);
    }

    /// HandoffNode: a hub took the outbox; returns since when none had, if so.
    pub fn hubs_reachable(&self) -> Option<u64> {
        lock(&self.panel.offline_since).take()
    }

    /// HandoffNode: the outbox reached a hub after a time without one.
    pub fn handed_off(&self, entries: usize, offline_secs: u64) {
        let mut st = lock(&self.station);
        let mut bench = lock(&self.bench);
        let d = Decision::allow(
            Module::HandoffNode,
            format!("handed off {entries} decisions made while no hub answered"),
        )
        .because(format!(
            "no hub for {offline_secs} s; each is judged again by the ledger"
        ));
        self.conclude(&mut st, &mut bench, vec![d]);
    }

    /// MaintenanceNode: locks out this station's equipment once its calibration is overdue.
    pub fn check_maintenance(&self) {
        let mut st = lock(&self.station);
        let Some(d) = sp::overdue(st.provisional(), &self.cfg, now()) else {
            return;
        };
        let mut bench = lock(&self.bench);
        self.conclude(&mut st, &mut bench, vec![d]);
    }

    /// NodeQuery.
    pub fn ask(&self, question: &str) -> Result<String, String> {
        self.questions.fetch_add(1, Ordering::Relaxed);
        let st = lock(&self.station);
        sp::ask(st.provisional(), &self.cfg, now(), question)
    }

    /// Every module with its state.
    pub fn modules(&self) -> Vec<sp::ModuleStatus> {
        let st = lock(&self.station);
        let bench = lock(&self.bench);
        let (pending, overturned) = st.outbox_counts();
        let status = sp::StationStatus {
            outbox_pending: pending,
            overturned,
            io: self.panel.io(),
            info_sent: self.panel.info_sent.load(Ordering::Relaxed),
            alerts_sent: self.panel.alerts_sent.load(Ordering::Relaxed),
            questions: self.questions.load(Ordering::Relaxed),
        };
        sp::modules(st.provisional(), &self.cfg, &bench.session, &status)
    }

    /// The contracts on this node.
    pub fn contracts(&self) -> Vec<sp::PinnedContract> {
        sp::contracts(lock(&self.station).provisional())
    }

    /// What the screen shows.
    pub fn view(&self) -> View {
        let st = lock(&self.station);
        let bench = lock(&self.bench);
        let state = st.provisional();
        let io = self.panel.io();
        let job = bench.session.job.as_ref().and_then(|j| state.jobs.get(j));
        View {
            station: self.cfg.name.clone(),
            height: st.replica.state_height(),
            operator: bench.session.operator.map(|o| state.name_of(&o)),
            job: bench.session.job.clone(),
            contract: job.map(|j| format!("{} v{}", j.contract, j.version)),
            part: bench.session.part.clone(),
            interlock: self.cfg.interlock(),
            contract_interlock: sp::interlock_state(state, &self.cfg).to_string(),
            io,
            steps: sp::step_views(state, &self.cfg, &bench.session, &io, now()),
            open_jobs: state
                .jobs
                .iter()
                .filter(|(_, j)| j.status == smart_contracts::state::JobStatus::Open)
                .map(|(id, _)| id.clone())
                .collect(),
            recent: bench
                .recent
                .iter()
                .rev()
                .map(|d| {
                    (
                        d.module.name().to_string(),
                        format!("{:?}", d.verdict),
                        d.what.clone(),
                        d.reason.clone(),
                    )
                })
                .collect(),
            outbox_pending: st.outbox_counts().0,
            offline: lock(&self.panel.offline_since).is_some(),
        }
    }
}

/// Why an action has no local outcome: it never reached the VM's judgement
/// in the outbox.
#[derive(Debug, thiserror::Error)]
pub enum NotRecorded {
    /// The station could not sign it.
    #[error("not signed: {0}")]
    Signing(String),
    /// Refused before the VM (admission), or the outbox could not take it.
    #[error("not recorded: {0}")]
    Refused(String),
}

fn outcome_of(v: TxVerdict) -> Result<Outcome, NotRecorded> {
    match v {
        TxVerdict::Provisional { outcome, .. } | TxVerdict::Included { outcome, .. } => Ok(outcome),
        TxVerdict::Duplicate { .. } => Ok(Outcome::Accepted),
        TxVerdict::Rejected { reason } | TxVerdict::Unavailable { reason } => {
            Err(NotRecorded::Refused(reason))
        }
    }
}

/// What the kiosk screen shows (`GET /api/view`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct View {
    /// The station.
    pub station: String,
    /// The ledger height its state is at.
    #[serde(default)]
    pub height: u64,
    /// The operator badged in.
    pub operator: Option<String>,
    /// The job on the bench.
    pub job: Option<String>,
    /// Its pinned contract version.
    pub contract: Option<String>,
    /// The part scanned.
    pub part: Option<String>,
    /// The interlock this station drives.
    pub interlock: String,
    /// What the contract state says of it.
    pub contract_interlock: String,
    /// The live I/O.
    pub io: IoView,
    /// The job's steps.
    pub steps: Vec<sp::StepView>,
    /// Jobs that may be selected.
    pub open_jobs: Vec<String>,
    /// Recent decisions, newest first: (module, verdict, what, reason).
    pub recent: Vec<(String, String, String, String)>,
    /// Outbox entries not yet in the ledger.
    pub outbox_pending: u64,
    /// No hub took the outbox at the last try (the station decides alone).
    pub offline: bool,
}

/// The verdict of a module decision as text.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "allowed",
        Verdict::Refused => "refused",
    }
}
