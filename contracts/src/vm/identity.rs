//! Identities and tokens: registering people, client accounts and peers,
//! their roles, deactivation and key rotation; issuing and revoking tokens
//! (and revoking those a change of roles no longer justifies).

use std::collections::BTreeSet;

use smart_ledger::{Role, SmartId, Timestamp};

use super::actor::{Actor, check_id, role_list};
use crate::education;
use crate::refusal::{Refusal, RefusalCode as Code, format_date};
use crate::state::{Identity, State, Token, TokenKind};
use crate::validate::parse_token_requirement;

/// How many active identities hold Admin.
fn active_admins(state: &State) -> usize {
    state
        .identities
        .values()
        .filter(|i| i.active && i.roles.contains(&Role::Admin))
        .count()
}

/// Registers an identity (Admin): a new valid ed25519 key and a unique
/// name of 1 to 64 characters.
pub(super) fn register_identity(
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

/// Replaces an identity's roles (Admin; the last Admin keeps Admin) and
/// revokes the tokens the new roles no longer justify.
pub(super) fn set_roles(
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
    let mut live: Vec<String> = state
        .tokens_of(holder)
        .filter(|(_, t)| t.revoked.is_none() && t.expires > time && !keep(t.kind))
        .map(|(id, _)| id.to_string())
        .collect();
    // In token id order, as revocations have always been made.
    live.sort_unstable();
    for id in live {
        state.change_token(&id, |t| t.revoked = Some((time, why())));
    }
}

/// The active identity `id`, to change.
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

/// Deactivates an identity (Admin; never the last Admin) and revokes its
/// live tokens.
pub(super) fn deactivate(state: &mut State, actor: &Actor<'_>, id: SmartId) -> Result<(), Refusal> {
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

/// Moves the author's identity, tokens, jobs, transcript and projects to
/// `new_id`; the old key is deactivated and points at the new one.
pub(super) fn rotate_key(
    state: &mut State,
    actor: &Actor<'_>,
    new_id: SmartId,
) -> Result<(), Refusal> {
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
    let held: Vec<String> = state
        .tokens_of(&actor.id)
        .map(|(id, _)| id.to_string())
        .collect();
    for id in held {
        state.change_token(&id, |t| t.holder = new_id);
    }
    state
        .jobs
        .change_where(|_, job| job.client == actor.id, |job| job.client = new_id);
    if let Some(t) = state.education.remove(&actor.id) {
        state.education.insert(new_id, t);
    }
    state
        .projects
        .change_where(|_, p| p.client == actor.id, |p| p.client = new_id);
    Ok(())
}

/// Issues a token (Admin or Compliance) to an active identity; ids of the
/// certification framework's prefix are its own.
pub(super) fn issue_token(
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
    state.add_token(
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

/// Revokes a token (Admin or Compliance) at ledger time, with the reason.
pub(super) fn revoke_token(
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
