//! Refusals: a stable code every peer agrees on, and an explanation that
//! names the rule and the missing evidence.

use serde::{Deserialize, Serialize};
use smart_ledger::{Outcome, Timestamp};

/// Why the VM refused a tx. The numbers are part of the ledger: never
/// renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u16)]
pub enum RefusalCode {
    /// The payload does not decode, or its action does not match the tx kind.
    Malformed = 1,
    /// The author is not a registered, active identity.
    UnknownActor = 2,
    /// The author lacks a role the rule needs.
    RoleRequired = 3,
    /// The author holds no token of the kind and scope needed.
    TokenMissing = 4,
    /// The author's token expired before the action's ledger time.
    TokenExpired = 5,
    /// The author's token was revoked.
    TokenRevoked = 6,
    /// A step that must come first is not complete.
    PrerequisiteIncomplete = 7,
    /// The step is already complete.
    StepAlreadyComplete = 8,
    /// No such job.
    UnknownJob = 9,
    /// No such step in the job's pinned contract version.
    UnknownStep = 10,
    /// A required document is not on file.
    DocumentMissing = 11,
    /// Equipment calibration is overdue.
    CalibrationOverdue = 12,
    /// Equipment is locked out.
    EquipmentLockedOut = 13,
    /// No such equipment.
    UnknownEquipment = 14,
    /// A required measurement is missing.
    MeasurementMissing = 15,
    /// A measurement is outside its limits.
    MeasurementOutOfLimits = 16,
    /// The proposed contract does not parse or validate.
    ContractInvalid = 17,
    /// The contract version is not above every earlier version.
    ContractVersionConflict = 18,
    /// The contract has no active version.
    ContractNotActive = 19,
    /// The version is not waiting for approvals.
    ContractNotProposed = 20,
    /// The role is not one the governance policy names, or the author does not hold it.
    ApprovalNotAllowed = 21,
    /// That role already approved this version.
    DuplicateApproval = 22,
    /// An id that must be new already exists.
    AlreadyExists = 23,
    /// A client acting on another client's job.
    NotClientOfJob = 24,
    /// The job is complete.
    JobClosed = 25,
    /// No such identity.
    UnknownIdentity = 26,
    /// No such token.
    UnknownToken = 27,
    /// A value is out of range or empty.
    InvalidArgument = 28,
    /// The last active Admin cannot be removed.
    LastAdmin = 29,
    /// A client request names no valid API credential (unknown, revoked, or
    /// its client is no longer active).
    BadCredential = 30,
    /// A client request not signed by a gateway peer.
    NotGateway = 31,
    /// A station record not signed by a station peer, or for another station.
    NotStation = 32,
    /// Nobody records their own training, experience, examinations or vision tests.
    ConflictOfInterest = 33,
}

impl RefusalCode {
    /// The stable number.
    pub fn number(self) -> u16 {
        self as u16
    }
}

/// A refusal with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stable code.
    pub code: RefusalCode,
    /// What rule refused and what evidence was missing.
    pub reason: String,
}

impl Refusal {
    /// A refusal.
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason: reason.into(),
        }
    }

    /// The ledger outcome.
    pub fn outcome(&self) -> Outcome {
        Outcome::Refused {
            code: self.code.number(),
            reason: self.reason.clone(),
        }
    }
}

/// A ledger time as `YYYY-MM-DD HH:MM` UTC, for explanations. Integer
/// arithmetic only (days-from-civil inverse, H. Hinnant's algorithm).
pub fn format_time(t: Timestamp) -> String {
    let secs = t.0 / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Like [`format_time`], date only.
pub fn format_date(t: Timestamp) -> String {
    format_time(t)[..10].to_string()
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch of a UTC date and time (the inverse, for
/// tools and tests).
pub fn timestamp_of(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> Timestamp {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60;
    Timestamp(u64::try_from(secs).unwrap_or(0) * 1000)
}
