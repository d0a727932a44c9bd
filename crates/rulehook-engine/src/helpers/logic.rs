//! Presence and choice: `default`, `exists`, `ternary`, `when`, which tell a missing value
//! from `""`, `false` and `0`; the comparisons and `not`, total over missing values;
//! and `fail`, which stops the render.

use std::cmp::Ordering;

use serde_json::Value;

use super::args::{chosen, scan_all};
use super::compare::{operand_order, optional_equal};
use super::{Args, HelperError};
use crate::clip::{clip, clip_json};
use crate::json::truthy;

pub(super) fn default(a: &Args) -> Result<Option<Value>, HelperError> {
    chosen(a.present().find(|v| !v.is_null()))
}

pub(super) fn exists(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(Some(Value::Bool(a.get(0).is_some_and(|v| !v.is_null()))))
}

pub(super) fn ternary(a: &Args) -> Result<Option<Value>, HelperError> {
    chosen(if truthy(a.get(0)) { a.get(1) } else { a.get(2) })
}

pub(super) fn when(a: &Args) -> Result<Option<Value>, HelperError> {
    chosen(if truthy(a.get(0)) { a.get(1) } else { None })
}

/// `eq a b` and `ne a b`: whether two values are equal, as JSON with numbers by value
/// (`80` equals `80.0`). Missing equals only missing, and `null` only `null`. Comparing
/// reads both, up to where they differ, so both are charged. Replaces handlebars' own,
/// which charged nothing however large the values and refused a missing one.
pub(super) fn equal(a: &Args) -> Result<bool, HelperError> {
    scan_all(a.present(), 1)?;
    Ok(optional_equal(a.get(0), a.get(1)))
}

/// `gt`, `gte`, `lt` and `lte`: whether the order of `a b` is one that `holds` accepts.
/// A missing or `null` operand makes the test false, as nothing is greater or smaller than
/// a value that is not there; two present values that have no order are an error.
pub(super) fn ordered(a: &Args, holds: fn(Ordering) -> bool) -> Result<Option<Value>, HelperError> {
    let (Some(x), Some(y)) = (a.get(0), a.get(1)) else {
        return Ok(Some(Value::Bool(false)));
    };
    if x.is_null() || y.is_null() {
        return Ok(Some(Value::Bool(false)));
    }
    scan_all([x, y], 1)?;
    Ok(Some(Value::Bool(operand_order(x, y)?.is_some_and(holds))))
}

/// `not x`: `true` when `x` is missing or false as an `{{#if}}` reads it.
pub(super) fn not(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(Some(Value::Bool(!block_truthy(a.get(0)))))
}

/// Truth as handlebars' `{{#if}}` reads it: missing, `false`, `null`, `0` (and subnormal
/// numbers), `""`, `[]` and `{}` are false. Unlike [`truthy`], which `ternary`, `when` and
/// `$includeWhen` use, an empty map is false here.
pub(crate) fn block_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(f64::is_normal),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
    }
}

/// `fail message`: stops the render with the rule's own message, cut short if long.
pub(super) fn fail(a: &Args) -> Result<Option<Value>, HelperError> {
    let message = match a.required(0)? {
        Value::String(s) => clip(s).into_owned(),
        other => clip_json(other),
    };
    Err(HelperError::Failed(message))
}
