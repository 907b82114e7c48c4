//! Station decisions: a station peer records its specialists' verdicts for
//! itself; an allowed decision's fact (stock, equipment use, lockouts,
//! parts scanned, released, received, shipped) changes the floor state.

use smart_ledger::Timestamp;

use super::actor::{check_id, equipment_mut};
use super::tx::{Fired, TxInput};
use crate::model::{DocumentType, Effect};
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::State;
use crate::station::{Fact, RECENT_REFUSALS, StationRecord, Verdict, named_equipment};

/// A station specialist's decision: signed by a station peer for itself;
/// the fact of an allowed decision is applied (and checked again here: a
/// scanned serial must be one of the job's parts, a shipment needs the
/// release and a certificate of conformance on file).
pub(super) fn record_station(
    state: &mut State,
    tx: &TxInput<'_>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let (name, record) = station_record(state, tx)?;
    let module = record.module;
    let cause = format!("{} at {name}", module.name());
    if let Some(fact) = &record.fact {
        if record.verdict == Verdict::Refused {
            return Err(Refusal::new(
                Code::InvalidArgument,
                "a refused decision establishes no fact",
            ));
        }
        for e in named_equipment(fact) {
            if !state.equipment.contains_key(e) {
                return Err(Refusal::new(
                    Code::UnknownEquipment,
                    format!("no equipment {e} is registered"),
                ));
            }
        }
        apply_fact(state, &record, fact, &name, &cause, tx.time, fired)?;
    }
    *state
        .floor
        .decisions
        .entry((name.clone(), module, record.verdict))
        .or_insert(0) += 1;
    if record.verdict == Verdict::Refused {
        let refusals = &mut state.floor.recent_refusals;
        refusals.push((name, module, format!("{}: {}", record.what, record.reason)));
        if refusals.len() > RECENT_REFUSALS {
            refusals.remove(0);
        }
    }
    Ok(())
}

/// The station's name and its decoded record: the author must be a station
/// peer recording for itself, and a named job must exist.
fn station_record(state: &State, tx: &TxInput<'_>) -> Result<(String, StationRecord), Refusal> {
    let Some(name) = state.floor.stations.get(&tx.author).cloned() else {
        return Err(Refusal::new(
            Code::NotStation,
            format!(
                "{} is not a station peer; only stations record station decisions",
                state.name_of(&tx.author)
            ),
        ));
    };
    let record = StationRecord::decode(tx.payload)
        .map_err(|e| Refusal::new(Code::Malformed, e.to_string()))?;
    if record.station != name {
        return Err(Refusal::new(
            Code::NotStation,
            format!(
                "{name} cannot record a decision for station {}",
                record.station
            ),
        ));
    }
    if let Some(job) = record.job.as_ref().filter(|j| !state.jobs.contains_key(*j)) {
        return Err(Refusal::new(Code::UnknownJob, format!("no job {job}")));
    }
    Ok((name, record))
}

/// Applies an allowed decision's fact, made at station `name` at ledger
/// time `at`; `cause` names the specialist and station in alerts.
fn apply_fact(
    state: &mut State,
    record: &StationRecord,
    fact: &Fact,
    name: &str,
    cause: &str,
    at: Timestamp,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let need_job = || {
        record
            .job
            .clone()
            .ok_or_else(|| Refusal::new(Code::InvalidArgument, "this fact needs a job"))
    };
    match fact {
        Fact::Consumed { item, quantity } => {
            consume(state, record.job.as_deref(), item, *quantity, cause, fired)?;
        }
        Fact::Stocked {
            item,
            on_hand,
            reorder_at,
        } => {
            check_id(item, "item")?;
            let stock = state.floor.stock.entry(item.clone()).or_default();
            stock.on_hand = i64::from(*on_hand);
            stock.reorder_at = i64::from(*reorder_at);
        }
        Fact::EquipmentUsed {
            equipment,
            cycles,
            minutes,
        } => {
            let usage = state.floor.usage.entry(equipment.clone()).or_default();
            usage.cycles = usage.cycles.saturating_add(u64::from(*cycles));
            usage.minutes = usage.minutes.saturating_add(u64::from(*minutes));
        }
        Fact::LockOut { equipment } => {
            for e in equipment {
                let reason = format!("{cause}: {}", record.what);
                // The lockout holds the relay open until cleared; the
                // contract's own interlock setting is kept for after.
                equipment_mut(state, e)?.locked_out = Some(reason.clone());
                fired.push(Fired {
                    job: None,
                    cause: cause.to_string(),
                    effect: Effect::Alert(format!("{e} locked out: {reason}")),
                });
            }
        }
        Fact::PartScanned { serial } => scan_part(state, need_job()?, serial, name)?,
        Fact::Released => {
            let job = need_job()?;
            state.floor.parts.entry(job).or_default().released = Some((name.to_string(), at));
        }
        Fact::Received { parts } => {
            let job = need_job()?;
            let p = state.floor.parts.entry(job).or_default();
            p.received = p.received.saturating_add(*parts);
        }
        Fact::Shipped => ship(state, need_job()?, name, at)?,
    }
    Ok(())
}

/// Takes `quantity` of `item` from stock (counted against `job`, if any);
/// alerts when the stock falls below its reorder point.
fn consume(
    state: &mut State,
    job: Option<&str>,
    item: &str,
    quantity: u32,
    cause: &str,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    check_id(item, "item")?;
    let stock = state.floor.stock.entry(item.to_string()).or_default();
    stock.on_hand = stock.on_hand.saturating_sub(i64::from(quantity));
    if let Some(job) = job {
        *stock.used_by_job.entry(job.to_string()).or_insert(0) += u64::from(quantity);
    }
    if stock.needs_reorder() {
        let text = format!(
            "{item} below its reorder point: {} on hand, reorder at {}",
            stock.on_hand, stock.reorder_at
        );
        fired.push(Fired {
            job: job.map(str::to_string),
            cause: cause.to_string(),
            effect: Effect::Alert(text),
        });
    }
    Ok(())
}

/// Records `serial` scanned at station `name`; it must be one of `job`'s parts.
fn scan_part(state: &mut State, job: String, serial: &str, name: &str) -> Result<(), Refusal> {
    let known = state
        .jobs
        .get(&job)
        .is_some_and(|j| j.parts.iter().any(|p| p == serial));
    if !known {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("part {serial} is not a part of job {job}"),
        ));
    }
    state
        .floor
        .parts
        .entry(job)
        .or_default()
        .scanned
        .insert(serial.to_string(), name.to_string());
    Ok(())
}

/// Records `job`'s parts shipped from station `name` at `at`: a certificate
/// of conformance must be on file and the parts released.
fn ship(state: &mut State, job: String, name: &str, at: Timestamp) -> Result<(), Refusal> {
    if !state
        .documents_on_file
        .contains(&(Some(job.clone()), DocumentType::CertificateOfConformance))
    {
        return Err(Refusal::new(
            Code::DocumentMissing,
            format!("job {job} has no certificate of conformance on file: it cannot ship"),
        ));
    }
    let released = state
        .floor
        .parts
        .get(&job)
        .is_some_and(|p| p.released.is_some());
    if !released {
        return Err(Refusal::new(
            Code::PrerequisiteIncomplete,
            format!(
                "job {job}'s parts were not released by a station's Guardian: they cannot ship"
            ),
        ));
    }
    state.floor.parts.entry(job).or_default().shipped = Some((name.to_string(), at));
    Ok(())
}
