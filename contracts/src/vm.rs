//! The VM: a pure, deterministic function from (state, tx) to (outcome,
//! effects, new state). The same code runs on hubs, nodes and the gateway.
//!
//! Rules: no clock (ledger time comes with the tx), no randomness, no
//! floats, no I/O, only ordered maps. A refused tx changes nothing, with one
//! documented exception: a measurement refused as out of limits is counted
//! against the job's first-pass yield (the refusal is itself evidence).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use smart_ledger::{Hash, Outcome, Role, SignedTx, SmartId, Timestamp, TxKind};

use crate::action::Action;
use crate::education::{self, EducationRecord};
use crate::model::{Effect, Event, Step};
use crate::refusal::{Refusal, RefusalCode as Code, format_date, format_time};
use crate::state::{
    ApiCredential, ContractVersion, Document, Equipment, GovernancePolicy, Identity, Interlock,
    InvoiceRecord, Job, JobStatus, MaintenancePlan, Milestone, PaymentKind, PaymentRecord, Project,
    Serviced, State, StepRecord, Suggestion, Token, TokenKind, VersionStatus,
};
use crate::validate::{is_valid_id, parse_token_requirement};

/// What the VM needs of a tx.
#[derive(Clone, Copy, Debug)]
pub struct TxInput<'a> {
    /// The author (signature already checked).
    pub author: SmartId,
    /// The tx kind.
    pub kind: TxKind,
    /// The payload.
    pub payload: &'a [u8],
    /// Ledger time of the block that orders it (never the author's clock).
    pub time: Timestamp,
    /// The tx's hash (records point back at the tx that made them).
    pub tx_hash: Hash,
}

impl<'a> TxInput<'a> {
    /// The VM's view of a signed tx at a ledger time.
    pub fn of(tx: &'a SignedTx, time: Timestamp) -> TxInput<'a> {
        TxInput {
            author: tx.author(),
            kind: tx.body().kind,
            payload: &tx.body().payload.0,
            time,
            tx_hash: tx.hash(),
        }
    }
}

/// An effect that fired, with its cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// The job, when the effect belongs to one.
    pub job: Option<String>,
    /// What caused it: `step pre-check`, `event qa_signoff`, `contract`.
    pub cause: String,
    /// The effect.
    pub effect: Effect,
}

/// The result of applying one tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Accepted or refused.
    pub outcome: Outcome,
    /// Effects that fired (also when time passing closed a delivery window).
    pub effects: Vec<Fired>,
}

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
        fire_event(state, &job_id, Event::DeliveryWindowClosed, &mut fired);
    }
    fired
}

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
        return record_station(state, tx, fired);
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
        return change_hubs(state, &actor, tx.payload, fired);
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

/// Judges and applies one action by `actor`.
fn perform(
    state: &mut State,
    actor: &Actor<'_>,
    action: Action,
    tx: &TxInput<'_>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let actor = actor.clone();
    match action {
        Action::IssueApiCredential {
            id,
            client,
            secret_hash,
        } => {
            actor.require_any(
                &[Role::Admin, Role::ProjectManager],
                "issue an API credential",
            )?;
            check_id(&id, "credential id")?;
            if state.credentials.contains_key(&id) {
                return Err(Refusal::new(
                    Code::AlreadyExists,
                    format!("credential {id} already exists"),
                ));
            }
            require_active_client(state, &client)?;
            state.credentials.insert(
                id,
                ApiCredential {
                    client,
                    secret_hash,
                    issued_at: tx.time,
                    revoked_at: None,
                },
            );
            Ok(())
        }
        Action::RevokeApiCredential { id } => {
            let Some(c) = state.credentials.get_mut(&id) else {
                return Err(Refusal::new(
                    Code::BadCredential,
                    format!("no credential {id}"),
                ));
            };
            if c.client != actor.id {
                actor.require_any(
                    &[Role::Admin, Role::ProjectManager],
                    "revoke another account's API credential",
                )?;
            }
            if c.revoked_at.is_some() {
                return Err(Refusal::new(
                    Code::BadCredential,
                    format!("credential {id} is already revoked"),
                ));
            }
            c.revoked_at = Some(tx.time);
            Ok(())
        }
        Action::ClientRequest {
            credential,
            request,
        } => {
            if !state.gateways.contains(&actor.id) {
                return Err(Refusal::new(
                    Code::NotGateway,
                    format!(
                        "{} is not a gateway peer; only the gateway relays client requests",
                        actor.name
                    ),
                ));
            }
            let client = match state.credentials.get(&credential) {
                Some(c) if c.revoked_at.is_none() => c.client,
                Some(_) => {
                    return Err(Refusal::new(
                        Code::BadCredential,
                        format!("credential {credential} is revoked"),
                    ));
                }
                None => {
                    return Err(Refusal::new(
                        Code::BadCredential,
                        format!("no credential {credential}"),
                    ));
                }
            };
            let roles = match state.active(&client) {
                Some(i) => i.roles.clone(),
                None => {
                    return Err(Refusal::new(
                        Code::BadCredential,
                        format!(
                            "credential {credential}: its client {} is not active",
                            client.short()
                        ),
                    ));
                }
            };
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
        } => register_identity(state, &actor, id, name, roles, organisation),
        Action::SetRoles { id, roles } => set_roles(state, &actor, id, roles),
        Action::Deactivate { id } => deactivate(state, &actor, id),
        Action::RotateKey { new_id } => rotate_key(state, &actor, new_id),
        Action::IssueToken {
            token,
            holder,
            kind,
            scope,
            expires,
        } => issue_token(state, &actor, token, holder, kind, scope, expires),
        Action::RevokeToken { token, reason } => revoke_token(state, &actor, token, reason),
        Action::RecordEducation { person, record } => {
            record_education(state, &actor, person, record, fired)
        }
        Action::RegisterEquipment {
            id,
            description,
            calibration_due,
        } => {
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
        Action::SetMaintenancePlan {
            equipment,
            contract,
            every_cycles,
            every_minutes,
        } => set_maintenance_plan(
            state,
            &actor,
            equipment,
            contract,
            every_cycles,
            every_minutes,
        ),
        Action::Calibrate {
            id,
            calibration_due,
        } => {
            if !actor.has_any(&[Role::Admin, Role::Compliance]) {
                actor.require_any(&[Role::Technician], "record a calibration")?;
                require_token(state, &actor, TokenKind::Certified, "calibration")?;
            }
            let e = equipment_mut(state, &id)?;
            if calibration_due <= tx.time {
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
        Action::LockOut { id, reason } => {
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
        Action::ClearLockOut { id } => {
            actor.require_any(&[Role::Admin, Role::Compliance], "clear a lockout")?;
            equipment_mut(state, &id)?.locked_out = None;
            Ok(())
        }
        Action::FileDocument {
            hash,
            doc_type,
            job,
            title,
        } => file_document(state, &actor, hash, doc_type, job, title),
        Action::ProposeContract { yaml } => propose_contract(state, &actor, yaml, tx.tx_hash),
        Action::ApproveContract { id, version, role } => {
            approve_contract(state, &actor, &id, version, role, fired)
        }
        Action::SetGovernance { approvers } => {
            actor.require_any(&[Role::Admin], "change the governance policy")?;
            if approvers.is_empty() {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    "a governance policy needs at least one approver role",
                ));
            }
            state.governance = GovernancePolicy {
                approvers: approvers.into_iter().collect(),
            };
            Ok(())
        }
        Action::Suggest {
            id,
            finding,
            based_on,
        } => {
            actor.require_any(&[Role::Advisor], "record a suggestion")?;
            check_id(&id, "suggestion id")?;
            if state.suggestions.contains_key(&id) {
                return Err(Refusal::new(
                    Code::AlreadyExists,
                    format!("suggestion {id} is already recorded"),
                ));
            }
            if finding.trim().is_empty() || based_on.trim().is_empty() {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    "a suggestion says what was found and what it is based on",
                ));
            }
            state.suggestions.insert(
                id,
                Suggestion {
                    by: actor.id,
                    finding,
                    based_on,
                    at: tx.time,
                },
            );
            Ok(())
        }
        Action::SetProject {
            id,
            client,
            title,
            milestones,
        } => set_project(state, &actor, id, client, title, milestones),
        Action::OpenJob {
            job,
            contract,
            client,
            parts,
        } => open_job(
            state, &actor, job, contract, client, parts, tx.tx_hash, fired,
        ),
        Action::CompleteStep {
            job,
            step,
            station,
            measurements,
        } => complete_step(state, &actor, &job, &step, station, measurements, fired),
    }
}

