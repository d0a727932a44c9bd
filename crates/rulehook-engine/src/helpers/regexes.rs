//! Regular-expression helpers, with bounded pattern size, compiled size and nesting, and a
//! bounded cache of compiled patterns.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use super::args::room_for;
use super::{Args, HelperError};
use crate::budget;
use crate::clip::clip;
use crate::json::type_name;

/// Compiled patterns, kept because templates usually pass the same literal pattern on every
/// request. Bounded so hostile data cannot grow it.
pub(super) fn regex(pattern: &str) -> Result<Regex, HelperError> {
    const CACHE_LIMIT: usize = 256;
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    const PATTERN_LIMIT: usize = 4096;
    if pattern.len() > PATTERN_LIMIT {
        return Err(HelperError::PatternTooLong {
            bytes: pattern.len(),
            limit: PATTERN_LIMIT,
        });
    }
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(64)
        .build()
        .map_err(|e| HelperError::BadRegex(clip(&e.to_string()).into_owned()))?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(pattern.to_owned(), re.clone());
    }
    Ok(re)
}

pub(super) fn regex_match(a: &Args) -> Result<Option<Value>, HelperError> {
    Ok(Some(Value::Bool(regex(a.str(1)?)?.is_match(a.str(0)?))))
}

/// `regexCapture s pattern [group]`: the group (default 1, or 0 without groups), or missing
/// when the pattern does not match.
pub(super) fn regex_capture(a: &Args) -> Result<Option<Value>, HelperError> {
    let re = regex(a.str(1)?)?;
    let Some(caps) = re.captures(a.str(0)?) else {
        return Ok(None);
    };
    let group = match a.get(2) {
        Some(Value::Number(n)) => n.as_u64().ok_or(HelperError::GroupNotWhole)? as usize,
        Some(Value::String(name)) => {
            return Ok(caps.name(name).map(|m| Value::from(m.as_str())));
        }
        Some(other) => {
            return Err(HelperError::Operand {
                what: "group",
                expected: "a number or a name",
                found: type_name(other),
            })
        }
        None => usize::from(caps.len() > 1),
    };
    Ok(caps.get(group).map(|m| Value::from(m.as_str())))
}

/// Replaces every match, checking before each replacement is expanded that the result so
/// far, the rest of the subject and the largest the expansion can be (the replacement with
/// each `$` reference standing for the whole match) still fit the render's budget.
pub(super) fn regex_replace(a: &Args) -> Result<Option<Value>, HelperError> {
    let re = regex(a.str(1)?)?;
    let (s, replacement) = (a.str(0)?, a.str(2)?);
    let references = replacement.matches('$').count();
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        let largest = replacement
            .len()
            .saturating_add(references.saturating_mul(m.len()));
        room_for(
            out.len()
                .saturating_add(largest)
                .saturating_add(s.len() - m.start()),
        )?;
        out.push_str(&s[last..m.start()]);
        caps.expand(replacement, &mut out);
        last = m.end();
    }
    out.push_str(&s[last..]);
    Ok(Some(Value::from(out)))
}

/// `regexEscape s`: `s` with every regex metacharacter escaped, so it matches itself. Each
/// character gains at most one backslash.
pub(super) fn regex_escape(a: &Args) -> Result<Option<Value>, HelperError> {
    let s = a.str(0)?;
    room_for(budget::string_size(s.len().saturating_mul(2)))?;
    Ok(Some(Value::String(regex::escape(s))))
}
