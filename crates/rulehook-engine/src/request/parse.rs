//! Parsing a request body into values for only the parts a rule reads ([`Reads`]): every
//! byte is still checked (malformed JSON anywhere is refused), but only what the rule
//! reads is built. What is built may nest at most 128 deep (serde_json's limit); what is
//! skipped is skipped without recursing, so it may nest deeper at no cost but its bytes.
//!
//! Observed types keep their shape even where they are not read: every object of a type the
//! rule reads stays as a placeholder (`{}`), so counting them counts them all, and anything
//! that is not an object is built as it is, so the shape check still names it.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::reads::{is_collection, Need, Reads};
use super::walk::Stop;
use crate::RenderGuard;

/// Parses a request body, building values only for what `reads` names.
///
/// # Errors
///
/// When the body is not JSON, or a part it builds nests 128 levels or deeper.
pub fn parse(body: &[u8], reads: &Reads) -> Result<Value, serde_json::Error> {
    parse_within(body, reads, None).map_err(|e| match e {
        ReadError::Malformed(e) => e,
        // Only a guard refuses, and there is none: kept an error rather than a panic.
        refused @ ReadError::Refused { .. } => serde::de::Error::custom(refused),
    })
}

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not JSON, or what the rule reads nests 128 levels deep or more.
    #[error(transparent)]
    Malformed(#[from] serde_json::Error),
    /// The caller's guard would not grant the memory the parts the rule reads take.
    #[error("the parts of the request the rule reads would take more than {kept} bytes of memory, more than the server can give this request")]
    Refused {
        /// What the parse had kept when it was refused, with what it asked for.
        kept: usize,
    },
}

/// As [`parse`], asking `guard` for the memory of what it builds before building it.
///
/// # Errors
///
/// As [`parse`], and [`ReadError::Refused`] when the guard refuses.
pub fn parse_within(
    body: &[u8],
    reads: &Reads,
    guard: Option<&dyn RenderGuard>,
) -> Result<Value, ReadError> {
    let keep = Keep::new(guard);
    match super::walk::walk(body, Build::of(&reads.root, Level::Top, &keep)) {
        Ok(value) => return Ok(value),
        Err(Stop::Refused) => {
            return Err(ReadError::Refused {
                kept: keep.kept.get(),
            })
        }
        // The full parse decides, and charges afresh what it keeps.
        Err(Stop::Unusual) => keep.kept.set(0),
    }
    full(body, reads, &keep)
}

/// The full parse, through serde_json: what the walk leaves to it, and its errors.
fn full(body: &[u8], reads: &Reads, keep: &Keep<'_>) -> Result<Value, ReadError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Build::of(&reads.root, Level::Top, keep)
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if keep.refused.get() => Err(ReadError::Refused {
            kept: keep.kept.get(),
        }),
        Err(e) => Err(ReadError::Malformed(e)),
    }
}

/// The full parse alone, to compare the walk with.
#[cfg(test)]
pub(super) fn parse_full(body: &[u8], reads: &Reads) -> Result<Value, serde_json::Error> {
    match full(body, reads, &Keep::new(None)) {
        Ok(value) => Ok(value),
        Err(ReadError::Malformed(e)) => Err(e),
        Err(refused) => Err(serde::de::Error::custom(refused)),
    }
}

/// The walk alone: `None` where it leaves the body to the full parse.
#[cfg(test)]
pub(super) fn walk_only(body: &[u8], reads: &Reads) -> Option<Value> {
    let keep = Keep::new(None);
    super::walk::walk(body, Build::of(&reads.root, Level::Top, &keep)).ok()
}

/// The memory a built value takes besides its text: a `Value` (32 bytes) and, in a map, an
/// entry's share of its tree node.
pub(super) const VALUE: usize = 32;
const ENTRY: usize = 48;

/// The guard is asked for memory in pieces of this size.
const GRANT: usize = 64 * 1024;

/// What a parse keeps, charged to the caller's guard before it is built.
pub(super) struct Keep<'g> {
    guard: Option<&'g dyn RenderGuard>,
    kept: Cell<usize>,
    granted: Cell<usize>,
    pub(super) refused: Cell<bool>,
}

impl<'g> Keep<'g> {
    fn new(guard: Option<&'g dyn RenderGuard>) -> Self {
        Keep {
            guard,
            kept: Cell::new(0),
            granted: Cell::new(0),
            refused: Cell::new(false),
        }
    }

