//! Presence and choice: `default`, `exists`, `ternary`, `when`, which tell a missing value
//! from `""`, `false` and `0`; and `fail`, which stops the render.

use serde_json::Value;

use super::{Args, HelperError};
use crate::clip::{clip, clip_json};
use crate::json::truthy;

pub(super) fn default(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(a.present().find(|v| !v.is_null()).cloned())
}

pub(super) fn exists(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(Some(Value::Bool(a.get(0).is_some_and(|v| !v.is_null()))))
}

pub(super) fn ternary(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(if truthy(a.get(0)) { a.get(1) } else { a.get(2) }.cloned())
}

pub(super) fn when(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(if truthy(a.get(0)) {
        a.get(1).cloned()
    } else {
        None
    })
}

/// `fail message`: stops the render with the rule's own message, cut short if long.
pub(super) fn fail(a: &Args) -> Result<Option<Value>, HelperError> {
    let message = match a.required(0)? {
        Value::String(s) => clip(s).into_owned(),
        other => clip_json(other),
    };
    Err(HelperError::Failed(message))
}
