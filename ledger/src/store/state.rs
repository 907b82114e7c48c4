//! The contract state's records in the store (stored-state format 2): one
//! table per kind, each record sealed so damage names it, written with the
//! block that changed it.

use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;

use super::{APP, META, RecordWrite, RedbStore, StoreError, db_err, read_meta, record_name, seal};
use crate::hash::Hash;

/// The stored-state format (see [`STATE_FORMAT`]).
pub(super) const META_STATE_FORMAT: &str = "state_format";
/// The tables of the contract state's records, one per kind: `state/KIND`.
const STATE_PREFIX: &str = "state/";

/// The stored-state format this build reads and writes: the contract state
/// as records, one redb table per kind (`state/KIND`, key → sealed value),
/// and a block's `state_root` the root of the state tree over them
/// (`docs/state-tree.md`). Format 1 (earlier builds) kept the whole state as
/// one record and hashed its encoding; format 2 kept each holder's token ids
/// as one record that grew with every token issued. A store in either is
/// refused at open.
pub const STATE_FORMAT: u32 = 3;

/// The names of the state's tables among `tables`, in order.
pub(super) fn state_tables(tables: impl Iterator<Item = redb::UntypedTableHandle>) -> Vec<String> {
    let mut names: Vec<String> = tables
        .map(|h| redb::TableHandle::name(&h).to_string())
        .filter(|n| n.starts_with(STATE_PREFIX))
        .collect();
    names.sort();
    names
}

/// A state record as stored: `leaf_hash(kind, key, blake3(value)) ‖ value`,
/// so a flipped byte in its key or its value is found on read.
fn seal_record(kind: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
    let digest = crate::state_tree::leaf_hash(kind, key, &Hash::of(value));
    let mut out = Vec::with_capacity(32 + value.len());
    out.extend_from_slice(&digest.0);
    out.extend_from_slice(value);
    out
}

fn unseal_record<'a>(kind: &str, key: &[u8], record: &'a [u8]) -> Result<&'a [u8], StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        what: format!("state record {}", record_name(kind, key)),
        reason: reason.into(),
    };
    if record.len() < 32 {
        return Err(corrupt("record shorter than its hash"));
    }
    let (digest, value) = record.split_at(32);
    if crate::state_tree::leaf_hash(kind, key, &Hash::of(value)).0 != digest {
        return Err(corrupt(
            "its key and value do not match the hash they were stored under",
        ));
    }
    Ok(value)
}

fn state_table(kind: &str) -> String {
    format!("{STATE_PREFIX}{kind}")
}

/// Refuses a store in another stored-state format. A store without blocks
/// (nothing to misread) is marked with this build's format.
pub(super) fn check_format(db: &Database, path: &Path, height: u64) -> Result<(), StoreError> {
    let found = match read_meta(db, path, META_STATE_FORMAT)? {
        Some(bytes) => {
            let raw: [u8; 4] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt {
                    what: "meta state_format".into(),
                    reason: format!("{} bytes, expected 4", bytes.len()),
                })?;
            u32::from_be_bytes(raw)
        }
        None if height == 0 => {
            let txn = db.begin_write().map_err(|e| db_err(path, e))?;
            {
                let mut meta = txn.open_table(META).map_err(|e| db_err(path, e))?;
                meta.insert(
                    META_STATE_FORMAT,
                    seal(&STATE_FORMAT.to_be_bytes()).as_slice(),
                )
                .map_err(|e| db_err(path, e))?;
            }
            txn.commit().map_err(|e| db_err(path, e))?;
            STATE_FORMAT
        }
        None => 1,
    };
    if found != STATE_FORMAT {
        return Err(StoreError::OldFormat {
            path: path.to_path_buf(),
            found,
        });
    }
    Ok(())
}

impl RedbStore {
    /// Writes state records in `txn`, grouped by kind (one table per kind).
    pub(super) fn write_state(
        &self,
        txn: &redb::WriteTransaction,
        state: &[RecordWrite],
    ) -> Result<(), StoreError> {
        let mut kinds: Vec<&'static str> = state.iter().map(|w| w.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let name = state_table(kind);
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
            let mut table = txn.open_table(def).map_err(|e| self.err(e))?;
            for w in state.iter().filter(|w| w.kind == kind) {
                match &w.value {
                    Some(v) => {
                        table
                            .insert(w.key.as_slice(), seal_record(kind, &w.key, v).as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    None => {
                        table.remove(w.key.as_slice()).map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Replaces the whole contract state with `records` (and writes the
    /// upper layer's `extra` records) in one transaction: a state installed
    /// from a snapshot. Durable on return unless deferred.
    pub fn replace_state(
        &mut self,
        records: &[RecordWrite],
        extra: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let txn = self.begin_append()?;
        {
            let tables = txn.list_tables().map_err(|e| self.err(e))?;
            for name in state_tables(tables) {
                let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
                txn.delete_table(def).map_err(|e| self.err(e))?;
            }
            self.write_state(&txn, records)?;
            let mut app = txn.open_table(APP).map_err(|e| self.err(e))?;
            for (key, value) in extra {
                app.insert(*key, seal(value).as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// The stored value of the state record `(kind, key)`, re-checked.
    pub fn state_record(&self, kind: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.raw_state_record(kind, key)? {
            Some(sealed) => Ok(Some(unseal_record(kind, key, &sealed)?.to_vec())),
            None => Ok(None),
        }
    }

    /// Visits every stored state record, kind by kind, each re-checked
    /// (the first damaged one is named in the error). Returns how many.
    pub fn visit_state(
        &self,
        mut visit: impl FnMut(&str, &[u8], &[u8]),
    ) -> Result<u64, StoreError> {
        use redb::ReadableTable;
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let mut n = 0u64;
        for name in state_tables(txn.list_tables().map_err(|e| self.err(e))?) {
            let kind = &name[STATE_PREFIX.len()..];
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
            let table = txn.open_table(def).map_err(|e| self.err(e))?;
            for row in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = row.map_err(|e| self.err(e))?;
                let value = unseal_record(kind, k.value(), v.value())?;
                visit(kind, k.value(), value);
                n += 1;
            }
        }
        Ok(n)
    }

    /// The sealed state record exactly as stored, for tools that inspect the file.
    pub fn raw_state_record(&self, kind: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let name = state_table(kind);
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let table = match txn.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        Ok(table
            .get(key)
            .map_err(|e| self.err(e))?
            .map(|v| v.value().to_vec()))
    }
}
