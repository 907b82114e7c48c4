//! The VM: a pure, deterministic function from (state, tx) to (outcome,
//! effects, new state). The same code runs on hubs, nodes and the gateway.
//!
//! Rules: no clock (ledger time comes with the tx), no randomness, no
//! floats, no I/O, only ordered maps. A refused tx changes nothing, with one
//! documented exception: a measurement refused as out of limits is counted
//! against the job's first-pass yield (the refusal is itself evidence).
//!
//! # Layout
//! - `tx`: what the VM takes in ([`TxInput`]) and gives back ([`Applied`], [`Fired`]).
//! - `actor`: the author of a tx and the checks the families share.
//! - `identity`: identities, roles, deactivation, key rotation, tokens.
//! - `credentials`: API credentials and the gateway's relay of client requests.
//! - `education`: CertifiedPeople transcripts and the framework's tokens.
//! - `maintenance`: equipment, calibration, lockouts, maintenance plans.
//! - `records`: documents and advisors' suggestions on file.
//! - `governance`: contract proposals and approvals, the approver policy, the hub set.
//! - `projects`: a client's milestones over its jobs.
//! - `jobs`: opening jobs and completing their steps.
//! - `effects`: job events and the effects their triggers fire.
//! - `station`: station peers' decisions and the floor state.

mod actor;
mod credentials;
mod education;
mod effects;
mod governance;
mod identity;
mod jobs;
mod maintenance;
mod projects;
mod records;
mod station;
mod tx;

use smart_ledger::{Outcome, SignedTx, Timestamp, TxKind};

use crate::action::Action;
use crate::model::Event;
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::State;
use actor::Actor;

pub use identity::justified_by;
pub use jobs::relied_on;
pub use tx::{Applied, Fired, TxInput};

/// Kinds recorded as evidence without rules of their own.
fn is_evidence(kind: TxKind) -> bool {
    matches!(
        kind,
        TxKind::Alert | TxKind::Refusal | TxKind::AccessLogBatch | TxKind::DevFiller
    )
}

/// Applies one tx to `state`.
pub fn apply(state: &mut State, tx: &TxInput<'_>) -> Applied {
    let mut effects = advance_time(state, tx.time);
    let outcome = match judge(state, tx, &mut effects) {
        Ok(()) => Outcome::Accepted,
        Err(r) => r.outcome(),
    };
    Applied { outcome, effects }
}

/// Applies a block's txs in order at the block's ledger time; returns one
/// outcome per tx and every effect.
pub fn apply_block(
    state: &mut State,
    txs: &[SignedTx],
    time: Timestamp,
) -> (Vec<Outcome>, Vec<Fired>) {
    let mut outcomes = Vec::with_capacity(txs.len());
    let mut effects = Vec::new();
    for tx in txs {
        let applied = apply(state, &TxInput::of(tx, time));
        outcomes.push(applied.outcome);
        effects.extend(applied.effects);
    }
    (outcomes, effects)
}

/// Moves ledger time forward (never back) and closes every delivery window
/// that ended by then.
pub fn advance_time(state: &mut State, time: Timestamp) -> Vec<Fired> {
    if time > state.time {
        state.time = time;
    }
    let mut fired = Vec::new();
    while let Some((deadline, job_id)) = state.deadlines.first().cloned() {
        if deadline > state.time {
            break;
        }
        state.deadlines.pop_first();
        effects::fire_event(state, &job_id, Event::DeliveryWindowClosed, &mut fired);
    }
    fired
}

