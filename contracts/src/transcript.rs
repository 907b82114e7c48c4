//! A person's transcript as the state keeps it: NDT methods, examination
//! parts, vision tests and the recorded hours and scores.
//!
//! Plain data, shared by [`crate::state`] (which stores a transcript per
//! person) and [`crate::education`] (the framework that assesses one).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smart_ledger::Timestamp;

/// NDT methods the framework certifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NdtMethod {
    /// Ultrasonic testing.
    Ut,
    /// Radiographic testing.
    Rt,
    /// Penetrant testing.
    Pt,
    /// Magnetic particle testing.
    Mt,
    /// Eddy current testing.
    Et,
}

impl NdtMethod {
    /// Every method.
    pub const ALL: [NdtMethod; 5] = [
        NdtMethod::Ut,
        NdtMethod::Rt,
        NdtMethod::Pt,
        NdtMethod::Mt,
        NdtMethod::Et,
    ];

    /// The method's abbreviation, as in token scopes (`NDT-UT-L2`).
    pub fn name(self) -> &'static str {
        match self {
            NdtMethod::Ut => "UT",
            NdtMethod::Rt => "RT",
            NdtMethod::Pt => "PT",
            NdtMethod::Mt => "MT",
            NdtMethod::Et => "ET",
        }
    }

    /// Parses `UT`, `ut`, ...
    pub fn from_name(s: &str) -> Option<NdtMethod> {
        NdtMethod::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }
}

/// The three examinations of a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ExamPart {
    /// Theory of the method.
    General,
    /// The shop's procedures, specifications and products.
    Specific,
    /// Hands-on, on the shop's equipment and parts.
    Practical,
}

impl ExamPart {
    /// Every part.
    pub const ALL: [ExamPart; 3] = [ExamPart::General, ExamPart::Specific, ExamPart::Practical];
}

/// A vision test's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EyeTest {
    /// When.
    pub at: Timestamp,
    /// Near vision passed.
    pub near_vision: bool,
    /// Colour perception passed.
    pub color: bool,
}

/// Everything recorded about one person's education.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// Classroom hours per method.
    pub training_hours: BTreeMap<NdtMethod, u32>,
    /// Supervised experience hours per method.
    pub experience_hours: BTreeMap<NdtMethod, u32>,
    /// The latest score and date of each examination.
    pub exams: BTreeMap<(NdtMethod, u8, ExamPart), (u8, Timestamp)>,
    /// The latest vision test.
    pub eye_test: Option<EyeTest>,
    /// Courses completed: course → (hours, last completion).
    pub courses: BTreeMap<String, (u32, Timestamp)>,
}
