//! Presence and choice: `default`, `exists`, `ternary`, `when`, which tell a missing value
//! from `""`, `false` and `0`; and `fail`, which stops the render.

use serde_json::Value;

use super::args::{chosen, scan_all};
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

/// `eq a b` and `ne a b`: whether two values are equal, as JSON. Comparing reads both, up
/// to where they differ, so both are charged. Replaces handlebars' own, which charged
/// nothing however large the values.
pub(super) fn equal(a: &Args) -> Result<bool, HelperError> {
    let (x, y) = (a.required(0)?, a.required(1)?);
    scan_all([x, y], 1)?;
    Ok(x == y)
}

/// `fail message`: stops the render with the rule's own message, cut short if long.
pub(super) fn fail(a: &Args) -> Result<Option<Value>, HelperError> {
    let message = match a.required(0)? {
        Value::String(s) => clip(s).into_owned(),
        other => clip_json(other),
    };
    Err(HelperError::Failed(message))
}
