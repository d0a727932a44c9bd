//! A problem in a rule file, pointed at its line and column.

use super::locate::{join_key, Locator, Pos};
use serde_json::Value;

/// One problem found while loading a rule, printed as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    pub fn at(file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self::new(file, pos.line, pos.column, message)
    }
}

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent swaps, the common typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Reports every key of `map` (at `path` in the file) that is not in `known`, with the
/// closest known key when there is one.
pub(crate) fn check_keys(
    file: &str,
    path: &str,
    map: &serde_json::Map<String, Value>,
    known: &[&str],
    locator: &Locator,
    out: &mut Vec<Diagnostic>,
) {
    for key in map.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let at = locator.key(&join_key(path, key));
        let place = if path.is_empty() { "the rule" } else { path };
        let message = match suggest(key, known.iter().copied()) {
            Some(close) => format!("unknown key `{key}` in {place}; did you mean `{close}`?"),
            None => format!(
                "unknown key `{key}` in {place}; expected one of: {}",
                known.join(", ")
            ),
        };
        out.push(Diagnostic::at(file, at, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_pair_of_letters_is_suggested() {
        assert_eq!(
            suggest("chlidren", ["children", "status"]),
            Some("children")
        );
    }

    #[test]
    fn nothing_is_suggested_for_an_unrelated_word() {
        assert_eq!(suggest("zzz", ["children", "status"]), None);
    }
}
