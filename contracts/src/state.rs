//! The shop's state as every peer computes it from the ledger: identities,
//! tokens, equipment, documents, contract versions, jobs, invoices and
//! payouts. Only ordered maps (`BTreeMap`) so iteration and encoding are
//! the same everywhere. The state is stored as records (`crate::records`)
//! and its root is the state tree's over them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use smart_ledger::{Hash, Role, SmartId, Timestamp};

use crate::model::{Contract, DocumentType, Event};
use crate::table::{Log, Set, Table};

/// The six token kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Access to an area, station or system.
    Access,
    /// Permission to audit.
    Audit,
    /// A certification (e.g. NDT-UT-L2 per NAS 410).
    Certified,
    /// Completed training.
    Training,
    /// Safety clearance for a piece of equipment or area.
    Safety,
    /// Use of a utility (gas, power, compressed air).
    Utility,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 6] = [
        TokenKind::Access,
        TokenKind::Audit,
        TokenKind::Certified,
        TokenKind::Training,
        TokenKind::Safety,
        TokenKind::Utility,
    ];

    /// Parses a kind's name as written in contracts.
    pub fn from_name(name: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind's name as written in contracts.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "Access",
            TokenKind::Audit => "Audit",
            TokenKind::Certified => "Certified",
            TokenKind::Training => "Training",
            TokenKind::Safety => "Safety",
            TokenKind::Utility => "Utility",
        }
    }
}

/// A registered identity: a person, a client account or a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Human name (unique).
    pub name: String,
    /// Roles held.
    pub roles: BTreeSet<Role>,
    /// False once deactivated or rotated away.
    pub active: bool,
    /// For a client account: the organisation.
    pub organisation: Option<String>,
    /// The key that replaced this one, after a rotation.
    pub rotated_to: Option<SmartId>,
}

impl Identity {
    /// An active identity with these roles (no organisation, never rotated).
    pub fn new(name: impl Into<String>, roles: impl IntoIterator<Item = Role>) -> Identity {
        Identity {
            name: name.into(),
            roles: roles.into_iter().collect(),
            active: true,
            organisation: None,
            rotated_to: None,
        }
    }
}

/// A token held by an identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Who holds it.
    pub holder: SmartId,
    /// Its kind.
    pub kind: TokenKind,
    /// What it covers, e.g. `NDT-UT-L2`, `furnace-3`.
    pub scope: String,
    /// Ledger time it was issued.
    pub issued: Timestamp,
    /// Ledger time it stops being valid.
    pub expires: Timestamp,
    /// When and why it was revoked.
    pub revoked: Option<(Timestamp, String)>,
}

/// One token in its holder's index (`State::holdings`). Ordered by holder,
/// kind, scope, then the latest expiry first, then token id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Holding {
    /// Who holds the token.
    pub holder: SmartId,
    /// Its kind.
    pub kind: TokenKind,
    /// What it covers.
    pub scope: String,
    /// When it stops being valid (reversed: the latest first).
    pub expires: std::cmp::Reverse<Timestamp>,
    /// The token's id in `State::tokens`.
    pub token: String,
}

impl Holding {
    /// The holding of token `id`.
    pub fn of(id: &str, token: &Token) -> Holding {
        Holding {
            holder: token.holder,
            kind: token.kind,
            scope: token.scope.clone(),
            expires: std::cmp::Reverse(token.expires),
            token: id.to_string(),
        }
    }
}

/// A piece of equipment (furnace, UT set, plating tank).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equipment {
    /// What it is.
    pub description: String,
    /// Ledger time its calibration is due.
    pub calibration_due: Timestamp,
    /// Locked out, with the reason.
    pub locked_out: Option<String>,
}

/// A client's project: milestones, each reached when all its jobs complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// The client account.
    pub client: SmartId,
    /// Title for people.
    pub title: String,
    /// Milestones, in order.
    pub milestones: Vec<Milestone>,
    /// Who set the current plan, and when.
    pub set_by: SmartId,
    /// Ledger time of the current plan.
    pub set_at: Timestamp,
}

