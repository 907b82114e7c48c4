//! Equipment and MaintenanceHub: registering equipment, calibrations,
//! lockouts, maintenance plans, and the service jobs that reset usage.

use smart_ledger::{Role, Timestamp};

use super::actor::{Actor, check_id, equipment_mut, require_token};
use super::tx::Fired;
use crate::model::{Effect, Template};
use crate::refusal::{Refusal, RefusalCode as Code, format_date};
use crate::state::{Equipment, Interlock, MaintenancePlan, Serviced, State, TokenKind};

/// Registers equipment (Admin or Compliance).
pub(super) fn register_equipment(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    description: String,
    calibration_due: Timestamp,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::Compliance], "register equipment")?;
    check_id(&id, "equipment id")?;
    if state.equipment.contains_key(&id) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("equipment {id} is already registered"),
        ));
    }
    state.equipment.insert(
        id,
        Equipment {
            description,
            calibration_due,
            locked_out: None,
        },
    );
    Ok(())
}

/// Records a calibration: Admin or Compliance, or a Technician holding
/// `Certified:calibration`; the new due date must be after `at` (the tx's
/// ledger time).
pub(super) fn calibrate(
    state: &mut State,
    actor: &Actor<'_>,
    id: &str,
    calibration_due: Timestamp,
    at: Timestamp,
) -> Result<(), Refusal> {
    if !actor.has_any(&[Role::Admin, Role::Compliance]) {
        actor.require_any(&[Role::Technician], "record a calibration")?;
        require_token(state, actor, TokenKind::Certified, "calibration")?;
    }
    let e = equipment_mut(state, id)?;
    if calibration_due <= at {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!(
                "new calibration due date {} is not in the future",
                format_date(calibration_due)
            ),
        ));
    }
    e.calibration_due = calibration_due;
    Ok(())
}

/// Locks equipment out (and its interlock), with an alert.
pub(super) fn lock_out(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    reason: String,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(
        &[Role::Technician, Role::Qa, Role::Compliance, Role::Admin],
        "lock equipment out",
    )?;
    equipment_mut(state, &id)?.locked_out = Some(reason.clone());
    state.interlocks.insert(id.clone(), Interlock::Locked);
    fired.push(Fired {
        job: None,
        cause: format!("lockout by {}", actor.name),
        effect: Effect::Alert(format!("{id} locked out: {reason}")),
    });
    Ok(())
}

/// Clears a lockout (Admin or Compliance); the interlock stays as it is.
pub(super) fn clear_lock_out(
    state: &mut State,
    actor: &Actor<'_>,
    id: &str,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::Compliance], "clear a lockout")?;
    equipment_mut(state, id)?.locked_out = None;
    Ok(())
}

/// MaintenanceHub's plan for one piece of equipment; usage counts from now.
pub(super) fn set_maintenance_plan(
    state: &mut State,
    actor: &Actor<'_>,
    equipment: String,
    contract: String,
    every_cycles: u32,
    every_minutes: u32,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::Compliance], "plan maintenance")?;
    equipment_mut(state, &equipment)?;
    let template = state
        .active_version(&contract)
        .map(|(_, cv)| cv.contract.template)
        .ok_or_else(|| {
            Refusal::new(
                Code::ContractNotActive,
                format!("contract {contract} has no active version"),
            )
        })?;
    if template != Template::SmartMaintenance {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("{contract} is a {template:?} contract, not SmartMaintenance"),
        ));
    }
    if every_cycles == 0 && every_minutes == 0 {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "a maintenance plan needs an interval in cycles or minutes",
        ));
    }
    let usage = state
        .floor
        .usage
        .get(&equipment)
        .cloned()
        .unwrap_or_default();
    let serviced = match state.maintenance.get(&equipment) {
        Some(p) => p.serviced.clone(),
        None => Serviced {
            at: state.time,
            cycles: usage.cycles,
            minutes: usage.minutes,
            job: None,
        },
    };
    state.maintenance.insert(
        equipment,
        MaintenancePlan {
            contract,
            every_cycles,
            every_minutes,
            serviced,
        },
    );
    Ok(())
}

/// A completed service job resets the usage count of each planned
/// equipment among its parts.
pub(super) fn record_service(state: &mut State, job_id: &str, fired: &mut Vec<Fired>) {
    let Some(job) = state.jobs.get(job_id) else {
        return;
    };
    let (contract, parts) = (job.contract.clone(), job.parts.clone());
    let time = state.time;
    for part in parts {
        let usage = state.floor.usage.get(&part).cloned().unwrap_or_default();
        if let Some(plan) = state.maintenance.get_mut(&part)
            && plan.contract == contract
        {
            plan.serviced = Serviced {
                at: time,
                cycles: usage.cycles,
                minutes: usage.minutes,
                job: Some(job_id.to_string()),
            };
            fired.push(Fired {
                job: Some(job_id.to_string()),
                cause: "MaintenanceHub".into(),
                effect: Effect::Alert(format!(
                    "{part} serviced by {job_id}: usage counts from {} cycles, {} minutes",
                    usage.cycles, usage.minutes
                )),
            });
        }
    }
}
