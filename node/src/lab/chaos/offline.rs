//! What a station decides while cut off from every hub (the partition-node
//! scenario): equipment registered, locked out and cleared, at a steady pace.

use anyhow::Result;
use smart_contracts::action::Action;
use smart_ledger::{Bytes, Hash, Keypair, SignedTx};
use std::time::Duration;

/// Time between two actions at a cut-off station.
pub(super) const OFFLINE_PACE: Duration = Duration::from_millis(250);

/// A signed equipment action by `admin`.
pub(super) fn equipment_tx(
    chain: Hash,
    admin: &Keypair,
    nonce: u64,
    action: Action,
) -> Result<Bytes> {
    let body = smart_ledger::TxBody {
        chain_id: chain,
        author: admin.id(),
        kind: action.kind(),
        payload: Bytes(action.encode()),
        author_time: smart_ledger::Timestamp(nonce),
        location: None,
        contract: None,
        nonce,
    };
    Ok(Bytes(SignedTx::sign(body, admin)?.encode()))
}

/// The actions a cut-off station decides for `offline_for` (one every
/// [`OFFLINE_PACE`]), each with whether the VM must accept it: furnace soak
/// readings, an oven registered, locked out and cleared, and a lockout of an
/// oven nobody registered (refused at the station as it would be at a hub).
pub(super) fn offline_actions(
    station: &str,
    chain: Hash,
    admin: &Keypair,
    offline_for: Duration,
) -> Result<Vec<(Bytes, bool)>> {
    let rounds = (offline_for.as_millis() / (OFFLINE_PACE.as_millis() * 5)).max(1) as u64;
    let mut out = Vec::new();
    for k in 0..rounds {
        let nonce = 1_000_000_000 + k * 5;
        let oven = format!("{station}-oven-{k}");
        out.push((
            crate::lab::bench::soak_reading_tx(chain, admin, nonce)?,
            true,
        ));
        let register = Action::RegisterEquipment {
            id: oven.clone(),
            description: "oven commissioned while the hubs were unreachable".into(),
            calibration_due: smart_ledger::Timestamp(4_000_000_000_000),
        };
        out.push((equipment_tx(chain, admin, nonce + 1, register)?, true));
        let lock = Action::LockOut {
            id: oven.clone(),
            reason: "thermocouple check".into(),
        };
        out.push((equipment_tx(chain, admin, nonce + 2, lock)?, true));
        out.push((
            equipment_tx(chain, admin, nonce + 3, Action::ClearLockOut { id: oven })?,
            true,
        ));
        let unknown = Action::LockOut {
            id: format!("{station}-no-such-oven-{k}"),
            reason: "typo".into(),
        };
        out.push((equipment_tx(chain, admin, nonce + 4, unknown)?, false));
    }
    Ok(out)
}
