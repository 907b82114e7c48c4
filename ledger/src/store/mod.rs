//! The durable store: one redb file per peer, behind [`BlockStore`].
//!
//! Every record is kept sealed as `blake3(bytes) ‖ bytes` and re-checked on
//! each read, so a flipped byte on disk is reported as corruption of that
//! record, never returned as data. An append writes the block, its tx index
//! entries, the Merkle subtrees it completes and the new tip in one redb
//! write transaction, committed with `Durability::Immediate` (fsync) before
//! it returns: after a crash the store reopens at the last durable block.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::block::{Block, BlockCert};
use crate::chain::{ChainError, ChainTip};
use crate::codec::{self, DecodeError};
use crate::genesis::{Genesis, GenesisError};
use crate::hash::Hash;
use crate::merkle::{self, ProofError, SubtreeSource};
pub use crate::state_tree::{RecordWrite, record_name};
pub use snapshot::StoreSnapshot;
pub use state::STATE_FORMAT;
use state::{META_STATE_FORMAT, check_format};

mod snapshot;
mod state;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const CERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("certs");
const TX_INDEX: TableDefinition<&[u8; 32], [u8; 20]> = TableDefinition::new("tx_index");
const MERKLE: TableDefinition<u64, [u8; 32]> = TableDefinition::new("merkle");
/// Records of the layer above (the consensus state machine: contract state,
/// last applied log id, membership), written in the same transaction as the
/// block they describe.
const APP: TableDefinition<&str, &[u8]> = TableDefinition::new("app");

const META_GENESIS: &str = "genesis";
const META_TIP: &str = "tip";

/// Where a tx is in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub position: u32,
    /// Index of its leaf in the ledger-wide Merkle tree.
    pub leaf_index: u64,
}

impl TxLocation {
    fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.height.to_be_bytes());
        b[8..12].copy_from_slice(&self.position.to_be_bytes());
        b[12..].copy_from_slice(&self.leaf_index.to_be_bytes());
        b
    }

    fn from_bytes(b: [u8; 20]) -> TxLocation {
        let mut h = [0u8; 8];
        let mut p = [0u8; 4];
        let mut l = [0u8; 8];
        h.copy_from_slice(&b[..8]);
        p.copy_from_slice(&b[8..12]);
        l.copy_from_slice(&b[12..]);
        TxLocation {
            height: u64::from_be_bytes(h),
            position: u32::from_be_bytes(p),
            leaf_index: u64::from_be_bytes(l),
        }
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb or the file system failed.
    #[error("store {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: Box<redb::Error>,
    },
    /// A record's bytes do not match the hash they were stored under, or do
    /// not decode.
    #[error("{what} is corrupt on disk: {reason}")]
    Corrupt {
        /// Which record, e.g. "block 17".
        what: String,
        /// How it is corrupt.
        reason: String,
    },
    /// The block does not follow the tip.
    #[error("append refused: {0}")]
    Chain(#[from] ChainError),
    /// The block's internal structure is broken.
    #[error("append refused: {0}")]
    Block(DecodeError),
    /// A tx of the block is already in the ledger.
    #[error("append refused: tx {hash} is already in block {height}")]
    DuplicateTx {
        /// The tx hash.
        hash: Hash,
        /// Where it already is.
        height: u64,
    },
    /// The store holds another chain's genesis.
    #[error("store holds chain {found}, expected chain {expected}")]
    WrongChain {
        /// Expected chain id.
        expected: Hash,
        /// The store's chain id.
        found: Hash,
    },
    /// The genesis in the store is bad.
    #[error("stored genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// The store has no genesis (not initialised).
    #[error("store {0} is not initialised (no genesis)")]
    Uninitialised(PathBuf),
    /// A proof was asked for outside the ledger.
    #[error("proof: {0}")]
    Proof(String),
    /// The store was written by a build with another stored-state format.
    #[error(
        "{path}: this ledger keeps its contract state in format {found}, made by an earlier build; this build reads format {STATE_FORMAT} only (records per kind, state root = state tree root, docs/state-tree.md). Its blocks' state roots mean the old definition, so it cannot be read as it is: keep it with the build that made it (its audit pack verifies offline), and start this build on a new folder"
    )]
    OldFormat {
        /// The database file.
        path: PathBuf,
        /// The format found (1: no format mark, the whole state as one record).
        found: u32,
    },
}

