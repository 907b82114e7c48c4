//! What every peer role shares: its folder, network start, shutdown,
//! metrics and the staff page, the backup hook, progress bars.

pub mod backup;
pub mod folders;
pub mod follow;
pub mod init;
pub mod metrics;
pub mod network;
pub mod options;
pub mod outbox;
pub(crate) mod progress;
pub mod proofs;
pub mod replica;
pub mod shutdown;
