//! What a JSONPath value may cost, decided when the rule loads.
//!
//! A query's evaluation cannot be interrupted, so its cost must follow from its shape: at
//! most the size of the request, whatever the request holds. Two shapes break that and are
//! refused:
//!
//! - more than one descendant segment (`$..a..b`): each multiplies the nodes visited by the
//!   request's depth;
//! - a query from the root inside a filter (`[?$...]`) that can match more than one node:
//!   it is evaluated again for every item the filter tests, so its cost multiplies by the
//!   number of items. One that names a single node (`[?@.name == $.parent.spec.name]`)
//!   costs the same for every item and stays allowed.
//!
//! The check reads the query as `JsonPath` prints it back, in its canonical form: names are
//! always `['name']`, so a segment's kind shows in its first characters.

use serde_json_path::JsonPath;

use crate::diagnostic::Diagnostic;
use crate::locate::Pos;

/// Parses a JSONPath value's query and decides its cost shape; a problem becomes a
/// diagnostic at `pos`.
pub(crate) fn compile(
    file: &str,
    source: &str,
    pos: Pos,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(JsonPath, QueryCost)> {
    match JsonPath::parse(source) {
        Ok(query) => match of(&query.to_string()) {
            Ok(cost) => Some((query, cost)),
            Err(why) => {
                diagnostics.push(Diagnostic::at(
                    file,
                    pos,
                    format!("JSONPath `{source}` refused: {why}"),
                ));
                None
            }
        },
        Err(e) => {
            let hint = if source.trim_start().starts_with('$') {
                String::new()
            } else {
                format!(
                    "; a JSONPath starts with `$`, e.g. `$.{}`",
                    source.trim_start_matches('.')
                )
            };
            diagnostics.push(Diagnostic::at(
                file,
                pos,
                format!("bad JSONPath `{source}`: {}{hint}", e.message()),
            ));
            None
        }
    }
}

/// How a query's cost grows, for charging it at render time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryCost {
    /// Names and indexes only: a fixed walk down the request.
    Fixed,
    /// Wildcards, slices, filters or one descent: up to the whole request once.
    Request,
}

/// The cost shape of a query in canonical form, or why it is refused.
pub(crate) fn of(canonical: &str) -> Result<QueryCost, String> {
    let chars: Vec<char> = canonical.chars().collect();
    let mut descents = 0;
    let mut singular = true;
    let mut filter_depth = 0usize;
    let mut brackets: Vec<bool> = Vec::new(); // true for a filter's bracket
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' | '"' => i = skip_string(&chars, i),
            '.' if chars.get(i + 1) == Some(&'.') => {
                descents += 1;
                singular = false;
                i += 2;
                continue;
            }
            '[' => {
                let is_filter = chars.get(i + 1) == Some(&'?');
                if !is_segment_singular(&chars, i) {
                    singular = false;
                }
                brackets.push(is_filter);
                filter_depth += usize::from(is_filter);
            }
            ']' if brackets.pop() == Some(true) => filter_depth -= 1,
            '$' if filter_depth > 0 && !root_query_is_singular(&chars, i + 1) => {
                return Err(
                    "a query from the root (`$…`) inside a filter must name one node: it runs again for every item the filter tests; compute it as a value of its own"
                        .to_owned(),
                );
            }
            _ => {}
        }
        i += 1;
    }
    if descents > 1 {
        return Err(
            "a query may descend (`..`) only once: each descent visits the request again at every depth"
                .to_owned(),
        );
    }
    Ok(if singular {
        QueryCost::Fixed
    } else {
        QueryCost::Request
    })
}

/// The index just past the string literal that starts at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == quote => return i,
            _ => i += 1,
        }
    }
    i
}

/// Whether the bracketed segment at `open` selects at most one node: `['name']` or `[3]`.
fn is_segment_singular(chars: &[char], open: usize) -> bool {
    match chars.get(open + 1) {
        Some('\'' | '"') => {
            let end = skip_string(chars, open + 1);
            chars.get(end + 1) == Some(&']')
        }
        Some(c) if c.is_ascii_digit() || *c == '-' => {
            let digits = chars[open + 1..]
                .iter()
                .skip(1)
                .take_while(|c| c.is_ascii_digit())
                .count();
            chars.get(open + 2 + digits) == Some(&']')
        }
        _ => false,
    }
}

/// Whether the segments that follow a `$` at `from` all select at most one node.
fn root_query_is_singular(chars: &[char], mut from: usize) -> bool {
    loop {
        match chars.get(from) {
            Some('[') => {
                if !is_segment_singular(chars, from) {
                    return false;
                }
                from = segment_end(chars, from) + 1;
            }
            Some('.') => return false, // `..`: canonical names are bracketed
            _ => return true,
        }
    }
}

/// The index of the `]` that closes the segment opened at `open`.
fn segment_end(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\'' | '"' => i = skip_string(chars, i),
            ']' => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json_path::JsonPath;

    fn cost(query: &str) -> Result<QueryCost, String> {
        of(&JsonPath::parse(query).unwrap().to_string())
    }

    #[test]
    fn names_and_indexes_cost_a_fixed_walk() {
        assert_eq!(cost("$.parent.metadata.name"), Ok(QueryCost::Fixed));
        assert_eq!(cost("$.children['Pod.v1']"), Ok(QueryCost::Fixed));
        assert_eq!(cost("$.parent.spec.items[0]"), Ok(QueryCost::Fixed));
        assert_eq!(cost("$['a..b']"), Ok(QueryCost::Fixed), "dots in a name");
    }

    #[test]
    fn wildcards_filters_and_one_descent_cost_up_to_the_request() {
        for query in [
            "$.parent.spec.containers[*].image",
            "$..name",
            "$.a[1:3]",
            "$.related['ConfigMap.v1'][?@.metadata.name == $.parent.spec.sourceName]",
            "$.a[?@.b == $['c'][0]]",
        ] {
            assert_eq!(cost(query), Ok(QueryCost::Request), "{query}");
        }
    }

    #[test]
    fn shapes_whose_cost_multiplies_are_refused() {
        assert!(cost("$..a..b").unwrap_err().contains("only once"));
        for query in [
            "$.a[?$.b[*]]",
            "$.a[?count($.b[*]) > 1]",
            "$.a[?$..x]",
            "$.a[?@.x == 1 && $.b[?@.y]]",
        ] {
            let error = cost(query).unwrap_err();
            assert!(error.contains("name one node"), "{query}: {error}");
        }
    }
}