/// One milestone of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// Id within the project.
    pub id: String,
    /// Title.
    pub title: String,
    /// Ledger time it is due.
    pub due: Timestamp,
    /// The jobs that make it.
    pub jobs: Vec<String>,
}

/// When a piece of equipment is due for maintenance, and its last service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenancePlan {
    /// The SmartMaintenance contract a service job runs under (the job
    /// names the equipment among its parts).
    pub contract: String,
    /// Service every this many cycles (0: not by cycles).
    pub every_cycles: u32,
    /// Service every this many minutes run (0: not by minutes).
    pub every_minutes: u32,
    /// The usage counted from: the last service, or when the plan was set.
    pub serviced: Serviced,
}

/// The equipment's usage at its last service (or when its plan was set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serviced {
    /// Ledger time.
    pub at: Timestamp,
    /// Cycles run until then.
    pub cycles: u64,
    /// Minutes run until then.
    pub minutes: u64,
    /// The service job, if it was one.
    pub job: Option<String>,
}

impl MaintenancePlan {
    /// The share of the interval used by `usage` since the last service,
    /// in per mille (1000 = due).
    pub fn used_permille(&self, usage: &crate::station::Usage) -> u64 {
        let share = |run: u64, base: u64, every: u32| {
            (every > 0).then(|| run.saturating_sub(base).saturating_mul(1000) / u64::from(every))
        };
        share(usage.cycles, self.serviced.cycles, self.every_cycles)
            .into_iter()
            .chain(share(
                usage.minutes,
                self.serviced.minutes,
                self.every_minutes,
            ))
            .max()
            .unwrap_or(0)
    }
}

/// A document on file, by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Its type.
    pub doc_type: DocumentType,
    /// The job it belongs to; `None` for shop-wide documents (SDS, procedures).
    pub job: Option<String>,
    /// Title for people.
    pub title: String,
    /// Who filed it.
    pub filed_by: SmartId,
    /// When.
    pub filed_at: Timestamp,
}

/// Where a contract version is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionStatus {
    /// Waiting for approvals.
    Proposed,
    /// The version new jobs start under.
    Active,
    /// Replaced by a later active version; jobs pinned to it keep it.
    Superseded,
}

/// One version of a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractVersion {
    /// The YAML as proposed (what approvers read and sign).
    pub yaml: String,
    /// Its hash.
    pub yaml_hash: Hash,
    /// The parsed contract.
    pub contract: Contract,
    /// Lifecycle.
    pub status: VersionStatus,
    /// Who proposed it.
    pub proposed_by: SmartId,
    /// The tx that proposed it.
    pub proposed_in: Hash,
    /// Approvals: for each governance role, who approved in that role.
    pub approvals: BTreeMap<Role, SmartId>,
}

/// The state of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Steps are being performed.
    Open,
    /// Every step is complete.
    Completed,
}

/// A completed step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Who performed it.
    pub by: SmartId,
    /// Ledger time.
    pub at: Timestamp,
    /// Where.
    pub station: Option<String>,
    /// Measured values.
    pub measurements: BTreeMap<String, i64>,
}

/// A job: parts going through a contract's steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The contract id.
    pub contract: String,
    /// The version pinned when the job started.
    pub version: u32,
    /// The client.
    pub client: SmartId,
    /// Part numbers / serials.
    pub parts: Vec<String>,
    /// Ledger time the job was assigned.
    pub assigned_at: Timestamp,
    /// Ledger time the delivery window closes, if the contract has one.
    pub deadline: Option<Timestamp>,
    /// Completed steps.
    pub steps: BTreeMap<String, StepRecord>,
    /// Attempts refused for out-of-limit measurements (first-pass yield).
    pub nonconformances: u32,
    /// Status.
    pub status: JobStatus,
    /// Ledger time the job completed.
    pub completed_at: Option<Timestamp>,
    /// Events fired so far.
    pub events: BTreeSet<Event>,
    /// The tx that opened it.
    pub opened_in: Hash,
}

