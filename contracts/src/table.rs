//! The state's tables: maps, sets and logs that remember which of their
//! records changed since they were last asked (the write set), so a block's
//! changes can be found without comparing the whole state.
//!
//! Each reads like the std collection it wraps (`Deref`); every way to
//! change one goes through a method here that marks what it touched. The
//! write set may name a record whose bytes did not change (a `get_mut`
//! that wrote nothing): it is never missing one that did.
//!
//! Serialization is the wrapped collection's, byte for byte: the write set
//! is not part of the state.

use std::borrow::Borrow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map of records by key.
#[derive(Clone, Debug)]
pub struct Table<K: Ord, V> {
    map: BTreeMap<K, V>,
    changed: BTreeSet<K>,
}

impl<K: Ord, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            map: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Ord, V: PartialEq> PartialEq for Table<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K: Ord, V: Eq> Eq for Table<K, V> {}

impl<K: Ord, V> Deref for Table<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &BTreeMap<K, V> {
        &self.map
    }
}

impl<K: Ord, V> From<BTreeMap<K, V>> for Table<K, V> {
    fn from(map: BTreeMap<K, V>) -> Self {
        Table {
            map,
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for Table<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Table::from(iter.into_iter().collect::<BTreeMap<K, V>>())
    }
}

impl<K: Ord + Clone, V> Table<K, V> {
    /// Sets `key` to `value`; the old value, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.changed.insert(key.clone());
        self.map.insert(key, value)
    }

    /// The value of `key`, to change.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let (k, _) = self.map.get_key_value(key)?;
        self.changed.insert(k.clone());
        self.map.get_mut(key)
    }

    /// The entry of `key`, to fill or change.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.changed.insert(key.clone());
        self.map.entry(key)
    }

    /// Takes `key` out; its value, if it was there.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let (k, v) = self.map.remove_entry(key)?;
        self.changed.insert(k);
        Some(v)
    }

    /// Changes every value `pick` chooses with `change` (each one marked).
    pub fn change_where(&mut self, pick: impl Fn(&K, &V) -> bool, mut change: impl FnMut(&mut V)) {
        let keys: Vec<K> = self
            .map
            .iter()
            .filter(|(k, v)| pick(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(v) = self.map.get_mut(&k) {
                change(v);
            }
            self.changed.insert(k);
        }
    }

    /// Takes every record out.
    pub fn clear(&mut self) {
        let map = std::mem::take(&mut self.map);
        self.changed.extend(map.into_keys());
    }

    /// The keys changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<K> {
        std::mem::take(&mut self.changed)
    }

    /// Sets or removes a record as it was stored, without marking it changed
    /// (loading the state from its records, or putting a record back).
    pub fn put(&mut self, key: K, value: Option<V>) {
        match value {
            Some(v) => self.map.insert(key, v),
            None => self.map.remove(&key),
        };
    }
}

impl<K: Ord + Serialize, V: Serialize> Serialize for Table<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Table<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Table::from)
    }
}

/// A set of records (each is its own key, with no value).
#[derive(Clone, Debug)]
pub struct Set<K: Ord> {
    set: BTreeSet<K>,
    changed: BTreeSet<K>,
}

impl<K: Ord> Default for Set<K> {
    fn default() -> Self {
        Set {
            set: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Ord> PartialEq for Set<K> {
    fn eq(&self, other: &Self) -> bool {
        self.set == other.set
    }
}

impl<K: Ord> Eq for Set<K> {}

impl<K: Ord> Deref for Set<K> {
    type Target = BTreeSet<K>;
    fn deref(&self) -> &BTreeSet<K> {
        &self.set
    }
}

impl<K: Ord> From<BTreeSet<K>> for Set<K> {
    fn from(set: BTreeSet<K>) -> Self {
        Set {
            set,
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Ord> FromIterator<K> for Set<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        Set::from(iter.into_iter().collect::<BTreeSet<K>>())
    }
}

impl<K: Ord + Clone> Set<K> {
    /// Adds `key`; whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.changed.insert(key.clone());
        self.set.insert(key)
    }

    /// Takes `key` out; whether it was there.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.set.take(key) {
            Some(k) => {
                self.changed.insert(k);
                true
            }
            None => false,
        }
    }

    /// Takes every key out.
    pub fn clear(&mut self) {
        let set = std::mem::take(&mut self.set);
        self.changed.extend(set);
    }

    /// Takes the first key out.
    pub fn pop_first(&mut self) -> Option<K> {
        let k = self.set.pop_first()?;
        self.changed.insert(k.clone());
        Some(k)
    }

    /// The keys changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<K> {
        std::mem::take(&mut self.changed)
    }

    /// Adds or takes out a key as it was stored, without marking it changed.
    pub fn put(&mut self, key: K, present: bool) {
        if present {
            self.set.insert(key);
        } else {
            self.set.remove(&key);
        }
    }
}

impl<K: Ord + Serialize> Serialize for Set<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.set.serialize(s)
    }
}

impl<'de, K: Ord + Deserialize<'de>> Deserialize<'de> for Set<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeSet::deserialize(d).map(Set::from)
    }
}

/// A log of records in order, appended to and never rewritten: each record
/// is keyed by its position.
#[derive(Clone, Debug)]
pub struct Log<V> {
    items: Vec<V>,
    /// Positions below this were there at the last `take_changed`.
    settled: usize,
}

impl<V> Default for Log<V> {
    fn default() -> Self {
        Log {
            items: Vec::new(),
            settled: 0,
        }
    }
}

impl<V: PartialEq> PartialEq for Log<V> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<V: Eq> Eq for Log<V> {}

impl<V> Deref for Log<V> {
    type Target = Vec<V>;
    fn deref(&self) -> &Vec<V> {
        &self.items
    }
}

impl<V> From<Vec<V>> for Log<V> {
    fn from(items: Vec<V>) -> Self {
        let settled = items.len();
        Log { items, settled }
    }
}

impl<V> Log<V> {
    /// Appends `value`.
    pub fn push(&mut self, value: V) {
        self.items.push(value);
    }

    /// The positions appended since the last call.
    pub fn take_changed(&mut self) -> std::ops::Range<usize> {
        let new = self.settled.min(self.items.len())..self.items.len();
        self.settled = self.items.len();
        new
    }

    /// Sets the record at `position` as it was stored, without marking it
    /// changed: the next position appends, an earlier one is replaced, and
    /// `None` cuts the log back to `position` records. Whether it fits (a
    /// position past the next one leaves a gap and is refused).
    pub fn put(&mut self, position: usize, value: Option<V>) -> bool {
        match value {
            Some(v) if position == self.items.len() => self.items.push(v),
            Some(v) if position < self.items.len() => self.items[position] = v,
            Some(_) => return false,
            None => self.items.truncate(position),
        }
        self.settled = self.items.len();
        true
    }
}

impl<V: Serialize> Serialize for Log<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Log<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::deserialize(d).map(Log::from)
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a Table<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl<'a, K: Ord> IntoIterator for &'a Set<K> {
    type Item = &'a K;
    type IntoIter = std::collections::btree_set::Iter<'a, K>;
    fn into_iter(self) -> Self::IntoIter {
        self.set.iter()
    }
}

impl<'a, V> IntoIterator for &'a Log<V> {
    type Item = &'a V;
    type IntoIter = std::slice::Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
