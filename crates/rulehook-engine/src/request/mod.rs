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

mod parse;
mod reads;
mod scan;
mod walk;
#[cfg(test)]
mod walk_tests;

pub use parse::{parse, parse_within, ReadError};

/// Whether `body` is JSON, as every request is checked before anything of it is built, with
/// nothing built: the least a request costs the engine, and what `serde_json` accepts.
pub fn is_json(body: &[u8]) -> bool {
    scan::document(body)
}
pub(crate) use reads::plain_query;
pub use reads::Reads;

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
    /// Only for requests built as values, which may nest deeper than any body is read.
    #[error("the request cannot be read as a hook request body: {0}")]
    NotJson(String),
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
    // Keys move with their values: the request's own key strings are reused.
    for key in keep {
        if let Some((key, v)) = top.remove_entry(*key) {
            scope.insert(key, v);
        }
    }
    for map in maps {
        let (key, mut kinds) = match top.remove_entry(*map) {
            Some((key, Value::Object(kinds))) => (key, kinds),
            Some((key, _)) => (key, Map::new()),
            None => ((*map).to_owned(), Map::new()),
        };
        // Each type becomes its list where it stands: no second map is built.
        for objects in kinds.values_mut() {
            let list = match std::mem::take(objects) {
                Value::Object(objects) => objects.into_iter().map(|(_, o)| o).collect(),
                _ => Vec::new(),
            };
            *objects = Value::Array(list);
        }
        for (collection, kind) in types {
            if collection == map && !kinds.contains_key(kind) {
                kinds.insert(kind.clone(), Value::Array(Vec::new()));
            }
        }
        scope.insert(key, Value::Object(kinds));
    }
    let finalizing = matches!(top.get(mc::FINALIZING), Some(Value::Bool(true)));
    let key = top
        .remove_entry(mc::FINALIZING)
        .map_or_else(|| mc::FINALIZING.to_owned(), |(key, _)| key);
    scope.insert(key, Value::Bool(finalizing));
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