/// Adds or removes a hub (Admin only). The consensus layer makes Raft's
/// voters follow `state.hubs`; finality is judged by the hub set at each height.
fn change_hubs(
    state: &mut State,
    actor: &Actor<'_>,
    payload: &[u8],
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin], "change the hub set")?;
    let change = smart_ledger::membership::HubChange::decode(payload)
        .map_err(|e| Refusal::new(Code::Malformed, e.to_string()))?;
    match &change {
        smart_ledger::membership::HubChange::Add { hub, addr } => {
            if state.hubs.contains_key(hub) {
                return Err(Refusal::new(
                    Code::AlreadyExists,
                    format!("{} is already a hub", hub.short()),
                ));
            }
            if hub.verifying_key().is_err() {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("{} is not a valid ed25519 key", hub.short()),
                ));
            }
            if state.identities.get(hub).is_some_and(|i| !i.active) {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("{} was deactivated", hub.short()),
                ));
            }
            state
                .identities
                .entry(*hub)
                .or_insert_with(|| Identity::new(format!("hub-{}", hub.short()), []));
            state.hubs.insert(*hub, addr.clone());
        }
        smart_ledger::membership::HubChange::Remove { hub } => {
            if !state.hubs.contains_key(hub) {
                return Err(Refusal::new(
                    Code::UnknownIdentity,
                    format!("{} is not a hub", hub.short()),
                ));
            }
            if state.hubs.len() <= 1 {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    "the last hub cannot be removed",
                ));
            }
            state.hubs.remove(hub);
        }
    }
    fired.push(Fired {
        job: None,
        cause: format!("membership by {}", actor.name),
        effect: Effect::Alert(format!("hub set is now {} hubs", state.hubs.len())),
    });
    Ok(())
}

/// The author of the tx being judged.
#[derive(Clone)]
struct Actor<'a> {
    id: SmartId,
    roles: &'a BTreeSet<Role>,
    name: String,
}

impl Actor<'_> {
    fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }

    fn require_any(&self, roles: &[Role], what: &str) -> Result<(), Refusal> {
        if self.has_any(roles) {
            return Ok(());
        }
        Err(Refusal::new(
            Code::RoleRequired,
            format!(
                "to {what} needs one of the roles {}; {} holds {}",
                role_list(roles.iter()),
                self.name,
                role_list(self.roles.iter())
            ),
        ))
    }
}

fn role_list<'a>(roles: impl Iterator<Item = &'a Role>) -> String {
    let names: Vec<String> = roles.map(|r| format!("{r:?}")).collect();
    if names.is_empty() {
        "no roles".into()
    } else {
        names.join(", ")
    }
}

fn check_id(id: &str, what: &str) -> Result<(), Refusal> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(Refusal::new(
            Code::InvalidArgument,
            format!("{id:?} is not a valid {what} (lowercase letters, digits, '-')"),
        ))
    }
}

