//! The offline check of an audit pack, and what it establishes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use smart_contracts::State;
use smart_contracts::vm::{self, TxInput};
use smart_ledger::codec::DecodeError;
use smart_ledger::membership::HubChange;
use smart_ledger::{Block, BlockHeader, Hash, Outcome, Signature, SmartId, TxKind, merkle};

use crate::pack::{AuditPack, PACK_FORMAT};
use crate::scope::{Relevance, describe, relevance};

/// Why a pack does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The bytes are not a pack.
    #[error("not an audit pack: {0}")]
    Decode(#[from] DecodeError),
    /// A format this build does not read.
    #[error("unknown pack format {0:?} (this build reads {PACK_FORMAT})")]
    Format(String),
    /// The pack is for another chain.
    #[error("the pack's genesis hashes to chain {found}, expected {expected}")]
    WrongChain {
        /// The chain id the auditor trusts.
        expected: Hash,
        /// What the pack's genesis hashes to.
        found: Hash,
    },
    /// A block is not certified, or its parts do not match its header.
    #[error("block {height}: {reason}")]
    Block {
        /// The block's height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// A tx is not proven, or not one the pack should hold.
    #[error("block {height}, tx {position}: {reason}")]
    Tx {
        /// Its block.
        height: u64,
        /// Its position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// Re-running the rules gave another outcome than the hubs recorded.
    #[error(
        "block {height}, tx {position} ({what}): the hubs recorded {recorded:?}, the contract re-run gives {replayed:?}"
    )]
    Replay {
        /// Its block.
        height: u64,
        /// Its position.
        position: u64,
        /// The tx, for people.
        what: String,
        /// The certified outcome.
        recorded: Outcome,
        /// The re-run's outcome.
        replayed: Outcome,
    },
    /// The pack as a whole is wrong.
    #[error("{0}")]
    Pack(String),
}

/// A tx of the job as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobTx {
    /// Block height.
    pub height: u64,
    /// The tx hash.
    pub tx: Hash,
    /// Who signed it (name from the ledger).
    pub author: String,
    /// What it did.
    pub what: String,
    /// Its outcome, recorded by the hubs and reproduced by the re-run.
    pub outcome: Outcome,
}

/// One version of the job's contract, as the pack's history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionSeen {
    /// Version number.
    pub version: u32,
    /// blake3 of its YAML.
    pub yaml_hash: Hash,
    /// Height of the block in which it became active, if it did.
    pub active_from: Option<u64>,
}

/// A document of the job (or shop-wide) on file at the end of the pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DocumentSeen {
    /// blake3 of the document's bytes.
    pub hash: Hash,
    /// Its type.
    pub doc_type: String,
    /// Its title.
    pub title: String,
    /// The job's own (false: shop-wide).
    pub of_job: bool,
}

/// A record an accepted step relied on, proven in the certified state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReliedOn {
    /// The step.
    pub step: String,
    /// The block that accepted it, whose state root the proof leads to.
    pub height: u64,
    /// The record, `kind/key`.
    pub record: String,
    /// Its value as JSON (a token's holder, scope, expiry and revocation;
    /// equipment with its calibration due date; a document type on file).
    pub value: Option<serde_json::Value>,
}

