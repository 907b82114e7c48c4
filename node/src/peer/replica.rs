//! A peer's copy of the ledger and the contract state, checked block by
//! block: every block's certificate, signatures, outcomes and state root,
//! and certified state snapshots for a peer far behind. The loops that keep
//! it current are in [`crate::peer::follow`].

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use smart_consensus::stored;
use smart_contracts::{RootedState, State, vm};
use smart_ledger::state_tree::RecordWrite;
use smart_ledger::store::{BlockStore, RedbStore};
use smart_ledger::{Block, BlockCert, Genesis, SmartId};

use crate::p2p::{self, CertifiedBlock};

const RECORD_HUBS: &str = "hub_set";
/// Record: the [`SnapshotBase`] while one is being filled in.
const RECORD_BASE: &str = "snapshot_base";
/// Blocks behind at which a node installs a certified state snapshot first
/// (the default of `smart run --snapshot-gap`).
pub const SNAPSHOT_GAP: u64 = 4_096;

/// The contract state stored at the tip of a peer's store (a hub's, a
/// station's, the gateway's or a development ledger's: the same record).
pub fn tip_state(store: &RedbStore) -> Result<State> {
    Ok(stored::load_state(store)?)
}

/// The header of the block the stored contract state belongs to: the
/// installed snapshot's while the blocks behind it are filled in, else the
/// tip's (none at height 0).
pub fn state_header(store: &RedbStore) -> Result<Option<smart_ledger::BlockHeader>> {
    let base: Option<SnapshotBase> = match store.app_record(RECORD_BASE)? {
        Some(b) => smart_ledger::codec::decode_plain("snapshot base", &b, 1 << 20)?,
        None => None,
    };
    Ok(match base {
        Some(b) => Some(b.header),
        None => stored::tip_header(store)?,
    })
}

/// Why a replica refused a block, a range or a snapshot (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The block is not the one after the tip.
    #[error("block {height} does not follow tip {tip}")]
    NotNext {
        /// The block's height.
        height: u64,
        /// This replica's tip.
        tip: u64,
    },
    /// Its certificate is not final under the hub set that certifies it.
    #[error("block {height}: {source}")]
    Certificate {
        /// The block's height.
        height: u64,
        /// Why.
        source: smart_ledger::block::CertError,
    },
    /// Its roots do not match its txs and outcomes.
    #[error(transparent)]
    Structure(#[from] smart_ledger::codec::DecodeError),
    /// A tx's signature does not verify.
    #[error(transparent)]
    Signature(#[from] smart_ledger::TxSignatureError),
    /// The VM here decides its txs differently.
    #[error("block {height}: the VM here decides differently")]
    Outcomes {
        /// The block's height.
        height: u64,
    },
    /// The VM here reaches another state.
    #[error("block {height}: state root differs from the VM's here")]
    StateRoot {
        /// The block's height.
        height: u64,
    },
    /// A block past an installed snapshot arrived before the blocks behind it.
    #[error(
        "block {height} is past the installed snapshot at {snapshot}; the blocks before it come first"
    )]
    PastSnapshot {
        /// The block's height.
        height: u64,
        /// The snapshot's height.
        snapshot: u64,
    },
    /// The chain leads elsewhere than the installed snapshot's header.
    #[error("block {height} differs from the header of the installed snapshot")]
    NotTheSnapshot {
        /// The block's height.
        height: u64,
    },
    /// A snapshot offered was refused.
    #[error("the snapshot at {height}: {why}")]
    Snapshot {
        /// Its height.
        height: u64,
        /// Why.
        why: String,
    },
    /// This replica is filling in a snapshot itself and serves none.
    #[error("this node is filling in a snapshot itself")]
    FillingIn,
    /// The tip has no certificate yet.
    #[error("no certified block at {height}")]
    Uncertified {
        /// The tip's height.
        height: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] smart_ledger::store::StoreError),
    /// The stored state could not be put back after a refused block.
    #[error(transparent)]
    Stored(#[from] stored::StoredStateError),
}

