//! SMART contracts: the Governors.
//!
//! # Layout
//! - [`model`]: the YAML SmartContract language (documented field by field in `README.md`).
//! - [`parse`]: reading YAML with limits; errors name file, line, column and field.
//! - [`error`]: what can be wrong with a contract ([`ErrorKind`], [`ContractError`]).
//! - [`validate`]: semantic checks (references, cycles, roles, tokens, limits, money).
//! - [`state`]: identities, tokens, equipment, documents, contract versions, jobs, money.
//! - [`holdings`]: who holds which token, indexed for a check in O(log n).
//! - [`transcript`]: a person's recorded training, experience, examinations and vision tests.
//! - [`education`]: the certification framework that assesses a transcript.
//! - [`action`]: what a tx payload says, per tx kind.
//! - [`vm`]: the deterministic VM: `(state, tx) -> (outcome, effects, new state)`.
//! - [`refusal`]: stable refusal codes and explanations.
//! - [`station`]: station specialists' records and the floor state they build.
//! - [`simulate`]: run a contract against a recorded or hand-written history.
//!
//! No I/O, no clock, no randomness, no floats: every peer computes the same
//! outcomes and state root from the same history.

pub mod action;
pub mod education;
pub mod error;
pub mod holdings;
pub mod model;
pub mod parse;
pub mod records;
pub mod refusal;
pub mod rooted;
pub mod simulate;
pub mod state;
pub mod station;
pub mod table;
pub mod transcript;
pub mod validate;
pub mod vm;

pub use action::Action;
pub use error::{ContractError, ErrorKind};
pub use model::Contract;
pub use parse::parse_contract;
pub use refusal::{Refusal, RefusalCode};
pub use rooted::RootedState;
pub use state::State;
pub use vm::{Applied, Fired, TxInput, apply, apply_block};
