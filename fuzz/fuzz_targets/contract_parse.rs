#![no_main]
//! Contract YAML (proposed in a tx, read by `smart contract validate`):
//! never panics; every error is located; what parses re-validates.
use libfuzzer_sys::fuzz_target;
use smart_contracts::parse_contract;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match parse_contract("fuzz.yaml", text) {
            Ok(c) => assert!(smart_contracts::validate::validate(&c).is_ok()),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
});
