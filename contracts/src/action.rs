//! What a tx's payload says, by tx kind. The payload is
//! `0x01 ‖ postcard(Action)`; the tx kind must match the action's kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smart_ledger::codec::{self, DecodeError};
use smart_ledger::{Hash, Role, SmartId, Timestamp, TxKind};

use crate::model::DocumentType;
use crate::state::TokenKind;

/// Every action the VM understands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // --- Identity (Admin) ---
    /// Register a person, client account or peer with roles.
    RegisterIdentity {
        /// The new SMART-ID.
        id: SmartId,
        /// Unique human name.
        name: String,
        /// Roles.
        roles: Vec<Role>,
        /// For a client account: the organisation.
        #[serde(default)]
        organisation: Option<String>,
    },
    /// Replace an identity's roles.
    SetRoles {
        /// Whose.
        id: SmartId,
        /// The new roles.
        roles: Vec<Role>,
    },
    /// Deactivate an identity (it may no longer act).
    Deactivate {
        /// Whose.
        id: SmartId,
    },
    /// Move the author's identity, roles and tokens to a new key (signed by the old key).
    RotateKey {
        /// The new SMART-ID.
        new_id: SmartId,
    },
    // --- Tokens (Admin or Compliance) ---
    /// Issue a token.
    IssueToken {
        /// Token id (unique).
        token: String,
        /// Holder.
        holder: SmartId,
        /// Kind.
        kind: TokenKind,
        /// Scope, e.g. `NDT-UT-L2`.
        scope: String,
        /// Ledger time it expires.
        expires: Timestamp,
    },
    /// Revoke a token.
    RevokeToken {
        /// Token id.
        token: String,
        /// Why.
        reason: String,
    },
    /// Record training, experience, an examination or a vision test on a
    /// person's transcript (Admin, Compliance or QA; never one's own). The
    /// VM issues, renews or revokes the framework's tokens at once.
    RecordEducation {
        /// Whose transcript.
        person: SmartId,
        /// What was done.
        record: crate::education::EducationRecord,
    },
    // --- Equipment ---
    /// Register equipment (Admin, Compliance).
    RegisterEquipment {
        /// Equipment id, e.g. `furnace-3`.
        id: String,
        /// What it is.
        description: String,
        /// Ledger time calibration is due.
        calibration_due: Timestamp,
    },
    /// Plan an equipment's maintenance from its usage (Admin, Compliance):
    /// a service job under `contract` (a SmartMaintenance contract, the
    /// equipment among the job's parts) is due every `every_cycles` cycles
    /// or `every_minutes` minutes run, whichever comes first (0: not by that).
    SetMaintenancePlan {
        /// Equipment id.
        equipment: String,
        /// The SmartMaintenance contract id.
        contract: String,
        /// Cycles between services.
        every_cycles: u32,
        /// Minutes run between services.
        every_minutes: u32,
    },
    /// Record a calibration (Admin, Compliance, Technician with `Certified:calibration`).
    Calibrate {
        /// Equipment id.
        id: String,
        /// New due date.
        calibration_due: Timestamp,
    },
    /// Lock equipment out (any Technician, QA, Compliance or Admin).
    LockOut {
        /// Equipment id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Clear a lockout (Admin, Compliance).
    ClearLockOut {
        /// Equipment id.
        id: String,
    },
    // --- Client API credentials (Admin, Project Manager) ---
    /// Issue an API credential to a client account. Only the hash of its
    /// secret is recorded; the client holds the secret.
    IssueApiCredential {
        /// Credential id (unique; the public half of what the client presents).
        id: String,
        /// The client account it acts for.
        client: SmartId,
        /// blake3 of the secret half.
        secret_hash: Hash,
    },
    /// Revoke an API credential (Admin, Project Manager, or its client).
    RevokeApiCredential {
        /// Credential id.
        id: String,
    },
    /// A client's request relayed by the gateway: signed by a gateway peer,
    /// judged as the client's own action. Only uploads and approvals exist:
    /// nothing from outside can start, change or cancel a job.
    ClientRequest {
        /// The credential the client authenticated with.
        credential: String,
        /// What the client asked for.
        request: ClientAction,
    },
    // --- Documents (any active identity; a client only for its own jobs) ---
    /// File a document by content hash.
    FileDocument {
        /// blake3 of the document's bytes.
        hash: Hash,
        /// Its type.
        doc_type: DocumentType,
        /// The job it belongs to, or shop-wide.
        #[serde(default)]
        job: Option<String>,
        /// Title.
        title: String,
    },
    // --- Contracts ---
    /// Propose a contract version (any governance role).
    ProposeContract {
        /// The YAML text.
        yaml: String,
    },
    /// Approve a proposed version in one of the author's governance roles.
    ApproveContract {
        /// Contract id.
        id: String,
        /// Version.
        version: u32,
        /// The role the author approves in.
        role: Role,
    },
    /// Replace the governance policy (Admin only).
    SetGovernance {
        /// Roles that must approve each version.
        approvers: Vec<Role>,
    },
    // --- Jobs ---
    /// Open a job under the active version of a contract (Admin, Project Manager).
    OpenJob {
        /// Job id (unique).
        job: String,
        /// Contract id.
        contract: String,
        /// The client.
        client: SmartId,
        /// Part numbers / serials.
        parts: Vec<String>,
    },
    /// Create or replace a client's project plan (Admin, Project Manager):
    /// its milestones, each reached when all its jobs complete.
    SetProject {
        /// Project id (lowercase, digits, '-').
        id: String,
        /// The client account; every job must be its own.
        client: SmartId,
        /// Title.
        title: String,
        /// Milestones, in order.
        milestones: Vec<crate::state::Milestone>,
    },
    /// Perform a step of a job.
    CompleteStep {
        /// Job id.
        job: String,
        /// Step id.
        step: String,
        /// Station where it was done.
        #[serde(default)]
        station: Option<String>,
        /// Measured values, by name.
        #[serde(default)]
        measurements: BTreeMap<String, i64>,
    },
    // --- Advice ---
    /// Record an advisory finding (Advisor only). It changes no rule: a
    /// person may turn it into a contract proposal.
    Suggest {
        /// Stable id of the finding's subject (the same subject is recorded once).
        id: String,
        /// What was found.
        finding: String,
        /// What it is based on (which records, how many, which blocks).
        based_on: String,
    },
}

