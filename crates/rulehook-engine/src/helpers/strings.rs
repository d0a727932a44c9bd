//! String helpers. Each checks the size of what it will build against the render's budget
//! before building it.

use serde_json::Value;

use super::args::{per_item, plain_string, room_for, room_for_all, scan, ITEM_WORK};
use super::compare::{canonical_text, json_equal};
use super::{Args, HelperError};
use crate::budget;
use crate::json::type_name;

pub(super) fn trim_prefix(a: &Args) -> Result<Option<Value>, HelperError> {
    let (s, p) = (a.str(0)?, a.str(1)?);
    room_for(s.len())?;
    Ok(Some(Value::from(s.strip_prefix(p).unwrap_or(s))))
}

pub(super) fn trim_suffix(a: &Args) -> Result<Option<Value>, HelperError> {
    let (s, p) = (a.str(0)?, a.str(1)?);
    room_for(s.len())?;
    Ok(Some(Value::from(s.strip_suffix(p).unwrap_or(s))))
}

pub(super) fn replace(a: &Args) -> Result<Option<Value>, HelperError> {
    let (s, from, to) = (a.str(0)?, a.str(1)?, a.str(2)?);
    scan(s.len())?;
    // The result's size, counted before it is built: an empty pattern matches between every
    // character.
    let count = if from.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from).count()
    };
    let size = (s.len() - count.saturating_mul(from.len()).min(s.len()))
        .saturating_add(count.saturating_mul(to.len()));
    room_for(size)?;
    Ok(Some(Value::from(s.replace(from, to))))
}

pub(super) fn split(a: &Args) -> Result<Option<Value>, HelperError> {
    let (s, sep) = (a.str(0)?, a.str(1)?);
    if s.is_empty() {
        return Ok(Some(Value::Array(Vec::new())));
    }
    scan(s.len())?;
    let pieces = if sep.is_empty() {
        s.chars().count() + 2
    } else {
        s.matches(sep).count() + 1
    };
    room_for(
        s.len()
            .saturating_add(pieces.saturating_mul(budget::string_size(1))),
    )?;
    Ok(Some(Value::Array(s.split(sep).map(Value::from).collect())))
}

pub(super) fn join(a: &Args) -> Result<Option<Value>, HelperError> {
    let (list, sep) = (a.list(0)?, a.str(1)?);
    let size = room_for_all(list)?;
    room_for(size.saturating_add(list.len().saturating_mul(sep.len())))?;
    let parts: Vec<String> = list.iter().map(plain_string).collect();
    Ok(Some(Value::from(parts.join(sep))))
}

pub(super) fn concat(a: &Args) -> Result<Option<Value>, HelperError> {
    room_for_all(a.present())?;
    if a.present().all(Value::is_array) {
        let mut out = Vec::new();
        for v in a.present() {
            out.extend(v.as_array().into_iter().flatten().cloned());
        }
        return Ok(Some(Value::Array(out)));
    }
    Ok(Some(Value::from(
        a.present().map(plain_string).collect::<String>(),
    )))
}

pub(super) fn has_prefix(a: &Args) -> Result<Option<Value>, HelperError> {
    scan(a.str(1)?.len())?;
    Ok(Some(Value::Bool(a.str(0)?.starts_with(a.str(1)?))))
}

pub(super) fn has_suffix(a: &Args) -> Result<Option<Value>, HelperError> {
    scan(a.str(1)?.len())?;
    Ok(Some(Value::Bool(a.str(0)?.ends_with(a.str(1)?))))
}

pub(super) fn contains(a: &Args) -> Result<Option<Value>, HelperError> {
    let needle = a.required(1)?;
    let found = match a.required(0)? {
        Value::String(s) => {
            scan(s.len())?;
            s.contains(needle.as_str().ok_or(HelperError::NotAString(1))?)
        }
        Value::Array(list) => {
            // Each comparison stops at the needle's size at most.
            let needle_size = budget::measure(needle)? as u64;
            per_item(list.len(), ITEM_WORK.saturating_add(needle_size))?;
            list.iter().any(|item| json_equal(item, needle))
        }
        Value::Object(map) => map.contains_key(needle.as_str().ok_or(HelperError::NotAString(1))?),
        other => return Err(HelperError::CannotSearchIn(type_name(other))),
    };
    Ok(Some(Value::Bool(found)))
}

/// `toString x`: a string as it is, anything else as `toJson` writes it.
pub(super) fn to_string(a: &Args) -> Result<Option<Value>, HelperError> {
    match a.required(0)? {
        Value::String(s) => {
            room_for(budget::string_size(s.len()))?;
            Ok(Some(Value::String(s.clone())))
        }
        _ => to_json(a),
    }
}

/// `toJson x`: compact JSON text, with a whole float written as the whole number it is
/// (`2.0` as `2`), as Go and JavaScript write it.
pub(super) fn to_json(a: &Args) -> Result<Option<Value>, HelperError> {
    // JSON escapes can make a string's text up to six times longer than its bytes.
    room_for(room_for_all([a.required(0)?])?.saturating_mul(6))?;
    Ok(Some(Value::String(canonical_text(a.required(0)?))))
}

/// How many times its text a parsed value may measure: `[0,0]` spends two bytes of text on
/// each number, which the budget counts as [`budget::SCALAR`] and a separator. A lone number
/// may measure a whole [`budget::SCALAR`] more.
pub(super) const PARSED_GROWTH: usize = 5;

/// Work per byte of JSON text parsed, besides building the value: measured at 2–4 ns.
const PARSE_WORK: usize = 5;

/// `fromJson s`: the value `s` holds as JSON text. Its size is checked before parsing, from
/// the text's length (the render charges the value where it is kept); serde_json refuses
/// nesting deeper than 128.
///
/// A missing argument gives missing, and `null` gives `null`, so an absent annotation reads
/// as absent rather than failing the render.
pub(super) fn from_json(a: &Args) -> Result<Option<Value>, HelperError> {
    match a.get(0) {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(Value::Null)),
        Some(_) => {}
    }
    let s = a.str(0)?;
    room_for(
        s.len()
            .saturating_mul(PARSED_GROWTH)
            .saturating_add(budget::SCALAR),
    )?;
    // Parsing reads every byte and decides on each, besides building the value.
    scan(s.len().saturating_mul(PARSE_WORK))?;
    let value: Value = serde_json::from_str(s).map_err(|e| HelperError::bad_json(&e))?;
    Ok(Some(value))
}
