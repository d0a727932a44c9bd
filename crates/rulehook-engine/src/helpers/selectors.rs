//! Selecting observed objects: by field, label, annotation, condition, name; and counting.

use serde_json::{Map, Value};

use super::args::{chosen, dig, per_item, room_for_all, ITEM_WORK};
use super::compare::{canonical_text, json_equal, optional_equal};
use super::{Args, HelperError};
use crate::json::type_name;

pub(super) fn filtered(
    a: &Args,
    keep: impl Fn(&Value) -> bool,
) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    per_item(list.len(), ITEM_WORK)?;
    let kept: Vec<&Value> = list.iter().filter(|v| keep(v)).collect();
    room_for_all(kept.iter().copied())?;
    Ok(Some(Value::Array(kept.into_iter().cloned().collect())))
}

/// `where list "field.path" value`: the items whose field equals the value.
pub(super) fn where_equals(a: &Args) -> Result<Option<Value>, HelperError> {
    let path = a.str(1)?;
    let want = a.get(2);
    filtered(a, |v| optional_equal(dig(v, path), want))
}

pub(super) fn where_exists(a: &Args) -> Result<Option<Value>, HelperError> {
    let path = a.str(1)?;
    filtered(a, |v| dig(v, path).is_some_and(|f| !f.is_null()))
}

/// `whereLabel list key [value]`: label keys hold dots and slashes, so they get their own
/// helper instead of a dotted path.
pub(super) fn where_meta(a: &Args, field: &str) -> Result<Option<Value>, HelperError> {
    let key = a.str(1)?;
    let want = a.get(2);
    filtered(a, |v| {
        let got = v
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|m| m.get(key));
        match want {
            Some(want) => got.is_some_and(|got| json_equal(got, want)),
            None => got.is_some(),
        }
    })
}

pub(super) fn condition_matches(v: &Value, kind: &str, status: Option<&Value>) -> bool {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && status.is_none_or(|s| c.get("status").is_some_and(|got| json_equal(got, s)))
        })
}

/// `whereCondition list type [status]`: objects with a status condition of that type (and
/// status, e.g. "True").
pub(super) fn where_condition(a: &Args) -> Result<Option<Value>, HelperError> {
    let kind = a.str(1)?;
    filtered(a, |v| condition_matches(v, kind, a.get(2)))
}

pub(super) fn has_condition(a: &Args) -> Result<Option<Value>, HelperError> {
    let kind = a.str(1)?;
    Ok(Some(Value::Bool(
        a.get(0)
            .is_some_and(|v| condition_matches(v, kind, a.get(2))),
    )))
}

/// `count list` is its length; `count list "field"` counts items where the field is set;
/// `count list "field" value` counts items where it equals the value.
pub(super) fn count(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    if a.params.len() > 1 {
        per_item(list.len(), ITEM_WORK)?;
    }
    let n = match a.params.len() {
        1 => list.len(),
        2 => {
            let path = a.str(1)?;
            list.iter()
                .filter(|v| dig(v, path).is_some_and(|f| !f.is_null()))
                .count()
        }
        _ => {
            let path = a.str(1)?;
            list.iter()
                .filter(|v| optional_equal(dig(v, path), a.get(2)))
                .count()
        }
    };
    Ok(Some(Value::from(n)))
}

/// `countBy list "status.phase"`: a map from each value of the field to how many items have
/// it. A string is its own key; any other value is keyed by its canonical JSON text, so `1`
/// and `1.0` count together under `"1"`.
pub(super) fn count_by(a: &Args) -> Result<Option<Value>, HelperError> {
    let path = a.str(1)?;
    let list = a.list(0)?;
    per_item(list.len(), ITEM_WORK)?;
    let mut counts = Map::new();
    for v in list {
        if let Some(field) = dig(v, path).filter(|f| !f.is_null()) {
            room_for_all([field])?;
            let key = match field {
                Value::String(s) => s.clone(),
                other => canonical_text(other),
            };
            let n = counts.get(&key).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(key, Value::from(n + 1));
        }
    }
    Ok(Some(Value::Object(counts)))
}

/// `find list name [namespace]`: the object with that name (and namespace), or missing.
pub(super) fn find(a: &Args) -> Result<Option<Value>, HelperError> {
    let name = a.str(1)?;
    let namespace = match a.get(2) {
        Some(Value::String(ns)) => Some(ns.as_str()),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(HelperError::Operand {
                what: "namespace",
                expected: "a string",
                found: type_name(other),
            })
        }
    };
    let list = a.list(0)?;
    per_item(list.len(), ITEM_WORK)?;
    let found = list.iter().find(|v| {
        let meta = v.get("metadata");
        meta.and_then(|m| m.get("name")).and_then(Value::as_str) == Some(name)
            && namespace.is_none_or(|ns| {
                meta.and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    == Some(ns)
            })
    });
    chosen(found)
}