fn equipment_mut<'s>(state: &'s mut State, id: &str) -> Result<&'s mut Equipment, Refusal> {
    state.equipment.get_mut(id).ok_or_else(|| {
        Refusal::new(
            Code::UnknownEquipment,
            format!("no equipment {id} is registered"),
        )
    })
}

/// A valid token of `kind:scope` held by the actor at the current ledger time.
fn require_token(
    state: &State,
    actor: &Actor<'_>,
    kind: TokenKind,
    scope: &str,
) -> Result<(), Refusal> {
    let label = format!("{}:{scope}", kind.name());
    let mut expired: Option<Timestamp> = None;
    let mut revoked: Option<(Timestamp, String)> = None;
    for token_id in state.holder_tokens.get(&actor.id).into_iter().flatten() {
        let Some(t) = state.tokens.get(token_id) else {
            continue;
        };
        if t.kind != kind || t.scope != scope {
            continue;
        }
        match &t.revoked {
            Some(r) => revoked = Some(r.clone()),
            None if t.expires <= state.time => {
                expired = Some(expired.map_or(t.expires, |e| e.max(t.expires)))
            }
            None => return Ok(()),
        }
    }
    if let Some(at) = expired {
        return Err(Refusal::new(
            Code::TokenExpired,
            format!(
                "token {label} of {} expired {}",
                actor.name,
                format_date(at)
            ),
        ));
    }
    if let Some((at, why)) = revoked {
        return Err(Refusal::new(
            Code::TokenRevoked,
            format!(
                "token {label} of {} was revoked {} ({why})",
                actor.name,
                format_date(at)
            ),
        ));
    }
    Err(Refusal::new(
        Code::TokenMissing,
        format!("{} holds no {label} token", actor.name),
    ))
}

fn active_admins(state: &State) -> usize {
    state
        .identities
        .values()
        .filter(|i| i.active && i.roles.contains(&Role::Admin))
        .count()
}

fn register_identity(
    state: &mut State,
    actor: &Actor<'_>,
    id: SmartId,
    name: String,
    roles: Vec<Role>,
    organisation: Option<String>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin], "register an identity")?;
    if state.identities.contains_key(&id) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("{} is already registered", id.short()),
        ));
    }
    if name.trim().is_empty() || name.len() > 64 {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "a name must have 1 to 64 characters",
        ));
    }
    if state.identities.values().any(|i| i.name == name) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("the name {name:?} is taken"),
        ));
    }
    if id.verifying_key().is_err() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("{} is not a valid ed25519 key", id.short()),
        ));
    }
    state.identities.insert(
        id,
        Identity {
            organisation,
            ..Identity::new(name, roles)
        },
    );
    Ok(())
}

fn set_roles(
    state: &mut State,
    actor: &Actor<'_>,
    id: SmartId,
    roles: Vec<Role>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin], "change roles")?;
    let roles: BTreeSet<Role> = roles.into_iter().collect();
    let admins = active_admins(state);
    let target = active_identity_mut(state, &id)?;
    if target.roles.contains(&Role::Admin) && !roles.contains(&Role::Admin) && admins == 1 {
        return Err(Refusal::new(
            Code::LastAdmin,
            format!("{} is the last Admin", target.name),
        ));
    }
    let name = target.name.clone();
    target.roles = roles.clone();
    revoke_unjustified(
        state,
        &id,
        |kind| justified_by(kind, &roles),
        || {
            format!(
                "PeopleOps: {name}'s roles changed to {}",
                role_list(roles.iter())
            )
        },
    );
    Ok(())
}

/// Whether holding `roles` justifies a token of `kind`: Certified, Training
/// and Safety tokens are for the people who perform steps (Technician, QA);
/// Access, Audit and Utility tokens go with any role.
pub fn justified_by(kind: TokenKind, roles: &BTreeSet<Role>) -> bool {
    match kind {
        TokenKind::Certified | TokenKind::Training | TokenKind::Safety => {
            roles.contains(&Role::Technician) || roles.contains(&Role::Qa)
        }
        TokenKind::Access | TokenKind::Audit | TokenKind::Utility => !roles.is_empty(),
    }
}

/// Revokes, at the current ledger time, every live token of `holder` whose
/// kind `keep` rejects, with the reason `why` gives.
fn revoke_unjustified(
    state: &mut State,
    holder: &SmartId,
    keep: impl Fn(TokenKind) -> bool,
    why: impl Fn() -> String,
) {
    let time = state.time;
    let Some(ids) = state.holder_tokens.get(holder) else {
        return;
    };
    for id in ids {
        if let Some(t) = state.tokens.get_mut(id)
            && t.revoked.is_none()
            && t.expires > time
            && !keep(t.kind)
        {
            t.revoked = Some((time, why()));
        }
    }
}

fn active_identity_mut<'s>(
    state: &'s mut State,
    id: &SmartId,
) -> Result<&'s mut Identity, Refusal> {
    state
        .identities
        .get_mut(id)
        .filter(|i| i.active)
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownIdentity,
                format!("no active identity {}", id.short()),
            )
        })
}

fn deactivate(state: &mut State, actor: &Actor<'_>, id: SmartId) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin], "deactivate an identity")?;
    let admins = active_admins(state);
    let target = active_identity_mut(state, &id)?;
    if target.roles.contains(&Role::Admin) && admins == 1 {
        return Err(Refusal::new(
            Code::LastAdmin,
            format!("{} is the last Admin", target.name),
        ));
    }
    target.active = false;
    let name = target.name.clone();
    revoke_unjustified(
        state,
        &id,
        |_| false,
        || format!("PeopleOps: {name} was deactivated"),
    );
    Ok(())
}

