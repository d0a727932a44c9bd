//! The fast way through a request: the objects on the paths a rule reads are walked here,
//! everything else is only scanned ([`scan`]), and each part the rule reads whole is handed
//! to serde_json to build, exactly as the full parse would build it.
//!
//! Anything unusual (malformed bytes, an escaped key on a read path, a key that is not
//! UTF-8, a built part nested too deep) gives up with [`Stop::Unusual`], and the caller
//! parses the body again the full way, which gives serde_json's own error or the same value.

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::parse::{Build, Keep, Level};
use super::scan::{self, whitespace, Scanner};

/// Why the walk stopped.
pub(super) enum Stop {
    /// Something the full parse must decide.
    Unusual,
    /// The caller's guard refused the memory of what was to be built.
    Refused,
}

impl From<scan::Invalid> for Stop {
    fn from(_: scan::Invalid) -> Self {
        Stop::Unusual
    }
}

/// Walks the body: the value `build` describes, and nothing but whitespace after it.
pub(super) fn walk(body: &[u8], build: Build<'_>) -> Result<Value, Stop> {
    let scanner = &mut Scanner::new(body);
    let (value, end) = part(scanner, whitespace(body, 0), 0, build)?;
    if whitespace(body, end) == body.len() {
        Ok(value)
    } else {
        Err(Stop::Unusual)
    }
}

/// The levels a built value may nest, counted from the request itself: what serde_json
/// allows, so that the walk refuses what the full parse refuses.
const MAX_BUILT_DEPTH: usize = 127;

/// The part at `at` (no whitespace before it), `depth` levels inside the request, built as
/// `build` says, and where it ends.
fn part(
    scanner: &mut Scanner<'_>,
    at: usize,
    depth: usize,
    build: Build<'_>,
) -> Result<(Value, usize), Stop> {
    let body = scanner.bytes();
    match (build.fields, body.get(at)) {
        // Past the limit an object is left to the check below, which refuses it.
        (Some(_), Some(b'{')) if depth < MAX_BUILT_DEPTH => {
            object(scanner, at + 1, depth + 1, build)
        }
        _ => {
            let end = scanner.value(at)?;
            if depth + scanner.nested > MAX_BUILT_DEPTH {
                return Err(Stop::Unusual);
            }
            Ok((whole(&body[at..end], build.keep)?, end))
        }
    }
}

/// An object whose fields are read by name; its `{` is just before `at`.
fn object(
    scanner: &mut Scanner<'_>,
    at: usize,
    depth: usize,
    build: Build<'_>,
) -> Result<(Value, usize), Stop> {
    let body = scanner.bytes();
    build
        .keep
        .charge::<serde_json::Error>(super::parse::VALUE)
        .map_err(|_| Stop::Refused)?;
    let mut out = Map::new();
    let mut at = whitespace(body, at);
    if body.get(at) == Some(&b'}') {
        return Ok((Value::Object(out), at + 1));
    }
    loop {
        if body.get(at) != Some(&b'"') {
            return Err(Stop::Unusual);
        }
        let mut escaped = false;
        let end = scanner.string(at + 1, &mut escaped)?;
        if escaped {
            // Keys are compared unescaped: the full parse does that, and it is rare.
            return Err(Stop::Unusual);
        }
        let key = &body[at + 1..end - 1];
        at = whitespace(body, end);
        if body.get(at) != Some(&b':') {
            return Err(Stop::Unusual);
        }
        at = whitespace(body, at + 1);
        match build.below(key) {
            None => at = scanner.value(at)?,
            // An object of a type no rule reads is only checked.
            Some(_) if build.at == Level::UnreadType && body.get(at) == Some(&b'{') => {
                at = scanner.value(at)?;
            }
            Some(below) => {
                let (value, end) = part(scanner, at, depth, below)?;
                at = end;
                let key = build
                    .keep
                    .key::<serde_json::Error>(std::borrow::Cow::Borrowed(key))
                    .map_err(|_| stop(build.keep))?;
                out.insert(key, value);
            }
        }
        at = whitespace(body, at);
        match body.get(at) {
            Some(b',') => at = whitespace(body, at + 1),
            Some(b'}') => return Ok((Value::Object(out), at + 1)),
            _ => return Err(Stop::Unusual),
        }
    }
}

/// A part the rule reads whole, built by serde_json as the full parse builds it.
fn whole(bytes: &[u8], keep: &Keep<'_>) -> Result<Value, Stop> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Build::whole(keep)
        .deserialize(&mut de)
        .map_err(|_| stop(keep))
}

/// Why building failed: the guard refused, or serde_json did (too deep, a number out of
/// range, a key that is not UTF-8), which the full parse reports.
fn stop(keep: &Keep<'_>) -> Stop {
    if keep.refused.get() {
        Stop::Refused
    } else {
        Stop::Unusual
    }
}
