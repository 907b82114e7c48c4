//! AuditCentral: the offline audit pack of one job.
//!
//! A pack is one file an auditor checks with nothing but the file and the
//! genesis hash they trust, on a machine with no network:
//! - the genesis (it must hash to that chain id; it names the first hubs),
//! - every block that holds a tx of the job or a tx its rules read (people,
//!   roles, tokens, equipment, shop-wide and the job's documents, contract
//!   versions and approvals, hub-set changes, station lockouts): the
//!   header, its hub certificate, every outcome of the block, and those txs
//!   with their paths to the block's tx root,
//! - for the job's own txs, their RFC 9162 inclusion paths in the
//!   ledger-wide tree at the pack's last header.
//!
//! [`verify::verify_pack`] checks every signature (txs and certificates,
//! the hub set followed from the genesis through every hub-set change),
//! every path and outcome hash, then re-runs the contract VM from the
//! genesis state over the pack's txs in ledger order and requires the
//! outcome the hubs recorded for each one: the job's steps are judged again
//! under the contract version the job pinned, so the pack shows the rules
//! were enforced. The pack has no field that is not checked: a flipped
//! byte anywhere makes verification fail (a test flips every byte).
//!
//! What a pack cannot show by itself: that the exporter left out no tx the
//! job's rules read (a hub's full ledger, `smart ledger verify`, shows that).
//! Leaving one out makes the re-run disagree with the recorded outcomes
//! whenever that tx mattered to a decision.
//!
//! # Layout
//! - [`pack`]: the file format (versioned postcard, canonical, size-limited).
//! - [`scope`]: which txs a job's pack holds.
//! - [`verify`]: the offline check and its report.
//! - `export` (feature `store`): building a pack from a peer's store.

pub mod pack;
pub mod scope;
pub mod verify;

#[cfg(feature = "store")]
pub mod export;

pub use pack::{AuditPack, MAX_PACK_BYTES, PACK_FORMAT, PackBlock, PackStateProof, PackTx};
pub use verify::{AuditError, AuditReport, verify_pack};
