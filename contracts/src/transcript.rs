//! A person's transcript as the state keeps it: NDT methods, examination
//! parts, vision tests and the recorded hours and scores.
//!
//! Plain data, shared by [`crate::state`] (which stores a transcript per
//! person) and [`crate::education`] (the framework that assesses one).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    /// The latest score and date of each examination. Written as a list of
    /// (key, value) pairs: JSON has no tuple keys, and postcard encodes a
    /// map and a list of pairs with the same bytes (the state root holds).
    #[serde(with = "pairs")]
    pub exams: BTreeMap<(NdtMethod, u8, ExamPart), (u8, Timestamp)>,
    /// The latest vision test.
    pub eye_test: Option<EyeTest>,
    /// Courses completed: course → (hours, last completion).
    pub courses: BTreeMap<String, (u32, Timestamp)>,
}

/// Serde for a map whose keys are not strings: a sequence of `(key, value)`
/// pairs. Postcard writes a map as its length then its pairs, and a sequence
/// of 2-tuples as its length then its elements, so the bytes are the same.
mod pairs {
    use super::{BTreeMap, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, S>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transcript as it was written before `exams` became a list of
    /// pairs: every field derived, `exams` a plain map.
    #[derive(Serialize, Deserialize)]
    struct MapTranscript {
        training_hours: BTreeMap<NdtMethod, u32>,
        experience_hours: BTreeMap<NdtMethod, u32>,
        exams: BTreeMap<(NdtMethod, u8, ExamPart), (u8, Timestamp)>,
        eye_test: Option<EyeTest>,
        courses: BTreeMap<String, (u32, Timestamp)>,
    }

    fn examined() -> Transcript {
        let mut t = Transcript::default();
        t.training_hours.insert(NdtMethod::Ut, 80);
        t.experience_hours.insert(NdtMethod::Pt, 130);
        t.exams.insert(
            (NdtMethod::Ut, 2, ExamPart::General),
            (82, Timestamp(1_000)),
        );
        t.exams.insert(
            (NdtMethod::Ut, 2, ExamPart::Practical),
            (90, Timestamp(2_000)),
        );
        t.exams.insert(
            (NdtMethod::Mt, 1, ExamPart::Specific),
            (71, Timestamp(3_000)),
        );
        t.eye_test = Some(EyeTest {
            at: Timestamp(500),
            near_vision: true,
            color: false,
        });
        t.courses.insert("ut-level-2".into(), (80, Timestamp(400)));
        t
    }

    fn as_map(t: &Transcript) -> MapTranscript {
        MapTranscript {
            training_hours: t.training_hours.clone(),
            experience_hours: t.experience_hours.clone(),
            exams: t.exams.clone(),
            eye_test: t.eye_test,
            courses: t.courses.clone(),
        }
    }

    #[test]
    fn postcard_bytes_are_those_of_the_map() {
        for t in [Transcript::default(), examined()] {
            let old = postcard::to_allocvec(&as_map(&t)).expect("encode as a map");
            let new = postcard::to_allocvec(&t).expect("encode as pairs");
            assert_eq!(new, old);
            let back: Transcript = postcard::from_bytes(&old).expect("decode the map's bytes");
            assert_eq!(back, t);
        }
    }

    #[test]
    fn json_writes_and_reads_a_transcript_with_exams() {
        let t = examined();
        let json = serde_json::to_string(&t).expect("to json");
        assert!(
            json.contains(r#""exams":[[["Ut",2,"General"],[82,1000]],"#),
            "{json}"
        );
        let back: Transcript = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, t);
    }
}
