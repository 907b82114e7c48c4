//! InventoryNode, MaintenanceNode and SafetyNode: consumables and stock,
//! overdue calibrations, incidents that lock the station's equipment out.

use smart_contracts::State;
use smart_contracts::refusal::format_date;
use smart_contracts::station::{Fact, Module};
use smart_ledger::Timestamp;

use super::*;

/// InventoryNode: a consumable used for the job.
pub fn consume(state: &State, item: &str, quantity: u32) -> Decision {
    let what = format!("{quantity} × {item} used");
    let Some(stock) = state.floor.stock.get(item) else {
        return Decision::refuse(
            Module::InventoryNode,
            what,
            format!("{item} is not stocked here (count it in first)"),
        );
    };
    if quantity == 0 {
        return Decision::refuse(Module::InventoryNode, what, "quantity must be at least 1");
    }
    if i64::from(quantity) > stock.on_hand {
        return Decision::refuse(
            Module::InventoryNode,
            what,
            format!("only {} {item} on hand", stock.on_hand),
        );
    }
    let left = stock.on_hand - i64::from(quantity);
    let d = Decision::allow(Module::InventoryNode, what).with(Fact::Consumed {
        item: item.to_string(),
        quantity,
    });
    if left < stock.reorder_at {
        d.because(format!(
            "reorder: {left} left, reorder point {}",
            stock.reorder_at
        ))
    } else {
        d.because(format!("{left} left"))
    }
}

/// InventoryNode: a stock count or delivery.
pub fn stock(item: &str, on_hand: u32, reorder_at: u32) -> Decision {
    Decision::allow(
        Module::InventoryNode,
        format!("{item}: {on_hand} on hand, reorder at {reorder_at}"),
    )
    .with(Fact::Stocked {
        item: item.to_string(),
        on_hand,
        reorder_at,
    })
}

/// MaintenanceNode: equipment this station drives whose calibration is due
/// by `at` and that is not yet locked out is locked out now.
pub fn overdue(state: &State, cfg: &StationConfig, at: Timestamp) -> Option<Decision> {
    let due: Vec<String> = cfg
        .equipment
        .iter()
        .filter(|e| {
            state
                .equipment
                .get(*e)
                .is_some_and(|q| q.calibration_due <= at && q.locked_out.is_none())
        })
        .cloned()
        .collect();
    if due.is_empty() {
        return None;
    }
    let dates: Vec<String> = due
        .iter()
        .filter_map(|e| {
            state
                .equipment
                .get(e)
                .map(|q| format!("{e} due {}", format_date(q.calibration_due)))
        })
        .collect();
    Some(
        Decision::allow(
            Module::MaintenanceNode,
            format!("calibration overdue: {}", dates.join(", ")),
        )
        .because("locked out until calibrated")
        .with(Fact::LockOut { equipment: due }),
    )
}

/// SafetyNode: an e-stop or an incident locks out the station's equipment.
pub fn incident(cfg: &StationConfig, what: &str) -> Decision {
    Decision::allow(Module::SafetyNode, what.to_string())
        .because("station locked out until the incident is cleared by Admin or Compliance")
        .with(Fact::LockOut {
            equipment: cfg.equipment.clone(),
        })
}