/// What the rest of the system needs from a ledger store.
pub trait BlockStore {
    /// The genesis document.
    fn genesis(&self) -> &Genesis;
    /// The current tip.
    fn tip(&self) -> &ChainTip;
    /// Appends the next block (and its certificate, when known) atomically
    /// and durably.
    fn append(&mut self, block: &Block, cert: Option<&BlockCert>) -> Result<(), StoreError>;
    /// Stores (or replaces) the certificate of a stored block.
    fn save_cert(&mut self, cert: &BlockCert) -> Result<(), StoreError>;
    /// The block at `height`, re-checked against its stored hash.
    fn block(&self, height: u64) -> Result<Option<Block>, StoreError>;
    /// The certificate of the block at `height`.
    fn cert(&self, height: u64) -> Result<Option<BlockCert>, StoreError>;
    /// Where a tx is, by hash.
    fn locate_tx(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError>;
    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError>;
    /// Consistency proof between tree sizes `old` and `new`.
    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError>;
    /// The ledger root at tree size `size` (≤ the tip's size).
    fn root_at(&self, size: u64) -> Result<Hash, StoreError>;

    /// Certified blocks `from..=to` for a peer catching up, cut short so one
    /// answer stays small: at most [`RANGE_MAX_BLOCKS`] blocks and, after the
    /// first block, at most [`RANGE_MAX_TXS`] txs. Stops at the tip.
    fn certified_range(&self, from: u64, to: u64) -> Result<Vec<(Block, BlockCert)>, StoreError> {
        let to = to
            .min(self.tip().height)
            .min(from.saturating_add(RANGE_MAX_BLOCKS - 1));
        let mut out = Vec::new();
        let mut txs = 0usize;
        for height in from.max(1)..=to {
            let missing = |what: &str| StoreError::Corrupt {
                what: format!("{what} {height}"),
                reason: "missing below the tip".into(),
            };
            let block = self.block(height)?.ok_or_else(|| missing("block"))?;
            let cert = self
                .cert(height)?
                .ok_or_else(|| missing("certificate of block"))?;
            txs += block.txs.len();
            if !out.is_empty() && txs > RANGE_MAX_TXS {
                break;
            }
            out.push((block, cert));
        }
        Ok(out)
    }
}

/// Most blocks in one [`BlockStore::certified_range`] answer.
pub const RANGE_MAX_BLOCKS: u64 = 256;
/// Most txs in one [`BlockStore::certified_range`] answer (about 4 MB of
/// typical txs), so a catch-up answer never approaches the RPC size limit.
pub const RANGE_MAX_TXS: usize = 8192;

/// The redb implementation of [`BlockStore`].
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    genesis: Genesis,
    tip: ChainTip,
    /// When true, appends and certificates commit without fsync and
    /// [`RedbStore::flush`] makes them durable (hubs: the Raft log is the
    /// write-ahead log). When false (the default), every write is durable on return.
    deferred: bool,
    /// How long the parts of the last [`RedbStore::append_with`] took.
    last_append: AppendParts,
}

/// The parts of one block's write transaction, timed (`smart bench state`
/// reports them; reading the clock costs nanoseconds against a write's
/// milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AppendParts {
    /// Opening the write transaction.
    pub begin: std::time::Duration,
    /// Indexing the block's txs by hash (one random key each).
    pub tx_index: std::time::Duration,
    /// The block, its certificate, its Merkle nodes and the upper layer's records.
    pub block: std::time::Duration,
    /// The contract state's changed records.
    pub state: std::time::Duration,
    /// The tip and the commit (with its fsync unless deferred).
    pub commit: std::time::Duration,
}

fn seal(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + bytes.len());
    out.extend_from_slice(&Hash::of(bytes).0);
    out.extend_from_slice(bytes);
    out
}

fn unseal(what: impl Fn() -> String, record: &[u8]) -> Result<&[u8], StoreError> {
    if record.len() < 32 {
        return Err(StoreError::Corrupt {
            what: what(),
            reason: "record shorter than its hash".into(),
        });
    }
    let (digest, bytes) = record.split_at(32);
    if Hash::of(bytes).0 != digest {
        return Err(StoreError::Corrupt {
            what: what(),
            reason: "bytes do not match the hash they were stored under".into(),
        });
    }
    Ok(bytes)
}

