//! The SmartContract language: what a contract YAML file may say.
//! `contracts/README.md` documents every field; keep the two together.

use serde::{Deserialize, Serialize};
use smart_ledger::Role;

/// A versioned contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Stable id, lowercase letters, digits and `-` (e.g. `po-4471-heat-treat`).
    pub id: String,
    /// Version number; a new version must be higher than every earlier one.
    pub version: u32,
    /// Which of the nine templates this contract follows.
    pub template: Template,
    /// One line for people.
    pub title: String,
    /// Longer text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Who the contract is between (informational; access is by role and identity).
    #[serde(default)]
    pub parties: Vec<Party>,
    /// Other contracts this one builds on (its SP steps, QA rules, pay terms).
    #[serde(default)]
    pub references: Vec<Reference>,
    /// The client delivery window, counted from job assignment in ledger time.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// The ordered steps of a job under this contract.
    pub steps: Vec<Step>,
    /// Effects of events that are not a single step's completion.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

/// The nine contract templates of the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Template {
    /// A client purchase order and the job it starts.
    SmartClientPO,
    /// A special process (heat treat, NDT, plating) step by step.
    SmartSP,
    /// Compliance: documents, certifications, audits.
    SmartCompliance,
    /// Equipment maintenance and calibration.
    SmartMaintenance,
    /// Standards and their revisions (AMS, ASTM, NAS).
    SmartStandards,
    /// Quality assurance: inspections, sampling, sign-off.
    SmartQA,
    /// Invoices, payouts and bonuses.
    SmartPay,
    /// Safety: PPE, lockout/tagout, incidents.
    SmartSafety,
    /// Consumables and stock.
    SmartInventory,
}

/// A party to the contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Their role.
    pub role: Role,
    /// Their name (an organisation or a person).
    pub name: String,
}

/// A reference to another contract version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The other contract's id.
    pub id: String,
    /// Its version.
    pub version: u32,
    /// What it is for here: e.g. `process`, `quality`, `pay`.
    pub purpose: String,
}

/// The client delivery window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Hours from job assignment until the window closes.
    pub window_hours: u32,
}

/// One step of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Step id, unique in the contract.
    pub id: String,
    /// What is done, for people.
    pub title: String,
    /// Roles allowed to perform it (any one of them).
    pub by: Vec<Role>,
    /// Steps that must be complete first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Evidence needed to perform it.
    #[serde(default)]
    pub requires: Requirements,
    /// Measured values that must be recorded and within limits.
    #[serde(default)]
    pub measurements: Vec<Limit>,
    /// The shop event this step's completion stands for, if any.
    #[serde(default)]
    pub emits: Option<Event>,
    /// What happens when the step completes.
    #[serde(default)]
    pub effects: Vec<Effect>,
}

/// Evidence a step needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Tokens the performer must hold, valid at the action's ledger time:
    /// `Kind:scope`, e.g. `Certified:NDT-UT-L2`, `Safety:furnace-3`.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Document types that must be on file for the job (or shop-wide).
    #[serde(default)]
    pub documents: Vec<DocumentType>,
    /// Equipment that must be registered, calibrated (not overdue) and not locked out.
    #[serde(default)]
    pub equipment: Vec<String>,
}

/// Kinds of documents a step may require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentType {
    /// The client's purchase order.
    ClientPo,
    /// Material certification (mill cert) for the parts.
    MaterialCert,
    /// Safety documents (SDS, JSA, lockout procedure).
    SafetyDoc,
    /// Environmental logs (e.g. furnace atmosphere, waste water).
    EnvironmentalLog,
    /// A calibration certificate.
    CalibrationCert,
    /// A process procedure or work instruction.
    Procedure,
    /// A standard (AMS, ASTM, NAS) at a revision.
    Standard,
    /// A drawing or specification.
    Drawing,
    /// A test or inspection report.
    Report,
    /// Certificate of conformance.
    CertificateOfConformance,
    /// A client's approval of a report.
    ClientApproval,
    /// Client feedback.
    Feedback,
}

/// A feedback document's title carrying the client's rating (1 to 5), as
/// the gateway records it: `rating N/5: TITLE`.
pub fn feedback_title(rating: u8, title: &str) -> String {
    format!("rating {rating}/5: {title}")
}