/// What a client may ask for through the gateway (see [`Action::ClientRequest`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAction {
    /// File an uploaded document (PO, certification, feedback, approval).
    FileDocument {
        /// blake3 of the document's bytes.
        hash: Hash,
        /// Its type.
        doc_type: DocumentType,
        /// The client's job it belongs to.
        job: Option<String>,
        /// Title.
        title: String,
    },
    /// Complete a step the contract gives to the client (e.g. approve the report).
    ApproveStep {
        /// Job id.
        job: String,
        /// Step id.
        step: String,
    },
}

impl ClientAction {
    /// The tx kind a request for this travels in.
    pub fn kind(&self) -> TxKind {
        match self {
            ClientAction::FileDocument { .. } => TxKind::Document,
            ClientAction::ApproveStep { .. } => TxKind::JobAction,
        }
    }

    /// The same action as if the client had signed it.
    pub fn into_action(self) -> Action {
        match self {
            ClientAction::FileDocument {
                hash,
                doc_type,
                job,
                title,
            } => Action::FileDocument {
                hash,
                doc_type,
                job,
                title,
            },
            ClientAction::ApproveStep { job, step } => Action::CompleteStep {
                job,
                step,
                station: None,
                measurements: BTreeMap::new(),
            },
        }
    }
}

/// Most bytes of an action payload.
pub const MAX_ACTION_BYTES: usize = 256 * 1024;

impl Action {
    /// The tx kind this action travels in.
    pub fn kind(&self) -> TxKind {
        match self {
            Action::RegisterIdentity { .. }
            | Action::SetRoles { .. }
            | Action::Deactivate { .. }
            | Action::RotateKey { .. }
            | Action::IssueApiCredential { .. }
            | Action::RevokeApiCredential { .. } => TxKind::Identity,
            Action::ClientRequest { request, .. } => request.kind(),
            Action::IssueToken { .. }
            | Action::RevokeToken { .. }
            | Action::RecordEducation { .. } => TxKind::Token,
            Action::RegisterEquipment { .. }
            | Action::Calibrate { .. }
            | Action::SetMaintenancePlan { .. }
            | Action::LockOut { .. }
            | Action::ClearLockOut { .. } => TxKind::Equipment,
            Action::FileDocument { .. } => TxKind::Document,
            Action::ProposeContract { .. }
            | Action::ApproveContract { .. }
            | Action::SetGovernance { .. } => TxKind::Contract,
            Action::OpenJob { .. } | Action::CompleteStep { .. } | Action::SetProject { .. } => {
                TxKind::JobAction
            }
            Action::Suggest { .. } => TxKind::Suggestion,
        }
    }

    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Decodes a payload.
    pub fn decode(bytes: &[u8]) -> Result<Action, DecodeError> {
        codec::decode_versioned("action", bytes, MAX_ACTION_BYTES)
    }
}
