#![no_main]
//! Any payload as a station peer's `Station` tx: the record decoder never
//! panics (size-limited), and the VM judges whatever decodes without
//! panicking; a refusal changes nothing but the clock.
use libfuzzer_sys::fuzz_target;
use smart_contracts::{State, TxInput, apply};
use smart_ledger::{Keypair, Timestamp, TxKind};

fuzz_target!(|data: &[u8]| {
    let station = Keypair::from_seed([7; 32]).id();
    let mut state = State::default();
    state
        .identities
        .insert(station, smart_contracts::state::Identity::new("station-1", []));
    state.floor.stations.insert(station, "station-1".into());
    let _ = smart_contracts::station::StationRecord::decode(data);
    let before = state.clone();
    let applied = apply(&mut state, &TxInput { author: station, kind: TxKind::Station, payload: data, time: Timestamp(1_790_000_000_000), tx_hash: smart_ledger::Hash::ZERO });
    if applied.outcome != smart_ledger::Outcome::Accepted {
        state.time = before.time;
        assert_eq!(state, before);
    }
});
