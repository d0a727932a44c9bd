//! Metacontroller's hook requests: checking their shape and turning them into the scope
//! templates see.
//!
//! Observed objects arrive as `{ "Pod.v1": { <key>: object } }`, keyed by `name` or by
//! `namespace/name` depending on the hook version and the parent's scope. Templates see each
//! type as a list sorted by key instead, so the same rule works under v1 and v2.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Which hook is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Sync,
    Finalize,
    Customize,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Sync => "sync",
            Hook::Finalize => "finalize",
            Hook::Customize => "customize",
        }
    }

    pub fn parse(s: &str) -> Option<Hook> {
        match s {
            "sync" => Some(Hook::Sync),
            "finalize" => Some(Hook::Finalize),
            "customize" => Some(Hook::Customize),
            _ => None,
        }
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The collections of observed objects each request kind carries.
pub const COMPOSITE_MAPS: &[&str] = &["children", "related"];
pub const DECORATOR_MAPS: &[&str] = &["attachments", "related"];

/// Checks that `request` has the shape of a hook request; the message says what is wrong.
///
/// `subject` is the key of the main object (`parent` or `object`), `maps` the keys holding
/// observed objects.
pub fn check_shape(request: &Value, subject: &str, maps: &[&str]) -> Result<(), String> {
    let Some(top) = request.as_object() else {
        return Err(format!(
            "the request must be a JSON object with `{subject}`, not {}",
            super::template::type_name(request)
        ));
    };
    match top.get(subject) {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(format!("the request has no `{subject}` object")),
        Some(other) => {
            return Err(format!(
                "`{subject}` must be an object, not {}",
                super::template::type_name(other)
            ))
        }
    }
    for map in maps {
        check_object_map(top.get(*map), map)?;
    }
    match top.get("finalizing") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(other) => {
            return Err(format!(
                "`finalizing` must be a bool, not {}",
                super::template::type_name(other)
            ))
        }
    }
    Ok(())
}

fn check_object_map(value: Option<&Value>, name: &str) -> Result<(), String> {
    let types = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(types)) => types,
        Some(other) => {
            return Err(format!(
                "`{name}` must map `Kind.version` to objects by key, not be {}",
                super::template::type_name(other)
            ))
        }
    };
    for (kind, objects) in types {
        match objects {
            Value::Null => {}
            Value::Object(objects) => {
                if let Some((key, _)) = objects.iter().find(|(_, o)| !o.is_object()) {
                    return Err(format!("`{name}.{kind}.{key}` must be an object"));
                }
            }
            other => {
                return Err(format!(
                    "`{name}.{kind}` must map keys to objects, not be {}",
                    super::template::type_name(other)
                ))
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
    keep: &[&str],
    maps: &[&str],
    types: &BTreeSet<(String, String)>,
    scope: &mut Map<String, Value>,
) {
    let Value::Object(mut top) = request else {
        return;
    };
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
    let finalizing = matches!(top.get("finalizing"), Some(Value::Bool(true)));
    scope.insert("finalizing".to_owned(), Value::Bool(finalizing));
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
        into_scope(v1, &["parent"], COMPOSITE_MAPS, &types, &mut s1);
        into_scope(v2, &["parent"], COMPOSITE_MAPS, &types, &mut s2);
        assert_eq!(s1, s2);
        assert_eq!(s1["children"]["Pod.v1"], json!([{"n": 1}, {"n": 2}]));
        assert_eq!(s1["children"]["Service.v1"], json!([]));
        assert_eq!(s1["related"], json!({}));
        assert_eq!(s1["finalizing"], json!(false));
    }

    #[test]
    fn wrong_shapes_are_named() {
        let check = |v: Value| check_shape(&v, "parent", COMPOSITE_MAPS).unwrap_err();
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
