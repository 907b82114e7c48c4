//! MaintenanceHub and InventoryHub: maintenance scheduling from equipment
//! usage, and procurement suggestions from stock levels — plain arithmetic
//! over the ledger (the plans and stock in the state, the stations' usage
//! and consumption records in the blocks), each result saying what it is
//! based on.
//!
//! A maintenance plan (`SetMaintenancePlan`) gives an interval in cycles or
//! minutes run; the share used since the last service comes from the
//! state, the rate from the last [`WINDOW_DAYS`] days of station records.
//! `smart maintenance schedule` opens a service job for each equipment that
//! is due or will be within [`AHEAD_DAYS`] days at that rate.

use serde::Serialize;
use smart_contracts::State;
use smart_contracts::refusal::format_date;
use smart_contracts::state::JobStatus;
use smart_ledger::Timestamp;

use crate::services::advisor::Finding;
use crate::services::history::History;

/// Days of station records a rate is measured over.
pub const WINDOW_DAYS: u64 = 28;
/// Service jobs are opened this many days before the interval runs out.
pub const AHEAD_DAYS: f64 = 7.0;
/// Days of use an order should cover beyond the reorder point.
pub const COVER_DAYS: f64 = 30.0;
/// Lead time: stock that lasts less than this many days is reordered.
pub const LEAD_DAYS: f64 = 14.0;

const DAY_MS: u64 = 86_400_000;

/// Where one planned equipment stands.
#[derive(Clone, Debug, Serialize)]
pub struct MaintenanceStatus {
    /// Equipment id.
    pub equipment: String,
    /// The service contract.
    pub contract: String,
    /// Share of the interval used since the last service, per mille.
    pub used_permille: u64,
    /// Per mille of the interval used per day, over the window.
    pub permille_per_day: f64,
    /// Days until the interval runs out at that rate (`None`: no use recorded).
    pub days_left: Option<f64>,
    /// The open service job, if one is scheduled.
    pub open_job: Option<String>,
    /// The last service (or when the plan was set) and its job.
    pub since: Timestamp,
    /// The service job that reset the count, if any.
    pub last_job: Option<String>,
    /// Station usage records in the window.
    pub records: usize,
}

impl MaintenanceStatus {
    /// Due now or within [`AHEAD_DAYS`] at the current rate.
    pub fn due(&self) -> bool {
        self.used_permille >= 1000 || self.days_left.is_some_and(|d| d <= AHEAD_DAYS)
    }

    /// For people.
    pub fn describe(&self) -> String {
        let when = if self.used_permille >= 1000 {
            "due now".to_string()
        } else {
            match self.days_left {
                Some(d) => format!("due in about {d:.1} days at the current rate"),
                None => "no use recorded in the window".to_string(),
            }
        };
        format!(
            "{}: {:.1} % of its interval used since {} ({}); {when}; {}; based on {} usage records in the last {WINDOW_DAYS} days",
            self.equipment,
            self.used_permille as f64 / 10.0,
            format_date(self.since),
            self.last_job
                .as_deref()
                .map_or("plan set".to_string(), |j| format!("service {j}")),
            self.open_job.as_deref().map_or(
                format!("no service job open ({})", self.contract),
                |j| format!("service job {j} open")
            ),
            self.records
        )
    }
}

/// Every planned equipment's standing at `now`.
pub fn maintenance(state: &State, ledger: &History, now: Timestamp) -> Vec<MaintenanceStatus> {
    let window_start = now.0.saturating_sub(WINDOW_DAYS * DAY_MS);
    state
        .maintenance
        .iter()
        .map(|(equipment, plan)| {
            let usage = state
                .floor
                .usage
                .get(equipment)
                .cloned()
                .unwrap_or_default();
            let used = plan.used_permille(&usage);
            let start = window_start.max(plan.serviced.at.0);
            let recent: Vec<_> = ledger
                .usage
                .iter()
                .filter(|(t, e, _, _)| e == equipment && t.0 > start && t.0 <= now.0)
                .collect();
            let cycles: u64 = recent.iter().map(|r| u64::from(r.2)).sum();
            let minutes: u64 = recent.iter().map(|r| u64::from(r.3)).sum();
            let share = |run: u64, every: u32| {
                if every == 0 {
                    0
                } else {
                    run * 1000 / u64::from(every)
                }
            };
            let in_window =
                share(cycles, plan.every_cycles).max(share(minutes, plan.every_minutes));
            let days = ((now.0.saturating_sub(start)) as f64 / DAY_MS as f64).max(1.0);
            let rate = in_window as f64 / days;
            let days_left = (rate > 0.0).then(|| (1000u64.saturating_sub(used)) as f64 / rate);
            let open_job = state
                .jobs
                .iter()
                .find(|(_, j)| {
                    j.status == JobStatus::Open
                        && j.contract == plan.contract
                        && j.parts.iter().any(|p| p == equipment)
                })
                .map(|(id, _)| id.clone());
            MaintenanceStatus {
                equipment: equipment.clone(),
                contract: plan.contract.clone(),
                used_permille: used,
                permille_per_day: rate,
                days_left,
                open_job,
                since: plan.serviced.at,
                last_job: plan.serviced.job.clone(),
                records: recent.len(),
            }
        })
        .collect()
}

