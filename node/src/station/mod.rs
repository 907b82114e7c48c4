//! Station nodes: replicas that are not Raft members. They receive certified
//! blocks by gossip (`smart/blocks/1`), check everything before accepting
//! (chain link, a majority of the hub set at that height, every tx
//! signature), re-run the same contract VM and require the same outcomes
//! and state root, store the block, and fetch missing ranges from hubs.
//! A station keeps deciding with no hub reachable (the outbox) and drives
//! the station's interlock, the kiosk and the station modules.

pub mod io;
pub mod kiosk;
pub mod node;
pub mod run;
pub mod specialists;
pub mod vision;
