//! What the hubs answer from the ledger: the job history, HubQuery, the
//! advisor's findings, upkeep (maintenance, procurement), growth and projects.
//! Pure over the contract state and the blocks; no network.

pub mod advisor;
pub mod growth;
pub mod history;
pub mod modules;
pub mod projects;
pub mod query;
pub mod upkeep;
