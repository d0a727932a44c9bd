//! List helpers: ordering, distinct values, extremes and lengths.

use serde_json::Value;

use super::args::{dig, room_for, room_for_all};
use super::{Args, HelperError};
use crate::json::type_name;

pub(super) fn length(a: &Args) -> Result<Option<Value>, HelperError> {
    let n = match a.get(0) {
        None | Some(Value::Null) => 0,
        Some(Value::Array(l)) => l.len(),
        Some(Value::Object(m)) => m.len(),
        Some(Value::String(s)) => s.chars().count(),
        Some(other) => return Err(HelperError::NoLength(type_name(other))),
    };
    Ok(Some(Value::from(n)))
}

/// Orders JSON values: numbers by value, strings by text, others by their JSON text.
pub(super) fn compare(x: &Value, y: &Value) -> std::cmp::Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => x.to_string().cmp(&y.to_string()),
    }
}

/// `sort list [field.path]`.
pub(super) fn sort(a: &Args) -> Result<Option<Value>, HelperError> {
    let items = a.list(0)?;
    room_for_all(items)?;
    let mut list: Vec<Value> = items.iter().cloned().collect();
    match a.get(1) {
        Some(Value::String(path)) => list.sort_by(|x, y| {
            let (x, y) = (dig(x, path), dig(y, path));
            match (x, y) {
                (Some(x), Some(y)) => compare(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            }
        }),
        Some(other) => {
            return Err(HelperError::Operand {
                what: "sort field",
                expected: "a string",
                found: type_name(other),
            })
        }
        None => list.sort_by(compare),
    }
    Ok(Some(Value::Array(list)))
}

/// The first of each distinct value, in order. Distinct by JSON text, in a hash set, so a
/// long list costs linear time rather than comparing every pair.
pub(super) fn unique(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    room_for(room_for_all(list)?.saturating_mul(2))?;
    let mut seen = std::collections::HashSet::new();
    let out = list
        .iter()
        .filter(|v| seen.insert(v.to_string()))
        .cloned()
        .collect();
    Ok(Some(Value::Array(out)))
}

/// `min list` (or map) or `min a b c`; missing for an empty list.
pub(super) fn extreme(a: &Args, want: std::cmp::Ordering) -> Result<Option<Value>, HelperError> {
    fn best<'v>(
        items: impl Iterator<Item = &'v Value>,
        want: std::cmp::Ordering,
    ) -> Option<&'v Value> {
        items.reduce(|best, v| if compare(v, best) == want { v } else { best })
    }
    let found = match (a.params.len(), a.get(0)) {
        (1, Some(Value::Array(_) | Value::Object(_))) => best(a.list(0)?.iter(), want),
        _ => best(a.present(), want),
    };
    Ok(found.cloned())
}
