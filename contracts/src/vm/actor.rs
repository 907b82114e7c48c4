//! The author of the tx being judged, and the checks every action family
//! shares: roles, ids, tokens at ledger time, client accounts, equipment.

use std::collections::BTreeSet;

use smart_ledger::{Role, SmartId, Timestamp};

use crate::refusal::{Refusal, RefusalCode as Code, format_date};
use crate::state::{Equipment, State, TokenKind};
use crate::validate::is_valid_id;

/// The author of the tx being judged.
#[derive(Clone)]
pub(super) struct Actor<'a> {
    /// The author's SMART-ID (or, for a relayed client request, the client's).
    pub(super) id: SmartId,
    /// The roles it holds.
    pub(super) roles: &'a BTreeSet<Role>,
    /// Its name, for refusals and effects.
    pub(super) name: String,
}

impl Actor<'_> {
    /// Holds one of `roles`?
    pub(super) fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }

    /// Refuses unless the actor holds one of `roles` (`what` names the act).
    pub(super) fn require_any(&self, roles: &[Role], what: &str) -> Result<(), Refusal> {
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

/// Roles as text: `Admin, Qa`, or `no roles`.
pub(super) fn role_list<'a>(roles: impl Iterator<Item = &'a Role>) -> String {
    let names: Vec<String> = roles.map(|r| format!("{r:?}")).collect();
    if names.is_empty() {
        "no roles".into()
    } else {
        names.join(", ")
    }
}

/// Refuses an id that is not lowercase letters, digits and `-`.
pub(super) fn check_id(id: &str, what: &str) -> Result<(), Refusal> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(Refusal::new(
            Code::InvalidArgument,
            format!("{id:?} is not a valid {what} (lowercase letters, digits, '-')"),
        ))
    }
}

/// Registered equipment `id`, to change.
pub(super) fn equipment_mut<'s>(
    state: &'s mut State,
    id: &str,
) -> Result<&'s mut Equipment, Refusal> {
    state.equipment.get_mut(id).ok_or_else(|| {
        Refusal::new(
            Code::UnknownEquipment,
            format!("no equipment {id} is registered"),
        )
    })
}

/// A valid token of `kind:scope` held by the actor at the current ledger time.
pub(super) fn require_token(
    state: &State,
    actor: &Actor<'_>,
    kind: TokenKind,
    scope: &str,
) -> Result<(), Refusal> {
    let label = format!("{}:{scope}", kind.name());
    // Latest expiry first: the first token not revoked decides between
    // live and expired; revoked ones matter only when every token is.
    let mut expired: Option<Timestamp> = None;
    let mut revoked: Option<(&str, &(Timestamp, String))> = None;
    for (id, t) in state.tokens_for(&actor.id, kind, scope) {
        match &t.revoked {
            Some(r) => {
                if revoked.is_none_or(|(last, _)| id > last) {
                    revoked = Some((id, r));
                }
            }
            None if t.expires <= state.time => {
                expired = Some(t.expires);
                break;
            }
            None => return Ok(()),
        }
    }
    let revoked = revoked.map(|(_, r)| r.clone());
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

/// Refuses unless `client` is an active identity with the Client role.
pub(super) fn require_active_client(state: &State, client: &SmartId) -> Result<(), Refusal> {
    match state.active(client) {
        Some(i) if i.roles.contains(&Role::Client) => Ok(()),
        _ => Err(Refusal::new(
            Code::UnknownIdentity,
            format!("{} is not an active client account", client.short()),
        )),
    }
}