/// What a verified pack establishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The chain.
    pub chain_id: Hash,
    /// The job.
    pub job: String,
    /// Its contract.
    pub contract: String,
    /// The version the job pinned when it opened; every step was judged under it.
    pub pinned_version: u32,
    /// blake3 of that version's YAML.
    pub pinned_yaml_hash: Hash,
    /// Every version of the contract in the pack.
    pub versions: Vec<VersionSeen>,
    /// The block in which the job was opened.
    pub opened_at: u64,
    /// Open or complete at the end of the pack.
    pub status: String,
    /// Steps complete.
    pub steps_done: Vec<String>,
    /// The job's txs in ledger order.
    pub job_txs: Vec<JobTx>,
    /// How many of the job's txs were refused.
    pub refused: usize,
    /// Context txs re-run with them.
    pub context_txs: usize,
    /// Certified blocks checked.
    pub blocks: usize,
    /// Signatures checked (txs and certificates).
    pub signatures: usize,
    /// Documents on file for the job or shop-wide.
    pub documents: Vec<DocumentSeen>,
    /// Invoiced to the client for the job, in cents.
    pub invoiced_cents: u64,
    /// Paid out for the job (payouts and bonuses), in cents.
    pub paid_cents: u64,
    /// The hub set from the genesis and after each change: (first height, hubs).
    pub hub_sets: Vec<(u64, Vec<SmartId>)>,
    /// What each accepted step relied on, proven in the certified state at
    /// its block (tokens, documents on file, equipment).
    pub relied_on: Vec<ReliedOn>,
    /// The pack's last header: height, ledger size and root (compare them
    /// with a root recorded earlier).
    pub anchor_height: u64,
    /// Ledger size at the anchor.
    pub anchor_ledger_size: u64,
    /// Ledger root at the anchor.
    pub anchor_ledger_root: Hash,
}

/// Checks a pack's bytes against the chain id the auditor trusts.
pub fn verify_pack(bytes: &[u8], expected_chain: &Hash) -> Result<AuditReport, AuditError> {
    let pack = AuditPack::decode(bytes)?;
    verify(&pack, expected_chain)
}

/// A signature to check in the batch at the end.
struct Pending<'a> {
    signer: SmartId,
    message: MessageRef<'a>,
    signature: Signature,
    /// Where it is, for the error.
    at: (u64, Option<u64>),
}

enum MessageRef<'a> {
    Tx(&'a [u8]),
    Cert([u8; 48]),
}

impl MessageRef<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            MessageRef::Tx(b) => b,
            MessageRef::Cert(m) => m,
        }
    }
}

