//! SMART-Audit's anomaly flags on API use: advisory only. A flag becomes an
//! `Alert` tx (`AnomalyFlagged`, signed by the gateway), a metric and an
//! alert on the AlertBroadcast topic; it never blocks or changes anything.
//!
//! What is flagged, and on what evidence:
//! - **auth-failure burst**: at least [`AUTH_BURST`] refused credentials
//!   from one caller key within [`AUTH_WINDOW`];
//! - **request-rate spike**: a client's requests in one [`RATE_WINDOW`]
//!   above [`SPIKE_FACTOR`] times its usual rate (an average of its earlier
//!   windows, after [`RATE_HISTORY`] of them) and above [`SPIKE_FLOOR`];
//! - **unusual upload**: an upload above [`UPLOAD_FACTOR`] times the
//!   client's mean upload size (after [`UPLOAD_HISTORY`] uploads) and above
//!   [`UPLOAD_FLOOR`] bytes.
//!
//! A caller is flagged for one kind at most once per [`COOLDOWN`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Refused credentials that make a burst.
pub const AUTH_BURST: usize = 10;
/// The window of a burst.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// One rate window.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Windows of history before spikes are judged.
pub const RATE_HISTORY: u32 = 3;
/// A spike: this many times the usual rate…
pub const SPIKE_FACTOR: u64 = 10;
/// …and at least this many requests in the window.
pub const SPIKE_FLOOR: u64 = 500;
/// An unusual upload: this many times the client's mean size…
pub const UPLOAD_FACTOR: u64 = 10;
/// …and at least this many bytes.
pub const UPLOAD_FLOOR: u64 = 1024 * 1024;
/// Uploads of history before sizes are judged.
pub const UPLOAD_HISTORY: u64 = 3;
/// One flag per caller and kind per this long.
pub const COOLDOWN: Duration = Duration::from_secs(600);

/// What was flagged (advisory), with the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Many refused credentials from one caller.
    AuthFailureBurst {
        /// The credential id presented, or `-`.
        caller: String,
        /// Refusals in the window.
        failures: usize,
        /// The window (s).
        window_s: u64,
    },
    /// A client's request rate far above its usual.
    RequestRateSpike {
        /// The credential id.
        caller: String,
        /// Requests in the last window.
        requests: u64,
        /// Its usual requests per window.
        usual: u64,
    },
    /// An upload far larger than the client's usual.
    UnusualUpload {
        /// The credential id.
        caller: String,
        /// Its size.
        bytes: u64,
        /// The client's mean upload size so far.
        usual_mean: u64,
    },
}

impl Finding {
    fn key(&self) -> (String, u8) {
        match self {
            Finding::AuthFailureBurst { caller, .. } => (caller.clone(), 0),
            Finding::RequestRateSpike { caller, .. } => (caller.clone(), 1),
            Finding::UnusualUpload { caller, .. } => (caller.clone(), 2),
        }
    }
}

#[derive(Debug, Default)]
struct RateStat {
    window_start: Option<Instant>,
    in_window: u64,
    windows: u32,
    total_before: u64,
}

#[derive(Debug, Default)]
struct Tracked {
    auth_failures: HashMap<String, VecDeque<Instant>>,
    rates: HashMap<String, RateStat>,
    uploads: HashMap<String, (u64, u64)>,
    flagged: HashMap<(String, u8), Instant>,
}

/// Most callers tracked before the tables are reset (bounded memory).
const MAX_CALLERS: usize = 100_000;

/// The detector. Cheap enough to call on every request.
#[derive(Debug, Default)]
pub struct Anomalies {
    tracked: Mutex<Tracked>,
    /// Flags raised so far.
    pub flagged: Arc<AtomicU64>,
}

impl Anomalies {
    /// A detector counting its flags in `flagged`.
    pub fn new(flagged: Arc<AtomicU64>) -> Anomalies {
        Anomalies {
            tracked: Mutex::default(),
            flagged,
        }
    }

    fn raise(&self, t: &mut Tracked, finding: Finding, now: Instant) -> Option<Finding> {
        let key = finding.key();
        if let Some(at) = t.flagged.get(&key)
            && now.duration_since(*at) < COOLDOWN
        {
            return None;
        }
        t.flagged.insert(key, now);
        self.flagged.fetch_add(1, Ordering::Relaxed);
        Some(finding)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if t.auth_failures.len() + t.rates.len() + t.uploads.len() > MAX_CALLERS {
            t.auth_failures.clear();
            t.rates.clear();
            t.uploads.clear();
        }
        t
    }

