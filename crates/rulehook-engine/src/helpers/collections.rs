//! List helpers: ordering, distinct values, extremes, lengths, slices and positions.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;

use super::args::{dig, per_item, room_for, room_for_all, scan, scan_all, whole_number, ITEM_WORK};
use super::compare::{canonical_text, json_equal, total_order};
use super::{Args, HelperError};
use crate::budget;
use crate::json::type_name;

pub(super) fn length(a: &Args) -> Result<Option<Value>, HelperError> {
    let n = match a.get(0) {
        None | Some(Value::Null) => 0,
        Some(Value::Array(l)) => l.len(),
        Some(Value::Object(m)) => m.len(),
        Some(Value::String(s)) => {
            scan(s.len())?;
            s.chars().count()
        }
        Some(other) => return Err(HelperError::NoLength(type_name(other))),
    };
    Ok(Some(Value::from(n)))
}

/// `sort list [field.path]`: ascending, by [`total_order`]; equal items keep their order.
pub(super) fn sort(a: &Args) -> Result<Option<Value>, HelperError> {
    sorted(a, Ordering::Less)
}

/// `sortDesc list [field.path]`: descending; equal items keep their order, as in `sort`.
pub(super) fn sort_desc(a: &Args) -> Result<Option<Value>, HelperError> {
    sorted(a, Ordering::Greater)
}

/// The items ordered so that each comes `first` of the next one or equal to it; a stable
/// sort, so equal items keep the order they came in. Items without the field come before
/// the others in ascending order, after them in descending.
fn sorted(a: &Args, first: Ordering) -> Result<Option<Value>, HelperError> {
    let items = a.list(0)?;
    let size = room_for_all(items)?;
    // About n·log n comparisons, each of which may read a whole item (lists and maps
    // compare by their JSON text).
    let rounds = usize::BITS - items.len().leading_zeros();
    scan(size.saturating_mul(rounds as usize))?;
    per_item(items.len().saturating_mul(rounds as usize), ITEM_WORK)?;
    let directed = |order: Ordering| {
        if first == Ordering::Less {
            order
        } else {
            order.reverse()
        }
    };
    let mut list: Vec<Value> = items.iter().cloned().collect();
    match a.get(1) {
        Some(Value::String(path)) => list.sort_by(|x, y| {
            directed(match (dig(x, path), dig(y, path)) {
                (Some(x), Some(y)) => total_order(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            })
        }),
        Some(other) => {
            return Err(HelperError::Operand {
                what: "sort field",
                expected: "a string",
                found: type_name(other),
            })
        }
        None => list.sort_by(|x, y| directed(total_order(x, y))),
    }
    Ok(Some(Value::Array(list)))
}

/// The first of each distinct value, in order. Distinct by canonical JSON text (numbers by
/// value), in a hash set, so a long list costs linear time rather than comparing every pair.
pub(super) fn unique(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    let size = room_for_all(list)?;
    room_for(size.saturating_mul(2))?;
    // Each item's text is hashed as well as built.
    scan(size)?;
    let mut seen = HashSet::new();
    let out = list
        .iter()
        .filter(|v| seen.insert(canonical_text(v)))
        .cloned()
        .collect();
    Ok(Some(Value::Array(out)))
}

/// `min list` (or map) or `min a b c`; missing for an empty list.
pub(super) fn extreme(a: &Args, want: Ordering) -> Result<Option<Value>, HelperError> {
    fn best<'v>(items: impl Iterator<Item = &'v Value>, want: Ordering) -> Option<&'v Value> {
        items.reduce(|best, v| {
            if total_order(v, best) == want {
                v
            } else {
                best
            }
        })
    }
    let found = match (a.params.len(), a.get(0)) {
        (1, Some(Value::Array(_) | Value::Object(_))) => {
            let list = a.list(0)?;
            scan_all(list.iter(), 1)?;
            per_item(list.len(), ITEM_WORK)?;
            best(list.iter(), want)
        }
        _ => {
            scan_all(a.present(), 1)?;
            best(a.present(), want)
        }
    };
    if let Some(v) = found {
        room_for_all([v])?;
    }
    Ok(found.cloned())
}

/// A position counted from the end when negative, as Python's slices do, clamped to the list.
fn clamp_index(a: &Args, i: usize, len: usize) -> Result<usize, HelperError> {
    let n = a.required(i)?;
    let from_start = |k: u64| usize::try_from(k).unwrap_or(usize::MAX).min(len);
    match (whole_number(n), n.as_u64()) {
        (Some(k), _) if k < 0 => {
            Ok(len.saturating_sub(usize::try_from(k.unsigned_abs()).unwrap_or(usize::MAX)))
        }
        (Some(k), _) => Ok(from_start(k.unsigned_abs())),
        (_, Some(k)) => Ok(from_start(k)),
        _ => Err(HelperError::NotAWholeNumberArgument(i)),
    }
}

/// `slice list start [end]`: the items from `start` up to, not including, `end`.
pub(super) fn slice(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    let start = clamp_index(a, 1, list.len())?;
    let end = if a.params.len() > 2 {
        clamp_index(a, 2, list.len())?
    } else {
        list.len()
    };
    let items = list.iter().skip(start).take(end.saturating_sub(start));
    room_for_all(items.clone())?;
    Ok(Some(Value::Array(items.cloned().collect())))
}

/// `without list other`: the items of `list` that are not in `other`, in order. Compared by
/// canonical JSON text in a hash set, as `unique` does, so `1` and `1.0` are one value.
pub(super) fn without(a: &Args) -> Result<Option<Value>, HelperError> {
    let (list, other) = (a.list(0)?, a.list(1)?);
    // The set holds the text of every excluded item; the result is at most `list`, and the
    // text of one item is made at a time to look it up.
    let excluded = room_for_all(other)?;
    let size = room_for_all(list)?;
    room_for(excluded.saturating_add(size.saturating_mul(2)))?;
    // Both lists' texts are hashed as well as built.
    scan(excluded.saturating_add(size))?;
    let excluded: HashSet<String> = other.iter().map(canonical_text).collect();
    let out = list
        .iter()
        .filter(|v| !excluded.contains(&canonical_text(v)))
        .cloned()
        .collect();
    Ok(Some(Value::Array(out)))
}

/// `indexOf list value`: the position of the first item equal to the value, or -1.
pub(super) fn index_of(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    // Each comparison stops at the wanted value's size at most.
    let want_size = a.get(1).map_or(Ok(0), budget::measure)? as u64;
    per_item(list.len(), ITEM_WORK.saturating_add(want_size))?;
    let position = a
        .get(1)
        .and_then(|want| list.iter().position(|v| json_equal(v, want)))
        .and_then(|p| i64::try_from(p).ok());
    Ok(Some(Value::from(position.unwrap_or(-1))))
}

/// `reverse list`: the items in reverse order.
pub(super) fn reverse(a: &Args) -> Result<Option<Value>, HelperError> {
    if let Some(Value::String(_)) = a.get(0) {
        return Err(HelperError::CannotReverseText);
    }
    let items = a.list(0)?;
    room_for_all(items)?;
    Ok(Some(Value::Array(items.iter().rev().cloned().collect())))
}

/// `flatten list`: one level; the items of an item that is a list take its place, and other
/// items stay as they are. The result is no larger than the list.
pub(super) fn flatten(a: &Args) -> Result<Option<Value>, HelperError> {
    let items = a.list(0)?;
    room_for_all(items)?;
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    Ok(Some(Value::Array(out)))
}
