//! What a rule change would do to the objects Metacontroller manages: two answers to one hook
//! request compared, object by object and field by field. Pure: values in, differences out.
//!
//! Metacontroller deletes every child (or attachment) a 200 answer leaves out, so the first
//! thing to know about a rule edit is which objects leave the answer. Objects are matched by
//! their identity, `apiVersion` + `kind` + `namespace` + `name`; everything else in the answer
//! (`status`, `labels`, `resyncAfterSeconds`, ...) is compared as fields under its key.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use rulehook_engine::metacontroller::{ATTACHMENTS, CHILDREN};

/// What makes two objects in two answers the same object for Metacontroller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// Empty for a cluster-scoped object.
    pub namespace: String,
    pub name: String,
}

impl Identity {
    /// The identity of an object in an answer; missing fields read as empty.
    pub fn of(object: &Value) -> Identity {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        let meta = object.get("metadata");
        Identity {
            api_version: text(object.get("apiVersion")),
            kind: text(object.get("kind")),
            namespace: text(meta.and_then(|m| m.get("namespace"))),
            name: text(meta.and_then(|m| m.get("name"))),
        }
    }
}

/// `apps/v1 Deployment ns/name`, or `v1 Namespace name` when cluster-scoped.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.api_version, self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// One changed path: `spec.replicas`, `metadata.labels["app.kubernetes.io/name"]`,
/// `spec.containers[0].image`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum FieldChange {
    Added {
        path: String,
        new: Value,
    },
    Removed {
        path: String,
        old: Value,
    },
    Changed {
        path: String,
        old: Value,
        new: Value,
    },
}

/// `  ~ spec.replicas: 3 → 4`, `  + metadata.labels.x: "y"`, `  - spec.foo`.
impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldChange::Added { path, new } => write!(f, "  + {path}: {new}"),
            FieldChange::Removed { path, .. } => write!(f, "  - {path}"),
            FieldChange::Changed { path, old, new } => write!(f, "  ~ {path}: {old} → {new}"),
        }
    }
}

/// An object in both answers whose content differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    pub object: Identity,
    pub fields: Vec<FieldChange>,
}

/// A key of the answer other than the objects (`status`, `labels`, `relatedResources`, ...)
/// whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub fields: Vec<FieldChange>,
}

/// How the new answer to one request differs from the old one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AnswerDiff {
    /// In the old answer, not in the new: Metacontroller would delete them.
    pub deleted: Vec<Identity>,
    /// In the new answer only: Metacontroller would create them.
    pub created: Vec<Identity>,
    /// In both, with different content: Metacontroller would update them.
    pub changed: Vec<ObjectChange>,
    /// Every other key of the answer that differs, `status` first.
    pub keys: Vec<KeyChange>,
}

impl AnswerDiff {
    /// Whether the two answers are the same.
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
            && self.created.is_empty()
            && self.changed.is_empty()
            && self.keys.is_empty()
    }

    /// Changes counted for a summary: each changed object, and each other key that changed.
    pub fn changes(&self) -> usize {
        self.changed.len() + self.keys.len()
    }
}

/// Compares two hook answers (`null` stands for "no answer": every object of the other side
/// is then created or deleted). Objects sit under `children` (composite) or `attachments`
/// (decorator), in any order; within each list, results follow identity order.
pub fn compare(old: &Value, new: &Value) -> AnswerDiff {
    compare_in("", old, new)
}

/// As [`compare`], for a parent in `namespace`: an object that names no namespace is in the
/// parent's, as Metacontroller places it, so adding or dropping an explicit `namespace` equal
/// to the parent's changes a field, not the object.
pub fn compare_in(namespace: &str, old: &Value, new: &Value) -> AnswerDiff {
    let mut diff = AnswerDiff::default();
    let old_objects = objects(old, namespace);
    let mut new_objects = objects(new, namespace);
    for (id, before) in old_objects {
        match new_objects.remove(&id) {
            None => diff.deleted.push(id),
            Some(after) => {
                let mut fields = Vec::new();
                compare_values(&mut String::new(), before, after, &mut fields);
                if !fields.is_empty() {
                    diff.changed.push(ObjectChange { object: id, fields });
                }
            }
        }
    }
    diff.created = new_objects.into_keys().collect();

    let empty = serde_json::Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    keys.sort_by_key(|k| (k.as_str() != "status", k.as_str()));
    keys.dedup();
    for key in keys {
        if key == CHILDREN || key == ATTACHMENTS {
            continue;
        }
        let mut fields = Vec::new();
        let mut path = String::new();
        push_key(&mut path, key);
        match (old_map.get(key), new_map.get(key)) {
            (Some(a), Some(b)) => compare_values(&mut path, a, b, &mut fields),
            (Some(a), None) => fields.push(FieldChange::Removed {
                path,
                old: a.clone(),
            }),
            (None, Some(b)) => fields.push(FieldChange::Added {
                path,
                new: b.clone(),
            }),
            (None, None) => {}
        }
        if !fields.is_empty() {
            diff.keys.push(KeyChange {
                key: key.clone(),
                fields,
            });
        }
    }
    diff
}