fn rotate_key(state: &mut State, actor: &Actor<'_>, new_id: SmartId) -> Result<(), Refusal> {
    if state.identities.contains_key(&new_id) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("{} is already registered", new_id.short()),
        ));
    }
    if new_id.verifying_key().is_err() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("{} is not a valid ed25519 key", new_id.short()),
        ));
    }
    let Some(old) = state.identities.get_mut(&actor.id) else {
        return Err(Refusal::new(
            Code::UnknownIdentity,
            "the author is not registered",
        ));
    };
    let mut moved = old.clone();
    old.active = false;
    old.rotated_to = Some(new_id);
    old.name = format!("{} (rotated)", old.name);
    moved.rotated_to = None;
    state.identities.insert(new_id, moved);
    if let Some(tokens) = state.holder_tokens.remove(&actor.id) {
        for t in &tokens {
            if let Some(token) = state.tokens.get_mut(t) {
                token.holder = new_id;
            }
        }
        state.holder_tokens.insert(new_id, tokens);
    }
    for job in state.jobs.values_mut() {
        if job.client == actor.id {
            job.client = new_id;
        }
    }
    if let Some(t) = state.education.remove(&actor.id) {
        state.education.insert(new_id, t);
    }
    for p in state.projects.values_mut() {
        if p.client == actor.id {
            p.client = new_id;
        }
    }
    Ok(())
}

fn issue_token(
    state: &mut State,
    actor: &Actor<'_>,
    token: String,
    holder: SmartId,
    kind: TokenKind,
    scope: String,
    expires: Timestamp,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::Compliance], "issue a token")?;
    check_id(&token, "token id")?;
    if education::is_framework_token(&token) {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!(
                "token ids starting with {:?} are issued by the certification framework",
                education::TOKEN_PREFIX
            ),
        ));
    }
    if state.tokens.contains_key(&token) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("token {token} already exists"),
        ));
    }
    if state.active(&holder).is_none() {
        return Err(Refusal::new(
            Code::UnknownIdentity,
            format!("no active identity {}", holder.short()),
        ));
    }
    if parse_token_requirement(&format!("{}:{scope}", kind.name())).is_none() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("{scope:?} is not a valid token scope"),
        ));
    }
    if expires <= state.time {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!(
                "expiry {} is not after the ledger time {}",
                format_date(expires),
                format_date(state.time)
            ),
        ));
    }
    let issued = state.time;
    insert_token(
        state,
        token,
        Token {
            holder,
            kind,
            scope,
            issued,
            expires,
            revoked: None,
        },
    );
    Ok(())
}

/// Adds a token and its holder's index entry.
fn insert_token(state: &mut State, id: String, token: Token) {
    state
        .holder_tokens
        .entry(token.holder)
        .or_default()
        .insert(id.clone());
    state.tokens.insert(id, token);
}

fn revoke_token(
    state: &mut State,
    actor: &Actor<'_>,
    token: String,
    reason: String,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::Compliance], "revoke a token")?;
    let time = state.time;
    let t = state
        .tokens
        .get_mut(&token)
        .ok_or_else(|| Refusal::new(Code::UnknownToken, format!("no token {token}")))?;
    if t.revoked.is_some() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            format!("token {token} is already revoked"),
        ));
    }
    t.revoked = Some((time, reason));
    Ok(())
}

/// CertifiedPeople / Education: records a transcript entry, then lets the
/// framework issue, renew or revoke the person's tokens at once.
fn record_education(
    state: &mut State,
    actor: &Actor<'_>,
    person: SmartId,
    record: EducationRecord,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(
        &[Role::Admin, Role::Compliance, Role::Qa],
        "record training, experience, examinations or vision tests",
    )?;
    if actor.id == person {
        return Err(Refusal::new(
            Code::ConflictOfInterest,
            format!(
                "{} may not record their own training, experience, examinations or vision tests",
                actor.name
            ),
        ));
    }
    let holder = state.active(&person).ok_or_else(|| {
        Refusal::new(
            Code::UnknownIdentity,
            format!("no active identity {}", person.short()),
        )
    })?;
    let (name, roles) = (holder.name.clone(), holder.roles.clone());
    let now = state.time;
    let in_range = |v: u32, max: u32, what: &str| {
        if (1..=max).contains(&v) {
            Ok(())
        } else {
            Err(Refusal::new(
                Code::InvalidArgument,
                format!("{what} must be 1 to {max}, not {v}"),
            ))
        }
    };
    let mut course_token = None;
    match &record {
        EducationRecord::Training {
            course,
            hours,
            grants,
            valid_days,
            ..
        } => {
            check_id(course, "course id")?;
            in_range(*hours, 1_000, "course hours")?;
            if let Some(kind) = grants {
                if !matches!(kind, TokenKind::Training | TokenKind::Safety) {
                    return Err(Refusal::new(
                        Code::InvalidArgument,
                        format!("a course grants a Training or Safety token, not {kind:?}"),
                    ));
                }
                in_range(*valid_days, 3_650, "days a course token is valid")?;
                if !justified_by(*kind, &roles) {
                    return Err(Refusal::new(
                        Code::RoleRequired,
                        format!(
                            "{kind:?} tokens go to Technicians and QA; {name} holds {}",
                            role_list(roles.iter())
                        ),
                    ));
                }
                let until = Timestamp(now.0.saturating_add(u64::from(*valid_days) * 86_400_000));
                course_token = Some((*kind, course.clone(), until));
            }
        }
        EducationRecord::Experience { hours, .. } => in_range(*hours, 2_000, "experience hours")?,
        EducationRecord::Exam {
            method,
            level,
            score,
            ..
        } => {
            if education::requirement(*method, *level).is_none() {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("the framework certifies levels 1 and 2, not {level}"),
                ));
            }
            if *score > 100 {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    format!("a score is a percentage, not {score}"),
                ));
            }
        }
        EducationRecord::EyeTest { .. } => {}
    }
    let t = state.education.entry(person).or_default();
    match record {
        EducationRecord::Training {
            course,
            hours,
            method,
            ..
        } => {
            if let Some(m) = method {
                let h = t.training_hours.entry(m).or_default();
                *h = h.saturating_add(hours);
            }
            t.courses.insert(course, (hours, now));
        }
        EducationRecord::Experience { method, hours } => {
            let h = t.experience_hours.entry(method).or_default();
            *h = h.saturating_add(hours);
        }
        EducationRecord::Exam {
            method,
            level,
            part,
            score,
        } => {
            t.exams.insert((method, level, part), (score, now));
        }
        EducationRecord::EyeTest { near_vision, color } => {
            t.eye_test = Some(education::EyeTest {
                at: now,
                near_vision,
                color,
            });
        }
    }
    if let Some((kind, course, until)) = course_token {
        grant(state, person, kind, &course, until, fired);
    }
    certify(state, person, &roles, fired);
    Ok(())
}