/// Checks a decoded pack (see the crate docs for what is checked).
pub fn verify(pack: &AuditPack, expected_chain: &Hash) -> Result<AuditReport, AuditError> {
    if pack.format != PACK_FORMAT {
        return Err(AuditError::Format(pack.format.clone()));
    }
    let chain_id = pack.genesis.chain_id();
    if chain_id != *expected_chain {
        return Err(AuditError::WrongChain {
            expected: *expected_chain,
            found: chain_id,
        });
    }
    let job = pack.job.as_str();
    let mut state = State::from_genesis(&pack.genesis);
    let mut hubs: BTreeSet<SmartId> = pack.genesis.hubs().into_iter().collect();
    let mut hub_sets = vec![(1, hubs.iter().copied().collect::<Vec<_>>())];
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut job_txs = Vec::new();
    let mut job_leaves: Vec<(Hash, u64)> = Vec::new();
    let mut context_txs = 0usize;
    let mut activations: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut last_height = 0u64;
    let mut relied_on: Vec<ReliedOn> = Vec::new();
    if let Some(p) = pack
        .state_proofs
        .iter()
        .find(|p| !pack.blocks.iter().any(|b| b.header.height == p.height))
    {
        return Err(AuditError::Pack(format!(
            "a state proof at height {}, which is not a block of the pack",
            p.height
        )));
    }
    let Some(anchor) = pack.blocks.last().map(|b| &b.header) else {
        return Err(AuditError::Pack("the pack holds no block".into()));
    };

    for b in &pack.blocks {
        let h = &b.header;
        let height = h.height;
        let block_err = |reason: String| AuditError::Block { height, reason };
        if height <= last_height {
            return Err(block_err(format!(
                "blocks out of order (after block {last_height})"
            )));
        }
        last_height = height;
        if h.chain_id != chain_id {
            return Err(block_err("header is for another chain".into()));
        }
        // The certificate: every signature by a distinct hub of the set at
        // this height, a majority of that set (checked in the batch below).
        let header_hash = h.hash();
        if b.cert.header_hash != header_hash || b.cert.height != height {
            return Err(block_err("the certificate is for another header".into()));
        }
        let mut signers = BTreeSet::new();
        for s in &b.cert.signatures {
            if !hubs.contains(&s.hub) {
                return Err(block_err(format!(
                    "certificate signed by {}, not a hub at this height",
                    s.hub.short()
                )));
            }
            if !signers.insert(s.hub) {
                return Err(block_err(format!(
                    "certificate signed twice by {}",
                    s.hub.short()
                )));
            }
            pending.push(Pending {
                signer: s.hub,
                message: MessageRef::Cert(BlockHeader::cert_message(&header_hash)),
                signature: s.signature,
                at: (height, None),
            });
        }
        if signers.len() < hubs.len() / 2 + 1 {
            return Err(block_err(format!(
                "certificate has {} of the {} hub signatures it needs",
                signers.len(),
                hubs.len() / 2 + 1
            )));
        }
        if Block::outcomes_hash_of(&b.outcomes) != h.outcomes_hash {
            return Err(block_err(
                "outcomes do not match the header's outcomes hash".into(),
            ));
        }
        if b.txs.is_empty() {
            return Err(block_err("a pack block without txs".into()));
        }
        let size = b.outcomes.len() as u64;
        let first_leaf = h.ledger_size.checked_sub(size).ok_or_else(|| {
            block_err("the block has more txs than the ledger at its height".into())
        })?;
        let mut last_position = None;
        let mut changes = Vec::new();
        let mut accepted_steps: Vec<(String, SmartId)> = Vec::new();
        for t in &b.txs {
            let position = t.position;
            let tx_err = |reason: String| AuditError::Tx {
                height,
                position,
                reason,
            };
            if last_position.is_some_and(|p| position <= p) {
                return Err(tx_err("txs out of order".into()));
            }
            last_position = Some(position);
            let Some(recorded) = b.outcomes.get(position as usize) else {
                return Err(tx_err("position outside the block".into()));
            };
            let tx = &t.tx;
            if tx.body().chain_id != chain_id {
                return Err(tx_err("tx is for another chain".into()));
            }
            if !merkle::verify_inclusion(&tx.leaf_hash(), position, size, &t.path, &h.tx_root) {
                return Err(tx_err(
                    "the path does not lead to the block's tx root".into(),
                ));
            }
            let relevant = relevance(tx, job);
            match relevant {
                Relevance::Unrelated => {
                    return Err(tx_err(format!(
                        "not a tx of job {job} nor one its rules read"
                    )));
                }
                Relevance::Context => context_txs += 1,
                Relevance::Job => {
                    job_leaves.push((tx.leaf_hash(), first_leaf + position));
                }
            }
            pending.push(Pending {
                signer: tx.author(),
                message: MessageRef::Tx(tx.body_bytes()),
                signature: *tx.signature(),
                at: (height, Some(position)),
            });
            // The rules again, on the state the pack builds.
            let replayed = vm::apply(&mut state, &TxInput::of(tx, h.leader_time)).outcome;
            if replayed != *recorded {
                return Err(AuditError::Replay {
                    height,
                    position,
                    what: describe(tx),
                    recorded: recorded.clone(),
                    replayed,
                });
            }
            if relevant == Relevance::Job
                && *recorded == Outcome::Accepted
                && let Ok(smart_contracts::action::Action::CompleteStep { job: j, step, .. }) =
                    smart_contracts::action::Action::decode(&tx.body().payload.0)
                && j == job
            {
                accepted_steps.push((step, tx.author()));
            }
            if relevant == Relevance::Job {
                job_txs.push(JobTx {
                    height,
                    tx: tx.hash(),
                    author: state.name_of(&tx.author()),
                    what: describe(tx),
                    outcome: recorded.clone(),
                });
            }
            if tx.body().kind == TxKind::Contract {
                for id in state.contracts.keys() {
                    if let Some((n, _)) = state.active_version(id) {
                        activations.entry((id.clone(), n)).or_insert(height);
                    }
                }
            }
            if tx.body().kind == TxKind::Membership
                && *recorded == Outcome::Accepted
                && let Ok(change) = HubChange::decode(&tx.body().payload.0)
            {
                changes.push(change);
            }
        }
        relied_on.extend(check_state_proofs(pack, b, &state, &accepted_steps)?);
        // Hub-set changes take effect from the next block.
        if !changes.is_empty() {
            for c in &changes {
                c.apply(&mut hubs);
            }
            hub_sets.push((height + 1, hubs.iter().copied().collect()));
        }
    }

    // The job's txs in the ledger-wide tree at the anchor.
    if pack.ledger_paths.len() != job_leaves.len() {
        return Err(AuditError::Pack(format!(
            "{} ledger paths for {} txs of the job",
            pack.ledger_paths.len(),
            job_leaves.len()
        )));
    }
    for ((leaf, index), path) in job_leaves.iter().zip(&pack.ledger_paths) {
        if !merkle::verify_inclusion(leaf, *index, anchor.ledger_size, path, &anchor.ledger_root) {
            return Err(AuditError::Pack(format!(
                "leaf {index} is not proven in the ledger root of block {}",
                anchor.height
            )));
        }
    }

    // Every signature, as one batch; on failure, name the bad one.
    let triples: Vec<(SmartId, &[u8], Signature)> = pending
        .iter()
        .map(|p| (p.signer, p.message.bytes(), p.signature))
        .collect();
    if smart_ledger::id::verify_many(&triples).is_err() {
        for p in &pending {
            if let Err(e) = p.signer.verify(p.message.bytes(), &p.signature) {
                return Err(match p.at {
                    (height, Some(position)) => AuditError::Tx {
                        height,
                        position,
                        reason: format!("signature refused: {e}"),
                    },
                    (height, None) => AuditError::Block {
                        height,
                        reason: format!("certificate signature refused: {e}"),
                    },
                });
            }
        }
        return Err(AuditError::Pack(
            "the signatures fail as a batch but each passes alone".into(),
        ));
    }

    report(ReportParts {
        pack,
        state: &state,
        chain_id,
        job_txs,
        context_txs,
        signatures: pending.len(),
        activations,
        hub_sets,
        relied_on,
    })
}

