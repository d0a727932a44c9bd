//! The fast way through a request: the objects on the paths a rule reads are walked here,
//! everything else is only scanned ([`scan`]), and each part the rule reads whole is handed
//! to serde_json to build, exactly as the full parse would build it.
//!
//! Anything unusual (malformed bytes, an escaped key on a read path, a key that is not
//! UTF-8, a built part nested too deep) gives up with [`Stop::Unusual`], and the caller
//! parses the body again the full way, which gives serde_json's own error or the same value.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::parse::{Build, Keep, Level, VALUE};
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
        _ => whole(scanner, at, depth, build.keep),
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
        // Keys are compared unescaped: an escaped one goes to the full parse (it is rare).
        let (key, end) = key(scanner, at)?;
        at = whitespace(body, end);
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
                    .key::<serde_json::Error>(Cow::Borrowed(key))
                    .map_err(|_| stop(build.keep))?;
                out.insert(key, value);
            }
        }
        match after_item(body, at, b'}')? {
            Next::Item(next) => at = next,
            Next::Closed(end) => return Ok((Value::Object(out), end)),
        }
    }
}

/// A part the rule reads whole (at `at`, `depth` levels inside the request), built from the
/// bytes as they are checked, into the value serde_json would build, charged as the full
/// parse charges it; and where it ends. Only what is rare goes to serde_json: an escaped
/// string or a number, from its own few bytes.
fn whole(
    scanner: &mut Scanner<'_>,
    at: usize,
    depth: usize,
    keep: &Keep<'_>,
) -> Result<(Value, usize), Stop> {
    let body = scanner.bytes();
    let refused = |_: serde_json::Error| stop(keep);
    match body.get(at) {
        Some(b'"') => {
            let mut escaped = false;
            let end = scanner.string(at + 1, &mut escaped)?;
            let value = if escaped {
                let text: String = serde_json::from_slice(&body[at..end]).map_err(refused)?;
                keep.string(&text)
            } else {
                let text =
                    std::str::from_utf8(&body[at + 1..end - 1]).map_err(|_| Stop::Unusual)?;
                keep.string(text)
            };
            Ok((value.map_err(refused)?, end))
        }
        Some(b'{') if depth < MAX_BUILT_DEPTH => {
            keep.charge(VALUE).map_err(refused)?;
            let mut out = Map::new();
            let mut at = whitespace(body, at + 1);
            if body.get(at) == Some(&b'}') {
                return Ok((Value::Object(out), at + 1));
            }
            loop {
                let (key, end) = key(scanner, at)?;
                let (value, end) = whole(scanner, whitespace(body, end), depth + 1, keep)?;
                out.insert(keep.key(Cow::Borrowed(key)).map_err(refused)?, value);
                match after_item(body, end, b'}')? {
                    Next::Item(next) => at = next,
                    Next::Closed(end) => return Ok((Value::Object(out), end)),
                }
            }
        }
        Some(b'[') if depth < MAX_BUILT_DEPTH => {
            keep.charge(VALUE).map_err(refused)?;
            let mut out = Vec::new();
            let mut at = whitespace(body, at + 1);
            if body.get(at) == Some(&b']') {
                return Ok((Value::Array(out), at + 1));
            }
            loop {
                let (value, end) = whole(scanner, at, depth + 1, keep)?;
                out.push(value);
                match after_item(body, end, b']')? {
                    Next::Item(next) => at = next,
                    Next::Closed(end) => return Ok((Value::Array(out), end)),
                }
            }
        }
        Some(b't') => scalar(scan::literal(body, at, b"true")?, Value::Bool(true), keep),
        Some(b'f') => scalar(scan::literal(body, at, b"false")?, Value::Bool(false), keep),
        Some(b'n') => scalar(scan::literal(body, at, b"null")?, Value::Null, keep),
        Some(b'-' | b'0'..=b'9') => {
            let end = scan::number(body, at)?;
            let number: Value = serde_json::from_slice(&body[at..end]).map_err(refused)?;
            scalar(end, number, keep)
        }
        // Past the depth limit, or not JSON: the full parse says which.
        _ => Err(Stop::Unusual),
    }
}

/// What follows an item of an object or a list.
enum Next {
    /// Another item, at this index.
    Item(usize),
    /// The container's end: the index after it.
    Closed(usize),
}

/// What follows the item that ends at `end`, in a container that ends with `close`.
fn after_item(body: &[u8], end: usize, close: u8) -> Result<Next, Stop> {
    let at = whitespace(body, end);
    match body.get(at) {
        Some(b',') => Ok(Next::Item(whitespace(body, at + 1))),
        Some(&byte) if byte == close => Ok(Next::Closed(at + 1)),
        _ => Err(Stop::Unusual),
    }
}

/// A scalar that ends at `end`, charged.
fn scalar(end: usize, value: Value, keep: &Keep<'_>) -> Result<(Value, usize), Stop> {
    let value = keep
        .scalar(value)
        .map_err(|_: serde_json::Error| stop(keep))?;
    Ok((value, end))
}

/// An object's key at `at` and the index after its `:`. An escaped key is left to the full
/// parse, which unescapes it.
fn key<'b>(scanner: &mut Scanner<'b>, at: usize) -> Result<(&'b [u8], usize), Stop> {
    let body = scanner.bytes();
    if body.get(at) != Some(&b'"') {
        return Err(Stop::Unusual);
    }
    let mut escaped = false;
    let end = scanner.string(at + 1, &mut escaped)?;
    if escaped {
        return Err(Stop::Unusual);
    }
    let colon = whitespace(body, end);
    if body.get(colon) != Some(&b':') {
        return Err(Stop::Unusual);
    }
    Ok((&body[at + 1..end - 1], colon + 1))
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
