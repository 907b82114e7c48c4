//! SMART-Pay: across random job histories (steps attempted in any order by
//! either technician, measurements in and out of limits, time jumping past
//! delivery windows, invoices attempted again), the invoices and payments
//! the VM records equal the contract's terms exactly, to the cent, and
//! nothing is paid twice.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::refusal::timestamp_of;
use smart_contracts::state::{PaymentKind, TokenKind};
use smart_ledger::{Outcome, SmartId, Timestamp};

/// The PO example's pay terms (contracts/examples/smart-client-po.yaml).
const INVOICE: u64 = 486_000;
const HARDEN_PAYOUT: u64 = 18_000;
const TEMPER_PAYOUT: u64 = 9_000;
const HARDEN_BONUS: u64 = 5_000;
const WINDOW_MS: u64 = 240 * 3_600_000;

/// One attempted action of a history. Three in four attempts take the step
/// their job needs next, so about two thirds of the histories reach an
/// invoice (44 of 64 when measured), the rest stop anywhere before it.
#[derive(Clone, Debug)]
struct Attempt {
    job: usize,
    /// A plan step by index, or `None`: the step this job needs next.
    step: Option<usize>,
    second_tech: bool,
    out_of_limits: bool,
    hours_later: u64,
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let step = prop_oneof![3 => Just(None), 1 => (0..9usize).prop_map(Some)];
    (
        0..3usize,
        step,
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::sample::select(vec![0u64, 0, 0, 1, 6, 30]),
    )
        .prop_map(
            |(job, step, second_tech, out_of_limits, hours_later)| Attempt {
                job,
                step,
                second_tech,
                out_of_limits,
                hours_later,
            },
        )
}

/// What the contract's terms say a job's history owes.
#[derive(Default, Debug)]
struct Owed {
    invoiced: u64,
    paid: BTreeMap<SmartId, u64>,
}

fn ready_shop(jobs: usize) -> (Shop, Vec<Timestamp>) {
    let mut s = Shop::po_ready();
    let far = timestamp_of(2027, 12, 31, 0, 0);
    for (i, (kind, scope)) in [
        (TokenKind::Access, "receiving"),
        (TokenKind::Training, "furnace-operation"),
        (TokenKind::Safety, "furnace-3"),
        (TokenKind::Certified, "heat-treat-operator"),
        (TokenKind::Certified, "hardness-testing"),
    ]
    .into_iter()
    .enumerate()
    {
        s.token(&format!("t2-{i}"), "tech-2", kind, scope, far);
    }
    for j in 2..=jobs {
        let job = format!("job-{j}");
        s.ok(
            "pm",
            Action::OpenJob {
                job: job.clone(),
                contract: "po-4471-heat-treat".into(),
                client: id("acme"),
                parts: vec!["P-1".into()],
            },
        );
        s.doc("acme", 20 + j as u8, DocumentType::ClientPo, Some(&job));
        s.doc("acme", 40 + j as u8, DocumentType::MaterialCert, Some(&job));
    }
    let opened = (1..=jobs)
        .map(|j| s.state.jobs[&format!("job-{j}")].assigned_at)
        .collect();
    (s, opened)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invoices_and_payouts_equal_the_contract_terms(history in prop::collection::vec(attempt(), 1..120)) {
        let (mut s, opened) = ready_shop(3);
        let plan = po_plan();
        let mut owed = Owed::default();
        let mut harden_by: BTreeMap<usize, SmartId> = BTreeMap::new();
        let mut temper_by: BTreeMap<usize, SmartId> = BTreeMap::new();
        let mut nonconforming = [false; 3];
        let mut next = [0usize; 3];
        for a in &history {
            s.now = Timestamp(s.now.0 + a.hours_later * 3_600_000);
            let index = a.step.unwrap_or(next[a.job]).min(plan.len() - 1);
            let (who, step, mut m) = plan[index].clone();
            let who = if who == "tech" && a.second_tech { "tech-2" } else { who };
            if a.out_of_limits {
                for v in m.values_mut() {
                    *v += 1_000;
                }
            }
            let time = s.now;
            let job = format!("job-{}", a.job + 1);
            let applied = s.act(
                who,
                Action::CompleteStep { job, step: step.into(), station: None, measurements: m.clone() },
            );
            let accepted = applied.outcome == Outcome::Accepted;
            if let Outcome::Refused { code, .. } = &applied.outcome
                && *code == smart_contracts::RefusalCode::MeasurementOutOfLimits.number()
            {
                nonconforming[a.job] = true;
            }
            if !accepted {
                continue;
            }
            next[a.job] = next[a.job].max(index + 1);
            match step {
                "harden" => {
                    harden_by.insert(a.job, id(who));
                }
                "temper" => {
                    temper_by.insert(a.job, id(who));
                }
                "invoice" => {
                    owed.invoiced += INVOICE;
                    let h = harden_by[&a.job];
                    *owed.paid.entry(h).or_default() += HARDEN_PAYOUT;
                    *owed.paid.entry(temper_by[&a.job]).or_default() += TEMPER_PAYOUT;
                    let on_time = time.0 <= opened[a.job].0 + WINDOW_MS;
                    if !nonconforming[a.job] && on_time {
                        *owed.paid.entry(h).or_default() += HARDEN_BONUS;
                    }
                }
                _ => {}
            }
        }
        let invoiced: u64 = s.state.invoices.iter().map(|i| i.amount_cents).sum();
        prop_assert_eq!(invoiced, owed.invoiced);
        let mut paid: BTreeMap<SmartId, u64> = BTreeMap::new();
        for p in &s.state.payments {
            *paid.entry(p.to).or_default() += p.amount_cents;
        }
        prop_assert_eq!(&paid, &owed.paid);
        // Nothing twice: one invoice per job, one payment per (job, step, kind).
        let mut invoiced_jobs: Vec<&str> = s.state.invoices.iter().map(|i| i.job.as_str()).collect();
        invoiced_jobs.sort_unstable();
        let n = invoiced_jobs.len();
        invoiced_jobs.dedup();
        prop_assert_eq!(invoiced_jobs.len(), n);
        let mut keys: Vec<(&str, &str, bool)> = s
            .state
            .payments
            .iter()
            .map(|p| (p.job.as_str(), p.step.as_str(), p.kind == PaymentKind::Bonus))
            .collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        prop_assert_eq!(keys.len(), n);
    }
}
