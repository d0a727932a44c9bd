//! Map helpers: building, listing, merging and reading fields by dotted path.

use serde_json::{Map, Value};

use super::args::{
    chosen, dig, per_item, plain_string, room_for, room_for_all, whole_number, ITEM_WORK,
};
use super::{Args, HelperError};
use crate::budget;

pub(super) fn dict(a: &Args) -> Result<Option<Value>, HelperError> {
    if a.params.len() % 2 != 0 {
        return Err(HelperError::OddPairs);
    }
    room_for_all(a.present())?;
    let mut map = Map::new();
    for pair in a.params.chunks(2) {
        let key = match pair[0] {
            Some(Value::String(k)) => k.clone(),
            Some(other) => plain_string(other),
            None => return Err(HelperError::KeyMissing),
        };
        if let Some(v) = pair[1] {
            map.insert(key, v.clone());
        }
    }
    Ok(Some(Value::Object(map)))
}

pub(super) fn object<'a>(
    a: &Args<'a>,
    i: usize,
) -> Result<Option<&'a Map<String, Value>>, HelperError> {
    match a.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(HelperError::wrong_type(i, "a map", other)),
    }
}

pub(super) fn keys(a: &Args) -> Result<Option<Value>, HelperError> {
    if let Some(map) = object(a, 0)? {
        room_for(map.keys().map(|k| budget::string_size(k.len())).sum())?;
    }
    let keys = object(a, 0)?
        .map(|m| m.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    Ok(Some(Value::Array(keys)))
}

pub(super) fn values(a: &Args) -> Result<Option<Value>, HelperError> {
    if let Some(map) = object(a, 0)? {
        room_for_all(map.values())?;
    }
    let values = object(a, 0)?
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    Ok(Some(Value::Array(values)))
}

/// Deep-merges maps left to right; later values win, nested maps merge.
pub(super) fn merge(a: &Args) -> Result<Option<Value>, HelperError> {
    fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
        for (k, v) in source {
            match (target.get_mut(k), v) {
                (Some(Value::Object(t)), Value::Object(s)) => merge_into(t, s),
                _ => {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    room_for_all(a.present())?;
    let mut out = Map::new();
    for i in 0..a.params.len() {
        if let Some(m) = object(a, i)? {
            merge_into(&mut out, m);
        }
    }
    Ok(Some(Value::Object(out)))
}

/// `get value "field.path" [default]`.
pub(super) fn get(a: &Args) -> Result<Option<Value>, HelperError> {
    let found = a
        .get(0)
        .and_then(|v| dig(v, a.str(1).unwrap_or_default()))
        .filter(|v| !v.is_null());
    a.str(1)?;
    chosen(found.or(a.get(2)))
}

pub(super) fn pluck(a: &Args) -> Result<Option<Value>, HelperError> {
    let path = a.str(1)?;
    let list = a.list(0)?;
    per_item(list.len(), ITEM_WORK)?;
    let found: Vec<&Value> = list
        .iter()
        .filter_map(|v| dig(v, path).filter(|v| !v.is_null()))
        .collect();
    room_for_all(found.iter().copied())?;
    Ok(Some(Value::Array(found.into_iter().cloned().collect())))
}

/// `lookup container key`: a map's entry by its key, a list's item by a whole-number
/// position (negative counts from the end, `-1` is the last); missing otherwise, so `exists`
/// and `default` can tell. It replaces handlebars' built-in, which fails in strict mode when
/// the entry is not there.
pub(super) fn lookup(a: &Args) -> Result<Option<Value>, HelperError> {
    let found = match (a.get(0), a.get(1)) {
        (Some(Value::Object(map)), Some(Value::String(key))) => map.get(key),
        (Some(Value::Array(list)), Some(position @ Value::Number(_))) => whole_number(position)
            .and_then(|i| {
                let from_start = if i < 0 {
                    list.len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(i).ok()?
                };
                list.get(from_start)
            }),
        _ => None,
    };
    if let Some(v) = found {
        room_for_all([v])?;
    }
    Ok(found.cloned())
}
