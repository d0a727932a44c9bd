//! Metacontroller's hook requests: checking their shape and turning them into the scope
//! templates see.
//!
//! Observed objects arrive as `{ "Pod.v1": { <key>: object } }`, keyed by `name` or by
//! `namespace/name` depending on the hook version and the parent's scope. Templates see each
//! type as a list sorted by key instead, so the same rule works under v1 and v2.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::clip::clip;
use crate::json::type_name;
use crate::metacontroller::{self as mc, RequestShape};

/// Why a request does not have the shape of the hook request it was sent as. Request
/// keys are quoted cut short: they come from the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("the request must be a JSON object with `{subject}`, not {found}")]
    NotAnObject {
        subject: &'static str,
        found: &'static str,
    },
    #[error("the request has no `{0}` object")]
    NoSubject(&'static str),
    #[error("`{subject}` must be an object, not {found}")]
    SubjectNotAnObject {
        subject: &'static str,
        found: &'static str,
    },
    #[error("`{collection}` must map `Kind.version` to objects by key, not be {found}")]
    CollectionNotAMap {
        collection: &'static str,
        found: &'static str,
    },
    #[error("`{collection}.{type_key}` must map keys to objects, not be {found}")]
    TypeNotAMap {
        collection: &'static str,
        type_key: String,
        found: &'static str,
    },
    #[error("`{collection}.{type_key}.{object_key}` must be an object")]
    ObjectNotAnObject {
        collection: &'static str,
        type_key: String,
        object_key: String,
    },
    #[error("`finalizing` must be a bool, not {found}")]
    FinalizingNotABool { found: &'static str },
}

/// Checks that `request` has the shape of the request `shape` describes.
pub fn check_shape(request: &Value, shape: &RequestShape) -> Result<(), BadRequest> {
    let subject = shape.subject;
    let Some(top) = request.as_object() else {
        return Err(BadRequest::NotAnObject {
            subject,
            found: type_name(request),
        });
    };
    match top.get(subject) {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(BadRequest::NoSubject(subject)),
        Some(other) => {
            return Err(BadRequest::SubjectNotAnObject {
                subject,
                found: type_name(other),
            })
        }
    }
    for collection in shape.collections {
        check_collection(top.get(*collection), collection)?;
    }
    match top.get(mc::FINALIZING) {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(other) => Err(BadRequest::FinalizingNotABool {
            found: type_name(other),
        }),
    }
}

fn check_collection(value: Option<&Value>, collection: &'static str) -> Result<(), BadRequest> {
    let types = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(types)) => types,
        Some(other) => {
            return Err(BadRequest::CollectionNotAMap {
                collection,
                found: type_name(other),
            })
        }
    };
    for (type_key, objects) in types {
        match objects {
            Value::Null => {}
            Value::Object(objects) => {
                if let Some((key, _)) = objects.iter().find(|(_, o)| !o.is_object()) {
                    return Err(BadRequest::ObjectNotAnObject {
                        collection,
                        type_key: clip(type_key).into_owned(),
                        object_key: clip(key).into_owned(),
                    });
                }
            }
            other => {
                return Err(BadRequest::TypeNotAMap {
                    collection,
                    type_key: clip(type_key).into_owned(),
                    found: type_name(other),
                })
            }
        }
    }
    Ok(())
}

/// Moves the parts of `request` that templates see into `scope`.
///
/// Maps of observed objects become lists sorted by key; every type in `types` that the
/// request lacks becomes an empty list, since Metacontroller omits types it has no objects
/// of in some versions.
pub fn into_scope(
    request: Value,
    shape: &RequestShape,
    types: &BTreeSet<(String, String)>,
    scope: &mut Map<String, Value>,
) {
    let Value::Object(mut top) = request else {
        return;
    };
    let maps = shape.collections;
    let keep = shape
        .keys
        .iter()
        .filter(|k| !maps.contains(k) && **k != mc::FINALIZING);
    for key in keep {
        if let Some(v) = top.remove(*key) {
            scope.insert((*key).to_owned(), v);
        }
    }
    for map in maps {
        let mut lists = Map::new();
        if let Some(Value::Object(kinds)) = top.remove(*map) {
            for (kind, objects) in kinds {
                let list = match objects {
                    Value::Object(objects) => objects.into_iter().map(|(_, o)| o).collect(),
                    _ => Vec::new(),
                };
                lists.insert(kind, Value::Array(list));
            }
        }
        for (collection, kind) in types {
            if collection == map && !lists.contains_key(kind) {
                lists.insert(kind.clone(), Value::Array(Vec::new()));
            }
        }
        scope.insert((*map).to_owned(), Value::Object(lists));
    }
    let finalizing = matches!(top.get(mc::FINALIZING), Some(Value::Bool(true)));
    scope.insert(mc::FINALIZING.to_owned(), Value::Bool(finalizing));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observed_objects_become_lists_whatever_their_keys() {
        let v1 = json!({"parent": {}, "children": {"Pod.v1": {"b": {"n": 2}, "a": {"n": 1}}}});
        let v2 =
            json!({"parent": {}, "children": {"Pod.v1": {"ns/b": {"n": 2}, "ns/a": {"n": 1}}}});
        let types = BTreeSet::from([("children".to_owned(), "Service.v1".to_owned())]);
        let mut s1 = Map::new();
        let mut s2 = Map::new();
        let shape = mc::request_shape(mc::ControllerKind::Composite, mc::Hook::Sync);
        into_scope(v1, &shape, &types, &mut s1);
        into_scope(v2, &shape, &types, &mut s2);
        assert_eq!(s1, s2);
        assert_eq!(s1["children"]["Pod.v1"], json!([{"n": 1}, {"n": 2}]));
        assert_eq!(s1["children"]["Service.v1"], json!([]));
        assert_eq!(s1["related"], json!({}));
        assert_eq!(s1["finalizing"], json!(false));
    }

    #[test]
    fn wrong_shapes_are_named() {
        let shape = mc::request_shape(mc::ControllerKind::Composite, mc::Hook::Sync);
        let check = |v: Value| check_shape(&v, &shape).unwrap_err().to_string();
        assert_eq!(
            check(json!([])),
            "the request must be a JSON object with `parent`, not a list"
        );
        assert_eq!(check(json!({})), "the request has no `parent` object");
        assert_eq!(
            check(json!({"parent": {}, "children": []})),
            "`children` must map `Kind.version` to objects by key, not be a list"
        );
        assert_eq!(
            check(json!({"parent": {}, "children": {"Pod.v1": {"a": 1}}})),
            "`children.Pod.v1.a` must be an object"
        );
        assert_eq!(
            check(json!({"parent": {}, "finalizing": "yes"})),
            "`finalizing` must be a bool, not a string"
        );
    }
}