/// What a payment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentKind {
    /// Pay for performing a step.
    Payout,
    /// A bonus.
    Bonus,
}

/// An invoice to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// The job.
    pub job: String,
    /// The client.
    pub client: SmartId,
    /// Milestone.
    pub milestone: String,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Ledger time.
    pub at: Timestamp,
}

/// A payment to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// The job.
    pub job: String,
    /// The step paid for.
    pub step: String,
    /// Who is paid.
    pub to: SmartId,
    /// Payout or bonus.
    pub kind: PaymentKind,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Ledger time.
    pub at: Timestamp,
}

/// Which roles must approve a contract version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernancePolicy {
    /// Every one of these roles must approve.
    pub approvers: BTreeSet<Role>,
}

impl Default for GovernancePolicy {
    fn default() -> Self {
        GovernancePolicy {
            approvers: [
                Role::Admin,
                Role::Compliance,
                Role::Qa,
                Role::ProjectManager,
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// An advisory finding recorded by SMART-AI Central.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// Who recorded it (an Advisor).
    pub by: SmartId,
    /// What was found.
    pub finding: String,
    /// What it is based on.
    pub based_on: String,
    /// Ledger time.
    pub at: Timestamp,
}

/// Station interlocks as contracts last set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Interlock {
    /// The station may run.
    Unlocked,
    /// The station may not run.
    Locked,
}

/// The whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Ledger time of the last applied tx.
    pub time: Timestamp,
    /// Identities by SMART-ID.
    pub identities: Table<SmartId, Identity>,
    /// Tokens by id.
    pub tokens: Table<String, Token>,
    /// Who holds which token (an index of `tokens`, one record per token;
    /// see [`crate::holdings`]).
    pub holdings: Set<Holding>,
    /// Equipment by id.
    pub equipment: Table<String, Equipment>,
    /// Documents by content hash.
    pub documents: Table<Hash, Document>,
    /// Which document types are on file per job (`None` = shop-wide); an index of `documents`.
    pub documents_on_file: Set<(Option<String>, DocumentType)>,
    /// Contract versions by id, then version.
    pub contracts: Table<String, BTreeMap<u32, ContractVersion>>,
    /// Jobs by id.
    pub jobs: Table<String, Job>,
    /// Open delivery windows: (deadline, job id).
    pub deadlines: Set<(Timestamp, String)>,
    /// Station interlocks.
    pub interlocks: Table<String, Interlock>,
    /// Invoices, in order.
    pub invoices: Log<InvoiceRecord>,
    /// Payments, in order.
    pub payments: Log<PaymentRecord>,
    /// Contract governance.
    pub governance: GovernancePolicy,
    /// The hub set and where each hub is reached (empty address: known to Raft from genesis).
    pub hubs: Table<SmartId, String>,
    /// Gateway peers (from the genesis): the only authors of client requests.
    pub gateways: Set<SmartId>,
    /// Client API credentials by id.
    pub credentials: Table<String, ApiCredential>,
    /// What station specialists recorded: stock, equipment usage, parts, decisions.
    pub floor: crate::station::Floor,
    /// SMART-AI Central's advisory findings, by id.
    pub suggestions: Table<String, Suggestion>,
    /// CertifiedPeople / Education: each person's transcript.
    pub education: Table<SmartId, crate::transcript::Transcript>,
    /// MaintenanceHub: each planned equipment's plan and last service.
    pub maintenance: Table<String, MaintenancePlan>,
    /// Projects: a client's jobs grouped into milestones, by project id.
    pub projects: Table<String, Project>,
}

/// A client's API credential. The secret itself is never in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCredential {
    /// The client account it acts for.
    pub client: SmartId,
    /// blake3 of the secret.
    pub secret_hash: Hash,
    /// Ledger time of issue.
    pub issued_at: Timestamp,
    /// Ledger time of revocation, once revoked.
    pub revoked_at: Option<Timestamp>,
}