/// Assesses every certification `person` has started: issues or renews the
/// `Certified` token of each that qualifies, and revokes the framework's
/// token of each that no longer does (e.g. a failed vision test).
fn certify(state: &mut State, person: SmartId, roles: &BTreeSet<Role>, fired: &mut Vec<Fired>) {
    if !justified_by(TokenKind::Certified, roles) {
        return;
    }
    let Some(t) = state.education.get(&person) else {
        return;
    };
    let now = state.time;
    let verdicts: Vec<(String, Result<Timestamp, Vec<String>>)> = education::started(t)
        .into_iter()
        .map(|(m, l)| {
            let verdict = match education::assess(t, m, l, now) {
                Ok(until) if until <= now => {
                    Err(vec!["the certification period has ended".to_string()])
                }
                v => v,
            };
            (education::scope(m, l), verdict)
        })
        .collect();
    for (scope, verdict) in verdicts {
        match verdict {
            Ok(until) => grant(state, person, TokenKind::Certified, &scope, until, fired),
            Err(missing) => {
                if let Some(id) = framework_token(state, &person, TokenKind::Certified, &scope)
                    && let Some(tok) = state.tokens.get_mut(&id)
                    && tok.revoked.is_none()
                    && tok.expires > now
                {
                    let why = format!(
                        "{} no longer qualified: {}",
                        education::FRAMEWORK_REVOCATION,
                        missing.join("; ")
                    );
                    tok.revoked = Some((now, why.clone()));
                    fired.push(Fired {
                        job: None,
                        cause: "CertifiedPeople".into(),
                        effect: Effect::Alert(format!("{scope} token {id} revoked: {why}")),
                    });
                }
            }
        }
    }
}

/// The token the framework issued to `holder` for `kind:scope`, if any.
fn framework_token(
    state: &State,
    holder: &SmartId,
    kind: TokenKind,
    scope: &str,
) -> Option<String> {
    state
        .holder_tokens
        .get(holder)?
        .iter()
        .find(|id| {
            education::is_framework_token(id)
                && state
                    .tokens
                    .get(*id)
                    .is_some_and(|t| t.kind == kind && t.scope == scope)
        })
        .cloned()
}

/// Issues the framework's `kind:scope` token to `holder` until `until`, or
/// renews the one it issued before. A token a person revoked stays revoked
/// (Admin or Compliance issue a new one).
fn grant(
    state: &mut State,
    holder: SmartId,
    kind: TokenKind,
    scope: &str,
    until: Timestamp,
    fired: &mut Vec<Fired>,
) {
    let now = state.time;
    let name = state.name_of(&holder);
    let label = format!("{}:{scope}", kind.name());
    let existing = framework_token(state, &holder, kind, scope);
    let id = existing
        .clone()
        .unwrap_or_else(|| education::token_id(scope, &holder));
    match existing.and_then(|id| state.tokens.get_mut(&id)) {
        Some(t)
            if t.revoked
                .as_ref()
                .is_some_and(|(_, why)| !why.starts_with(education::FRAMEWORK_REVOCATION)) => {}
        Some(t) if t.revoked.is_none() && t.expires == until => {}
        Some(t) => {
            t.revoked = None;
            t.issued = now;
            t.expires = until;
            fired.push(Fired {
                job: None,
                cause: "CertifiedPeople".into(),
                effect: Effect::Alert(format!(
                    "{label} of {name} renewed until {} (token {id})",
                    format_date(until)
                )),
            });
        }
        None => {
            insert_token(
                state,
                id.clone(),
                Token {
                    holder,
                    kind,
                    scope: scope.to_string(),
                    issued: now,
                    expires: until,
                    revoked: None,
                },
            );
            fired.push(Fired {
                job: None,
                cause: "CertifiedPeople".into(),
                effect: Effect::Alert(format!(
                    "{label} issued to {name} until {} (token {id})",
                    format_date(until)
                )),
            });
        }
    }
}

fn file_document(
    state: &mut State,
    actor: &Actor<'_>,
    hash: Hash,
    doc_type: crate::model::DocumentType,
    job: Option<String>,
    title: String,
) -> Result<(), Refusal> {
    if state.documents.contains_key(&hash) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("document {} is already on file", hash.short()),
        ));
    }
    let staff = actor.has_any(&[
        Role::Admin,
        Role::Technician,
        Role::Qa,
        Role::ProjectManager,
        Role::Compliance,
    ]);
    match &job {
        Some(j) => {
            let job_rec = state
                .jobs
                .get(j)
                .ok_or_else(|| Refusal::new(Code::UnknownJob, format!("no job {j}")))?;
            if !staff && job_rec.client != actor.id {
                return Err(Refusal::new(
                    Code::NotClientOfJob,
                    format!("{} is not the client of job {j}", actor.name),
                ));
            }
        }
        None if !staff => {
            return Err(Refusal::new(
                Code::RoleRequired,
                "only shop staff may file shop-wide documents",
            ));
        }
        None => {}
    }
    state.documents_on_file.insert((job.clone(), doc_type));
    state.documents.insert(
        hash,
        Document {
            doc_type,
            job,
            title,
            filed_by: actor.id,
            filed_at: state.time,
        },
    );
    Ok(())
}