fn merkle_key(level: u32, index: u64) -> u64 {
    (u64::from(level) << 58) | index
}

/// redb's page cache. Its default (1 GiB) lets a node that catches up a
/// large ledger grow to hundreds of MB; a station runs on a Raspberry Pi.
/// Reads the store serves (catch-up ranges, proofs) are mostly recent blocks.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl RedbStore {
    /// The file name of the store inside a peer's data folder.
    pub const FILE_NAME: &'static str = "ledger.redb";

    /// Opens the store at `path`, creating it with `genesis` if it is new.
    /// An existing store must hold the same chain.
    pub fn open_or_create(path: &Path, genesis: &Genesis) -> Result<RedbStore, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| db_err(path, e))?;
        let existing = read_meta(&db, path, META_GENESIS)?;
        match existing {
            Some(bytes) => {
                let stored = Genesis::decode(&bytes)?;
                if stored.chain_id() != genesis.chain_id() {
                    return Err(StoreError::WrongChain {
                        expected: genesis.chain_id(),
                        found: stored.chain_id(),
                    });
                }
            }
            None => {
                let tip = ChainTip::genesis(genesis.chain_id());
                let txn = db.begin_write().map_err(|e| db_err(path, e))?;
                {
                    let mut meta = txn.open_table(META).map_err(|e| db_err(path, e))?;
                    meta.insert(META_GENESIS, seal(&genesis.canonical_bytes()).as_slice())
                        .map_err(|e| db_err(path, e))?;
                    meta.insert(META_TIP, seal(&codec::encode_versioned(&tip)).as_slice())
                        .map_err(|e| db_err(path, e))?;
                    meta.insert(
                        META_STATE_FORMAT,
                        seal(&STATE_FORMAT.to_be_bytes()).as_slice(),
                    )
                    .map_err(|e| db_err(path, e))?;
                    // Create every table so read transactions find them.
                    txn.open_table(BLOCKS).map_err(|e| db_err(path, e))?;
                    txn.open_table(CERTS).map_err(|e| db_err(path, e))?;
                    txn.open_table(TX_INDEX).map_err(|e| db_err(path, e))?;
                    txn.open_table(MERKLE).map_err(|e| db_err(path, e))?;
                    txn.open_table(APP).map_err(|e| db_err(path, e))?;
                }
                txn.commit().map_err(|e| db_err(path, e))?;
            }
        }
        RedbStore::from_db(db, path)
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Uninitialised(path.to_path_buf()));
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .open(path)
            .map_err(|e| db_err(path, e))?;
        RedbStore::from_db(db, path)
    }

    fn from_db(db: Database, path: &Path) -> Result<RedbStore, StoreError> {
        let genesis_bytes = read_meta(&db, path, META_GENESIS)?
            .ok_or_else(|| StoreError::Uninitialised(path.to_path_buf()))?;
        let genesis = Genesis::decode(&genesis_bytes)?;
        let tip_bytes = read_meta(&db, path, META_TIP)?
            .ok_or_else(|| StoreError::Uninitialised(path.to_path_buf()))?;
        let tip: ChainTip = codec::decode_versioned("tip", &tip_bytes, 64 * 1024).map_err(|e| {
            StoreError::Corrupt {
                what: "tip".into(),
                reason: e.to_string(),
            }
        })?;
        if !tip.acc.is_well_formed() || tip.chain_id != genesis.chain_id() {
            return Err(StoreError::Corrupt {
                what: "tip".into(),
                reason: "inconsistent with the genesis or malformed".into(),
            });
        }
        check_format(&db, path, tip.height)?;
        Ok(RedbStore {
            db,
            path: path.to_path_buf(),
            genesis,
            tip,
            deferred: false,
            last_append: AppendParts::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sealed record of a block exactly as stored (hash ‖ bytes), for
    /// tools that inspect the file.
    pub fn raw_block_record(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(BLOCKS).map_err(|e| self.err(e))?;
        let value = table.get(height).map_err(|e| self.err(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_err(&self.path, e)
    }

    /// Defers durability to [`RedbStore::flush`] (see the field's comment).
    pub fn set_deferred_durability(&mut self, deferred: bool) {
        self.deferred = deferred;
    }

    /// Makes every earlier write durable (one fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.commit().map_err(|e| self.err(e))
    }

    /// A write transaction with this store's durability.
    fn begin_append(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        if self.deferred {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| StoreError::Corrupt {
                    what: "durability".into(),
                    reason: e.to_string(),
                })?;
        }
        Ok(txn)
    }

    fn read_sealed(
        &self,
        table: TableDefinition<u64, &[u8]>,
        what: &str,
        height: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(table).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let bytes = unseal(|| format!("{what} {height}"), v.value())?;
        Ok(Some(bytes.to_vec()))
    }
}

fn db_err(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db {
        path: path.to_path_buf(),
        source: Box::new(e.into()),
    }
}

fn read_meta(db: &Database, path: &Path, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read().map_err(|e| db_err(path, e))?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_err(path, e)),
    };
    let Some(v) = table.get(key).map_err(|e| db_err(path, e))? else {
        return Ok(None);
    };
    Ok(Some(unseal(|| format!("meta {key}"), v.value())?.to_vec()))
}