impl State {
    /// The state at genesis: its peers and people, with their roles.
    pub fn from_genesis(genesis: &smart_ledger::Genesis) -> State {
        let mut state = State {
            hubs: genesis
                .hubs()
                .into_iter()
                .map(|h| (h, String::new()))
                .collect(),
            ..State::default()
        };
        for p in &genesis.peers {
            state
                .identities
                .insert(p.id, Identity::new(p.name.clone(), []));
            match p.role {
                smart_ledger::PeerRole::Gateway => {
                    state.gateways.insert(p.id);
                }
                smart_ledger::PeerRole::Node => {
                    state.floor.stations.insert(p.id, p.name.clone());
                }
                smart_ledger::PeerRole::Hub => {}
            }
        }
        for m in &genesis.members {
            state
                .identities
                .insert(m.id, Identity::new(m.name.clone(), m.roles.iter().copied()));
        }
        state
    }

    /// The state from its canonical bytes (a stored record, a snapshot).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<State, smart_ledger::codec::DecodeError> {
        smart_ledger::codec::decode_versioned("contract state", bytes, usize::MAX)
    }

    /// Canonical bytes of the state.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        smart_ledger::codec::encode_versioned(self)
    }

    /// The state root: the root of the state tree over every record
    /// (`docs/state-tree.md`), built from scratch. Peers that apply blocks
    /// keep the tree instead ([`crate::rooted::RootedState`]).
    pub fn root(&self) -> Hash {
        self.state_tree().root()
    }

    /// The active, registered identity `id`.
    pub fn active(&self, id: &SmartId) -> Option<&Identity> {
        self.identities.get(id).filter(|i| i.active)
    }

    /// A name for `id` in explanations.
    pub fn name_of(&self, id: &SmartId) -> String {
        self.identities
            .get(id)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| id.short())
    }

    /// The active version of contract `id`.
    pub fn active_version(&self, id: &str) -> Option<(u32, &ContractVersion)> {
        self.contracts
            .get(id)?
            .iter()
            .rev()
            .find(|(_, v)| v.status == VersionStatus::Active)
            .map(|(n, v)| (*n, v))
    }

    /// The part of the state the VM reads to judge a `complete_step` of
    /// `job` by `actor`: the actor's identity and tokens, the job, its pinned
    /// contract version, its delivery window, the equipment, the documents on
    /// file for the job and shop-wide, the interlocks and the time. A station
    /// dry-runs a step on this instead of a copy of the whole state (which
    /// grows with every job); `tests/scoped.rs` checks both judge alike.
    pub fn scoped_to_step(&self, job: &str, actor: &SmartId) -> State {
        let mut s = State {
            time: self.time,
            equipment: self.equipment.clone(),
            interlocks: self.interlocks.clone(),
            ..State::default()
        };
        if let Some(i) = self.identities.get(actor) {
            s.identities.insert(*actor, i.clone());
        }
        for (id, token) in self.tokens_of(actor) {
            s.add_token(id.to_string(), token.clone());
        }
        // Shop-wide entries sort first (`None`); the job's are one run from
        // its smallest document type (`ClientPo`, the first variant).
        let shop_wide = self
            .documents_on_file
            .iter()
            .take_while(|(j, _)| j.is_none());
        let own = self
            .documents_on_file
            .range((Some(job.to_string()), DocumentType::ClientPo)..)
            .take_while(|(j, _)| j.as_deref() == Some(job));
        s.documents_on_file = shop_wide.chain(own).cloned().collect();
        if let Some(j) = self.jobs.get(job) {
            if let Some(v) = self
                .contracts
                .get(&j.contract)
                .and_then(|c| c.get(&j.version))
            {
                s.contracts
                    .entry(j.contract.clone())
                    .or_default()
                    .insert(j.version, v.clone());
            }
            if let Some(open) = j
                .deadline
                .map(|d| (d, job.to_string()))
                .filter(|w| self.deadlines.contains(w))
            {
                s.deadlines.insert(open);
            }
            s.jobs.insert(job.to_string(), j.clone());
        }
        s
    }

    /// Is this SMART-ID registered and active (may it author txs)?
    pub fn knows(&self, id: &SmartId) -> bool {
        self.active(id).is_some()
    }
}