/// A node's copy of the ledger and the contract state.
#[derive(Debug)]
pub struct Replica {
    pub(crate) store: RedbStore,
    /// The contract state with its state tree.
    state: RootedState,
    /// The hub set after the state's height (it certifies the next block).
    pub(crate) hubs: BTreeSet<SmartId>,
    /// Set while the state comes from a snapshot ahead of the stored blocks.
    pub(crate) base: Option<SnapshotBase>,
}

/// A node that installed a [`p2p::StateSnapshot`] holds the state at the
/// snapshot's height while its stored chain is still behind it. It keeps the
/// whole chain all the same: it fetches the blocks behind the snapshot and
/// checks each (chain link, hub certificate, every signature) before storing
/// it, without re-running the VM, until the stored chain reaches the
/// snapshot's header, which must be exactly the certified one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotBase {
    /// The certified header the state belongs to.
    header: smart_ledger::BlockHeader,
    /// The hub set after the last stored block (it certifies the next one).
    chain_hubs: BTreeSet<SmartId>,
}

impl Replica {
    /// Opens (or creates) the replica in a peer folder.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Replica> {
        let mut store = RedbStore::open_or_create(&dir.join(RedbStore::FILE_NAME), genesis)?;
        let hubs = match store.app_record(RECORD_HUBS)? {
            Some(b) => smart_ledger::codec::decode_plain("hub set", &b, 1 << 20)?,
            None => genesis.hubs().into_iter().collect(),
        };
        let base: Option<SnapshotBase> = match store.app_record(RECORD_BASE)? {
            Some(b) => smart_ledger::codec::decode_plain("snapshot base", &b, 1 << 20)?,
            None => None,
        };
        let certified = state_header(&store)?;
        let state = stored::open_state(&mut store, certified.as_ref())?;
        Ok(Replica {
            store,
            state,
            hubs,
            base,
        })
    }

    /// The contract state after [`Replica::state_height`].
    pub fn state(&self) -> &State {
        self.state.state()
    }

    /// The contract state with its state tree.
    pub fn rooted(&self) -> &RootedState {
        &self.state
    }

    /// Tip height of the stored chain.
    pub fn height(&self) -> u64 {
        self.store.tip().height
    }

    /// The height the contract state belongs to: the tip, or the installed
    /// snapshot's height while the blocks behind it are being fetched.
    pub fn state_height(&self) -> u64 {
        self.base
            .as_ref()
            .map_or(self.height(), |b| b.header.height)
    }

    /// Installs a certified state snapshot ahead of the stored chain. Only a
    /// certificate by a majority of the hub set this node already trusts is
    /// accepted (a snapshot across a hub-set change is refused: the node
    /// replays blocks instead, which follows every change); the state must
    /// hash to the certified state root. Nothing changes on refusal.
    pub fn install_snapshot(&mut self, snap: &p2p::StateSnapshot) -> Result<(), ReplicaError> {
        let height = snap.header.height;
        let refused = |why: String| ReplicaError::Snapshot { height, why };
        if self.base.is_some() {
            return Err(refused("a snapshot is already being filled in".into()));
        }
        if height <= self.height() {
            return Err(refused(format!(
                "it is not ahead of this node's tip {}",
                self.height()
            )));
        }
        let hub_list: Vec<SmartId> = self.hubs.iter().copied().collect();
        snap.cert
            .check_final(&snap.header, &hub_list)
            .map_err(|e| refused(format!("not certified by the hub set this node knows: {e}")))?;
        let state: State = smart_ledger::codec::decode_versioned(
            "contract state",
            &snap.state.0,
            p2p::MAX_MESSAGE_BYTES,
        )
        .map_err(|e| refused(e.to_string()))?;
        if state.canonical_bytes() != snap.state.0 {
            return Err(refused("not in canonical form".into()));
        }
        let hubs: BTreeSet<SmartId> = state.hubs.keys().copied().collect();
        let state = RootedState::new(state);
        if state.root() != snap.header.state_root {
            return Err(refused(
                "its records' state tree root is not the certified state root".into(),
            ));
        }
        let base = Some(SnapshotBase {
            header: snap.header.clone(),
            chain_hubs: self.hubs.clone(),
        });
        self.store.replace_state(
            &state.all_writes(),
            &[
                (RECORD_HUBS, &smart_ledger::codec::encode_plain(&hubs)),
                (RECORD_BASE, &smart_ledger::codec::encode_plain(&base)),
            ],
        )?;
        self.state = state;
        self.hubs = hubs;
        self.base = base;
        Ok(())
    }

    /// Checks and stores a block behind an installed snapshot.
    fn backfill(&mut self, cb: &CertifiedBlock, base: SnapshotBase) -> Result<(), ReplicaError> {
        let header = &cb.block.header;
        let height = header.height;
        if height > base.header.height {
            return Err(ReplicaError::PastSnapshot {
                height,
                snapshot: base.header.height,
            });
        }
        let hub_list: Vec<SmartId> = base.chain_hubs.iter().copied().collect();
        cb.cert
            .check_final(header, &hub_list)
            .map_err(|source| ReplicaError::Certificate { height, source })?;
        check_signatures(&cb.block)?;
        let chain_hubs = smart_ledger::membership::hub_set_after(&cb.block, base.chain_hubs);
        if height < base.header.height {
            let next = Some(SnapshotBase {
                header: base.header,
                chain_hubs,
            });
            self.store.append_with(
                &cb.block,
                Some(&cb.cert),
                &[(RECORD_BASE, &smart_ledger::codec::encode_plain(&next))],
                &[],
            )?;
            self.base = next;
            return Ok(());
        }
        // The last block behind the snapshot: it must be the certified one.
        if *header != base.header {
            return Err(ReplicaError::NotTheSnapshot { height });
        }
        let none: Option<SnapshotBase> = None;
        self.store.append_with(
            &cb.block,
            Some(&cb.cert),
            &[
                (RECORD_HUBS, &smart_ledger::codec::encode_plain(&chain_hubs)),
                (RECORD_BASE, &smart_ledger::codec::encode_plain(&none)),
            ],
            &[],
        )?;
        self.hubs = chain_hubs;
        self.base = None;
        Ok(())
    }

    /// The state at the tip, with the tip's header and certificate, for a
    /// node far behind. Refused while this node is filling in a snapshot.
    pub fn snapshot(&self) -> Result<p2p::StateSnapshot, ReplicaError> {
        if self.base.is_some() {
            return Err(ReplicaError::FillingIn);
        }
        let height = self.height();
        let (block, cert) = match (self.store.block(height)?, self.store.cert(height)?) {
            (Some(b), Some(c)) => (b, c),
            _ => return Err(ReplicaError::Uncertified { height }),
        };
        Ok(p2p::StateSnapshot {
            header: block.header,
            cert,
            state: smart_ledger::Bytes(self.state.state().canonical_bytes()),
        })
    }

    /// Checks a block against everything this replica knows and applies it.
    /// On any mismatch nothing is stored and the state is restored.
    pub fn apply(&mut self, cb: &CertifiedBlock) -> Result<(), ReplicaError> {
        let header = &cb.block.header;
        let height = header.height;
        if height != self.height() + 1 {
            return Err(ReplicaError::NotNext {
                height,
                tip: self.height(),
            });
        }
        if let Some(base) = self.base.clone() {
            return self.backfill(cb, base);
        }
        let hub_list: Vec<SmartId> = self.hubs.iter().copied().collect();
        cb.cert
            .check_final(header, &hub_list)
            .map_err(|source| ReplicaError::Certificate { height, source })?;
        check_signatures(&cb.block)?;
        // Re-run the VM: same outcomes, same state root, or the block is refused.
        let (outcomes, _) =
            vm::apply_block(self.state.state_mut(), &cb.block.txs, header.leader_time);
        let writes = self.state.seal();
        let refused = if outcomes != cb.block.outcomes {
            Some(ReplicaError::Outcomes { height })
        } else if self.state.root() != header.state_root {
            Some(ReplicaError::StateRoot { height })
        } else {
            None
        };
        if let Some(e) = refused {
            self.undo(&writes)?;
            return Err(e);
        }
        let hubs = smart_ledger::membership::hub_set_after(&cb.block, self.hubs.clone());
        let hub_bytes = smart_ledger::codec::encode_plain(&hubs);
        if let Err(e) = self.store.append_with(
            &cb.block,
            Some(&cb.cert),
            &[(RECORD_HUBS, &hub_bytes)],
            &writes,
        ) {
            self.undo(&writes)?;
            return Err(e.into());
        }
        self.hubs = hubs;
        Ok(())
    }

    /// Puts the records a refused block changed back to their stored values
    /// (O(changes)); if the store cannot say, reloads the whole stored state.
    fn undo(&mut self, writes: &[RecordWrite]) -> Result<(), ReplicaError> {
        let old: Result<Vec<RecordWrite>, _> = writes
            .iter()
            .map(|w| {
                Ok::<_, smart_ledger::store::StoreError>(RecordWrite {
                    kind: w.kind,
                    key: w.key.clone(),
                    value: self.store.state_record(w.kind, &w.key)?,
                })
            })
            .collect();
        let restored = old
            .map_err(|e| e.to_string())
            .and_then(|old| self.state.restore(&old).map_err(|e| e.to_string()));
        if let Err(e) = restored {
            tracing::warn!(error = %e, "putting records back failed; reloading the stored state");
            self.state = stored::open_state(&mut self.store, None)?;
        }
        Ok(())
    }
}

