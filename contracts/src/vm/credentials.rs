//! API credentials and the gateway's relay: issuing and revoking a client's
//! credential, and finding the client a relayed request speaks for.

use std::collections::BTreeSet;

use smart_ledger::{Hash, Role, SmartId, Timestamp};

use super::actor::{Actor, check_id, require_active_client};
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::{ApiCredential, State};

/// Issues an API credential for `client` at ledger time `at` (Admin or
/// ProjectManager); only the secret's hash is recorded.
pub(super) fn issue(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    client: SmartId,
    secret_hash: Hash,
    at: Timestamp,
) -> Result<(), Refusal> {
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
            issued_at: at,
            revoked_at: None,
        },
    );
    Ok(())
}

/// Revokes an API credential at ledger time `at`: its own client may, Admin
/// or ProjectManager may revoke any.
pub(super) fn revoke(
    state: &mut State,
    actor: &Actor<'_>,
    id: &str,
    at: Timestamp,
) -> Result<(), Refusal> {
    let Some(c) = state.credentials.get_mut(id) else {
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
    c.revoked_at = Some(at);
    Ok(())
}

/// The client (and its roles) a request relayed by `actor` speaks for:
/// `actor` must be a gateway peer, and `credential` live and of an active
/// client.
pub(super) fn relayed_client(
    state: &State,
    actor: &Actor<'_>,
    credential: &str,
) -> Result<(SmartId, BTreeSet<Role>), Refusal> {
    if !state.gateways.contains(&actor.id) {
        return Err(Refusal::new(
            Code::NotGateway,
            format!(
                "{} is not a gateway peer; only the gateway relays client requests",
                actor.name
            ),
        ));
    }
    let client = match state.credentials.get(credential) {
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
    match state.active(&client) {
        Some(i) => Ok((client, i.roles.clone())),
        None => Err(Refusal::new(
            Code::BadCredential,
            format!(
                "credential {credential}: its client {} is not active",
                client.short()
            ),
        )),
    }
}