/// The rating a feedback title carries (see [`feedback_title`]).
pub fn feedback_rating(title: &str) -> Option<u8> {
    let rest = title.strip_prefix("rating ")?;
    let (n, rest) = rest.split_once("/5")?;
    let n: u8 = n.parse().ok()?;
    (rest.is_empty() || rest.starts_with(':'))
        .then_some(n)
        .filter(|n| (1..=5).contains(n))
}

/// Units of measured values. Values are integers in the unit (no floats
/// anywhere in the VM): pick the unit that gives the resolution you need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Unit {
    /// Degrees Celsius.
    #[serde(rename = "degC")]
    DegC,
    /// Degrees Fahrenheit.
    #[serde(rename = "degF")]
    DegF,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    /// Minutes.
    #[serde(rename = "min")]
    Minutes,
    /// Hours.
    #[serde(rename = "h")]
    Hours,
    /// Micrometres.
    #[serde(rename = "um")]
    Micrometres,
    /// Millimetres.
    #[serde(rename = "mm")]
    Millimetres,
    /// Rockwell C hardness.
    #[serde(rename = "HRC")]
    Hrc,
    /// Brinell hardness.
    #[serde(rename = "HB")]
    Hb,
    /// Kilopounds per square inch.
    #[serde(rename = "ksi")]
    Ksi,
    /// Percent.
    #[serde(rename = "percent")]
    Percent,
    /// Parts per million.
    #[serde(rename = "ppm")]
    Ppm,
    /// A count (parts, indications, cycles).
    #[serde(rename = "count")]
    Count,
    /// Decibels (e.g. ultrasonic reference level).
    #[serde(rename = "dB")]
    Decibels,
}

/// Limits on one measured value: `min`/`max`, or `target` ± `tolerance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Name of the value, e.g. `soak_temp`.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// Lowest allowed value.
    #[serde(default)]
    pub min: Option<i64>,
    /// Highest allowed value.
    #[serde(default)]
    pub max: Option<i64>,
    /// Nominal value (with `tolerance`).
    #[serde(default)]
    pub target: Option<i64>,
    /// Allowed deviation from `target`, either way.
    #[serde(default)]
    pub tolerance: Option<i64>,
}

impl Limit {
    /// The inclusive range `[low, high]` this limit allows (validated
    /// contracts always have at least one bound).
    pub fn bounds(&self) -> (i64, i64) {
        match (self.target, self.tolerance) {
            (Some(t), Some(tol)) => (t.saturating_sub(tol), t.saturating_add(tol)),
            _ => (self.min.unwrap_or(i64::MIN), self.max.unwrap_or(i64::MAX)),
        }
    }
}

/// Shop events contracts react to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A job was opened under the contract.
    JobAssigned,
    /// Pre-checks are complete.
    PreCheckComplete,
    /// QA signed off.
    QaSignoff,
    /// Compliance signed off.
    ComplianceSignoff,
    /// The report was submitted.
    ReportSubmitted,
    /// The client approved the report.
    ClientApproved,
    /// The client delivery window closed (ledger time passed the deadline).
    DeliveryWindowClosed,
    /// Every step of the job is complete.
    JobCompleted,
}

/// Effects of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The event.
    pub on: Event,
    /// What happens.
    pub effects: Vec<Effect>,
}

/// Something that happens when a step completes or an event fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Unlock a station's interlock (the test may start).
    Unlock(String),
    /// Lock a station's interlock.
    Lock(String),
    /// Raise an internal alert.
    Alert(String),
    /// A status update the client sees.
    Status(String),
    /// Invoice the client for a milestone.
    Invoice(Invoice),
    /// Pay the person who performed a step.
    Payout(Payout),
    /// Pay a bonus to the person who performed a step, when conditions hold.
    Bonus(Bonus),
}

/// An invoice milestone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    /// Milestone name, e.g. `final`.
    pub milestone: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

/// A payout to whoever performed a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payout {
    /// The step whose performer is paid.
    pub step: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

/// A conditional bonus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bonus {
    /// The step whose performer earns it.
    pub step: String,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Only if no step of the job was refused for an out-of-limit measurement.
    #[serde(default)]
    pub first_pass: bool,
    /// Only if the job completed before its delivery window closed.
    #[serde(default)]
    pub on_time: bool,
}