fn propose_contract(
    state: &mut State,
    actor: &Actor<'_>,
    yaml: String,
    tx_hash: Hash,
) -> Result<(), Refusal> {
    let approvers: Vec<Role> = state
        .governance
        .approvers
        .iter()
        .copied()
        .chain([Role::Admin])
        .collect();
    actor.require_any(&approvers, "propose a contract version")?;
    let contract = crate::parse::parse_contract("proposal", &yaml)
        .map_err(|e| Refusal::new(Code::ContractInvalid, e.to_string()))?;
    let versions = state.contracts.entry(contract.id.clone()).or_default();
    if let Some((&latest, _)) = versions.last_key_value()
        && contract.version <= latest
    {
        return Err(Refusal::new(
            Code::ContractVersionConflict,
            format!(
                "{} version {} is not above the latest version {latest}",
                contract.id, contract.version
            ),
        ));
    }
    let version = contract.version;
    let yaml_hash = Hash::of(yaml.as_bytes());
    versions.insert(
        version,
        ContractVersion {
            yaml,
            yaml_hash,
            contract,
            status: VersionStatus::Proposed,
            proposed_by: actor.id,
            proposed_in: tx_hash,
            approvals: BTreeMap::new(),
        },
    );
    Ok(())
}

fn approve_contract(
    state: &mut State,
    actor: &Actor<'_>,
    id: &str,
    version: u32,
    role: Role,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    if !state.governance.approvers.contains(&role) {
        return Err(Refusal::new(
            Code::ApprovalNotAllowed,
            format!("the governance policy does not name {role:?} as an approver"),
        ));
    }
    if !actor.roles.contains(&role) {
        return Err(Refusal::new(
            Code::ApprovalNotAllowed,
            format!("{} does not hold the role {role:?}", actor.name),
        ));
    }
    let policy = state.governance.approvers.clone();
    let versions = state
        .contracts
        .get_mut(id)
        .ok_or_else(|| Refusal::new(Code::ContractNotProposed, format!("no contract {id}")))?;
    let v = versions.get_mut(&version).ok_or_else(|| {
        Refusal::new(
            Code::ContractNotProposed,
            format!("no version {version} of {id}"),
        )
    })?;
    if v.status != VersionStatus::Proposed {
        return Err(Refusal::new(
            Code::ContractNotProposed,
            format!(
                "{id} version {version} is {:?}, not waiting for approvals",
                v.status
            ),
        ));
    }
    if let Some(by) = v.approvals.get(&role) {
        return Err(Refusal::new(
            Code::DuplicateApproval,
            format!(
                "{role:?} already approved {id} version {version} (by {})",
                by.short()
            ),
        ));
    }
    v.approvals.insert(role, actor.id);
    if policy.iter().all(|r| v.approvals.contains_key(r)) {
        v.status = VersionStatus::Active;
        for (n, other) in versions.iter_mut() {
            if *n != version && other.status == VersionStatus::Active {
                other.status = VersionStatus::Superseded;
            }
        }
        fired.push(Fired {
            job: None,
            cause: "contract governance".into(),
            effect: Effect::Alert(format!("{id} version {version} is active for new jobs")),
        });
    }
    Ok(())
}

/// Refuses unless `client` is an active identity with the Client role.
fn require_active_client(state: &State, client: &SmartId) -> Result<(), Refusal> {
    match state.active(client) {
        Some(i) if i.roles.contains(&Role::Client) => Ok(()),
        _ => Err(Refusal::new(
            Code::UnknownIdentity,
            format!("{} is not an active client account", client.short()),
        )),
    }
}

/// Most milestones in a project, and jobs in a milestone.
const MAX_MILESTONES: usize = 64;
const MAX_MILESTONE_JOBS: usize = 256;