/// Judges one tx: its author must be active; station records, evidence
/// and hub changes have their own paths, every other payload is an action
/// of the tx's kind.
fn judge(state: &mut State, tx: &TxInput<'_>, fired: &mut Vec<Fired>) -> Result<(), Refusal> {
    let author = tx.author;
    let Some(identity) = state.active(&author) else {
        return Err(Refusal::new(
            Code::UnknownActor,
            format!("{} is not a registered, active identity", author.short()),
        ));
    };
    let roles = identity.roles.clone();
    if tx.kind == TxKind::Station {
        return station::record_station(state, tx, fired);
    }
    if is_evidence(tx.kind) {
        return Ok(());
    }
    if tx.kind == TxKind::Membership {
        let actor = Actor {
            id: author,
            roles: &roles,
            name: state.name_of(&author),
        };
        return governance::change_hubs(state, &actor, tx.payload, fired);
    }
    let action =
        Action::decode(tx.payload).map_err(|e| Refusal::new(Code::Malformed, e.to_string()))?;
    if action.kind() != tx.kind {
        return Err(Refusal::new(
            Code::Malformed,
            format!(
                "a {:?} action cannot travel in a {:?} tx",
                action.kind(),
                tx.kind
            ),
        ));
    }
    let actor = Actor {
        id: author,
        roles: &roles,
        name: state.name_of(&author),
    };
    perform(state, &actor, action, tx, fired)
}

/// Judges and applies one action by `actor`: each family's rules live in
/// its own module; a client request a gateway relays is judged again as
/// the client's own action.
fn perform(
    state: &mut State,
    actor: &Actor<'_>,
    action: Action,
    tx: &TxInput<'_>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    match action {
        Action::IssueApiCredential {
            id,
            client,
            secret_hash,
        } => credentials::issue(state, actor, id, client, secret_hash, tx.time),
        Action::RevokeApiCredential { id } => credentials::revoke(state, actor, &id, tx.time),
        Action::ClientRequest {
            credential,
            request,
        } => {
            let (client, roles) = credentials::relayed_client(state, actor, &credential)?;
            let as_client = Actor {
                id: client,
                roles: &roles,
                name: state.name_of(&client),
            };
            perform(state, &as_client, request.into_action(), tx, fired)
        }
        Action::RegisterIdentity {
            id,
            name,
            roles,
            organisation,
        } => identity::register_identity(state, actor, id, name, roles, organisation),
        Action::SetRoles { id, roles } => identity::set_roles(state, actor, id, roles),
        Action::Deactivate { id } => identity::deactivate(state, actor, id),
        Action::RotateKey { new_id } => identity::rotate_key(state, actor, new_id),
        Action::IssueToken {
            token,
            holder,
            kind,
            scope,
            expires,
        } => identity::issue_token(state, actor, token, holder, kind, scope, expires),
        Action::RevokeToken { token, reason } => {
            identity::revoke_token(state, actor, token, reason)
        }
        Action::RecordEducation { person, record } => {
            education::record_education(state, actor, person, record, fired)
        }
        Action::RegisterEquipment {
            id,
            description,
            calibration_due,
        } => maintenance::register_equipment(state, actor, id, description, calibration_due),
        Action::SetMaintenancePlan {
            equipment,
            contract,
            every_cycles,
            every_minutes,
        } => maintenance::set_maintenance_plan(
            state,
            actor,
            equipment,
            contract,
            every_cycles,
            every_minutes,
        ),
        Action::Calibrate {
            id,
            calibration_due,
        } => maintenance::calibrate(state, actor, &id, calibration_due, tx.time),
        Action::LockOut { id, reason } => maintenance::lock_out(state, actor, id, reason, fired),
        Action::ClearLockOut { id } => maintenance::clear_lock_out(state, actor, &id),
        Action::FileDocument {
            hash,
            doc_type,
            job,
            title,
        } => records::file_document(state, actor, hash, doc_type, job, title),
        Action::Suggest {
            id,
            finding,
            based_on,
        } => records::suggest(state, actor, id, finding, based_on, tx.time),
        Action::ProposeContract { yaml } => {
            governance::propose_contract(state, actor, yaml, tx.tx_hash)
        }
        Action::ApproveContract { id, version, role } => {
            governance::approve_contract(state, actor, &id, version, role, fired)
        }
        Action::SetGovernance { approvers } => governance::set_governance(state, actor, approvers),
        Action::SetProject {
            id,
            client,
            title,
            milestones,
        } => projects::set_project(state, actor, id, client, title, milestones),
        Action::OpenJob {
            job,
            contract,
            client,
            parts,
        } => jobs::open_job(
            state, actor, job, contract, client, parts, tx.tx_hash, fired,
        ),
        Action::CompleteStep {
            job,
            step,
            station,
            measurements,
        } => jobs::complete_step(state, actor, &job, &step, station, measurements, fired),
    }
}
