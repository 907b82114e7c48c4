#![no_main]
//! A genesis document, binary and JSON.
use libfuzzer_sys::fuzz_target;
use smart_ledger::Genesis;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Genesis::decode(data) {
        assert_eq!(g.canonical_bytes(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(g) = Genesis::from_json(text) {
            assert_eq!(Genesis::from_json(&g.to_json()).map(|b| b.chain_id()).ok(), Some(g.chain_id()));
        }
    }
});
