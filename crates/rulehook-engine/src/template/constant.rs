//! Templates with nothing to evaluate: their JSON is written once, when the rule loads, and
//! a render copies the bytes.
//!
//! A literal leaf is a constant, and so is an object or list template built only of
//! constants: most of a child's spec (images, ports, policies, probes) never changes from
//! one request to the next, and writing it value by value cost more than the rest of a
//! small render.

use serde_json::{Map, Value};

use super::{Body, Item, Key, Node, NullPolicy, ObjectNode};
use crate::{budget, response};

/// A value with no template in it.
#[derive(Debug)]
pub struct Constant {
    /// The value, for renders that build one (`$merge`, a helper's argument, a kept null).
    pub value: Value,
    /// Its compact JSON, as the answer writer would write it; empty for `null`.
    json: Box<[u8]>,
    /// What a render is charged for it: what rendering the template it was folded from,
    /// node by node, was charged.
    charge: usize,
    /// Whether it is a child Metacontroller can apply, and whether it is a list of them:
    /// decided at load by the answer's own check, so the answer need not check it again.
    identified_object: bool,
    identified_objects: bool,
}

impl Constant {
    pub fn new(value: Value) -> Constant {
        let json = match value {
            Value::Null => Box::default(),
            // Writing into a Vec cannot fail, and a value has no keys that are not strings.
            _ => serde_json::to_vec(&value)
                .unwrap_or_default()
                .into_boxed_slice(),
        };
        let charge = charge_of(&value);
        let identified_object =
            value.is_object() && response::identified_objects(&[b"[", &*json, b"]"].concat());
        let identified_objects = value.is_array() && response::identified_objects(&json);
        Constant {
            value,
            json,
            charge,
            identified_object,
            identified_objects,
        }
    }

    /// The bytes a render writes for it: `None` for `null`, which is never written.
    pub fn json(&self) -> Option<&[u8]> {
        (!self.value.is_null()).then_some(&*self.json)
    }

    /// What a render is charged for writing or building it.
    pub fn charge(&self) -> usize {
        self.charge
    }

    /// Whether it is a child or attachment Metacontroller can apply: a map with an
    /// `apiVersion`, a `kind` and a `metadata.name` that are strings with text.
    pub fn is_identified_object(&self) -> bool {
        self.identified_object
    }

    /// Whether it is a list of nothing but such objects.
    pub fn writes_identified_objects(&self) -> bool {
        self.identified_objects
    }
}

/// What rendering `value` as a template charges: a scalar what building it costs; a map or
/// list its brackets, each map key, and its entries, as the writer charges them.
fn charge_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => items
            .iter()
            .map(charge_of)
            .fold(budget::HEADER, usize::saturating_add),
        Value::Object(map) => map.iter().fold(budget::HEADER, |total, (key, value)| {
            total
                .saturating_add(budget::key_size(key.len()))
                .saturating_add(charge_of(value))
        }),
        scalar => budget::size_within(scalar, usize::MAX).unwrap_or(0),
    }
}

/// `node` folded into one constant when everything in it is constant and nothing in it is
/// `null` (which an answer leaves out, so its bytes would differ); else `node` as it is.
pub(super) fn fold(node: Node) -> Node {
    let value = match &node {
        Node::Object(object) => folded_object(object),
        Node::List(items) => folded_list(items),
        _ => None,
    };
    match value {
        Some(value) => Node::Literal(Constant::new(value)),
        None => node,
    }
}

fn folded_object(object: &ObjectNode) -> Option<Value> {
    if !object.literal_keys || object.nulls != NullPolicy::Drop {
        return None;
    }
    let mut map = Map::with_capacity(object.entries.len());
    for (key, node) in &object.entries {
        let (Key::Literal { name: key, .. }, Some(value)) = (key, non_null_constant(node)) else {
            return None;
        };
        map.insert(key.clone(), value.clone());
    }
    Some(Value::Object(map))
}

fn folded_list(items: &[Item]) -> Option<Value> {
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        let plain = item.each.is_none() && item.lets.is_empty() && item.when.is_none();
        let (true, Body::One(node)) = (plain, &item.body) else {
            return None;
        };
        list.push(non_null_constant(node)?.clone());
    }
    Some(Value::Array(list))
}

