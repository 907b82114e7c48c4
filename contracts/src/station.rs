//! Station specialists' records. A station node's modules (Gatekeeper,
//! Guardian, Vision, …) decide at the point of operation; each decision is
//! a [`StationRecord`] signed by the station peer and ordered like any tx
//! (kind `Station`). The VM applies the facts a decision establishes (stock
//! used, equipment cycles, a lockout, a part scanned, released, received or
//! shipped) to [`Floor`], so every peer agrees on them.
//!
//! The payload is `0x01 ‖ postcard(StationRecord)`.

use crate::table::Table;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smart_ledger::codec::{self, DecodeError};
use smart_ledger::{SmartId, Timestamp};

/// The station specialists. Their names are recorded with every decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Module {
    /// Inbound authorization: operator, job, step, tokens, equipment, prerequisites.
    Gatekeeper,
    /// Outbound verification before a part, report or data leaves the station.
    Guardian,
    /// The contracts pinned on this node, their versions and approvals.
    PolicyNodeStorage,
    /// The outbox of offline decisions and its hand-off to the hubs.
    HandoffNode,
    /// QR scanning and part validation.
    Vision,
    /// Measurements against the contract's limits, sampling and first-article rules.
    QaNode,
    /// Consumables used per job, stock levels, reorder alerts.
    InventoryNode,
    /// Equipment cycles and hours, calibration due dates, lockout when overdue.
    MaintenanceNode,
    /// E-stop and door inputs, incidents, station lockout until cleared.
    SafetyNode,
    /// Receiving parts against the PO, shipping with the certificate of conformance.
    LogisticsNode,
    /// Required documents at the point of operation.
    ComplianceNode,
    /// Standard revisions and equipment class/survey rules at the point of operation.
    StandardsNode,
    /// Public station status.
    InfoBroadcast,
    /// Internal alerts.
    AlertBroadcast,
    /// Plain-language questions about local state, answered offline.
    NodeQuery,
}

impl Module {
    /// Every module, in the order `smart modules` lists them.
    pub const ALL: [Module; 15] = [
        Module::Gatekeeper,
        Module::Guardian,
        Module::PolicyNodeStorage,
        Module::HandoffNode,
        Module::Vision,
        Module::QaNode,
        Module::InventoryNode,
        Module::MaintenanceNode,
        Module::SafetyNode,
        Module::LogisticsNode,
        Module::ComplianceNode,
        Module::StandardsNode,
        Module::InfoBroadcast,
        Module::AlertBroadcast,
        Module::NodeQuery,
    ];

    /// The module's name as people and the ledger see it.
    pub fn name(self) -> &'static str {
        match self {
            Module::Gatekeeper => "Gatekeeper",
            Module::Guardian => "Guardian",
            Module::PolicyNodeStorage => "PolicyNodeStorage",
            Module::HandoffNode => "HandoffNode",
            Module::Vision => "Vision",
            Module::QaNode => "QANode",
            Module::InventoryNode => "InventoryNode",
            Module::MaintenanceNode => "MaintenanceNode",
            Module::SafetyNode => "SafetyNode",
            Module::LogisticsNode => "LogisticsNode",
            Module::ComplianceNode => "ComplianceNode",
            Module::StandardsNode => "StandardsNode",
            Module::InfoBroadcast => "InfoBroadcast",
            Module::AlertBroadcast => "AlertBroadcast",
            Module::NodeQuery => "NodeQuery",
        }
    }
}

/// A module's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Allowed (or a fact recorded).
    Allowed,
    /// Refused; the record's `reason` says why.
    Refused,
}

/// What an allowed decision establishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fact {
    /// A consumable was used (InventoryNode).
    Consumed {
        /// Item, e.g. `quench-oil-drum`.
        item: String,
        /// How many units.
        quantity: u32,
    },
    /// A stock count or delivery: units on hand and the reorder point (InventoryNode).
    Stocked {
        /// Item.
        item: String,
        /// Units on hand now.
        on_hand: u32,
        /// Reorder when on hand falls below this.
        reorder_at: u32,
    },
    /// Equipment ran (MaintenanceNode).
    EquipmentUsed {
        /// Equipment id.
        equipment: String,
        /// Cycles run.
        cycles: u32,
        /// Minutes run.
        minutes: u32,
    },
    /// Equipment locked out by the station (SafetyNode incident, MaintenanceNode overdue).
    LockOut {
        /// Equipment ids.
        equipment: Vec<String>,
    },
    /// A part's QR code matched the job (Vision).
    PartScanned {
        /// The part serial.
        serial: String,
    },
    /// Parts released from the station (Guardian).
    Released,
    /// Parts received against the PO (LogisticsNode).
    Received {
        /// How many parts.
        parts: u32,
    },
    /// Parts shipped with their certificate of conformance (LogisticsNode).
    Shipped,
}

/// One decision of one module, signed by the station peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationRecord {
    /// The module that decided.
    pub module: Module,
    /// The station (the signing peer's name).
    pub station: String,
    /// Allowed or refused.
    pub verdict: Verdict,
    /// The job, when the decision is about one.
    pub job: Option<String>,
    /// The operator badged in, if any.
    pub operator: Option<SmartId>,
    /// What was asked or done, for people.
    pub what: String,
    /// Why: the rule and the evidence (empty when allowed without remark).
    pub reason: String,
    /// What an allowed decision establishes.
    pub fact: Option<Fact>,
}

/// Most bytes of a station record payload.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

impl StationRecord {
    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(self)
    }

    /// Decodes a payload.
    pub fn decode(bytes: &[u8]) -> Result<StationRecord, DecodeError> {
        codec::decode_versioned("station record", bytes, MAX_RECORD_BYTES)
    }
}

/// A consumable's stock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    /// Units on hand (negative if more was used than counted in).
    pub on_hand: i64,
    /// Reorder below this.
    pub reorder_at: i64,
    /// Units used per job.
    pub used_by_job: BTreeMap<String, u64>,
}

impl Stock {
    /// Below the reorder point?
    pub fn needs_reorder(&self) -> bool {
        self.on_hand < self.reorder_at
    }
}

/// How much a piece of equipment has run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Cycles run.
    pub cycles: u64,
    /// Minutes run.
    pub minutes: u64,
}

/// What happened to a job's parts on the floor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartsRecord {
    /// Serials scanned and matched, with the station.
    pub scanned: BTreeMap<String, String>,
    /// Parts received against the PO.
    pub received: u32,
    /// Released from a station: where and when.
    pub released: Option<(String, Timestamp)>,
    /// Shipped: from where and when.
    pub shipped: Option<(String, Timestamp)>,
}

/// The floor as station decisions left it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// Station peers (from the genesis) by SMART-ID, with their names.
    pub stations: Table<SmartId, String>,
    /// Consumables.
    pub stock: Table<String, Stock>,
    /// Equipment usage.
    pub usage: Table<String, Usage>,
    /// Parts per job.
    pub parts: Table<String, PartsRecord>,
    /// Decisions recorded: (station, module, verdict) → count.
    pub decisions: Table<(String, Module, Verdict), u64>,
    /// The most recent refusals (station, module, reason), newest last, at most 64.
    pub recent_refusals: Vec<(String, Module, String)>,
}

/// How many recent refusals [`Floor`] keeps.
pub const RECENT_REFUSALS: usize = 64;

/// Equipment ids a fact names that must exist.
pub fn named_equipment(fact: &Fact) -> Vec<&str> {
    match fact {
        Fact::EquipmentUsed { equipment, .. } => vec![equipment.as_str()],
        Fact::LockOut { equipment } => equipment.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}
