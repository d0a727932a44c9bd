//! What of a request a rule reads, worked out once when the rule compiles, so that a parse
//! builds values only for those parts (and checks the syntax of the rest).
//!
//! A sync request carries the whole controller object and every observed child, while most
//! rules read a few fields of the parent and how many children there are: building JSON
//! values for the rest was most of a hook call's cost, growing with the request.
//!
//! The tree is conservative: any use it cannot follow reads the whole part it starts from.

use std::collections::BTreeMap;

use crate::metacontroller as mc;

/// What a rule reads of one part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// All of it.
    Whole,
    /// Only the named fields, if it is an object; it is built whole if it is anything else.
    /// An observed type read this way keeps a placeholder for every object it does not
    /// read, so that counting its objects still counts them all.
    Fields(BTreeMap<String, Need>),
}

impl Need {
    fn nothing() -> Need {
        Need::Fields(BTreeMap::new())
    }

    /// Widens `self` to read also what `other` reads.
    fn merge(&mut self, other: Need) {
        match (&mut *self, other) {
            (Need::Whole, _) => {}
            (_, Need::Whole) => *self = Need::Whole,
            (Need::Fields(mine), Need::Fields(theirs)) => {
                for (key, need) in theirs {
                    match mine.get_mut(&key) {
                        Some(existing) => existing.merge(need),
                        None => {
                            mine.insert(key, need);
                        }
                    }
                }
            }
        }
    }

    /// Notes that `need` of the part at `path` below this one is read.
    fn read(&mut self, path: &[&str], need: Need) {
        let Some((first, rest)) = path.split_first() else {
            self.merge(need);
            return;
        };
        match self {
            Need::Whole => {}
            Need::Fields(fields) => fields
                .entry((*first).to_owned())
                .or_insert_with(Need::nothing)
                .read(rest, need),
        }
    }
}

/// What a rule reads of its requests: the root of the [`Need`] tree.
#[derive(Debug, Clone)]
pub struct Reads {
    pub(super) root: Need,
    /// Whether templates or computed values read the time (`now`), which is not part of
    /// the request but makes the answer differ from one call to the next.
    pub(crate) now: bool,
}

impl Default for Reads {
    fn default() -> Self {
        Reads {
            root: Need::nothing(),
            now: false,
        }
    }
}

impl Reads {
    /// What every hook call needs, with who it is about.
    #[cfg(test)]
    pub fn minimal() -> Self {
        Reads::for_answer().with_subject()
    }

    /// What every answer needs: `finalizing` to pick the hook, and the main object to check
    /// its shape. Who the call is about is left to [`Reads::with_subject`]: building it
    /// costs a light call a tenth of its parse, for logs that may be off.
    pub fn for_answer() -> Self {
        let mut reads = Reads::default();
        reads.root.read(&[mc::FINALIZING], Need::Whole);
        for subject in [mc::PARENT, mc::OBJECT] {
            reads.root.read(&[subject], Need::nothing());
        }
        reads
    }

    /// These reads, and who the call is about: the object's kind, name, namespace and
    /// uid, which the server logs ([`Subject`](crate::metacontroller::Subject)).
    pub(crate) fn with_subject(&self) -> Self {
        let mut reads = self.clone();
        for subject in [mc::PARENT, mc::OBJECT] {
            reads.root.read(&[subject, "kind"], Need::Whole);
            for field in ["name", "namespace", "uid"] {
                reads.root.read(&[subject, "metadata", field], Need::Whole);
            }
        }
        reads
    }

    /// Notes a template path, given as its leading plain segments, whose value is used.
    /// Paths that do not start with a request key (values, loop variables) read nothing:
    /// what they name was read where it came from.
    ///
    /// In templates an observed type is a list of its objects, while in the request it is
    /// a map by key, so a path that goes on into one object reads the whole type.
    pub fn path(&mut self, segments: &[&str]) {
        let Some(first) = segments.first() else {
            return;
        };
        if *first == crate::now::NOW {
            self.now = true;
        }
        if !mc::REQUEST_KEYS.contains(first) {
            return;
        }
        let segments = if is_collection(first) {
            &segments[..segments.len().min(2)]
        } else {
            segments
        };
        self.root.read(segments, Need::Whole);
    }

    /// Notes a path whose objects are only counted (`length children.[Pod.v1]`): the
    /// observed type's objects are checked and skipped.
    pub fn count(&mut self, segments: &[&str]) {
        match segments {
            [collection, type_key] if is_collection(collection) => {
                self.root.read(&[collection, type_key], Need::nothing());
            }
            _ => self.path(segments),
        }
    }

    /// Notes a JSONPath value's query: its leading plain members (`$.a.b`, `$['a']['b']`)
    /// name the part it reads whole; a query that starts any other way may read anything.
    pub fn query(&mut self, query: &str) {
        // A filter may query the root too (`[?@.x == $.parent.y]`).
        // A JSONPath reads the request alone, never the time.
        let rest = query.trim().strip_prefix('$').unwrap_or("");
        if rest.contains('$') {
            self.root = Need::Whole;
            return;
        }
        match query_prefix(query) {
            Some(prefix) if !prefix.is_empty() => {
                let segments: Vec<&str> = prefix.iter().map(String::as_str).collect();
                self.root.read(&segments, Need::Whole);
            }
            _ => self.root = Need::Whole,
        }
    }

    /// Notes that a template may read the whole scope (`{{ this }}`, `@root`): all of the
    /// request, and the time.
    pub fn all(&mut self) {
        self.root = Need::Whole;
        self.now = true;
    }
}

/// The request keys whose values map observed types to objects by key.
pub(super) fn is_collection(key: impl AsRef<[u8]>) -> bool {
    [mc::CHILDREN, mc::RELATED, mc::ATTACHMENTS]
        .iter()
        .any(|c| c.as_bytes() == key.as_ref())
}