/// Projects: a client's plan of milestones over its own jobs.
fn set_project(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    client: SmartId,
    title: String,
    milestones: Vec<Milestone>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::ProjectManager], "plan a project")?;
    check_id(&id, "project id")?;
    require_active_client(state, &client)?;
    let bad = |why: String| Err(Refusal::new(Code::InvalidArgument, why));
    if title.trim().is_empty() || title.len() > 200 {
        return bad("a project title has 1 to 200 characters".into());
    }
    if milestones.is_empty() || milestones.len() > MAX_MILESTONES {
        return bad(format!("a project has 1 to {MAX_MILESTONES} milestones"));
    }
    for (i, m) in milestones.iter().enumerate() {
        check_id(&m.id, "milestone id")?;
        if milestones[..i].iter().any(|o| o.id == m.id) {
            return bad(format!("milestone {} appears twice", m.id));
        }
        if m.jobs.is_empty() || m.jobs.len() > MAX_MILESTONE_JOBS {
            return bad(format!(
                "milestone {} needs 1 to {MAX_MILESTONE_JOBS} jobs",
                m.id
            ));
        }
        for j in &m.jobs {
            match state.jobs.get(j) {
                None => {
                    return Err(Refusal::new(
                        Code::UnknownJob,
                        format!("milestone {} names no job {j}", m.id),
                    ));
                }
                Some(job) if job.client != client => {
                    return Err(Refusal::new(
                        Code::NotClientOfJob,
                        format!("job {j} is not {}'s", state.name_of(&client)),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    state.projects.insert(
        id,
        Project {
            client,
            title,
            milestones,
            set_by: actor.id,
            set_at: state.time,
        },
    );
    Ok(())
}

/// MaintenanceHub's plan for one piece of equipment; usage counts from now.
fn set_maintenance_plan(
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
    if template != crate::model::Template::SmartMaintenance {
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
fn record_service(state: &mut State, job_id: &str, fired: &mut Vec<Fired>) {
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

// The fields of `Action::OpenJob`, plus where it came from.
#[allow(clippy::too_many_arguments)]
fn open_job(
    state: &mut State,
    actor: &Actor<'_>,
    job: String,
    contract: String,
    client: SmartId,
    parts: Vec<String>,
    tx_hash: Hash,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::ProjectManager], "open a job")?;
    check_id(&job, "job id")?;
    if state.jobs.contains_key(&job) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            format!("job {job} already exists"),
        ));
    }
    let (version, cv) = state.active_version(&contract).ok_or_else(|| {
        Refusal::new(
            Code::ContractNotActive,
            format!("contract {contract} has no active version"),
        )
    })?;
    let window = cv
        .contract
        .delivery
        .as_ref()
        .map(|d| u64::from(d.window_hours) * 3_600_000);
    // A service job is the shop's own: its "client" is the person who owns
    // it (any active identity); every other job is for a client account.
    if cv.contract.template == crate::model::Template::SmartMaintenance {
        if state.active(&client).is_none() {
            return Err(Refusal::new(
                Code::UnknownIdentity,
                format!(
                    "no active identity {} owns this service job",
                    client.short()
                ),
            ));
        }
    } else {
        require_active_client(state, &client)?;
    }
    let deadline = window.map(|w| Timestamp(state.time.0.saturating_add(w)));
    if let Some(d) = deadline {
        state.deadlines.insert((d, job.clone()));
    }
    state.jobs.insert(
        job.clone(),
        Job {
            contract,
            version,
            client,
            parts,
            assigned_at: state.time,
            deadline,
            steps: BTreeMap::new(),
            nonconformances: 0,
            status: JobStatus::Open,
            completed_at: None,
            events: BTreeSet::new(),
            opened_in: tx_hash,
        },
    );
    fire_event(state, &job, Event::JobAssigned, fired);
    Ok(())
}

/// The pinned contract step of a job, cloned out so state can change.
fn pinned_step(state: &State, job: &Job, step: &str) -> Result<Step, Refusal> {
    let cv = state
        .contracts
        .get(&job.contract)
        .and_then(|v| v.get(&job.version))
        .ok_or_else(|| {
            Refusal::new(
                Code::ContractNotActive,
                format!(
                    "contract {} version {} is missing",
                    job.contract, job.version
                ),
            )
        })?;
    cv.contract
        .steps
        .iter()
        .find(|s| s.id == step)
        .cloned()
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownStep,
                format!(
                    "{} version {} has no step {step}",
                    job.contract, job.version
                ),
            )
        })
}

fn complete_step(
    state: &mut State,
    actor: &Actor<'_>,
    job_id: &str,
    step_id: &str,
    station: Option<String>,
    measurements: BTreeMap<String, i64>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    let job = state
        .jobs
        .get(job_id)
        .ok_or_else(|| Refusal::new(Code::UnknownJob, format!("no job {job_id}")))?;
    if job.status == JobStatus::Completed {
        return Err(Refusal::new(
            Code::JobClosed,
            format!("job {job_id} is complete"),
        ));
    }
    let step = pinned_step(state, job, step_id)?;
    if job.steps.contains_key(step_id) {
        return Err(Refusal::new(
            Code::StepAlreadyComplete,
            format!("step {step_id} of job {job_id} is already complete"),
        ));
    }
    // Roles, and a client only on its own job.
    actor.require_any(&step.by, &format!("perform step {step_id}"))?;
    let staff_role = step
        .by
        .iter()
        .any(|r| *r != Role::Client && actor.roles.contains(r));
    if !staff_role && job.client != actor.id {
        return Err(Refusal::new(
            Code::NotClientOfJob,
            format!("{} is not the client of job {job_id}", actor.name),
        ));
    }
    // Step order.
    for before in &step.after {
        if !job.steps.contains_key(before) {
            return Err(Refusal::new(
                Code::PrerequisiteIncomplete,
                format!("step {step_id} needs step {before} complete first"),
            ));
        }
    }
    // Tokens at ledger time.
    for t in &step.requires.tokens {
        if let Some((kind, scope)) = parse_token_requirement(t) {
            require_token(state, actor, kind, scope)?;
        }
    }
    // Documents on file for the job or shop-wide.
    for d in &step.requires.documents {
        if !state
            .documents_on_file
            .contains(&(Some(job_id.to_string()), *d))
            && !state.documents_on_file.contains(&(None, *d))
        {
            return Err(Refusal::new(
                Code::DocumentMissing,
                format!(
                    "step {step_id} needs a {} document on file for job {job_id}",
                    doc_name(*d)
                ),
            ));
        }
    }
    // Equipment calibrated and not locked out.
    for e in &step.requires.equipment {
        let eq = state.equipment.get(e).ok_or_else(|| {
            Refusal::new(
                Code::UnknownEquipment,
                format!("step {step_id} needs equipment {e}, which is not registered"),
            )
        })?;
        if let Some(why) = &eq.locked_out {
            return Err(Refusal::new(
                Code::EquipmentLockedOut,
                format!("{e} is locked out: {why}"),
            ));
        }
        if eq.calibration_due <= state.time {
            return Err(Refusal::new(
                Code::CalibrationOverdue,
                format!(
                    "{e} calibration was due {}",
                    format_time(eq.calibration_due)
                ),
            ));
        }
    }
    // Measurements within limits.
    for limit in &step.measurements {
        let Some(&value) = measurements.get(&limit.name) else {
            return Err(Refusal::new(
                Code::MeasurementMissing,
                format!("step {step_id} needs measurement {}", limit.name),
            ));
        };
        let (low, high) = limit.bounds();
        if value < low || value > high {
            if let Some(j) = state.jobs.get_mut(job_id) {
                j.nonconformances += 1;
            }
            let unit = serde_json::to_value(limit.unit)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(Refusal::new(
                Code::MeasurementOutOfLimits,
                format!(
                    "{} = {value} {unit} is outside {} for step {step_id}",
                    limit.name,
                    range_text(low, high, &unit)
                ),
            ));
        }
    }

    // Accepted: record, then fire effects.
    let all_steps = {
        let cv = state
            .contracts
            .get(&job.contract)
            .and_then(|v| v.get(&job.version));
        cv.map(|cv| cv.contract.steps.len()).unwrap_or(0)
    };
    let time = state.time;
    let Some(job) = state.jobs.get_mut(job_id) else {
        return Err(Refusal::new(Code::UnknownJob, format!("no job {job_id}")));
    };
    job.steps.insert(
        step_id.to_string(),
        StepRecord {
            by: actor.id,
            at: time,
            station,
            measurements,
        },
    );
    let done = job.steps.len() == all_steps;
    for effect in &step.effects {
        run_effect(state, job_id, &format!("step {step_id}"), effect, fired);
    }
    if let Some(ev) = step.emits {
        fire_event(state, job_id, ev, fired);
    }
    if done {
        if let Some(job) = state.jobs.get_mut(job_id) {
            job.status = JobStatus::Completed;
            job.completed_at = Some(time);
            if let Some(d) = job.deadline {
                state.deadlines.remove(&(d, job_id.to_string()));
            }
        }
        fire_event(state, job_id, Event::JobCompleted, fired);
        record_service(state, job_id, fired);
    }
    Ok(())
}