/// The state proofs at block `b`: each leads to its certified state root
/// with the value it claims, which is the value the pack's own replay has;
/// and every record an accepted step of the block relied on has one.
fn check_state_proofs(
    pack: &AuditPack,
    b: &crate::pack::PackBlock,
    state: &State,
    accepted_steps: &[(String, SmartId)],
) -> Result<Vec<ReliedOn>, AuditError> {
    let height = b.header.height;
    let fail = |reason: String| AuditError::Block { height, reason };
    let here: Vec<&crate::pack::PackStateProof> = pack
        .state_proofs
        .iter()
        .filter(|p| p.height == height)
        .collect();
    let mut out = Vec::new();
    for p in &here {
        let name = smart_ledger::state_tree::record_name(&p.kind, &p.key.0);
        let proven = p
            .proof
            .verify(&b.header.state_root, &p.kind, &p.key.0)
            .map_err(|e| fail(format!("state proof of {name}: {e}")))?;
        let claimed = p.value.as_ref().map(|v| Hash::of(&v.0));
        match proven {
            smart_ledger::state_tree::Proven::Value(h) if Some(h) == claimed => {}
            smart_ledger::state_tree::Proven::Absent if claimed.is_none() => {}
            _ => {
                return Err(fail(format!(
                    "state proof of {name}: the value is not the one in the certified state"
                )));
            }
        }
        let replayed = state.record(&p.kind, &p.key.0);
        if replayed.as_deref() != p.value.as_ref().map(|v| v.0.as_slice()) {
            return Err(fail(format!(
                "state proof of {name}: the certified state and the pack's replay disagree"
            )));
        }
        let (record, value) =
            match State::record_json(&p.kind, &p.key.0, p.value.as_ref().map(|v| v.0.as_slice())) {
                Ok((serde_json::Value::String(k), v)) => (format!("{}/{k}", p.kind), v),
                Ok((k, v)) => (format!("{}/{k}", p.kind), v),
                Err(_) => (name, None),
            };
        out.push(ReliedOn {
            step: p.step.clone(),
            height,
            record,
            value,
        });
    }
    for (step, actor) in accepted_steps {
        for (kind, key) in vm::relied_on(state, &pack.job, step, actor) {
            if !here
                .iter()
                .any(|p| p.step == *step && p.kind == kind && p.key.0 == key)
            {
                return Err(fail(format!(
                    "step {step} relied on {} and the pack proves no value for it",
                    smart_ledger::state_tree::record_name(kind, &key)
                )));
            }
        }
    }
    Ok(out)
}

