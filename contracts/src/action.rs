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
            | Action::RotateKey { .. } => TxKind::Identity,
            Action::IssueToken { .. } | Action::RevokeToken { .. } => TxKind::Token,
            Action::RegisterEquipment { .. }
            | Action::Calibrate { .. }
            | Action::LockOut { .. }
            | Action::ClearLockOut { .. } => TxKind::Equipment,
            Action::FileDocument { .. } => TxKind::Document,
            Action::ProposeContract { .. }
            | Action::ApproveContract { .. }
            | Action::SetGovernance { .. } => TxKind::Contract,
            Action::OpenJob { .. } | Action::CompleteStep { .. } => TxKind::JobAction,
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