/// The objects of an answer by identity; a later duplicate wins, as it would in the cluster.
fn objects<'a>(answer: &'a Value, namespace: &str) -> BTreeMap<Identity, &'a Value> {
    [CHILDREN, ATTACHMENTS]
        .into_iter()
        .filter_map(|key| answer.get(key).and_then(Value::as_array))
        .flatten()
        .map(|object| {
            let mut id = Identity::of(object);
            if id.namespace.is_empty() {
                namespace.clone_into(&mut id.namespace);
            }
            (id, object)
        })
        .collect()
}

/// One entry present on either side: compared, added or removed.
fn compare_entries(
    path: &mut String,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (old, new) {
        (Some(x), Some(y)) => compare_values(path, x, y, out),
        (Some(x), None) => out.push(FieldChange::Removed {
            path: path.clone(),
            old: x.clone(),
        }),
        (None, Some(y)) => out.push(FieldChange::Added {
            path: path.clone(),
            new: y.clone(),
        }),
        (None, None) => {}
    }
}

/// Every path under which `old` and `new` differ, in key order; lists compared item by item.
fn compare_values(path: &mut String, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let len = path.len();
                push_key(path, key);
                compare_entries(path, a.get(key), b.get(key), out);
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                compare_entries(path, a.get(i), b.get(i), out);
                path.truncate(len);
            }
        }
        (a, b) if a != b => out.push(FieldChange::Changed {
            path: path.clone(),
            old: a.clone(),
            new: b.clone(),
        }),
        _ => {}
    }
}

/// Appends `.key`, or `["key"]` when the key is not a plain word (`app.kubernetes.io/name`).
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, image: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "ns"},
               "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn objects_left_out_are_deleted_and_new_ones_created() {
        let old = json!({"children": [pod("a", "x"), pod("b", "x")]});
        let new = json!({"children": [pod("b", "x"), pod("c", "x")]});
        let diff = compare(&old, &new);
        assert_eq!(diff.deleted.len(), 1);
        assert_eq!(diff.deleted[0].to_string(), "v1 Pod ns/a");
        assert_eq!(diff.created[0].to_string(), "v1 Pod ns/c");
        assert!(diff.changed.is_empty() && diff.keys.is_empty());
    }

    #[test]
    fn the_same_name_in_another_namespace_or_kind_is_another_object() {
        let mut other = pod("a", "x");
        other["metadata"]["namespace"] = json!("other");
        let diff = compare(
            &json!({"children": [pod("a", "x")]}),
            &json!({"children": [other]}),
        );
        assert_eq!((diff.deleted.len(), diff.created.len()), (1, 1));
    }

    #[test]
    fn an_object_without_a_namespace_is_in_the_parents() {
        let mut implicit = pod("a", "x");
        implicit["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        let diff = compare_in(
            "ns",
            &json!({"children": [implicit]}),
            &json!({"children": [pod("a", "x")]}),
        );
        assert!(diff.deleted.is_empty() && diff.created.is_empty());
        assert_eq!(
            diff.changed[0].fields[0].to_string(),
            r#"  + metadata.namespace: "ns""#
        );
    }

    #[test]
    fn changed_objects_list_one_line_per_changed_path() {
        let mut new = pod("a", "y");
        new["spec"]["replicas"] = json!(4);
        new["metadata"]["labels"] = json!({"x": "y", "app.kubernetes.io/name": "a", "k": 1});
        let mut old = pod("a", "x");
        old["metadata"]["labels"] = json!({"k": 1});
        old["spec"]["replicas"] = json!(3);
        old["spec"]["foo"] = json!(true);
        let diff = compare(&json!({"children": [old]}), &json!({"children": [new]}));
        let lines: Vec<String> = diff.changed[0]
            .fields
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                r#"  + metadata.labels["app.kubernetes.io/name"]: "a""#,
                r#"  + metadata.labels.x: "y""#,
                r#"  ~ spec.containers[0].image: "x" → "y""#,
                "  - spec.foo",
                "  ~ spec.replicas: 3 → 4",
            ]
        );
        assert_eq!(diff.changes(), 1);
    }

    #[test]
    fn status_and_other_keys_are_compared_as_fields_status_first() {
        let old = json!({"status": {"pods": 0}, "resyncAfterSeconds": 30});
        let new = json!({"status": {"pods": 1}, "labels": {"a": "b"}});
        let diff = compare(&old, &new);
        let keys: Vec<&str> = diff.keys.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["status", "labels", "resyncAfterSeconds"]);
        assert_eq!(diff.keys[0].fields[0].to_string(), "  ~ status.pods: 0 → 1");
        assert_eq!(diff.keys[2].fields[0].to_string(), "  - resyncAfterSeconds");
        assert_eq!(diff.changes(), 3);
    }

    #[test]
    fn attachments_are_objects_too_and_no_answer_deletes_nothing_it_did_not_have() {
        let answer = json!({"attachments": [pod("a", "x")], "labels": {"l": "v"}});
        assert!(compare(&answer, &answer).is_empty());
        let diff = compare(&Value::Null, &answer);
        assert_eq!(diff.created.len(), 1);
        assert!(diff.deleted.is_empty());
    }

    #[test]
    fn lists_of_different_lengths_add_or_remove_their_tail() {
        let mut fields = Vec::new();
        compare_values(
            &mut "args".to_owned(),
            &json!([1, 2, 3]),
            &json!([1, 5]),
            &mut fields,
        );
        let lines: Vec<String> = fields.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["  ~ args[1]: 2 → 5", "  - args[2]"]);
    }
}
