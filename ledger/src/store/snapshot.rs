//! A consistent copy of a whole store (`smart backup`): one read
//! transaction, copied table by table into a new file.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};

use super::state::state_tables;
use super::{APP, BLOCKS, CERTS, MERKLE, META, RedbStore, StoreError, TX_INDEX, db_err};

/// A consistent, frozen view of a store (one read transaction): writes that
/// commit after it was taken are not in it. Taking one is quick and can be
/// done under the lock that guards the store; copying it out
/// ([`StoreSnapshot::write_to`]) then needs no lock.
pub struct StoreSnapshot {
    txn: redb::ReadTransaction,
    source: PathBuf,
    height: u64,
}

impl std::fmt::Debug for StoreSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoreSnapshot({} at height {})",
            self.source.display(),
            self.height
        )
    }
}

/// Entries copied per write transaction of a backup.
const COPY_CHUNK: usize = 50_000;

fn copy_table<K, V>(
    from: &redb::ReadTransaction,
    to: &Database,
    path: &Path,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    use redb::ReadableTable;
    let table = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(db_err(path, e)),
    };
    let mut rows = table.iter().map_err(|e| db_err(path, e))?;
    let mut copied = 0u64;
    loop {
        let w = to.begin_write().map_err(|e| db_err(path, e))?;
        let mut n = 0;
        {
            let mut out = w.open_table(def).map_err(|e| db_err(path, e))?;
            for row in rows.by_ref() {
                let (k, v) = row.map_err(|e| db_err(path, e))?;
                out.insert(k.value(), v.value())
                    .map_err(|e| db_err(path, e))?;
                n += 1;
                if n == COPY_CHUNK {
                    break;
                }
            }
        }
        w.commit().map_err(|e| db_err(path, e))?;
        copied += n as u64;
        if n < COPY_CHUNK {
            return Ok(copied);
        }
    }
}

impl StoreSnapshot {
    /// The tip height of the snapshot.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Writes the snapshot as a new store file at `path` (which must not
    /// exist): a `ledger.redb` another peer folder can use as it is. Written
    /// to `path.partial` and renamed, so `path` is never half a backup.
    pub fn write_to(&self, path: &Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(db_err(
                path,
                redb::StorageError::Io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the backup file already exists",
                )),
            ));
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let _ = std::fs::remove_file(&tmp);
        let db = Database::create(&tmp).map_err(|e| db_err(&tmp, e))?;
        copy_table(&self.txn, &db, &tmp, META)?;
        copy_table(&self.txn, &db, &tmp, BLOCKS)?;
        copy_table(&self.txn, &db, &tmp, CERTS)?;
        copy_table(&self.txn, &db, &tmp, TX_INDEX)?;
        copy_table(&self.txn, &db, &tmp, MERKLE)?;
        copy_table(&self.txn, &db, &tmp, APP)?;
        let tables = self
            .txn
            .list_tables()
            .map_err(|e| db_err(&self.source, e))?;
        for name in state_tables(tables) {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
            copy_table(&self.txn, &db, &tmp, def)?;
        }
        drop(db);
        std::fs::rename(&tmp, path).map_err(|e| db_err(path, redb::StorageError::Io(e)))
    }
}

impl RedbStore {
    /// A consistent view of the whole store as it is now (see [`StoreSnapshot`]).
    pub fn snapshot(&self) -> Result<StoreSnapshot, StoreError> {
        Ok(StoreSnapshot {
            txn: self.db.begin_read().map_err(|e| db_err(&self.path, e))?,
            source: self.path.clone(),
            height: self.tip.height,
        })
    }
}
