//! The one wall clock of the workspace.
//!
//! The ledger's rules never read it: a peer stamps a transaction or a
//! status line with it at the edge, and every rule judges the stamped value.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; a clock set before 1970 reads 0.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_reads_after_2020() {
        assert!(super::now_ms() > 1_577_836_800_000);
    }
}
