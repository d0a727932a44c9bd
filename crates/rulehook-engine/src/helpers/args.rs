//! What every helper shares: its arguments, the budget checks made before anything is
//! built, and the small value walks several themes use.

use serde_json::Value;

use super::HelperError;
use crate::budget;

/// Checks that building `bytes` fits the render's budget, before anything is built.
pub(super) fn room_for(bytes: usize) -> Result<(), HelperError> {
    Ok(budget::fits(bytes)?)
}

/// The total size of `values`, checked against the render's budget as it is measured.
pub(super) fn room_for_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
) -> Result<usize, HelperError> {
    let mut total = 0usize;
    for v in values {
        total = total.saturating_add(budget::measure(v)?);
        room_for(total)?;
    }
    Ok(total)
}

/// A helper's arguments; `None` is a missing value.
pub(crate) struct Args<'a> {
    pub(super) params: Vec<Option<&'a Value>>,
}

impl<'a> Args<'a> {
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

    /// A list argument; a missing one reads as empty, as an absent child type does.
    pub(super) fn list(&self, i: usize) -> Result<&'a [Value], HelperError> {
        match self.get(i) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(HelperError::wrong_type(i, "a list", other)),
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

/// A value as text: strings bare, everything else as JSON.
pub(super) fn plain_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
