#![no_main]
//! A block from gossip or disk: never panics; what decodes is canonical and
//! structurally consistent.
use libfuzzer_sys::fuzz_target;
use smart_ledger::{Block, ChainTip};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode(), data, "decoded block is not canonical");
        let _ = ChainTip::genesis(block.header.chain_id).check_next(&block);
    }
});
