//! Sequences with a maximum length, enforced while decoding: a length prefix
//! from the wire never sizes an allocation, and decoding stops at the first
//! element past the limit instead of building a huge vector first.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// Elements allocated up front at most, whatever the length prefix says.
const PREALLOCATE: usize = 64;

struct BoundedVisitor<T> {
    max: usize,
    what: &'static str,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for BoundedVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {} {}", self.max, self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        if let Some(n) = seq.size_hint()
            && n > self.max
        {
            return Err(de::Error::custom(format!(
                "{n} {} is over the limit of {}",
                self.what, self.max
            )));
        }
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(PREALLOCATE));
        while let Some(item) = seq.next_element()? {
            if out.len() == self.max {
                return Err(de::Error::custom(format!(
                    "more than {} {}",
                    self.max, self.what
                )));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// Deserializes a `Vec<T>` of at most `max` elements.
pub(crate) fn vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    max: usize,
    what: &'static str,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(BoundedVisitor {
        max,
        what,
        marker: PhantomData,
    })
}

/// Declares a `deserialize_with` function for a bounded `Vec`.
macro_rules! bounded_vec_fn {
    ($name:ident, $t:ty, $max:expr, $what:literal) => {
        pub(crate) fn $name<'de, D: ::serde::Deserializer<'de>>(d: D) -> Result<Vec<$t>, D::Error> {
            $crate::bounded::vec(d, $max, $what)
        }
    };
}
pub(crate) use bounded_vec_fn;