/// The member names of a query that is nothing but plain members (`$.a.b`, `$['a']`), which
/// a lookup by key answers exactly as the query would.
pub(crate) fn plain_query(query: &str) -> Option<Vec<String>> {
    let (names, rest) = query_members(query)?;
    rest.trim().is_empty().then_some(names)
}

/// The member names a JSONPath query starts with, before its first segment that is not one
/// plain member (a wildcard, an index, a filter, `..`, a list of names); `None` when it does
/// not start with `$`.
fn query_prefix(query: &str) -> Option<Vec<String>> {
    query_members(query).map(|(names, _)| names)
}

/// The plain member names a query starts with, and the rest of it.
fn query_members(query: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = query.trim().strip_prefix('$')?;
    let mut names = Vec::new();
    loop {
        if let Some(dotted) = rest.strip_prefix('.') {
            let end = dotted
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(dotted.len());
            let (name, after) = dotted.split_at(end);
            let first_ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_');
            if !first_ok || !(after.is_empty() || after.starts_with(['.', '['])) {
                return Some((names, rest));
            }
            names.push(name.to_owned());
            rest = after;
        } else if let Some(bracket) = rest.strip_prefix('[') {
            let Some(quote) = bracket.chars().next().filter(|c| matches!(c, '\'' | '"')) else {
                return Some((names, rest));
            };
            let inner = &bracket[1..];
            let Some(end) = inner.find(quote) else {
                return Some((names, rest));
            };
            let (name, after) = (&inner[..end], &inner[end + 1..]);
            // Escapes and name lists are left to the query itself.
            if name.contains('\\') || !after.starts_with(']') {
                return Some((names, rest));
            }
            names.push(name.to_owned());
            rest = &after[1..];
        } else {
            return Some((names, rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(entries: &[(&str, Need)]) -> Need {
        Need::Fields(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn query_prefixes_stop_at_the_first_segment_that_is_not_one_member() {
        let prefix = |q: &str| query_prefix(q).map(|p| p.join("/"));
        assert_eq!(
            prefix("$.parent.spec.who").as_deref(),
            Some("parent/spec/who")
        );
        assert_eq!(
            prefix("$['children'][\"Pod.v1\"].x").as_deref(),
            Some("children/Pod.v1/x")
        );
        assert_eq!(prefix("$.parent.spec[*].x").as_deref(), Some("parent/spec"));
        assert_eq!(prefix("$.parent..name").as_deref(), Some("parent"));
        assert_eq!(prefix("$..name").as_deref(), Some(""));
        assert_eq!(prefix("$.a[0]").as_deref(), Some("a"));
        assert_eq!(prefix("$['a','b']").as_deref(), Some(""));
        assert_eq!(prefix("$['it\\'s']").as_deref(), Some(""));
        assert_eq!(prefix("$.a[?@.b == 1]").as_deref(), Some("a"));
        assert_eq!(prefix("parent"), None);
        assert_eq!(
            plain_query("$.parent['spec'].who")
                .map(|p| p.join("/"))
                .as_deref(),
            Some("parent/spec/who")
        );
        assert_eq!(plain_query("$.parent.spec[*]"), None);
        assert_eq!(plain_query("$.a-b"), None);
    }

    #[test]
    fn plain_queries_are_looked_up_as_the_query_selects() {
        let doc = serde_json::json!({"a": {"b": [1], "c": null, "d": {"e": "x"}}, "f": [{"g": 1}]});
        for q in [
            "$.a",
            "$.a.b",
            "$['a']['d'].e",
            "$.a.c",
            "$.a.zz",
            "$.f.g",
            "$.a.b.x",
        ] {
            let members = plain_query(q).unwrap_or_else(|| panic!("{q} is plain"));
            let looked: Vec<&serde_json::Value> = members
                .iter()
                .try_fold(&doc, |at, m| at.as_object()?.get(m.as_str()))
                .into_iter()
                .collect();
            let queried = serde_json_path::JsonPath::parse(q)
                .unwrap()
                .query(&doc)
                .all();
            assert_eq!(looked, queried, "{q}");
        }
    }

    #[test]
    fn a_whole_read_covers_every_narrower_one_whichever_comes_first() {
        let mut a = Reads::default();
        a.path(&["parent", "spec", "who"]);
        a.path(&["parent", "spec"]);
        let mut b = Reads::default();
        b.path(&["parent", "spec"]);
        b.path(&["parent", "spec", "who"]);
        let expected = fields(&[("parent", fields(&[("spec", Need::Whole)]))]);
        assert_eq!(a.root, expected);
        assert_eq!(b.root, expected);
    }

    #[test]
    fn observed_types_are_read_whole_or_counted() {
        let mut r = Reads::default();
        r.count(&["children", "Pod.v1"]);
        r.path(&["children", "Service.v1", "0", "metadata"]);
        r.path(&["values_are_not_request_keys", "x"]);
        let expected = fields(&[(
            "children",
            fields(&[("Pod.v1", fields(&[])), ("Service.v1", Need::Whole)]),
        )]);
        assert_eq!(r.root, expected);
        r.path(&["children", "Pod.v1"]);
        let Need::Fields(top) = &r.root else {
            panic!("the root is read by fields")
        };
        assert_eq!(
            top["children"],
            fields(&[("Pod.v1", Need::Whole), ("Service.v1", Need::Whole)])
        );
        let mut filter = Reads::default();
        filter.query("$.children[?@.x == $.parent.spec.y]");
        assert_eq!(filter.root, Need::Whole);
        r.query("$..x");
        assert_eq!(r.root, Need::Whole);
    }
}
