//! The Raft log and vote in redb (`raft.redb` in the hub's folder).
//!
//! Why a second file: openraft appends to the log on its core task while the
//! state machine applies on another; redb has one writer per file, so one
//! file would serialise the two fsyncs. Both files are redb, behind the same
//! durability rule: a write is acknowledged only after `commit` (fsync).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::types::{Entry, LogId, StorageError, TypeConfig};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const VOTE: &str = "vote";
const PURGED: &str = "last_purged";
const COMMITTED: &str = "committed";

/// Largest encoded log entry accepted back from disk.
const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;

/// The Raft log store. Cheap to clone (replication streams read concurrently).
#[derive(Clone, Debug)]
pub struct LogStore {
    db: Arc<Database>,
}

fn io<E: std::error::Error + 'static>(write: bool) -> impl Fn(E) -> StorageError {
    move |e| {
        if write {
            StorageIOError::write_logs(&e).into()
        } else {
            StorageIOError::read_logs(&e).into()
        }
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    smart_ledger::codec::encode_plain(v)
}

fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StorageError> {
    smart_ledger::codec::decode_plain(what, bytes, MAX_ENTRY_BYTES)
        .map_err(|e| StorageIOError::read_logs(&e).into())
}

impl LogStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<LogStore, StorageError> {
        let db = Database::create(path).map_err(io(true))?;
        let txn = db.begin_write().map_err(io(true))?;
        txn.open_table(LOG).map_err(io(true))?;
        txn.open_table(META).map_err(io(true))?;
        txn.commit().map_err(io(true))?;
        Ok(LogStore { db: Arc::new(db) })
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(io(false))?;
        let t = txn.open_table(META).map_err(io(false))?;
        let Some(v) = t.get(key).map_err(io(false))? else {
            return Ok(None);
        };
        Ok(Some(decode("raft meta", v.value())?))
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(io(true))?;
        {
            let mut t = txn.open_table(META).map_err(io(true))?;
            t.insert(key, encode(value).as_slice()).map_err(io(true))?;
        }
        txn.commit().map_err(io(true))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let txn = self.db.begin_read().map_err(io(false))?;
        let t = txn.open_table(LOG).map_err(io(false))?;
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in t.range(start..).map_err(io(false))? {
            let (k, v) = item.map_err(io(false))?;
            if !range.contains(&k.value()) {
                break;
            }
            out.push(decode::<Entry>("raft entry", v.value())?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED)?;
        let txn = self.db.begin_read().map_err(io(false))?;
        let t = txn.open_table(LOG).map_err(io(false))?;
        let last = match t.last().map_err(io(false))? {
            Some((_, v)) => Some(decode::<Entry>("raft entry", v.value())?.log_id),
            None => None,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // A hint for re-applying after a restart, not a promise: it becomes
        // durable with the next log append instead of costing its own fsync.
        let mut txn = self.db.begin_write().map_err(io(true))?;
        txn.set_durability(redb::Durability::None)
            .map_err(io(true))?;
        {
            let mut t = txn.open_table(META).map_err(io(true))?;
            t.insert(COMMITTED, encode(&committed).as_slice())
                .map_err(io(true))?;
        }
        txn.commit().map_err(io(true))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let result = (|| {
            let txn = self.db.begin_write().map_err(io(true))?;
            {
                let mut t = txn.open_table(LOG).map_err(io(true))?;
                for e in entries {
                    t.insert(e.log_id.index, encode(&e).as_slice())
                        .map_err(io(true))?;
                }
            }
            // Durability::Immediate (redb's default): on disk when commit returns.
            txn.commit().map_err(io(true))
        })();
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(io(true))?;
        {
            let mut t = txn.open_table(LOG).map_err(io(true))?;
            t.retain_in(log_id.index.., |_, _| false)
                .map_err(io(true))?;
        }
        txn.commit().map_err(io(true))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(io(true))?;
        {
            let mut meta = txn.open_table(META).map_err(io(true))?;
            meta.insert(PURGED, encode(&log_id).as_slice())
                .map_err(io(true))?;
            let mut t = txn.open_table(LOG).map_err(io(true))?;
            t.retain_in(..=log_id.index, |_, _| false)
                .map_err(io(true))?;
        }
        txn.commit().map_err(io(true))
    }
}