    /// A refused credential from `caller` (credential id or `-`).
    pub fn auth_failure(&self, caller: &str, now: Instant) -> Option<Finding> {
        let mut t = self.lock();
        let q = t.auth_failures.entry(caller.to_string()).or_default();
        q.push_back(now);
        while q
            .front()
            .is_some_and(|at| now.duration_since(*at) > AUTH_WINDOW)
        {
            q.pop_front();
        }
        let failures = q.len();
        if failures >= AUTH_BURST {
            q.clear();
            return self.raise(
                &mut t,
                Finding::AuthFailureBurst {
                    caller: caller.to_string(),
                    failures,
                    window_s: AUTH_WINDOW.as_secs(),
                },
                now,
            );
        }
        None
    }

    /// A request by an authenticated client.
    pub fn request(&self, caller: &str, now: Instant) -> Option<Finding> {
        let mut t = self.lock();
        let r = t.rates.entry(caller.to_string()).or_default();
        let start = *r.window_start.get_or_insert(now);
        if now.duration_since(start) >= RATE_WINDOW {
            r.total_before += r.in_window;
            r.windows += 1;
            r.in_window = 0;
            r.window_start = Some(now);
        }
        r.in_window += 1;
        if r.windows < RATE_HISTORY {
            return None;
        }
        let usual = r.total_before / u64::from(r.windows.max(1));
        let requests = r.in_window;
        if requests > SPIKE_FLOOR && requests > usual.max(1) * SPIKE_FACTOR {
            return self.raise(
                &mut t,
                Finding::RequestRateSpike {
                    caller: caller.to_string(),
                    requests,
                    usual,
                },
                now,
            );
        }
        None
    }

    /// An upload of `bytes` by a client.
    pub fn upload(&self, caller: &str, bytes: u64, now: Instant) -> Option<Finding> {
        let mut t = self.lock();
        let (count, total) = t.uploads.entry(caller.to_string()).or_insert((0, 0));
        let judged = if *count >= UPLOAD_HISTORY {
            let mean = *total / *count;
            (bytes > UPLOAD_FLOOR && bytes > mean.max(1) * UPLOAD_FACTOR).then_some(mean)
        } else {
            None
        };
        *count += 1;
        *total += bytes;
        match judged {
            Some(usual_mean) => self.raise(
                &mut t,
                Finding::UnusualUpload {
                    caller: caller.to_string(),
                    bytes,
                    usual_mean,
                },
                now,
            ),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_refused_credentials_is_flagged_once() {
        let a = Anomalies::default();
        let t0 = Instant::now();
        let flags: Vec<_> = (0..25)
            .filter_map(|i| a.auth_failure("-", t0 + Duration::from_millis(i * 100)))
            .collect();
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert!(matches!(
            flags[0],
            Finding::AuthFailureBurst { failures: 10, .. }
        ));
        // Slow failures are not a burst.
        let slow = (0..30)
            .filter_map(|i| a.auth_failure("x", t0 + Duration::from_secs(i * 10)))
            .count();
        assert_eq!(slow, 0);
    }

    #[test]
    fn a_rate_spike_against_the_clients_usual_is_flagged() {
        let a = Anomalies::default();
        let t0 = Instant::now();
        let mut now = t0;
        // Three quiet windows: 20 requests each.
        for w in 0..3u64 {
            for i in 0..20u64 {
                now = t0 + Duration::from_secs(w * 10) + Duration::from_millis(i * 10);
                assert_eq!(a.request("c", now), None);
            }
        }
        // Then 1,000 requests in one window.
        let start = t0 + Duration::from_secs(30);
        let flags: Vec<_> = (0..1000u64)
            .filter_map(|i| a.request("c", start + Duration::from_millis(i)))
            .collect();
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert!(matches!(
            flags[0],
            Finding::RequestRateSpike { usual: 20, .. }
        ));
        assert!(now < start);
    }

    #[test]
    fn an_upload_far_outside_the_clients_pattern_is_flagged() {
        let a = Anomalies::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(a.upload("c", 200_000, now), None);
        }
        assert_eq!(a.upload("c", 300_000, now), None);
        let f = a.upload("c", 8_000_000, now);
        assert!(
            matches!(
                f,
                Some(Finding::UnusualUpload {
                    bytes: 8_000_000,
                    ..
                })
            ),
            "{f:?}"
        );
        assert_eq!(a.flagged.load(Ordering::Relaxed), 1);
    }
}
