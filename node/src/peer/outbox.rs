//! A station's durable outbox: actions it decided on its own state while no
//! hub was reachable, in order, until a hub has ordered them; and the record
//! of decisions the final ledger overturned (flagged, never hidden).

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use smart_ledger::{Bytes, Hash, Outcome, Timestamp};

const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
const OVERTURNED: TableDefinition<u64, &[u8]> = TableDefinition::new("overturned");

/// One action waiting for a hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The signed tx.
    pub tx: Bytes,
    /// Its hash.
    pub hash: Hash,
    /// The height of the state the local decision used.
    pub based_on: u64,
    /// The local decision.
    pub local: Outcome,
    /// The station's clock when it decided.
    pub decided_at: Timestamp,
}

/// A local decision the ledger decided differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overturned {
    /// The tx.
    pub hash: Hash,
    /// The station's decision and the height it used.
    pub local: Outcome,
    /// Height of the local state.
    pub based_on: u64,
    /// The final outcome.
    pub ledger: Outcome,
    /// Where the ledger decided it.
    pub height: u64,
}

/// An outbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The file could not be read or written.
    #[error("outbox: {0}")]
    Store(String),
    /// It holds as many actions as it may: nothing more is decided here
    /// until a hub has taken some.
    #[error("outbox: full ({limit} actions waiting for a hub)")]
    Full {
        /// The most actions it holds.
        limit: u64,
    },
}

fn err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Store(e.to_string())
}

/// The most actions an outbox holds by default: days of a busy station's
/// work with no hub reachable, a few hundred MB at most.
pub const DEFAULT_LIMIT: u64 = 200_000;

/// The outbox file (`outbox.redb` in the node's folder). Every write is
/// durable before it returns.
#[derive(Debug)]
pub struct Outbox {
    db: Database,
    limit: u64,
}

impl Outbox {
    /// Opens or creates it.
    pub fn open(dir: &Path) -> Result<Outbox, OutboxError> {
        let db = Database::create(dir.join("outbox.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(PENDING).map_err(err)?;
        txn.open_table(OVERTURNED).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Outbox {
            db,
            limit: DEFAULT_LIMIT,
        })
    }

    /// Sets the most actions it holds (`smart run --outbox-limit`).
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// The file name of an outbox in a peer folder.
    pub const FILE_NAME: &'static str = "outbox.redb";

    /// Copies the outbox as it is now (one read transaction) into a new file
    /// at `path` (written beside it and renamed); returns the actions pending.
    pub fn copy_to(&self, path: &Path) -> Result<u64, OutboxError> {
        let read = self.db.begin_read().map_err(err)?;
        let tmp = path.with_extension("partial");
        let copy = Database::create(&tmp).map_err(err)?;
        let write = copy.begin_write().map_err(err)?;
        let mut pending = 0;
        for (table, is_pending) in [(PENDING, true), (OVERTURNED, false)] {
            let from = read.open_table(table).map_err(err)?;
            let mut to = write.open_table(table).map_err(err)?;
            for row in from.iter().map_err(err)? {
                let (k, v) = row.map_err(err)?;
                to.insert(k.value(), v.value()).map_err(err)?;
                if is_pending {
                    pending += 1;
                }
            }
        }
        write.commit().map_err(err)?;
        drop(copy);
        std::fs::rename(&tmp, path).map_err(err)?;
        Ok(pending)
    }

    fn append(
        &self,
        table: TableDefinition<u64, &[u8]>,
        bytes: &[u8],
        limit: u64,
    ) -> Result<(), OutboxError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut t = txn.open_table(table).map_err(err)?;
            if t.len().map_err(err)? >= limit {
                return Err(OutboxError::Full { limit });
            }
            let next = t
                .last()
                .map_err(err)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0);
            t.insert(next, bytes).map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    /// Adds a decided action (durable on return).
    pub fn push(&self, p: &Pending) -> Result<(), OutboxError> {
        self.append(PENDING, &smart_ledger::codec::encode_plain(p), self.limit)
    }

    /// Every pending action, oldest first, with its key.
    pub fn pending(&self) -> Result<Vec<(u64, Pending)>, OutboxError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(PENDING).map_err(err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            out.push((
                k.value(),
                smart_ledger::codec::decode_plain("outbox entry", v.value(), 1 << 20)
                    .map_err(err)?,
            ));
        }
        Ok(out)
    }

    /// Removes handed-off actions and records overturned decisions, in one transaction.
    pub fn settle(&self, done: &[u64], overturned: &[Overturned]) -> Result<(), OutboxError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut t = txn.open_table(PENDING).map_err(err)?;
            for k in done {
                t.remove(k).map_err(err)?;
            }
            let mut o = txn.open_table(OVERTURNED).map_err(err)?;
            let first = o
                .last()
                .map_err(err)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0);
            for (key, ov) in (first..).zip(overturned) {
                o.insert(key, smart_ledger::codec::encode_plain(ov).as_slice())
                    .map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// Every overturned decision.
    pub fn overturned(&self) -> Result<Vec<Overturned>, OutboxError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(OVERTURNED).map_err(err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(err)? {
            let (_, v) = item.map_err(err)?;
            out.push(
                smart_ledger::codec::decode_plain("overturned", v.value(), 1 << 20).map_err(err)?,
            );
        }
        Ok(out)
    }
}
