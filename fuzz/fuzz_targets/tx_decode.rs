#![no_main]
//! A tx from the wire: never panics; what decodes re-encodes to the same bytes.
use libfuzzer_sys::fuzz_target;
use smart_ledger::SignedTx;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode(data) {
        assert_eq!(tx.encode(), data, "decoded tx is not canonical");
        let _ = tx.verify_signature();
    }
});
