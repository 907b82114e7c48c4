#![no_main]
//! A proof file handed to `smart proof verify`.
use libfuzzer_sys::fuzz_target;
use smart_ledger::proof::TxProof;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = serde_json::from_slice::<TxProof>(data) {
        let _ = proof.verify(None);
    }
});