/// Which top-level request keys a rule reads. Parsing builds values only for those and
/// skips the rest (still checking their syntax): a sync request carries the whole
/// controller object, which few rules read, and building JSON values is most of a hook
/// call's cost.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    all: bool,
    keys: BTreeSet<String>,
}

impl Reads {
    /// What every hook needs: the main object, and `finalizing` to pick the hook.
    pub fn minimal() -> Self {
        let mut reads = Reads::default();
        for key in ["parent", "object", "finalizing"] {
            reads.keys.insert(key.to_owned());
        }
        reads
    }

    /// Notes a template name; names that are not request keys (values, loop variables)
    /// read nothing.
    pub fn name(&mut self, name: &str) {
        if mc::REQUEST_KEYS.contains(&name) {
            self.keys.insert(name.to_owned());
        }
    }

    /// Notes a JSONPath value's query: `$.key…` or `$['key']…` reads one key; anything else
    /// may read them all.
    pub fn query(&mut self, query: &str) {
        let rest = query.trim_start();
        let Some(rest) = rest.strip_prefix('$') else {
            self.all = true;
            return;
        };
        let key = if let Some(dotted) = rest.strip_prefix('.') {
            let end = dotted
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(dotted.len());
            Some(&dotted[..end]).filter(|k| !k.is_empty())
        } else if let Some(bracket) = rest.strip_prefix('[') {
            let bracket = bracket.trim_start();
            let quote = bracket.chars().next().filter(|c| *c == '\'' || *c == '"');
            quote.and_then(|q| bracket[1..].split(q).next())
        } else {
            None
        };
        match key {
            Some(key) => {
                self.keys.insert(key.to_owned());
            }
            None => self.all = true,
        }
    }

    /// Notes that something may read the whole request.
    pub fn all(&mut self) {
        self.all = true;
    }

    fn wants(&self, key: &str) -> bool {
        self.all || self.keys.contains(key)
    }
}

/// Parses a request body, building values only for the keys `reads` names.
///
/// # Errors
///
/// When the body is not JSON, or nests 128 levels or deeper (serde_json's limit) in any
/// part.
pub fn parse(body: &[u8], reads: &Reads) -> Result<Value, serde_json::Error> {
    if reads.all {
        return serde_json::from_slice(body);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde::de::DeserializeSeed::deserialize(TopLevel(reads), &mut de)?;
    de.end()?;
    Ok(value)
}

struct TopLevel<'a>(&'a Reads);

/// A value checked and thrown away. Unlike serde's `IgnoredAny`, it goes through
/// serde_json's nesting limit, so a skipped part nested 10,000 deep is refused like any other.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> serde::de::Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopLevel<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a hook request")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.wants(&key) {
                let value: Value = map.next_value()?;
                out.insert(key, value);
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(Value::Object(out))
    }

    // Anything but an object is kept as it is, for the shape check to name.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use serde_json::json;

    fn reads(names: &[&str], queries: &[&str]) -> Reads {
        let mut r = Reads::minimal();
        names.iter().for_each(|n| r.name(n));
        queries.iter().for_each(|q| r.query(q));
        r
    }

    #[test]
    fn keys_no_rule_reads_are_skipped() {
        let body = br#"{"controller": {"big": [1, 2, 3]}, "parent": {"a": 1}, "children": {}, "finalizing": false}"#;
        let v = parse(body, &reads(&["children"], &["$.parent.spec.who"])).unwrap();
        assert_eq!(
            v,
            json!({"parent": {"a": 1}, "children": {}, "finalizing": false})
        );
    }

    #[test]
    fn queries_name_their_first_key_or_read_everything() {
        let r = reads(&[], &["$['controller'].metadata"]);
        assert!(r.wants("controller") && !r.wants("related"));
        assert!(reads(&[], &["$..name"]).wants("related"));
        assert!(reads(&[], &["$[*]"]).wants("related"));
    }

    #[test]
    fn skipped_parts_are_still_checked() {
        let r = reads(&[], &[]);
        assert!(parse(br#"{"controller": {"a": [1, }, "parent": {}}"#, &r).is_err());
        let deep = format!(
            "{{\"controller\": {}{}, \"parent\": {{}}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse(deep.as_bytes(), &r).is_err());
        assert!(parse(br#"{"parent": {}} trailing"#, &r).is_err());
        assert_eq!(parse(b"[1, 2]", &r).unwrap(), json!([1, 2]));
    }
}
