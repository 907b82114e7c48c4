//! Job events and effects: firing an event runs the triggers of the job's
//! pinned contract; each effect changes interlocks or money and is reported.

use super::tx::Fired;
use crate::model::{Effect, Event};
use crate::state::{Interlock, InvoiceRecord, JobStatus, PaymentKind, PaymentRecord, State};

/// Fires a job event once: runs the triggers of the job's pinned contract.
pub(super) fn fire_event(state: &mut State, job_id: &str, event: Event, fired: &mut Vec<Fired>) {
    let Some(job) = state.jobs.get_mut(job_id) else {
        return;
    };
    if !job.events.insert(event) {
        return;
    }
    if event == Event::DeliveryWindowClosed && job.status == JobStatus::Completed {
        return;
    }
    let effects: Vec<Effect> = state
        .contracts
        .get(&job.contract)
        .and_then(|v| v.get(&job.version))
        .map(|cv| {
            cv.contract
                .triggers
                .iter()
                .filter(|t| t.on == event)
                .flat_map(|t| t.effects.iter().cloned())
                .collect()
        })
        .unwrap_or_default();
    let cause = format!("event {}", event_name(event));
    for e in &effects {
        run_effect(state, job_id, &cause, e, fired);
    }
}

/// An event's name as contracts write it (`qa_signoff`).
fn event_name(e: Event) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Runs one effect for job `job_id` and reports it; a payout for a step not
/// complete becomes an alert, a bonus whose conditions fail is skipped.
pub(super) fn run_effect(
    state: &mut State,
    job_id: &str,
    cause: &str,
    effect: &Effect,
    fired: &mut Vec<Fired>,
) {
    let time = state.time;
    let Some(job) = state.jobs.get(job_id) else {
        return;
    };
    let mut emit = |effect: Effect| {
        fired.push(Fired {
            job: Some(job_id.to_string()),
            cause: cause.to_string(),
            effect,
        })
    };
    match effect {
        Effect::Unlock(station) => {
            state
                .interlocks
                .insert(station.clone(), Interlock::Unlocked);
            emit(effect.clone());
        }
        Effect::Lock(station) => {
            state.interlocks.insert(station.clone(), Interlock::Locked);
            emit(effect.clone());
        }
        Effect::Alert(_) | Effect::Status(_) => emit(effect.clone()),
        Effect::Invoice(i) => {
            state.invoices.push(InvoiceRecord {
                job: job_id.to_string(),
                client: job.client,
                milestone: i.milestone.clone(),
                amount_cents: i.amount_cents,
                at: time,
            });
            emit(effect.clone());
        }
        Effect::Payout(p) => match job.steps.get(&p.step) {
            Some(rec) => {
                state.payments.push(PaymentRecord {
                    job: job_id.to_string(),
                    step: p.step.clone(),
                    to: rec.by,
                    kind: PaymentKind::Payout,
                    amount_cents: p.amount_cents,
                    at: time,
                });
                emit(effect.clone());
            }
            None => emit(Effect::Alert(format!(
                "payout for step {} skipped: the step is not complete",
                p.step
            ))),
        },
        Effect::Bonus(b) => {
            let first_pass_ok = !b.first_pass || job.nonconformances == 0;
            let on_time_ok = !b.on_time || job.deadline.is_none_or(|d| time <= d);
            match job.steps.get(&b.step) {
                Some(rec) if first_pass_ok && on_time_ok => {
                    state.payments.push(PaymentRecord {
                        job: job_id.to_string(),
                        step: b.step.clone(),
                        to: rec.by,
                        kind: PaymentKind::Bonus,
                        amount_cents: b.amount_cents,
                        at: time,
                    });
                    emit(effect.clone());
                }
                _ => {}
            }
        }
    }
}
