#![no_main]
//! The stored chain tip (read back from disk on every open).
use libfuzzer_sys::fuzz_target;
use smart_ledger::ChainTip;
use smart_ledger::codec::decode_versioned;

fuzz_target!(|data: &[u8]| {
    if let Ok(tip) = decode_versioned::<ChainTip>("tip", data, 64 * 1024) {
        let _ = tip.acc.root();
    }
});
