//! `rulehook test --update`: write each case's current response into its `expect` block, or
//! add one, changing no other line, so comments and layout survive.

use serde_json::Value;

use rulehook_engine::Locator;

/// A change `--update` makes to one case.
pub struct Edit {
    /// The case's index in `cases`.
    pub case: usize,
    /// The response to write as the case's `expect`, replacing any there is.
    pub value: Value,
}

/// Rewrites each edited case's `expect` block, leaving every other line as it was.
pub fn apply_edits(text: &str, locator: &Locator, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        if let Some(last) = lines.last_mut() {
            last.push('\n');
        }
    }
    // Bottom-up, so earlier line numbers stay valid.
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.case));
    for edit in edits {
        let case_path = format!("cases[{}]", edit.case);
        let yaml = serde_yaml_ng::to_string(&edit.value).unwrap_or_default();
        let expect_path = format!("{case_path}.expect");
        let key = locator.key(&expect_path);
        let has_expect = locator.has_key(&expect_path);
        if has_expect {
            replace_block(&mut lines, key.line, key.column, "expect", &yaml);
        } else {
            let start = locator.value(&case_path);
            insert_block(&mut lines, start.line, start.column, "expect", &yaml);
        }
    }
    lines.concat()
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The last line (0-based) of the block that starts on `first` (0-based) and holds lines
/// indented deeper than `indent`, ignoring trailing blank lines.
fn block_end(lines: &[String], first: usize, indent: usize) -> usize {
    let mut end = first;
    for (i, line) in lines.iter().enumerate().skip(first + 1) {
        if is_blank(line) {
            continue;
        }
        if indent_of(line) > indent {
            end = i;
        } else {
            break;
        }
    }
    end
}

fn indented(yaml: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    yaml.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Replaces `key:` at (line, column) and its value with `key:` and `yaml`.
fn replace_block(lines: &mut Vec<String>, line: usize, column: usize, key: &str, yaml: &str) {
    let first = line.saturating_sub(1);
    let Some(key_line) = lines.get(first) else {
        return;
    };
    let indent = column.saturating_sub(1);
    let prefix: String = key_line.chars().take(indent).collect();
    let end = block_end(lines, first, indent);
    let replacement = format!("{prefix}{key}:\n{}", indented(yaml, indent + 2));
    lines.splice(first..=end, [replacement]);
}

/// Adds `key:` and `yaml` at the end of the mapping whose first key is at (line, column).
fn insert_block(lines: &mut Vec<String>, line: usize, column: usize, key: &str, yaml: &str) {
    let first = line.saturating_sub(1);
    let indent = column.saturating_sub(1);
    let end = block_end(lines, first, indent.saturating_sub(1)).min(lines.len().saturating_sub(1));
    let text = format!(
        "{}{key}:\n{}",
        " ".repeat(indent),
        indented(yaml, indent + 2)
    );
    lines.insert(end + 1, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.split_inclusive('\n').map(str::to_owned).collect()
    }

    #[test]
    fn replacing_an_expect_block_keeps_the_lines_around_it() {
        let text = "cases:\n  - name: a\n    # keep me\n    expect:\n      old: 1\n      deeper:\n        x: 2\n\n  - name: b\n";
        let mut l = lines(text);
        replace_block(&mut l, 4, 5, "expect", "new: 3\n");
        assert_eq!(
            l.concat(),
            "cases:\n  - name: a\n    # keep me\n    expect:\n      new: 3\n\n  - name: b\n"
        );
    }

    #[test]
    fn inserting_an_expect_block_goes_after_the_case() {
        let text = "cases:\n  - name: a\n    request: {parent: {}}\n  - name: b\n";
        let mut l = lines(text);
        insert_block(&mut l, 2, 5, "expect", "x: 1\n");
        assert_eq!(l.concat(), "cases:\n  - name: a\n    request: {parent: {}}\n    expect:\n      x: 1\n  - name: b\n");
    }
}