/// HubQuery's answer to "what maintenance is due".
pub fn describe_maintenance(list: &[MaintenanceStatus]) -> String {
    if list.is_empty() {
        return "no equipment has a maintenance plan (Admin or Compliance set one with SetMaintenancePlan)".into();
    }
    let due = list.iter().filter(|m| m.due()).count();
    format!(
        "{due} of {} planned equipment due (now or within {AHEAD_DAYS} days):\n{}",
        list.len(),
        list.iter()
            .map(|m| format!("{} {}", if m.due() { "DUE" } else { "ok " }, m.describe()))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// A procurement suggestion for one consumable.
#[derive(Clone, Debug, Serialize)]
pub struct Reorder {
    /// Item.
    pub item: String,
    /// Units on hand.
    pub on_hand: i64,
    /// Its reorder point.
    pub reorder_at: i64,
    /// Units used in the window.
    pub used: u64,
    /// Units used per day over the window.
    pub per_day: f64,
    /// Days the stock lasts at that rate.
    pub days_cover: Option<f64>,
    /// Units to order.
    pub order: u64,
    /// Consumption records in the window.
    pub records: usize,
}

impl Reorder {
    /// For people.
    pub fn describe(&self) -> String {
        format!(
            "order {} of {}: {} on hand (reorder point {}){}; based on {} consumption records ({} used) in the last {WINDOW_DAYS} days",
            self.order,
            self.item,
            self.on_hand,
            self.reorder_at,
            self.days_cover
                .map_or(String::new(), |d| format!(", lasts about {d:.1} days")),
            self.records,
            self.used
        )
    }
}

/// InventoryHub: what to order at `now` — every item below its reorder
/// point, or lasting less than [`LEAD_DAYS`] at its recent rate.
pub fn procurement(state: &State, ledger: &History, now: Timestamp) -> Vec<Reorder> {
    let start = now.0.saturating_sub(WINDOW_DAYS * DAY_MS);
    let first = ledger
        .consumed
        .iter()
        .map(|(t, _, _)| t.0)
        .find(|t| *t > start)
        .unwrap_or(now.0);
    let days = ((now.0.saturating_sub(first)) as f64 / DAY_MS as f64).max(1.0);
    state
        .floor
        .stock
        .iter()
        .filter_map(|(item, stock)| {
            let recent: Vec<u32> = ledger
                .consumed
                .iter()
                .filter(|(t, i, _)| i == item && t.0 > start && t.0 <= now.0)
                .map(|r| r.2)
                .collect();
            let used: u64 = recent.iter().map(|q| u64::from(*q)).sum();
            let per_day = used as f64 / days;
            let days_cover = (per_day > 0.0).then(|| stock.on_hand.max(0) as f64 / per_day);
            let short = stock.needs_reorder() || days_cover.is_some_and(|d| d < LEAD_DAYS);
            if !short {
                return None;
            }
            let target = stock.reorder_at as f64 + (per_day * COVER_DAYS).ceil();
            let target = target.max(2.0 * stock.reorder_at as f64);
            let order = (target - stock.on_hand as f64).max(1.0) as u64;
            Some(Reorder {
                item: item.clone(),
                on_hand: stock.on_hand,
                reorder_at: stock.reorder_at,
                used,
                per_day,
                days_cover,
                order,
                records: recent.len(),
            })
        })
        .collect()
}

/// HubQuery's answer to "what should we order".
pub fn describe_procurement(state: &State, list: &[Reorder]) -> String {
    if list.is_empty() {
        return format!(
            "nothing to order: {} items stocked, none below its reorder point or lasting under {LEAD_DAYS} days",
            state.floor.stock.len()
        );
    }
    format!(
        "{} items to order (to cover {COVER_DAYS} days beyond the reorder point):\n{}",
        list.len(),
        list.iter()
            .map(Reorder::describe)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// InventoryHub's and MaintenanceHub's findings for SMART-AI Central to
/// record as suggestions (a person places the order or opens the job).
pub fn findings(state: &State, ledger: &History, now: Timestamp) -> Vec<Finding> {
    let mut out: Vec<Finding> = procurement(state, ledger, now)
        .into_iter()
        .map(|r| Finding {
            // One suggestion per item and stock level.
            id: crate::services::advisor::subject_id(&format!(
                "reorder {} at {}",
                r.item, r.on_hand
            )),
            finding: format!("InventoryHub: order {} of {}", r.order, r.item),
            based_on: r.describe(),
        })
        .collect();
    out.extend(
        maintenance(state, ledger, now)
            .into_iter()
            .filter(|m| m.due() && m.open_job.is_none())
            .map(|m| Finding {
                id: crate::services::advisor::subject_id(&format!(
                    "service {} since {}",
                    m.equipment, m.since.0
                )),
                finding: format!(
                    "MaintenanceHub: schedule a {} service of {}",
                    m.contract, m.equipment
                ),
                based_on: m.describe(),
            }),
    );
    out
}
