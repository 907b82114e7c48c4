//! What can be wrong with a contract: the stable [`ErrorKind`] and the
//! located [`ContractError`] that reading a contract reports.

use std::fmt;

/// What kind of mistake a contract has. Stable: tests and tools match on it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not YAML, or not the shape of a contract.
    Syntax,
    /// A field the language does not have.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong type (text for a number, a float, a negative amount).
    WrongType,
    /// A name that is not one of the allowed ones (role, template, unit, document, event).
    UnknownName,
    /// The file is too large, too deep or has too many nodes or aliases.
    TooLarge,
    /// An id that is empty or not lowercase letters, digits and `-`.
    BadId,
    /// Version 0.
    BadVersion,
    /// A contract with no steps.
    NoSteps,
    /// Two steps with one id.
    DuplicateStep,
    /// `after` names a step that does not exist.
    UnknownStep,
    /// A step lists itself in `after`.
    SelfPrerequisite,
    /// Prerequisites form a cycle.
    Cycle,
    /// A step depends on a step in a cycle, so it can never be performed.
    Unreachable,
    /// A step with no role that may perform it.
    NoPerformer,
    /// A token requirement that is not `Kind:scope` with one of the six kinds.
    BadToken,
    /// A measurement limit with no bounds, mixed forms, or a target without tolerance.
    BadLimit,
    /// `min` above `max`, or a negative tolerance.
    InvertedLimit,
    /// Two measurements with one name in a step.
    DuplicateMeasurement,
    /// A payout or bonus for a step that does not exist.
    UnknownPayoutStep,
    /// A money amount of zero or above the limit.
    MoneyOutOfRange,
    /// A delivery window of zero hours or over a year.
    BadDeliveryWindow,
    /// An empty station, alert, status or milestone name.
    EmptyEffect,
    /// A reference to another contract that is malformed or to itself.
    BadReference,
    /// A contract that a client must act in lists no Client party or vice versa.
    ClientStepWithoutClient,
    /// A trigger on `delivery_window_closed` without a delivery window.
    NoDeliveryWindow,
    /// The same event emitted by two steps.
    DuplicateEvent,
}

/// A contract could not be read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub struct ContractError {
    /// The file (or a label for text without a file).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// The field, as a path: `steps[2].requires.tokens[0]`.
    pub field: String,
    /// What kind of mistake.
    pub kind: ErrorKind,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "(top level)"
        } else {
            self.field.as_str()
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, field, self.message
        )
    }
}
