//! The state as records: every item of every table is a record addressed
//! by its kind (the table's name) and its key (the key's canonical bytes),
//! holding its value's canonical bytes. A few parts of the state are one
//! record each (the ledger time, the governance policy, the floor's recent
//! refusals).
//!
//! The write set of a stretch of VM work is the addresses of the records it
//! may have changed (every record that changed is in it), taken from the
//! tables ([`crate::table`]); the state tree (`smart_ledger::state_tree`)
//! is kept from it in O(changes · log n).

use serde::Serialize;
use smart_ledger::codec::encode_plain;

use crate::state::State;

/// A record's address: its kind and its key's canonical bytes.
pub type RecordKey = (&'static str, Vec<u8>);

/// A record: its address and its value's canonical bytes.
pub type Record = (&'static str, Vec<u8>, Vec<u8>);

/// Kinds of the records that stand alone (key: no bytes).
pub const SINGLE_RECORDS: [&str; 3] = ["time", "governance", "floor.recent_refusals"];

/// Reads a record's canonical bytes as JSON.
type ToJson = fn(&[u8]) -> Option<serde_json::Value>;

/// Kinds whose records are a log, keyed by position.
const LOG_KINDS: [&str; 2] = ["invoices", "payments"];

/// A stored record that does not fit the state.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No table of the state has this kind.
    #[error("no record kind {0:?} in the contract state")]
    UnknownKind(String),
    /// Its key or value does not decode as the kind's.
    #[error("state record {record}: its {what} does not decode")]
    Decode {
        /// `kind/key-hex`.
        record: String,
        /// Which part.
        what: String,
    },
    /// A log's record would leave a gap before it.
    #[error("{kind} record {position} leaves a gap in the log")]
    Gap {
        /// The log's kind.
        kind: &'static str,
        /// The position.
        position: u64,
    },
    /// A record that stands alone is missing.
    #[error("the state record {kind} is missing")]
    Missing {
        /// Its kind.
        kind: &'static str,
    },
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    smart_ledger::codec::decode_plain("state record", bytes, bytes.len()).ok()
}

fn bytes<T: Serialize>(value: &T) -> Vec<u8> {
    encode_plain(value)
}

fn key_of<K: serde::de::DeserializeOwned>(key: &[u8]) -> Option<K> {
    decode(key)
}

fn in_table<K: Ord + serde::de::DeserializeOwned, V: Serialize>(
    map: &std::collections::BTreeMap<K, V>,
    key: &[u8],
) -> Option<Vec<u8>> {
    map.get(&key_of::<K>(key)?).map(bytes)
}

fn in_set<K: Ord + serde::de::DeserializeOwned>(
    set: &std::collections::BTreeSet<K>,
    key: &[u8],
) -> Option<Vec<u8>> {
    set.contains(&key_of::<K>(key)?).then(Vec::new)
}

fn in_log<V: Serialize>(log: &[V], key: &[u8]) -> Option<Vec<u8>> {
    log.get(usize::try_from(key_of::<u64>(key)?).ok()?)
        .map(bytes)
}

/// Runs `$each!(kind, field)` for every table of the state, and
/// `$single!(kind, field)` for every record that stands alone.
macro_rules! tables {
    ($state:expr, $table:ident, $set:ident, $log:ident, $single:ident) => {
        $table!("identities", $state.identities);
        $table!("tokens", $state.tokens);
        $set!("holdings", $state.holdings);
        $table!("equipment", $state.equipment);
        $table!("documents", $state.documents);
        $set!("documents_on_file", $state.documents_on_file);
        $table!("contracts", $state.contracts);
        $table!("jobs", $state.jobs);
        $set!("deadlines", $state.deadlines);
        $table!("interlocks", $state.interlocks);
        $log!("invoices", $state.invoices);
        $log!("payments", $state.payments);
        $table!("hubs", $state.hubs);
        $set!("gateways", $state.gateways);
        $table!("credentials", $state.credentials);
        $table!("floor.stations", $state.floor.stations);
        $table!("floor.stock", $state.floor.stock);
        $table!("floor.usage", $state.floor.usage);
        $table!("floor.parts", $state.floor.parts);
        $table!("floor.decisions", $state.floor.decisions);
        $table!("suggestions", $state.suggestions);
        $table!("education", $state.education);
        $table!("maintenance", $state.maintenance);
        $table!("projects", $state.projects);
        $single!("time", $state.time);
        $single!("governance", $state.governance);
        $single!("floor.recent_refusals", $state.floor.recent_refusals);
    };
}

impl State {
    /// Every record of the state, table by table, each in key order.
    pub fn records(&self) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        self.visit_records(|kind, key, value| out.push((kind, key.to_vec(), value.to_vec())));
        out
    }

    /// Calls `visit` with every record of the state, table by table, each
    /// in key order, without holding them all at once.
    pub fn visit_records(&self, mut visit: impl FnMut(&'static str, &[u8], &[u8])) {
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                for (k, v) in $t.iter() {
                    visit($kind, &bytes(k), &bytes(v));
                }
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                for k in $t.iter() {
                    visit($kind, &bytes(k), &[]);
                }
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                for (i, v) in $t.iter().enumerate() {
                    visit($kind, &bytes(&(i as u64)), &bytes(v));
                }
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                visit($kind, &[], &bytes(&$v));
            };
        }
        tables!(self, table, set, log, single);
    }

    /// The value of the record at `(kind, key)`, if it exists.
    pub fn record(&self, kind: &str, key: &[u8]) -> Option<Vec<u8>> {
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    return in_table(&$t, key);
                }
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    return in_set(&$t, key);
                }
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    return in_log(&$t, key);
                }
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                if kind == $kind {
                    return key.is_empty().then(|| bytes(&$v));
                }
            };
        }
        tables!(self, table, set, log, single);
        None
    }

    /// The addresses of the records changed since the last call (with the
    /// records that stand alone, always), and forgets them.
    pub fn take_write_set(&mut self) -> Vec<RecordKey> {
        let mut out: Vec<RecordKey> = Vec::new();
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                out.extend($t.take_changed().iter().map(|k| ($kind, bytes(k))));
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                out.extend($t.take_changed().iter().map(|k| ($kind, bytes(k))));
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                out.extend($t.take_changed().map(|i| ($kind, bytes(&(i as u64)))));
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                out.push(($kind, Vec::new()));
            };
        }
        tables!(self, table, set, log, single);
        out
    }

    /// Puts one stored record into the state (`None`: it is absent), without
    /// marking it changed: loading the state from its records, or putting
    /// records back as they were.
    pub fn put_record(
        &mut self,
        kind: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        let bad = |what: &str| RecordError::Decode {
            record: smart_ledger::state_tree::record_name(kind, key),
            what: what.to_string(),
        };
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let k = decode(key).ok_or_else(|| bad("key"))?;
                    let v = match value {
                        Some(v) => Some(decode(v).ok_or_else(|| bad("value"))?),
                        None => None,
                    };
                    $t.put(k, v);
                    return Ok(());
                }
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let k = decode(key).ok_or_else(|| bad("key"))?;
                    if value.is_some_and(|v| !v.is_empty()) {
                        return Err(bad("value (a set's records hold no bytes)"));
                    }
                    $t.put(k, value.is_some());
                    return Ok(());
                }
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let at: u64 = decode(key).ok_or_else(|| bad("key"))?;
                    let at = usize::try_from(at).map_err(|_| bad("key"))?;
                    let v = match value {
                        Some(v) => Some(decode(v).ok_or_else(|| bad("value"))?),
                        None => None,
                    };
                    if !$t.put(at, v) {
                        return Err(RecordError::Gap {
                            kind: $kind,
                            position: at as u64,
                        });
                    }
                    return Ok(());
                }
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                if kind == $kind {
                    if !key.is_empty() {
                        return Err(bad("key (this record stands alone: no key)"));
                    }
                    let Some(v) = value else {
                        return Err(RecordError::Missing { kind: $kind });
                    };
                    $v = decode(v).ok_or_else(|| bad("value"))?;
                    return Ok(());
                }
            };
        }
        tables!(self, table, set, log, single);
        Err(RecordError::UnknownKind(kind.to_string()))
    }

    /// The state from its records, in any order (a log's records are put in
    /// position order). Every record that stands alone must be among them.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = (&'a str, &'a [u8], &'a [u8])>,
    ) -> Result<State, RecordError> {
        let mut state = State::default();
        let mut logs: Vec<(u64, &'a str, &'a [u8], &'a [u8])> = Vec::new();
        let mut singles = std::collections::BTreeSet::new();
        for (kind, key, value) in records {
            if LOG_KINDS.contains(&kind) {
                let at = decode::<u64>(key).ok_or_else(|| RecordError::Decode {
                    record: smart_ledger::state_tree::record_name(kind, key),
                    what: "key".into(),
                })?;
                logs.push((at, kind, key, value));
                continue;
            }
            if SINGLE_RECORDS.contains(&kind) {
                singles.insert(kind.to_string());
            }
            state.put_record(kind, key, Some(value))?;
        }
        logs.sort_by_key(|(at, kind, _, _)| (*kind, *at));
        for (_, kind, key, value) in logs {
            state.put_record(kind, key, Some(value))?;
        }
        if let Some(kind) = SINGLE_RECORDS.iter().find(|k| !singles.contains(**k)) {
            return Err(RecordError::Missing { kind });
        }
        Ok(state)
    }

    /// The address of the record whose state-tree path is `path`, if one
    /// is (hashes every address, encodes no value: for the rare proof of
    /// absence that ends on another record).
    pub fn address_at_path(&self, path: &smart_ledger::Hash) -> Option<RecordKey> {
        use smart_ledger::state_tree::path_of;
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                for k in $t.keys() {
                    let key = bytes(k);
                    if path_of($kind, &key) == *path {
                        return Some(($kind, key));
                    }
                }
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                for k in $t.iter() {
                    let key = bytes(k);
                    if path_of($kind, &key) == *path {
                        return Some(($kind, key));
                    }
                }
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                for i in 0..$t.len() {
                    let key = bytes(&(i as u64));
                    if path_of($kind, &key) == *path {
                        return Some(($kind, key));
                    }
                }
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                let _ = &$v;
                if path_of($kind, &[]) == *path {
                    return Some(($kind, Vec::new()));
                }
            };
        }
        tables!(self, table, set, log, single);
        None
    }

    /// Every record kind of the state.
    pub fn kinds() -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! each {
            ($kind:expr, $t:expr) => {
                let _ = &$t;
                out.push($kind);
            };
        }
        let state = State::default();
        tables!(state, each, each, each, each);
        out
    }

    /// A record's key and value as JSON, for people reading a proof.
    pub fn record_json(
        kind: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(serde_json::Value, Option<serde_json::Value>), RecordError> {
        let bad = |what: &str| RecordError::Decode {
            record: smart_ledger::state_tree::record_name(kind, key),
            what: what.to_string(),
        };
        fn json<T: serde::de::DeserializeOwned + Serialize>(
            bytes: &[u8],
        ) -> Option<serde_json::Value> {
            serde_json::to_value(decode::<T>(bytes)?).ok()
        }
        fn typed<K, V>(_: &std::collections::BTreeMap<K, V>) -> (ToJson, ToJson)
        where
            K: serde::de::DeserializeOwned + Serialize,
            V: serde::de::DeserializeOwned + Serialize,
        {
            (json::<K>, json::<V>)
        }
        fn typed_set<K>(_: &std::collections::BTreeSet<K>) -> fn(&[u8]) -> Option<serde_json::Value>
        where
            K: serde::de::DeserializeOwned + Serialize,
        {
            json::<K>
        }
        fn typed_log<V>(_: &[V]) -> fn(&[u8]) -> Option<serde_json::Value>
        where
            V: serde::de::DeserializeOwned + Serialize,
        {
            json::<V>
        }
        fn typed_single<V>(_: &V) -> fn(&[u8]) -> Option<serde_json::Value>
        where
            V: serde::de::DeserializeOwned + Serialize,
        {
            json::<V>
        }
        let state = State::default();
        macro_rules! table {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let (k, v) = typed(&$t);
                    let key = k(key).ok_or_else(|| bad("key"))?;
                    let value = match value {
                        Some(b) => Some(v(b).ok_or_else(|| bad("value"))?),
                        None => None,
                    };
                    return Ok((key, value));
                }
            };
        }
        macro_rules! set {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let key = typed_set(&$t)(key).ok_or_else(|| bad("key"))?;
                    return Ok((key, value.map(|_| serde_json::Value::Bool(true))));
                }
            };
        }
        macro_rules! log {
            ($kind:expr, $t:expr) => {
                if kind == $kind {
                    let key = json::<u64>(key).ok_or_else(|| bad("key"))?;
                    let value = match value {
                        Some(b) => Some(typed_log(&$t)(b).ok_or_else(|| bad("value"))?),
                        None => None,
                    };
                    return Ok((key, value));
                }
            };
        }
        macro_rules! single {
            ($kind:expr, $v:expr) => {
                if kind == $kind {
                    let value = match value {
                        Some(b) => Some(typed_single(&$v)(b).ok_or_else(|| bad("value"))?),
                        None => None,
                    };
                    return Ok((serde_json::Value::Null, value));
                }
            };
        }
        tables!(state, table, set, log, single);
        Err(RecordError::UnknownKind(kind.to_string()))
    }

    /// The state tree over every record, built from scratch.
    pub fn state_tree(&self) -> smart_ledger::state_tree::StateTree {
        let mut tree = smart_ledger::state_tree::TreeLoader::new();
        self.visit_records(|kind, key, value| tree.add(kind, key, &smart_ledger::Hash::of(value)));
        tree.finish()
    }

    /// Brings `tree` up to date with the records changed since the last
    /// write set was taken (O(changes · log n)); takes that write set.
    pub fn update_tree(&mut self, tree: &mut smart_ledger::state_tree::StateTree) {
        tree.apply_writes(&self.take_writes());
    }

    /// The records changed since the write set was last taken, each with
    /// its value now (`None`: gone); takes that write set.
    pub fn take_writes(&mut self) -> Vec<smart_ledger::state_tree::RecordWrite> {
        self.take_write_set()
            .into_iter()
            .map(|(kind, key)| {
                let value = self.record(kind, &key);
                smart_ledger::state_tree::RecordWrite { kind, key, value }
            })
            .collect()
    }
}
