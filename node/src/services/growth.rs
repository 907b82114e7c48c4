//! Growth / Feedback: how the shop is doing, from the ledger's state —
//! job throughput per week, on-time delivery, first-pass yield, and the
//! clients' feedback filed through the gateway (ratings travel in the
//! feedback document's title, see `smart_contracts::model::feedback_title`).
//! Every figure says how many records it is based on.

use std::collections::BTreeMap;

use serde::Serialize;
use smart_contracts::State;
use smart_contracts::model::{DocumentType, feedback_rating};
use smart_contracts::refusal::format_date;
use smart_contracts::state::JobStatus;
use smart_ledger::Timestamp;

const WEEK_MS: u64 = 7 * 86_400_000;
/// Weeks the throughput looks back.
pub const WEEKS: usize = 4;

/// A share of a count, kept as both numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Share {
    /// How many met the condition.
    pub met: usize,
    /// Of how many.
    pub of: usize,
}

impl Share {
    fn percent(self) -> String {
        if self.of == 0 {
            "n/a".into()
        } else {
            format!("{:.0} %", 100.0 * self.met as f64 / self.of as f64)
        }
    }
}

/// The shop's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Jobs completed in each of the last [`WEEKS`] weeks, this week first.
    pub completed_per_week: Vec<usize>,
    /// Jobs open now.
    pub open: usize,
    /// Completed jobs with a delivery window that met it.
    pub on_time: Share,
    /// Completed jobs with no out-of-limit attempt.
    pub first_pass: Share,
    /// Client feedback.
    pub feedback: Feedback,
}

/// One client's feedback.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientFeedback {
    /// Feedback documents filed.
    pub documents: usize,
    /// Ratings given (1 to 5).
    pub ratings: Vec<u8>,
}

/// Feedback across clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// By client name.
    pub by_client: BTreeMap<String, ClientFeedback>,
    /// The lowest-rated feedback (rating, client, job, title, date), worst first, at most 5.
    pub lowest: Vec<(u8, String, Option<String>, String, String)>,
}

fn mean(r: &[u8]) -> Option<f64> {
    (!r.is_empty()).then(|| r.iter().map(|&x| f64::from(x)).sum::<f64>() / r.len() as f64)
}

impl Feedback {
    fn all_ratings(&self) -> Vec<u8> {
        self.by_client
            .values()
            .flat_map(|c| c.ratings.iter().copied())
            .collect()
    }

    fn documents(&self) -> usize {
        self.by_client.values().map(|c| c.documents).sum()
    }

    /// For people.
    pub fn describe(&self) -> String {
        if self.by_client.is_empty() {
            return "no client feedback is on file (clients upload it with doc_type=feedback&rating=1..5)".into();
        }
        let all = self.all_ratings();
        let mut out = format!(
            "{} feedback documents from {} clients, {} rated{}:",
            self.documents(),
            self.by_client.len(),
            all.len(),
            mean(&all).map_or(String::new(), |m| format!(", average {m:.1}/5"))
        );
        for (client, f) in &self.by_client {
            out.push_str(&format!(
                "\n  {client}: {} documents, {}",
                f.documents,
                mean(&f.ratings).map_or("no ratings".to_string(), |m| format!(
                    "average {m:.1}/5 over {} ratings",
                    f.ratings.len()
                ))
            ));
        }
        if !self.lowest.is_empty() {
            out.push_str("\nlowest rated:");
            for (r, client, job, title, at) in &self.lowest {
                out.push_str(&format!(
                    "\n  {r}/5 {client} {} {at}: {title}",
                    job.as_deref().unwrap_or("(shop-wide)")
                ));
            }
        }
        out
    }
}

/// Client feedback from the documents on file.
pub fn feedback(state: &State) -> Feedback {
    let mut f = Feedback::default();
    let mut rated = Vec::new();
    for d in state.documents.values() {
        if d.doc_type != DocumentType::Feedback {
            continue;
        }
        let client = state.name_of(&d.filed_by);
        let entry = f.by_client.entry(client.clone()).or_default();
        entry.documents += 1;
        if let Some(r) = feedback_rating(&d.title) {
            entry.ratings.push(r);
            rated.push((r, d.filed_at, client, d.job.clone(), d.title.clone()));
        }
    }
    rated.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    f.lowest = rated
        .into_iter()
        .take(5)
        .map(|(r, at, client, job, title)| (r, client, job, title, format_date(at)))
        .collect();
    f
}

/// The shop's figures at `now`.
pub fn report(state: &State, now: Timestamp) -> Report {
    let mut r = Report {
        completed_per_week: vec![0; WEEKS],
        feedback: feedback(state),
        ..Report::default()
    };
    for job in state.jobs.values() {
        if job.status != JobStatus::Completed {
            r.open += 1;
            continue;
        }
        let Some(done) = job.completed_at else {
            continue;
        };
        if done.0 <= now.0 {
            let week = ((now.0 - done.0) / WEEK_MS) as usize;
            if let Some(n) = r.completed_per_week.get_mut(week) {
                *n += 1;
            }
        }
        if let Some(deadline) = job.deadline {
            r.on_time.of += 1;
            if done <= deadline {
                r.on_time.met += 1;
            }
        }
        r.first_pass.of += 1;
        if job.nonconformances == 0 {
            r.first_pass.met += 1;
        }
    }
    r
}

impl Report {
    /// For people.
    pub fn describe(&self) -> String {
        let weeks = self
            .completed_per_week
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "throughput: {weeks} jobs completed in the last {WEEKS} weeks (this week first); {} open\n\
             on-time delivery: {} ({} of {} completed jobs with a delivery window)\n\
             first-pass yield: {} ({} of {} completed jobs without an out-of-limit attempt)\n\
             {}",
            self.open,
            self.on_time.percent(),
            self.on_time.met,
            self.on_time.of,
            self.first_pass.percent(),
            self.first_pass.met,
            self.first_pass.of,
            self.feedback.describe()
        )
    }
}

/// The Growth/Feedback line of `smart modules`.
pub fn summary(state: &State, now: Timestamp) -> String {
    let r = report(state, now);
    let all = r.feedback.all_ratings();
    format!(
        "{} jobs completed in {WEEKS} weeks, on time {}, first pass {}, {} feedback{}",
        r.completed_per_week.iter().sum::<usize>(),
        r.on_time.percent(),
        r.first_pass.percent(),
        r.feedback.documents(),
        mean(&all).map_or(String::new(), |m| format!(" (average {m:.1}/5)"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use smart_contracts::model::feedback_title;

    #[test]
    fn ratings_round_trip_through_the_title_and_nothing_else_counts() {
        assert_eq!(feedback_rating(&feedback_title(4, "on time")), Some(4));
        for t in [
            "rating 6/5: x",
            "rating 0/5",
            "my rating 5/5",
            "rating 5/50",
            "ok",
        ] {
            assert_eq!(feedback_rating(t), None, "{t}");
        }
        assert_eq!(feedback_rating("rating 5/5"), Some(5));
    }

    #[test]
    fn shares_print_as_percentages_or_na() {
        assert_eq!(Share { met: 1, of: 3 }.percent(), "33 %");
        assert_eq!(Share::default().percent(), "n/a");
    }
}
