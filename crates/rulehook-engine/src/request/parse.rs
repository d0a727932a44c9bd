//! Parsing a request body into values for only the parts a rule reads ([`Reads`]): every
//! byte is still checked (malformed JSON anywhere is refused), but only what the rule
//! reads is built. What is built may nest at most 128 deep (serde_json's limit); what is
//! skipped is skipped without recursing, so it may nest deeper at no cost but its bytes.
//!
//! Observed types keep their shape even where they are not read: every object of a type the
//! rule reads stays as a placeholder (`{}`), so counting them counts them all, and anything
//! that is not an object is built as it is, so the shape check still names it.

use std::collections::BTreeMap;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::reads::{is_collection, Need, Reads};

/// Parses a request body, building values only for what `reads` names.
///
/// # Errors
///
/// When the body is not JSON, or a part it builds nests 128 levels or deeper.
pub fn parse(body: &[u8], reads: &Reads) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Part {
        need: &reads.root,
        at: Level::Top,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where in a request a part stands, which decides what is kept of what the rule does not
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The request itself.
    Top,
    /// Anywhere outside observed objects' maps: unread fields are skipped.
    Plain,
    /// `children` and friends: unread types are checked, and kept as empty maps.
    Collection,
    /// One observed type: unread objects are checked, and kept as `{}`.
    Type,
}

/// One part of the request, and what the rule reads of it.
struct Part<'n> {
    need: &'n Need,
    at: Level,
}

impl<'de> DeserializeSeed<'de> for Part<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.need {
            Need::Whole => serde::Deserialize::deserialize(d),
            Need::Fields(fields) => d.deserialize_any(FieldsVisitor {
                fields,
                at: self.at,
            }),
        }
    }
}

struct FieldsVisitor<'n> {
    fields: &'n BTreeMap<String, Need>,
    at: Level,
}

impl FieldsVisitor<'_> {
    /// The level of a field's value.
    fn below(&self, key: &str) -> Level {
        match self.at {
            Level::Top if is_collection(key) => Level::Collection,
            Level::Top | Level::Plain | Level::Type => Level::Plain,
            Level::Collection => Level::Type,
        }
    }
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            let key = key.0;
            if let Some(need) = self.fields.get(key.as_ref()) {
                let value = map.next_value_seed(Part {
                    need,
                    at: self.below(&key),
                })?;
                out.insert(key.into_owned(), value);
                continue;
            }
            match self.at {
                Level::Top | Level::Plain => {
                    map.next_value::<IgnoredAny>()?;
                }
                Level::Collection => {
                    if let Some(kept) = map.next_value_seed(UnreadType)? {
                        out.insert(key.into_owned(), kept);
                    }
                }
                Level::Type => {
                    let kept = map.next_value_seed(UnreadObject)?;
                    out.insert(key.into_owned(), kept);
                }
            }
        }
        Ok(Value::Object(out))
    }

    // Anything but an object is built whole: a rule reading its fields finds none, and
    // the shape check names it where it must be an object.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        whole_list(seq)
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

/// Builds a list whole.
fn whole_list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Value, A::Error> {
    let mut out = Vec::new();
    while let Some(v) = seq.next_element::<Value>()? {
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// A map key, borrowed from the body when it has no escapes.
struct KeyText<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A type the rule does not read: its objects are checked and dropped. `None` when they
/// all are objects; otherwise the type's map with the first one that is not (or the value
/// itself, when it is not a map), for the shape check to name.
struct UnreadType;

impl<'de> DeserializeSeed<'de> for UnreadType {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(UnreadTypeVisitor)
    }
}

struct UnreadTypeVisitor;

impl<'de> Visitor<'de> for UnreadTypeVisitor {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut wrong: Option<(String, Value)> = None;
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            let kept = map.next_value_seed(UnreadObject)?;
            if wrong.is_none() && !kept.is_object() {
                wrong = Some((key.0.into_owned(), kept));
            }
        }
        Ok(wrong.map(|(key, value)| Value::Object(Map::from_iter([(key, value)]))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        whole_list(seq).map(Some)
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    // A null type is allowed, and reads as no objects.
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
}

/// An observed object the rule does not read: `{}` when it is an object, built whole
/// otherwise.
struct UnreadObject;

impl<'de> DeserializeSeed<'de> for UnreadObject {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(FieldsVisitor {
            fields: empty_fields(),
            at: Level::Plain,
        })
    }
}

fn empty_fields() -> &'static BTreeMap<String, Need> {
    static EMPTY: BTreeMap<String, Need> = BTreeMap::new();
    &EMPTY
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
                "parent": {"metadata": {"name": "a"}, "spec": {"who": "x"}},
                "children": {"Pod.v1": {"a": {}, "b": {}}},
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
