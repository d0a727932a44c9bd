//! Presence and choice: `default`, `exists`, `ternary`, `when`. They tell a missing value
//! from `""`, `false` and `0`.

use serde_json::Value;

use super::{Args, HelperError};
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
