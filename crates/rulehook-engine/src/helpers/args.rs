//! What every helper shares: its arguments, the budget checks made before anything is
//! built or scanned, and the small value walks several themes use.
//!
//! A helper charges its work before doing it (see [`crate::budget`]): building `n` bytes
//! ([`room_for`]) and reading `n` bytes ([`scan`]) cost about `n` work units, and a helper
//! that does more per byte (parsing, hashing, a regex) charges a factor more.

use serde_json::{Map, Value};

use super::HelperError;
use crate::budget;

/// Checks that building `bytes` fits the render's budget, and charges building them, before
/// anything is built.
pub(super) fn room_for(bytes: usize) -> Result<(), HelperError> {
    budget::fits(bytes)?;
    Ok(budget::work(bytes as u64)?)
}

/// The total size of `values`, checked against the render's budget as it is measured, and
/// charged as work once: copying them costs about their size.
pub(super) fn room_for_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
) -> Result<usize, HelperError> {
    let mut total = 0usize;
    for v in values {
        total = total.saturating_add(budget::measure(v)?);
        budget::fits(total)?;
    }
    budget::work(total as u64)?;
    Ok(total)
}

/// What [`chosen`] checks and charges of the argument a helper answers with, for a caller
/// that hands that argument on as it is instead of copying it.
pub(crate) fn passed_on(value: &Value) -> Result<(), HelperError> {
    room_for_all([value]).map(drop)
}

/// Charges reading `bytes` without building anything.
pub(super) fn scan(bytes: usize) -> Result<(), HelperError> {
    Ok(budget::work(bytes as u64)?)
}

/// Charges `units` of work for every byte of `values` (measured no further than the work
/// left).
pub(super) fn scan_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    units: u64,
) -> Result<(), HelperError> {
    Ok(budget::work_per_byte(values, units)?)
}

/// A copy of the value a helper chose to return (one of its arguments, or part of one),
/// charged before it is made.
pub(super) fn chosen(value: Option<&Value>) -> Result<Option<Value>, HelperError> {
    if let Some(v) = value {
        room_for_all([v])?;
    }
    Ok(value.cloned())
}

/// Work a helper spends per list item besides what it reads or builds: following a short
/// field path, a comparison of scalars.
pub(super) const ITEM_WORK: u64 = 50;

/// Charges [`ITEM_WORK`] for each of `n` items.
pub(super) fn per_item(n: usize, units: u64) -> Result<(), HelperError> {
    Ok(budget::work((n as u64).saturating_mul(units))?)
}

/// A helper's arguments; `None` is a missing value.
pub(crate) struct Args<'a> {
    pub(super) params: Vec<Option<&'a Value>>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(params: Vec<Option<&'a Value>>) -> Args<'a> {
        Args { params }
    }

    pub(super) fn get(&self, i: usize) -> Option<&'a Value> {
        self.params.get(i).copied().flatten()
    }

    pub(super) fn present(&self) -> impl Iterator<Item = &'a Value> + '_ {
        self.params.iter().filter_map(|p| *p)
    }

    pub(super) fn required(&self, i: usize) -> Result<&'a Value, HelperError> {
        self.get(i).ok_or(HelperError::Missing(i))
    }

    pub(super) fn str(&self, i: usize) -> Result<&'a str, HelperError> {
        match self.required(i)? {
            Value::String(s) => Ok(s),
            other => Err(HelperError::wrong_type(i, "a string", other)),
        }
    }

    /// A list argument; a missing one reads as empty, as an absent child type does, and a
    /// map as the list of its values in key order.
    pub(super) fn list(&self, i: usize) -> Result<Items<'a>, HelperError> {
        match self.get(i) {
            None | Some(Value::Null) => Ok(Items::List(&[])),
            Some(Value::Array(a)) => Ok(Items::List(a)),
            Some(Value::Object(m)) => Ok(Items::Map(m)),
            Some(other) => Err(HelperError::wrong_type(i, "a list or a map", other)),
        }
    }

    /// A string built from argument `i`; case changes can grow a string up to three times.
    pub(super) fn str_map(
        &self,
        i: usize,
        f: impl Fn(&str) -> String,
    ) -> Result<Option<Value>, HelperError> {
        let s = self.str(i)?;
        room_for(s.len().saturating_mul(3))?;
        Ok(Some(Value::String(f(s))))
    }
}

/// The items of a list argument: a list's, or a map's values in key order (serde_json's map
/// keeps its keys sorted), read in place rather than copied.
#[derive(Clone, Copy)]
pub(super) enum Items<'a> {
    List(&'a [Value]),
    Map(&'a Map<String, Value>),
}

impl<'a> Items<'a> {
    pub(super) fn len(self) -> usize {
        match self {
            Items::List(l) => l.len(),
            Items::Map(m) => m.len(),
        }
    }

    pub(super) fn iter(self) -> ItemsIter<'a> {
        match self {
            Items::List(l) => ItemsIter::List(l.iter()),
            Items::Map(m) => ItemsIter::Map(m.values()),
        }
    }

    pub(super) fn first(self) -> Option<&'a Value> {
        self.iter().next()
    }

    pub(super) fn last(self) -> Option<&'a Value> {
        self.iter().next_back()
    }
}

impl<'a> IntoIterator for Items<'a> {
    type Item = &'a Value;
    type IntoIter = ItemsIter<'a>;

    fn into_iter(self) -> ItemsIter<'a> {
        self.iter()
    }
}

/// The iterator over [`Items`].
#[derive(Clone)]
pub(super) enum ItemsIter<'a> {
    List(std::slice::Iter<'a, Value>),
    Map(serde_json::map::Values<'a>),
}

impl<'a> Iterator for ItemsIter<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        match self {
            ItemsIter::List(i) => i.next(),
            ItemsIter::Map(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            ItemsIter::List(i) => i.size_hint(),
            ItemsIter::Map(i) => i.size_hint(),
        }
    }

    fn nth(&mut self, n: usize) -> Option<&'a Value> {
        match self {
            ItemsIter::List(i) => i.nth(n),
            ItemsIter::Map(i) => i.nth(n),
        }
    }
}

impl DoubleEndedIterator for ItemsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            ItemsIter::List(i) => i.next_back(),
            ItemsIter::Map(i) => i.next_back(),
        }
    }
}

impl ExactSizeIterator for ItemsIter<'_> {}

/// A value as text: strings bare, everything else as JSON.
pub(super) fn plain_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A whole number as an `i64`: an integer, or a float with no fraction (`3.0`) in range.
pub(super) fn whole_number(v: &Value) -> Option<i64> {
    /// 2^63: every i64 lies in [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match v.as_i64() {
        Some(i) => Some(i),
        None => v
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f))
            // Exact: a whole float inside the i64 range.
            .map(|f| f as i64),
    }
}

/// Follows a dotted field path (`status.phase`) into a value.
pub(super) fn dig<'v>(mut v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    for seg in path.split('.') {
        v = match v {
            Value::Object(m) => m.get(seg)?,
            Value::Array(l) => l.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}