fn non_null_constant(node: &Node) -> Option<&Value> {
    match node {
        Node::Literal(constant) if !constant.value.is_null() => Some(&constant.value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::template::Node;
    use crate::{Hook, Limits, Rule};

    /// A child with every kind of constant: strings that need escaping, numbers, booleans,
    /// empty and nested maps and lists.
    fn child() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fixed", "labels": {"app": "a\"b\\c\n", "empty": ""}},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "args": ["é", "😀", "\u{1}"],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}]}],
                "replicas": 3, "ratio": 0.5, "debug": false, "nothing": {}, "none": [],
                "nested": [[1, [2, []]], {"deep": {"deeper": [true]}}]
            }
        })
    }

    /// The same template with something to evaluate in every map and list, which gives
    /// nothing: none of it can be folded, and it writes the same bytes.
    fn unfoldable(value: &Value) -> Value {
        let nothing = json!({"$includeWhen": "{{ false }}", "$template": 1});
        match value {
            Value::Object(map) => {
                let mut map: serde_json::Map<String, Value> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), unfoldable(v)))
                    .collect();
                map.insert("zzNothing".to_owned(), nothing);
                Value::Object(map)
            }
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(unfoldable).collect();
                items.push(nothing);
                Value::Array(items)
            }
            scalar => scalar.clone(),
        }
    }

    fn rule(children: Value) -> Rule {
        let text = serde_json::to_string(&json!({"sync": {"children": children}})).unwrap();
        Rule::compile("r.yaml", &text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn render(rule: &Rule, max_output_bytes: usize) -> Option<Vec<u8>> {
        let limits = Limits {
            max_output_bytes,
            ..Limits::default()
        };
        let mut request = json!({"parent": {"metadata": {"name": "p"}}});
        rule.render_body(Hook::Sync, &mut request, &limits).ok()
    }

    /// The fewest bytes of `max-output-bytes` the render fits in: what it was charged.
    fn charged(rule: &Rule) -> usize {
        let (mut fails, mut fits) = (0, 1 << 20);
        assert!(render(rule, fits).is_some());
        while fits - fails > 1 {
            let middle = (fails + fits) / 2;
            match render(rule, middle) {
                Some(_) => fits = middle,
                None => fails = middle,
            }
        }
        fits
    }

    #[test]
    fn a_folded_template_writes_and_is_charged_as_the_template_it_was_folded_from() {
        let folded = rule(json!([child()]));
        let unfolded = rule(unfoldable(&json!([child()])));
        let children =
            |rule: &Rule| matches!(rule.sync.as_ref().unwrap().children, Some(Node::Literal(_)));
        assert!(children(&folded), "the whole list is one constant");
        assert!(!children(&unfolded));
        assert!(folded.sync.as_ref().unwrap().children_identified);

        let answer = render(&folded, 1 << 20).unwrap();
        assert_eq!(answer, render(&unfolded, 1 << 20).unwrap());
        let parsed: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(parsed["children"], json!([child()]));
        assert_eq!(charged(&folded), charged(&unfolded));
    }

    #[test]
    fn a_constant_child_that_cannot_be_applied_is_still_refused() {
        let nameless = rule(json!([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ""}}]));
        assert!(!nameless.sync.as_ref().unwrap().children_identified);
        let limits = Limits::default();
        let mut request = json!({"parent": {"metadata": {"name": "p"}}});
        let error = nameless
            .render_body(Hook::Sync, &mut request, &limits)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("children[0]") && error.contains("metadata.name"),
            "{error}"
        );
    }

    #[test]
    fn what_is_evaluated_stays_a_template_and_the_constants_below_it_fold() {
        let with_expression = rule(json!([{"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "{{ parent.metadata.name }}"}, "spec": {"a": [1]}}]));
        let Some(Node::List(items)) = &with_expression.sync.as_ref().unwrap().children else {
            panic!("a list template with an expression in it stays one");
        };
        let crate::template::Body::One(Node::Object(child)) = &items[0].body else {
            panic!("its child stays an object template");
        };
        let spec = child.literal_entry("spec").unwrap();
        assert!(matches!(spec, Node::Literal(c) if c.value == json!({"a": [1]})));
        assert_eq!(
            render(&with_expression, 1 << 20).map(|a| String::from_utf8(a).unwrap()),
            Some(r#"{"children":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"a":[1]}}]}"#.to_owned())
        );
    }
}