impl Replica {
    /// Applies a fetched range: blocks after the tip are checked and applied
    /// one by one without their own fsync, then made durable together (a
    /// crash loses at most this range, which is fetched again). Returns the
    /// txs applied; stops at the first refused block.
    pub fn apply_range(
        &mut self,
        range: Vec<(Block, BlockCert)>,
    ) -> (u64, Result<(), ReplicaError>) {
        let mut txs = 0u64;
        self.store.set_deferred_durability(true);
        let mut result = Ok(());
        for (block, cert) in range {
            if block.header.height <= self.height() {
                continue;
            }
            let n = block.txs.len() as u64;
            if let Err(e) = self.apply(&CertifiedBlock { block, cert }) {
                result = Err(e);
                break;
            }
            txs += n;
        }
        self.store.set_deferred_durability(false);
        if let Err(e) = self.store.flush() {
            result = result.and(Err(e.into()));
        }
        (txs, result)
    }
}

/// The block's structure (roots match its txs and outcomes) and every tx signature.
fn check_signatures(block: &Block) -> Result<(), ReplicaError> {
    block.check_structure()?;
    Ok(block.check_signatures()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::devgen::{self, DevSigners};
    use smart_ledger::Keypair;

    /// A fresh network folder, its signers and an empty replica of station-1.
    fn setup() -> (tempfile::TempDir, Genesis, DevSigners, Replica) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("net");
        let genesis = crate::peer::init::create(&root, 3, 1, "replica-test").expect("init");
        let signers = DevSigners::load(&root, &genesis).expect("signers");
        let replica = Replica::open(&root.join("station-1"), &genesis).expect("open");
        (tmp, genesis, signers, replica)
    }

    /// Block 1: real signed txs, the VM's outcomes and state root, no signatures yet.
    fn next_block(genesis: &Genesis, signers: &DevSigners, replica: &Replica) -> Block {
        block_after(genesis, signers, replica, 0)
    }

    /// The next block after the replica's tip, with txs from `first_tx` on.
    fn block_after(
        genesis: &Genesis,
        signers: &DevSigners,
        replica: &Replica,
        first_tx: u64,
    ) -> Block {
        let txs = devgen::sign_txs(genesis, signers, first_tx, 8).expect("sign");
        let mut state = replica.state().clone();
        let tip = replica.store.tip().clone();
        let time = smart_ledger::Timestamp(1_790_000_001_000 + tip.height);
        let (outcomes, _) = vm::apply_block(&mut state, &txs, time);
        tip.next_block(txs, outcomes, state.root(), tip.height + 1, time)
    }

    /// A block fetched with its certificate, as gossip carries it.
    fn fetched(block: &Block, cert: &BlockCert) -> CertifiedBlock {
        CertifiedBlock {
            block: block.clone(),
            cert: cert.clone(),
        }
    }

    /// An empty replica in a new folder beside station-1's.
    fn another(tmp: &tempfile::TempDir, genesis: &Genesis, name: &str) -> Replica {
        let dir = tmp.path().join("net").join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        Replica::open(&dir, genesis).expect("open")
    }

    /// Applies `blocks` blocks certified by every hub; txs numbered from `first_tx`.
    fn grow(
        genesis: &Genesis,
        signers: &DevSigners,
        replica: &mut Replica,
        blocks: u64,
        first_tx: u64,
    ) {
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();
        for i in 0..blocks {
            let block = block_after(genesis, signers, replica, first_tx + i * 8);
            replica.apply(&certified(&block, &hubs)).expect("apply");
        }
    }

    fn certified(block: &Block, signers: &[&Keypair]) -> CertifiedBlock {
        let mut cert = BlockCert::new(&block.header);
        for k in signers {
            cert.sign(k);
        }
        CertifiedBlock {
            block: block.clone(),
            cert,
        }
    }

    #[test]
    fn a_replica_refuses_blocks_without_a_hub_majority_or_with_a_forgery_and_stores_nothing() {
        let (_tmp, genesis, signers, mut replica) = setup();
        let block = next_block(&genesis, &signers, &replica);
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();
        let root_before = replica.rooted().root();

        // Too few hub signatures: one of three.
        let err = replica
            .apply(&certified(&block, &hubs[..1]))
            .expect_err("one signature of three")
            .to_string();
        assert!(err.contains("block 1"), "{err}");

        // Enough signers, but not hubs (people's keys).
        let people: Vec<&Keypair> = signers.authors.iter().collect();
        assert!(replica.apply(&certified(&block, &people)).is_err());

        // Two hub signatures, one of them forged.
        let mut forged = certified(&block, &hubs[..2]);
        forged.cert.signatures[1].signature.0[7] ^= 1;
        assert!(replica.apply(&forged).is_err());

        // A tx signature forged inside a well-certified block: its header
        // no longer matches (the tx root), and the tx fails on its own.
        let mut bad = block.clone();
        let mut signature = *bad.txs[3].signature();
        signature.0[5] ^= 1;
        bad.txs[3] =
            smart_ledger::SignedTx::from_parts(bad.txs[3].body_bytes().to_vec(), signature)
                .expect("same body");
        assert!(replica.apply(&certified(&bad, &hubs)).is_err());

        // A block whose state root the VM here does not reproduce.
        let mut wrong_root = block.clone();
        wrong_root.header.state_root = smart_ledger::Hash::of(b"another state");
        assert!(replica.apply(&certified(&wrong_root, &hubs)).is_err());

        assert_eq!(replica.height(), 0, "a refused block was stored");
        assert_eq!(
            replica.rooted().root(),
            root_before,
            "a refused block changed the state"
        );
        assert_eq!(
            replica.state().root(),
            root_before,
            "the kept tree is the state's"
        );

        // The honest block with a majority (two of three) is applied.
        replica
            .apply(&certified(&block, &hubs[..2]))
            .expect("a majority of hubs");
        assert_eq!(replica.height(), 1);
    }

    #[test]
    fn a_node_installs_a_certified_snapshot_and_fills_in_the_blocks_behind_it() {
        let (tmp, genesis, signers, mut source) = setup();
        grow(&genesis, &signers, &mut source, 6, 0);
        let mut fresh = another(&tmp, &genesis, "station-2");
        let snap = source.snapshot().expect("snapshot");
        assert_eq!(snap.header.height, 6);

        // Refused, and nothing changes: a state that is not the certified one,
        // a certificate short of a majority, one by keys that are not hubs.
        let mut wrong_state = snap.clone();
        let mut other = State::from_canonical_bytes(&snap.state.0).expect("state");
        other.time = smart_ledger::Timestamp(other.time.0 + 1);
        wrong_state.state = smart_ledger::Bytes(other.canonical_bytes());
        let err = fresh
            .install_snapshot(&wrong_state)
            .expect_err("wrong state")
            .to_string();
        assert!(err.contains("state root"), "{err}");
        let hubs: Vec<&Keypair> = signers.hubs.iter().collect();
        let mut one_hub = snap.clone();
        one_hub.cert = BlockCert::new(&snap.header);
        one_hub.cert.sign(hubs[0]);
        let err = fresh
            .install_snapshot(&one_hub)
            .expect_err("one of three")
            .to_string();
        assert!(err.contains("not certified"), "{err}");
        let mut not_hubs = snap.clone();
        not_hubs.cert = BlockCert::new(&snap.header);
        for k in &signers.authors {
            not_hubs.cert.sign(k);
        }
        assert!(fresh.install_snapshot(&not_hubs).is_err());
        assert_eq!((fresh.height(), fresh.state_height()), (0, 0));

        // The certified snapshot: the state at 6 at once, the chain still at 0.
        fresh.install_snapshot(&snap).expect("install");
        assert_eq!((fresh.height(), fresh.state_height()), (0, 6));
        assert_eq!(fresh.rooted().root(), source.rooted().root());
        assert!(
            fresh.snapshot().is_err(),
            "a node filling in serves no snapshot"
        );

        // A block past the snapshot waits for the ones before it.
        let past = source.store.certified_range(1, 6).expect("range");
        let err = fresh
            .apply(&CertifiedBlock {
                block: past[1].0.clone(),
                cert: past[1].1.clone(),
            })
            .expect_err("gap")
            .to_string();
        assert!(err.contains("does not follow"), "{err}");

        // The state survives a restart while filling in.
        for (block, cert) in past.iter().take(3) {
            fresh.apply(&fetched(block, cert)).expect("backfill");
        }
        drop(fresh);
        let mut fresh = Replica::open(&tmp.path().join("net/station-2"), &genesis).expect("reopen");
        assert_eq!((fresh.height(), fresh.state_height()), (3, 6));
        for (block, cert) in past.iter().skip(3) {
            fresh.apply(&fetched(block, cert)).expect("backfill");
        }
        assert_eq!((fresh.height(), fresh.state_height()), (6, 6));
        assert_eq!(fresh.store.tip(), source.store.tip());

        // Then blocks after the snapshot are applied through the VM again.
        grow(&genesis, &signers, &mut source, 1, 1000);
        let next = source.store.certified_range(7, 7).expect("range");
        fresh
            .apply(&CertifiedBlock {
                block: next[0].0.clone(),
                cert: next[0].1.clone(),
            })
            .expect("after the snapshot");
        assert_eq!(fresh.rooted().root(), source.rooted().root());
        let report = smart_ledger::audit::verify_ledger(&fresh.store, |_, _| {}).expect("verify");
        assert_eq!(report.blocks, 7);
    }

    #[test]
    fn a_chain_that_does_not_lead_to_the_snapshot_header_is_refused_there() {
        let (tmp, genesis, signers, mut source) = setup();
        grow(&genesis, &signers, &mut source, 3, 0);
        // Another chain, certified by the same hubs, with other txs.
        let mut other = another(&tmp, &genesis, "station-3");
        grow(&genesis, &signers, &mut other, 3, 500);
        let mut fresh = another(&tmp, &genesis, "station-2");
        fresh
            .install_snapshot(&source.snapshot().expect("snapshot"))
            .expect("install");
        let theirs = other.store.certified_range(1, 3).expect("range");
        for (block, cert) in theirs.iter().take(2) {
            fresh
                .apply(&fetched(block, cert))
                .expect("certified, so stored");
        }
        let err = fresh
            .apply(&CertifiedBlock {
                block: theirs[2].0.clone(),
                cert: theirs[2].1.clone(),
            })
            .expect_err("not the snapshot's header")
            .to_string();
        assert!(err.contains("differs from the header"), "{err}");
        assert_eq!((fresh.height(), fresh.state_height()), (2, 3));
    }
}