impl BlockStore for RedbStore {
    fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    fn tip(&self) -> &ChainTip {
        &self.tip
    }

    fn append(&mut self, block: &Block, cert: Option<&BlockCert>) -> Result<(), StoreError> {
        self.append_with(block, cert, &[], &[])
    }

    fn save_cert(&mut self, cert: &BlockCert) -> Result<(), StoreError> {
        if cert.height == 0 || cert.height > self.tip.height {
            return Err(StoreError::Proof(format!(
                "no block {} to certify",
                cert.height
            )));
        }
        let txn = self.begin_append()?;
        {
            let mut certs = txn.open_table(CERTS).map_err(|e| self.err(e))?;
            certs
                .insert(cert.height, seal(&cert.encode()).as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(bytes) = self.read_sealed(BLOCKS, "block", height)? else {
            return Ok(None);
        };
        let block = Block::decode(&bytes).map_err(|e| StoreError::Corrupt {
            what: format!("block {height}"),
            reason: e.to_string(),
        })?;
        if block.header.height != height {
            return Err(StoreError::Corrupt {
                what: format!("block {height}"),
                reason: format!(
                    "stored under height {height} but says {}",
                    block.header.height
                ),
            });
        }
        Ok(Some(block))
    }

    fn cert(&self, height: u64) -> Result<Option<BlockCert>, StoreError> {
        let Some(bytes) = self.read_sealed(CERTS, "certificate", height)? else {
            return Ok(None);
        };
        BlockCert::decode(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("certificate {height}"),
                reason: e.to_string(),
            })
    }

    fn locate_tx(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(TX_INDEX).map_err(|e| self.err(e))?;
        Ok(t.get(&hash.0)
            .map_err(|e| self.err(e))?
            .map(|v| TxLocation::from_bytes(v.value())))
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        let src = self.subtrees()?;
        merkle::inclusion_proof(&src, index, size).map_err(|e| self.proof_err(e))
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(new)?;
        let src = self.subtrees()?;
        merkle::consistency_proof(&src, old, new).map_err(|e| self.proof_err(e))
    }

    fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        let src = self.subtrees()?;
        merkle::root_at(&src, size)
    }
}