fn range_text(low: i64, high: i64, unit: &str) -> String {
    match (low == i64::MIN, high == i64::MAX) {
        (true, false) => format!("≤ {high} {unit}"),
        (false, true) => format!("≥ {low} {unit}"),
        _ => format!("{low}..{high} {unit}"),
    }
}

fn doc_name(d: crate::model::DocumentType) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{d:?}"))
}

/// Fires a job event once: runs the triggers of the job's pinned contract.
fn fire_event(state: &mut State, job_id: &str, event: Event, fired: &mut Vec<Fired>) {
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

fn event_name(e: Event) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{e:?}"))
}

fn run_effect(
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

/// A station specialist's decision: signed by a station peer for itself;
/// the fact of an allowed decision is applied (and checked again here: a
/// scanned serial must be one of the job's parts, a shipment needs the
/// release and a certificate of conformance on file).
fn record_station(
    state: &mut State,
    tx: &TxInput<'_>,
    fired: &mut Vec<Fired>,
) -> Result<(), Refusal> {
    use crate::station::{Fact, RECENT_REFUSALS, StationRecord, Verdict};
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
    let module = record.module;
    let cause = format!("{} at {name}", module.name());
    if let Some(fact) = &record.fact {
        if record.verdict == Verdict::Refused {
            return Err(Refusal::new(
                Code::InvalidArgument,
                "a refused decision establishes no fact",
            ));
        }
        for e in crate::station::named_equipment(fact) {
            if !state.equipment.contains_key(e) {
                return Err(Refusal::new(
                    Code::UnknownEquipment,
                    format!("no equipment {e} is registered"),
                ));
            }
        }
        let need_job = || {
            record
                .job
                .clone()
                .ok_or_else(|| Refusal::new(Code::InvalidArgument, "this fact needs a job"))
        };
        match fact {
            Fact::Consumed { item, quantity } => {
                check_id(item, "item")?;
                let stock = state.floor.stock.entry(item.clone()).or_default();
                stock.on_hand = stock.on_hand.saturating_sub(i64::from(*quantity));
                if let Some(job) = &record.job {
                    *stock.used_by_job.entry(job.clone()).or_insert(0) += u64::from(*quantity);
                }
                if stock.needs_reorder() {
                    let text = format!(
                        "{item} below its reorder point: {} on hand, reorder at {}",
                        stock.on_hand, stock.reorder_at
                    );
                    fired.push(Fired {
                        job: record.job.clone(),
                        cause: cause.clone(),
                        effect: Effect::Alert(text),
                    });
                }
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
                        cause: cause.clone(),
                        effect: Effect::Alert(format!("{e} locked out: {reason}")),
                    });
                }
            }
            Fact::PartScanned { serial } => {
                let job = need_job()?;
                let known = state
                    .jobs
                    .get(&job)
                    .is_some_and(|j| j.parts.contains(serial));
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
                    .insert(serial.clone(), name.clone());
            }
            Fact::Released => {
                let job = need_job()?;
                state.floor.parts.entry(job).or_default().released = Some((name.clone(), tx.time));
            }
            Fact::Received { parts } => {
                let job = need_job()?;
                let p = state.floor.parts.entry(job).or_default();
                p.received = p.received.saturating_add(*parts);
            }
            Fact::Shipped => {
                let job = need_job()?;
                if !state.documents_on_file.contains(&(
                    Some(job.clone()),
                    crate::model::DocumentType::CertificateOfConformance,
                )) {
                    return Err(Refusal::new(
                        Code::DocumentMissing,
                        format!(
                            "job {job} has no certificate of conformance on file: it cannot ship"
                        ),
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
                state.floor.parts.entry(job).or_default().shipped = Some((name.clone(), tx.time));
            }
        }
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