struct ReportParts<'a> {
    pack: &'a AuditPack,
    state: &'a State,
    chain_id: Hash,
    job_txs: Vec<JobTx>,
    context_txs: usize,
    signatures: usize,
    activations: BTreeMap<(String, u32), u64>,
    hub_sets: Vec<(u64, Vec<SmartId>)>,
    relied_on: Vec<ReliedOn>,
}

fn report(p: ReportParts<'_>) -> Result<AuditReport, AuditError> {
    let job_id = p.pack.job.as_str();
    let Some(job) = p.state.jobs.get(job_id) else {
        return Err(AuditError::Pack(format!(
            "job {job_id} is never opened in the pack"
        )));
    };
    let Some(pinned) = p
        .state
        .contracts
        .get(&job.contract)
        .and_then(|v| v.get(&job.version))
    else {
        return Err(AuditError::Pack(format!(
            "the pack lacks version {} of contract {}",
            job.version, job.contract
        )));
    };
    let opened_at = p
        .job_txs
        .iter()
        .find(|t| t.tx == job.opened_in)
        .map(|t| t.height)
        .ok_or_else(|| AuditError::Pack("the job's opening tx is not in the pack".into()))?;
    let versions = p
        .state
        .contracts
        .get(&job.contract)
        .map(|vs| {
            vs.iter()
                .map(|(n, v)| VersionSeen {
                    version: *n,
                    yaml_hash: v.yaml_hash,
                    active_from: p.activations.get(&(job.contract.clone(), *n)).copied(),
                })
                .collect()
        })
        .unwrap_or_default();
    let documents = p
        .state
        .documents
        .iter()
        .filter(|(_, d)| d.job.is_none() || d.job.as_deref() == Some(job_id))
        .map(|(hash, d)| DocumentSeen {
            hash: *hash,
            doc_type: format!("{:?}", d.doc_type),
            title: d.title.clone(),
            of_job: d.job.is_some(),
        })
        .collect();
    let anchor = p
        .pack
        .blocks
        .last()
        .map(|b| &b.header)
        .ok_or_else(|| AuditError::Pack("the pack holds no block".into()))?;
    Ok(AuditReport {
        chain_id: p.chain_id,
        job: job_id.to_string(),
        contract: job.contract.clone(),
        pinned_version: job.version,
        pinned_yaml_hash: pinned.yaml_hash,
        versions,
        opened_at,
        status: format!("{:?}", job.status),
        steps_done: job.steps.keys().cloned().collect(),
        refused: p
            .job_txs
            .iter()
            .filter(|t| t.outcome != Outcome::Accepted)
            .count(),
        job_txs: p.job_txs,
        context_txs: p.context_txs,
        blocks: p.pack.blocks.len(),
        signatures: p.signatures,
        documents,
        invoiced_cents: p
            .state
            .invoices
            .iter()
            .filter(|i| i.job == job_id)
            .map(|i| i.amount_cents)
            .sum(),
        paid_cents: p
            .state
            .payments
            .iter()
            .filter(|i| i.job == job_id)
            .map(|i| i.amount_cents)
            .sum(),
        hub_sets: p.hub_sets,
        relied_on: p.relied_on,
        anchor_height: anchor.height,
        anchor_ledger_size: anchor.ledger_size,
        anchor_ledger_root: anchor.ledger_root,
    })
}