impl RedbStore {
    /// Appends the next block like [`BlockStore::append`], and writes the
    /// upper layer's `extra` records and the contract state's changed
    /// records (`state`) in the same transaction, so the block and the state
    /// it produced are durable together or not at all.
    pub fn append_with(
        &mut self,
        block: &Block,
        cert: Option<&BlockCert>,
        extra: &[(&str, &[u8])],
        state: &[RecordWrite],
    ) -> Result<(), StoreError> {
        block.check_structure().map_err(StoreError::Block)?;
        let (tip, completed) = self.tip.check_next(block)?;
        let height = block.header.height;
        let mut parts = AppendParts::default();
        let mut lap = std::time::Instant::now();
        let mut next_lap = || {
            let now = std::time::Instant::now();
            let d = now - lap;
            lap = now;
            d
        };
        let txn = self.begin_append()?;
        parts.begin = next_lap();
        {
            let mut index = txn.open_table(TX_INDEX).map_err(|e| self.err(e))?;
            let first_leaf = self.tip.acc.size();
            for (position, tx) in block.txs.iter().enumerate() {
                let loc = TxLocation {
                    height,
                    position: position as u32,
                    leaf_index: first_leaf + position as u64,
                };
                if let Some(old) = index
                    .insert(&tx.hash().0, loc.to_bytes())
                    .map_err(|e| self.err(e))?
                {
                    let old = TxLocation::from_bytes(old.value());
                    return Err(StoreError::DuplicateTx {
                        hash: tx.hash(),
                        height: old.height,
                    });
                }
            }
            parts.tx_index = next_lap();
            let mut nodes = txn.open_table(MERKLE).map_err(|e| self.err(e))?;
            for (level, idx, hash) in completed {
                nodes
                    .insert(merkle_key(level, idx), hash.0)
                    .map_err(|e| self.err(e))?;
            }
            let mut blocks = txn.open_table(BLOCKS).map_err(|e| self.err(e))?;
            blocks
                .insert(height, seal(&block.encode()).as_slice())
                .map_err(|e| self.err(e))?;
            if let Some(cert) = cert {
                let mut certs = txn.open_table(CERTS).map_err(|e| self.err(e))?;
                certs
                    .insert(height, seal(&cert.encode()).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            if !extra.is_empty() {
                let mut app = txn.open_table(APP).map_err(|e| self.err(e))?;
                for (key, value) in extra {
                    app.insert(*key, seal(value).as_slice())
                        .map_err(|e| self.err(e))?;
                }
            }
            parts.block = next_lap();
            self.write_state(&txn, state)?;
            parts.state = next_lap();
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(META_TIP, seal(&codec::encode_versioned(&tip)).as_slice())
                .map_err(|e| self.err(e))?;
        }
        // Durability::Immediate is redb's default: commit returns after fsync.
        txn.commit().map_err(|e| self.err(e))?;
        parts.commit = next_lap();
        self.last_append = parts;
        self.tip = tip;
        Ok(())
    }

    /// How long the parts of the last appended block's write took.
    pub fn last_append_parts(&self) -> AppendParts {
        self.last_append
    }

    /// Where each of `hashes` is, in one read transaction.
    pub fn locate_many(&self, hashes: &[Hash]) -> Result<Vec<Option<TxLocation>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(TX_INDEX).map_err(|e| self.err(e))?;
        hashes
            .iter()
            .map(|h| {
                Ok(t.get(&h.0)
                    .map_err(|e| self.err(e))?
                    .map(|v| TxLocation::from_bytes(v.value())))
            })
            .collect()
    }

    /// Writes upper-layer records without a block (durable on return unless deferred).
    pub fn put_app_records(&mut self, records: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let txn = self.begin_append()?;
        {
            let mut app = txn.open_table(APP).map_err(|e| self.err(e))?;
            for (key, value) in records {
                app.insert(*key, seal(value).as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Reads an upper-layer record, re-checked against its stored hash.
    pub fn app_record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = match txn.open_table(APP) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        let Some(v) = table.get(key).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        Ok(Some(
            unseal(|| format!("app record {key}"), v.value())?.to_vec(),
        ))
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        if size > self.tip.acc.size() {
            return Err(StoreError::Proof(format!(
                "tree size {size} is beyond the ledger's {}",
                self.tip.acc.size()
            )));
        }
        Ok(())
    }

    fn subtrees(&self) -> Result<StoredSubtrees, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(MERKLE).map_err(|e| self.err(e))?;
        Ok(StoredSubtrees {
            table,
            path: self.path.clone(),
        })
    }

    fn proof_err(&self, e: ProofError<StoreError>) -> StoreError {
        match e {
            ProofError::Range(r) => StoreError::Proof(r),
            ProofError::Source(s) => s,
        }
    }
}

struct StoredSubtrees {
    table: redb::ReadOnlyTable<u64, [u8; 32]>,
    path: PathBuf,
}

impl SubtreeSource for StoredSubtrees {
    type Error = StoreError;

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        match self
            .table
            .get(merkle_key(level, index))
            .map_err(|e| db_err(&self.path, e))?
        {
            Some(v) => Ok(Hash(v.value())),
            None => Err(StoreError::Corrupt {
                what: format!("merkle node ({level}, {index})"),
                reason: "missing".into(),
            }),
        }
    }
}