    pub(super) fn charge<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        let kept = self.kept.get().saturating_add(bytes);
        self.kept.set(kept);
        let Some(guard) = self.guard else {
            return Ok(());
        };
        if kept <= self.granted.get() {
            return Ok(());
        }
        let ask = (kept - self.granted.get()).max(GRANT);
        if guard.cancelled() || !guard.reserve(ask) {
            self.refused.set(true);
            return Err(E::custom("the request would take more memory than it may"));
        }
        self.granted.set(self.granted.get() + ask);
        Ok(())
    }

    pub(super) fn string<E: serde::de::Error>(&self, text: &str) -> Result<Value, E> {
        self.charge(VALUE + text.len())?;
        Ok(Value::String(text.to_owned()))
    }

    pub(super) fn scalar<E: serde::de::Error>(&self, value: Value) -> Result<Value, E> {
        self.charge(VALUE)?;
        Ok(value)
    }

    /// A key that is kept: only then is it checked to be UTF-8, as a skipped string's
    /// contents never are.
    pub(super) fn key<E: serde::de::Error>(
        &self,
        key: std::borrow::Cow<'_, [u8]>,
    ) -> Result<String, E> {
        self.charge(ENTRY + key.len())?;
        String::from_utf8(key.into_owned()).map_err(|_| E::custom("a key is not UTF-8"))
    }
}

/// Where in a request a part stands, which decides what is kept of what the rule does not
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// The request itself.
    Top,
    /// Anywhere outside observed objects' maps: unread fields are skipped.
    Plain,
    /// `children` and friends: unread types are checked and kept as empty maps.
    Collection,
    /// One observed type the rule reads: unread objects are checked and kept as `{}`.
    Type,
    /// One observed type the rule does not read: its objects are checked and dropped.
    UnreadType,
}

impl Level {
    /// The level of the value under `key`.
    fn below(self, key: &[u8]) -> Level {
        match self {
            Level::Top if is_collection(key) => Level::Collection,
            Level::Top | Level::Plain | Level::Type | Level::UnreadType => Level::Plain,
            Level::Collection => Level::Type,
        }
    }
}

/// Builds one part of the request: whole (`fields` is `None`), or only the named fields of
/// an object. Anything but an object is built whole: a rule reading its fields finds none,
/// and the shape check names it where it must be an object.
pub(super) struct Build<'a> {
    pub(super) fields: Option<&'a BTreeMap<String, Need>>,
    pub(super) at: Level,
    pub(super) keep: &'a Keep<'a>,
}

impl<'a> Build<'a> {
    fn of(need: &'a Need, at: Level, keep: &'a Keep<'a>) -> Self {
        let fields = match need {
            Need::Whole => None,
            Need::Fields(fields) => Some(fields),
        };
        Build { fields, at, keep }
    }

    pub(super) fn whole(keep: &'a Keep<'a>) -> Self {
        Build {
            fields: None,
            at: Level::Plain,
            keep,
        }
    }

    /// How the value under `key` is built, or `None` to skip it.
    pub(super) fn below(&self, key: &[u8]) -> Option<Build<'a>> {
        let Some(fields) = self.fields else {
            return Some(Build::whole(self.keep));
        };
        // A rule reads a few fields of any one object: a scan of their bytes beats a
        // search of the tree.
        if let Some((_, need)) = fields.iter().find(|(name, _)| name.as_bytes() == key) {
            return Some(Build::of(need, self.at.below(key), self.keep));
        }
        let unread = |at| Build {
            fields: Some(empty_fields()),
            at,
            keep: self.keep,
        };
        match self.at {
            Level::Top | Level::Plain => None,
            Level::Collection => Some(unread(Level::UnreadType)),
            Level::Type | Level::UnreadType => Some(unread(Level::Plain)),
        }
    }
}

