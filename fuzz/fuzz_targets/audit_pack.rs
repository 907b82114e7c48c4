#![no_main]
//! An audit pack handed to an auditor: never panics; what decodes is
//! canonical, and verification answers (verified or refused) without panicking.
use libfuzzer_sys::fuzz_target;
use smart_audit::AuditPack;
use smart_ledger::Hash;

fuzz_target!(|data: &[u8]| {
    if let Ok(pack) = AuditPack::decode(data) {
        assert_eq!(pack.encode(), data, "decoded pack is not canonical");
        let chain = pack.genesis.chain_id();
        let _ = smart_audit::verify::verify(&pack, &chain);
        let _ = smart_audit::verify::verify(&pack, &Hash::ZERO);
    }
});
