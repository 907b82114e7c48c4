#![no_main]
//! A block certificate from gossip or disk.
use libfuzzer_sys::fuzz_target;
use smart_ledger::BlockCert;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = BlockCert::decode(data) {
        assert_eq!(cert.encode(), data, "decoded certificate is not canonical");
    }
});
