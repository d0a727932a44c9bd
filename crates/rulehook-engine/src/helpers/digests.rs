//! Digests: `sha256` and `md5` of a value's text, as lowercase hex, for names and
//! annotations that must change when some content does (a config checksum on a Pod
//! template).

use std::borrow::Cow;

use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::args::{room_for, scan};
use super::{Args, HelperError};
use crate::budget;
use crate::json::type_name;

/// Work per byte hashed: SHA-256 in software takes about 3 ns a byte on a slow core.
const SHA256_WORK: usize = 4;

/// Work per byte hashed: MD5 takes about 2 ns a byte.
const MD5_WORK: usize = 2;

pub(super) fn sha256(a: &Args) -> Result<Option<Value>, HelperError> {
    digest::<Sha256>(a, SHA256_WORK)
}

pub(super) fn md5(a: &Args) -> Result<Option<Value>, HelperError> {
    digest::<Md5>(a, MD5_WORK)
}

/// The digest of argument 0's text, charged per byte before it is hashed.
fn digest<D: Digest>(a: &Args, work_per_byte: usize) -> Result<Option<Value>, HelperError> {
    let text = hashed_text(a.required(0)?)?;
    scan(text.len().saturating_mul(work_per_byte))?;
    let hash = D::digest(text.as_bytes());
    room_for(budget::string_size(hash.len() * 2))?;
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(Some(Value::String(hex)))
}

/// A string's UTF-8 bytes, a number's or bool's JSON text; anything else has no one text
/// to hash.
fn hashed_text(value: &Value) -> Result<Cow<'_, str>, HelperError> {
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        other => Err(HelperError::CannotHash(type_name(other))),
    }
}
