//! Regular-expression helpers. Compiling, caching and charging patterns is
//! [`crate::pattern`]'s; these run the searches.

use regex_automata::util::iter::Searcher;
use regex_automata::Input;
use serde_json::Value;

use super::args::{room_for, whole_number};
use super::{Args, HelperError};
use crate::budget;
use crate::json::type_name;
use crate::pattern;

pub(super) fn regex_match(a: &Args) -> Result<Option<Value>, HelperError> {
    let (subject, text) = (a.str(0)?, a.str(1)?);
    let found = pattern::with(text, subject.len(), 1, |re, cache| {
        re.search_with(cache, &Input::new(subject).earliest(true))
            .is_some()
    })?;
    Ok(Some(Value::Bool(found)))
}

/// `regexCapture s pattern [group]`: the group (default 1, or 0 without groups), or missing
/// when the pattern does not match.
pub(super) fn regex_capture(a: &Args) -> Result<Option<Value>, HelperError> {
    let (subject, text) = (a.str(0)?, a.str(1)?);
    let group = a.get(2);
    if let Some(other) = group.filter(|g| !g.is_number() && !g.is_string()) {
        return Err(HelperError::Operand {
            what: "group",
            expected: "a number or a name",
            found: type_name(other),
        });
    }
    // Finding the match, then its groups within it: two passes at most.
    let span = pattern::with(text, subject.len(), 2, |re, cache| {
        let mut caps = re.create_captures();
        re.search_captures_with(cache, &Input::new(subject), &mut caps);
        if !caps.is_match() {
            return Ok::<_, HelperError>(None);
        }
        let span = match group {
            Some(number @ Value::Number(_)) => {
                let index = whole_number(number)
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or(HelperError::GroupNotWhole)?;
                caps.get_group(index)
            }
            Some(Value::String(name)) => caps.get_group_by_name(name),
            _ => caps.get_group(usize::from(caps.group_len() > 1)),
        };
        Ok(span)
    })??;
    Ok(span.map(|s| Value::from(&subject[s.range()])))
}

/// Replaces every match, checking before each replacement is expanded that the result so
/// far, the rest of the subject and the largest the expansion can be (the replacement with
/// each `$` reference standing for the whole match) still fit the render's budget.
pub(super) fn regex_replace(a: &Args) -> Result<Option<Value>, HelperError> {
    let (subject, text, replacement) = (a.str(0)?, a.str(1)?, a.str(2)?);
    let references = replacement.matches('$').count();
    // Each match is found and then split into groups: two passes over the subject at most.
    let out = pattern::with(text, subject.len(), 2, |re, cache| {
        let mut out = String::new();
        let mut last = 0;
        let mut caps = re.create_captures();
        let mut searcher = Searcher::new(Input::new(subject));
        loop {
            let found = searcher.advance(|input| {
                re.search_captures_with(cache, input, &mut caps);
                Ok(caps.get_match())
            });
            let Some(m) = found else { break };
            let largest = replacement
                .len()
                .saturating_add(references.saturating_mul(m.len()));
            room_for(
                out.len()
                    .saturating_add(largest)
                    .saturating_add(subject.len() - m.start()),
            )?;
            out.push_str(&subject[last..m.start()]);
            caps.interpolate_string_into(subject, replacement, &mut out);
            last = m.end();
        }
        out.push_str(&subject[last..]);
        Ok::<_, HelperError>(out)
    })??;
    Ok(Some(Value::from(out)))
}

/// `regexEscape s`: `s` with every regex metacharacter escaped, so it matches itself. Each
/// character gains at most one backslash.
pub(super) fn regex_escape(a: &Args) -> Result<Option<Value>, HelperError> {
    let s = a.str(0)?;
    room_for(budget::string_size(s.len().saturating_mul(2)))?;
    Ok(Some(Value::String(regex_syntax::escape(s))))
}
