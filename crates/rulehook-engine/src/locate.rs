//! Source positions for a rule file: maps a node's path (`sync.children[0].metadata.name`)
//! to its line and column, so every compile and render error can point at the rule's own text.
//!
//! serde gives no spans, so the file is walked once more with an event parser. This runs only
//! at load time.

use std::collections::HashMap;
use std::ops::Range;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Path → position index of one YAML document.
#[derive(Debug, Default)]
pub struct Locator {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    /// The file's text, to place a position inside a scalar.
    text: String,
}

impl Locator {
    /// Indexes `text`. A file that does not parse yields an empty index; its syntax error is
    /// reported by the real parser, with its own position.
    pub fn new(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Self::default();
        }
        Locator {
            values: walker.values,
            keys: walker.keys,
            text: text.to_owned(),
        }
    }

    /// Where the part `within` (a byte range) of the string `value`, a scalar starting at
    /// `start`, begins in the file. Known exactly only when the file's text, from the
    /// scalar's first character through that part, is the value's own: on the scalar's
    /// first line (a block scalar starts at its text), plain or quoted, with nothing
    /// escaped, folded or quoted twice before it. `None` otherwise.
    pub fn within_scalar(&self, start: Pos, value: &str, within: Range<usize>) -> Option<Pos> {
        let through = value.get(..within.end)?;
        let before = value.get(..within.start)?;
        let line = self.text.lines().nth(start.line.checked_sub(1)?)?;
        let written: String = line.chars().skip(start.column.checked_sub(1)?).collect();
        let quote = usize::from(written.starts_with(['"', '\'']));
        let inside = written.get(quote..)?;
        inside.starts_with(through).then(|| Pos {
            line: start.line,
            column: start.column + quote + before.chars().count(),
        })
    }

    /// Where the value at `path` starts, or the nearest enclosing node that is known.
    pub fn value(&self, path: &str) -> Pos {
        self.lookup(&self.values, path)
    }

    /// Whether `path` names a mapping key that is present.
    pub fn has_key(&self, path: &str) -> bool {
        self.keys.contains_key(path)
    }

    /// Where the mapping key that ends `path` stands; falls back to its value.
    pub fn key(&self, path: &str) -> Pos {
        match self.keys.get(path) {
            Some(pos) => *pos,
            None => self.value(path),
        }
    }

    fn lookup(&self, map: &HashMap<String, Pos>, path: &str) -> Pos {
        let mut path = path;
        loop {
            if let Some(pos) = map.get(path) {
                return *pos;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 })
                }
            }
        }
    }
}

/// Joins a child key onto a path the way [`Locator`] spells paths.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a list index onto a path.
pub fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

enum Frame {
    /// A mapping; `pending_key` holds the key whose value comes next.
    Map {
        path: String,
        pending_key: Option<String>,
        /// Still before the first key, whose position becomes the mapping's (the parser
        /// marks a block mapping's start at its first value).
        first: bool,
    },
    List {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    /// True once the first document ended; later documents are not indexed.
    done: bool,
}

impl Walker {
    /// The path of the node that starts now, or `None` when the node is a mapping key.
    fn next_path(&mut self, scalar: Option<&str>, pos: Pos) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::List { path, next }) => {
                let p = join_index(path, *next);
                *next += 1;
                Some(p)
            }
            Some(Frame::Map {
                path,
                pending_key,
                first,
            }) => match pending_key.take() {
                Some(key) => Some(join_key(path, &key)),
                None => {
                    // A key. Complex keys (mappings as keys) get a placeholder name.
                    let key = scalar.unwrap_or("?").to_owned();
                    if std::mem::take(first) {
                        self.values.insert(path.clone(), pos);
                    }
                    self.keys.insert(join_key(path, &key), pos);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let pos = Pos {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(ref text, ..) => {
                if let Some(path) = self.next_path(Some(text), pos) {
                    self.values.insert(path, pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.next_path(Some("*"), pos) {
                    self.values.insert(path, pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.next_path(None, pos).unwrap_or_else(|| "?".to_owned());
                self.values.insert(path.clone(), pos);
                self.stack.push(match ev {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        pending_key: None,
                        first: true,
                    },
                    _ => Frame::List { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: hello\nsync:\n  children:\n    - kind: Pod\n      metadata:\n        name: \"{{ name }}\"\n";

    #[test]
    fn values_and_keys_have_one_based_positions() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.value("name"), Pos { line: 1, column: 7 });
        assert_eq!(loc.key("sync"), Pos { line: 2, column: 1 });
        assert_eq!(
            loc.value("sync.children[0].kind"),
            Pos {
                line: 4,
                column: 13
            }
        );
        assert_eq!(
            loc.value("sync.children[0].metadata.name"),
            Pos {
                line: 6,
                column: 15
            }
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_known_parent() {
        let loc = Locator::new(TEXT);
        assert_eq!(
            loc.value("sync.children[0].nothing.here"),
            loc.value("sync.children[0]")
        );
    }

    #[test]
    fn a_place_inside_a_scalar_is_exact_only_where_the_text_is_the_values() {
        let text =
            "a: \"x{{ b }}\"\nc: '\u{e9}''{{ d }}'\ne: x {{ f }}\ng: |\n  {{ h }}\n  {{ i }}\n";
        let loc = Locator::new(text);
        let within = |path: &str, value: &str, part: Range<usize>| {
            loc.within_scalar(loc.value(path), value, part)
        };
        assert_eq!(
            within("a", "x{{ b }}", 1..8),
            Some(Pos { line: 1, column: 6 })
        );
        // `''` stands for one quote: the text after it is one column further than the value's.
        assert_eq!(within("c", "\u{e9}'{{ d }}", 3..10), None);
        assert_eq!(
            within("c", "\u{e9}'{{ d }}", 0..2),
            Some(Pos { line: 2, column: 5 })
        );
        assert_eq!(
            within("e", "x {{ f }}", 2..9),
            Some(Pos { line: 3, column: 6 })
        );
        assert_eq!(
            within("g", "{{ h }}\n", 0..7),
            Some(Pos { line: 5, column: 3 })
        );
        // A block scalar starts at its text: its first line is exact, the next is not.
        assert_eq!(within("g", "{{ h }}\n{{ i }}\n", 8..15), None);
        assert_eq!(within("a", "x{{ b }}", 1..99), None);
    }

    #[test]
    fn unparsable_text_gives_an_empty_index() {
        let loc = Locator::new("a: [\n");
        assert_eq!(loc.value("a"), Pos { line: 1, column: 1 });
    }
}
