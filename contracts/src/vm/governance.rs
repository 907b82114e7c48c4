//! Governance: contract versions proposed and approved under the approver
//! policy, the policy itself, and the hub set (membership).

use std::collections::BTreeMap;

use smart_ledger::{Hash, Role};

use super::actor::Actor;
use super::tx::Fired;
use crate::model::Effect;
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::{ContractVersion, GovernancePolicy, Identity, State, VersionStatus};

/// Records a proposed contract version (an approver role or Admin): it
/// must parse, check, and be above the latest version of its id.
pub(super) fn propose_contract(
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

/// One approver role's approval; once every role of the policy approved,
/// the version is active for new jobs and supersedes the previous one.
pub(super) fn approve_contract(
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

/// Replaces the approver policy (Admin); it names at least one role.
pub(super) fn set_governance(
    state: &mut State,
    actor: &Actor<'_>,
    approvers: Vec<Role>,
) -> Result<(), Refusal> {
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

/// Adds or removes a hub (Admin only). The consensus layer makes Raft's
/// voters follow `state.hubs`; finality is judged by the hub set at each height.
pub(super) fn change_hubs(
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