fn empty_fields() -> &'static BTreeMap<String, Need> {
    static EMPTY: BTreeMap<String, Need> = BTreeMap::new();
    &EMPTY
}

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.keep.charge(VALUE)?;
        let mut out = Map::new();
        while let Some(KeyText(key)) = map.next_key()? {
            let Some(build) = self.below(&key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(build)?;
            // An object of a type no rule reads is only checked.
            if self.at == Level::UnreadType && value.is_object() {
                continue;
            }
            out.insert(self.keep.key(key)?, value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.keep.charge(VALUE)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Build::whole(self.keep))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.keep.string(v)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.keep.scalar(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.keep.scalar(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.keep.scalar(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.keep
            .scalar(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.keep.scalar(Value::Null)
    }
}

/// A map key's bytes, unescaped, borrowed from the body when it has no escapes.
struct KeyText<'de>(std::borrow::Cow<'de, [u8]>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_bytes(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reads(paths: &[&str], counted: &[&str], queries: &[&str]) -> Reads {
        let mut r = Reads::minimal();
        for p in paths {
            r.path(&p.split('/').collect::<Vec<_>>());
        }
        for p in counted {
            r.count(&p.split('/').collect::<Vec<_>>());
        }
        queries.iter().for_each(|q| r.query(q));
        r
    }

    #[test]
    fn only_what_the_rule_reads_is_built() {
        let body = br#"{"controller": {"big": [1, 2, 3]},
            "parent": {"metadata": {"name": "a", "uid": "u"}, "spec": {"who": "x", "n": 1}},
            "children": {"Pod.v1": {"a": {"spec": {}}, "b": {"spec": {}}},
                         "Service.v1": {"s": {"spec": {}}}},
            "finalizing": false}"#;
        let v = parse(
            body,
            &reads(&[], &["children/Pod.v1"], &["$.parent.spec.who"]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "parent": {"metadata": {"name": "a", "uid": "u"}, "spec": {"who": "x"}},
                "children": {"Pod.v1": {"a": {}, "b": {}}, "Service.v1": {}},
                "finalizing": false,
            })
        );
    }

    #[test]
    fn unread_parts_that_are_not_objects_are_built_for_the_shape_check() {
        let body = br#"{"parent": {"metadata": 5},
            "children": {"Pod.v1": {"a": 1, "b": {}}, "Service.v1": {"s": [2]}, "X.v1": 3}}"#;
        let v = parse(body, &reads(&[], &["children/Pod.v1"], &[])).unwrap();
        assert_eq!(
            v,
            json!({
                "parent": {"metadata": 5},
                "children": {"Pod.v1": {"a": 1, "b": {}}, "Service.v1": {"s": [2]}, "X.v1": 3},
            })
        );
    }

    #[derive(Debug)]
    struct Pool(std::sync::atomic::AtomicUsize);

    impl RenderGuard for Pool {
        fn reserve(&self, bytes: usize) -> bool {
            use std::sync::atomic::Ordering;
            self.0
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    left.checked_sub(bytes)
                })
                .is_ok()
        }

        fn cancelled(&self) -> bool {
            false
        }
    }

    #[test]
    fn the_guard_is_asked_for_what_is_built_not_for_what_is_skipped() {
        let pods: Map<String, Value> = (0..2000)
            .map(|i| (format!("p{i}"), json!({"spec": {"text": "x".repeat(500)}})))
            .collect();
        let body =
            serde_json::to_vec(&json!({"parent": {}, "children": {"Pod.v1": pods}})).unwrap();
        assert!(body.len() > 1_000_000);
        let pool = Pool(std::sync::atomic::AtomicUsize::new(256 * 1024));
        let counted = reads(&[], &["children/Pod.v1"], &[]);
        let v = parse_within(&body, &counted, Some(&pool)).unwrap();
        assert_eq!(
            v["children"]["Pod.v1"].as_object().map(Map::len),
            Some(2000)
        );
        let pool = Pool(std::sync::atomic::AtomicUsize::new(256 * 1024));
        let whole = reads(&["children/Pod.v1"], &[], &[]);
        match parse_within(&body, &whole, Some(&pool)) {
            Err(ReadError::Refused { kept }) => assert!(kept > 256 * 1024, "{kept}"),
            other => panic!("a whole read of 1 MB within 256 KiB: {other:?}"),
        }
    }

    #[test]
    fn keys_are_read_unescaped_and_kept_ones_must_be_utf8() {
        let body = br#"{"par\u0065nt": {"metadata": {"n\u0061me": "x", "\u00e9": 1}}}"#;
        let v = parse(body, &reads(&["parent/metadata"], &[], &[])).unwrap();
        assert_eq!(
            v,
            json!({"parent": {"metadata": {"name": "x", "\u{e9}": 1}}})
        );
        let lone = br#"{"parent": {"metadata": {"\ud800": 1}}}"#;
        assert!(parse(lone, &reads(&["parent/metadata"], &[], &[])).is_err());
    }

    #[test]
    fn a_rule_that_reads_everything_gets_everything() {
        let body = br#"{"controller": {"x": [1, {"y": null}]}, "parent": {"a": "\u00e9"}}"#;
        let v = parse(body, &reads(&[], &[], &["$..x"])).unwrap();
        assert_eq!(v, serde_json::from_slice::<Value>(body).unwrap());
    }

    #[test]
    fn skipped_parts_are_still_checked() {
        let r = reads(&[], &[], &[]);
        assert!(parse(br#"{"controller": {"a": [1, }, "parent": {}}"#, &r).is_err());
        let deep = format!(
            "{{\"controller\": {}{}, \"parent\": {{}}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // A part that is skipped is never built, so its depth costs nothing but its bytes:
        // serde_json skips it without recursing.
        assert!(parse(deep.as_bytes(), &r).is_ok());
        let built = reads(&["controller"], &[], &[]);
        assert!(parse(deep.as_bytes(), &built).is_err());
        assert!(parse(br#"{"parent": {}} trailing"#, &r).is_err());
        assert_eq!(parse(b"[1, 2]", &r).unwrap(), json!([1, 2]));
    }
}
