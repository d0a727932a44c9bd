//! The hook responses: each field rendered from its template and checked the way
//! Metacontroller will read it, so that a rule can never answer 200 with something
//! Metacontroller refuses or applies forever.

use serde_json::{Map, Value};

use crate::clip::{clip, clip_json};
use crate::json::type_name;
use crate::locate::Pos;
use crate::metacontroller::{self as mc, ControllerKind, RELATED_RESOURCE_KEYS};
use crate::template::{write_str, Failure, Node, Render, Wrote};

/// The templates a call is answered with.
#[derive(Clone, Copy)]
pub(crate) enum Section<'r> {
    Customize(&'r Node, Pos),
    /// A sync or finalize section, and whether it answers a finalize call.
    Hook(&'r HookTemplates, bool),
}

/// The compiled templates of one hook section (`sync` or `finalize`).
#[derive(Debug, Default)]
pub(crate) struct HookTemplates {
    pub(crate) children: Option<Node>,
    pub(crate) status: Option<Node>,
    pub(crate) resync_after_seconds: Option<Node>,
    pub(crate) finalized: Option<Node>,
    pub(crate) labels: Option<Node>,
    pub(crate) annotations: Option<Node>,
    pub(crate) attachments: Option<Node>,
    pub(crate) pos: Pos,
}

pub(crate) fn composite(
    t: &HookTemplates,
    finalize: bool,
    render: &mut Render,
) -> Result<Value, Failure> {
    let mut out = Map::new();
    if let Some(status) = render_object(t.status.as_ref(), mc::STATUS, t.pos, render)? {
        out.insert(mc::STATUS.to_owned(), status);
    }
    let children = render_objects(t.children.as_ref(), mc::CHILDREN, t.pos, render)?;
    out.insert(mc::CHILDREN.to_owned(), Value::Array(children));
    common_fields(t, finalize, render, &mut out)?;
    Ok(Value::Object(out))
}

pub(crate) fn decorator(
    t: &HookTemplates,
    finalize: bool,
    render: &mut Render,
) -> Result<Value, Failure> {
    let mut out = Map::new();
    string_maps(t, render, &mut out)?;
    if let Some(status) = render_object(t.status.as_ref(), mc::STATUS, t.pos, render)? {
        out.insert(mc::STATUS.to_owned(), status);
    }
    // Only when the rule has attachments: a decorator without them answers just what it
    // sets, as hand-written decorators do.
    if t.attachments.is_some() {
        let attachments = render_objects(t.attachments.as_ref(), mc::ATTACHMENTS, t.pos, render)?;
        out.insert(mc::ATTACHMENTS.to_owned(), Value::Array(attachments));
    }
    common_fields(t, finalize, render, &mut out)?;
    Ok(Value::Object(out))
}

/// A decorator's labels and annotations: string values (numbers and bools written as
/// text), null kept to delete the key.
fn string_maps(
    t: &HookTemplates,
    render: &mut Render,
    out: &mut Map<String, Value>,
) -> Result<(), Failure> {
    for (key, node) in [(mc::LABELS, &t.labels), (mc::ANNOTATIONS, &t.annotations)] {
        if let Some(map) = render_object(node.as_ref(), key, t.pos, render)? {
            out.insert(
                key.to_owned(),
                string_map(map, key).map_err(|e| Failure::new(t.pos, e.to_string()))?,
            );
        }
    }
    Ok(())
}

fn common_fields(
    t: &HookTemplates,
    finalize: bool,
    render: &mut Render,
    out: &mut Map<String, Value>,
) -> Result<(), Failure> {
    if let Some(node) = &t.resync_after_seconds {
        match render.node(node)? {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f >= 0.0) => {
                out.insert(mc::RESYNC_AFTER_SECONDS.to_owned(), Value::Number(n));
            }
            Some(other) => {
                return Err(Failure::new(
                    node_pos(node, t.pos),
                    format!(
                        "resyncAfterSeconds must be a number of seconds, not {}",
                        clip_json(&other)
                    ),
                ))
            }
        }
    }
    if finalize {
        let finalized = match &t.finalized {
            None => true,
            Some(node) => match render.node(node)? {
                Some(Value::Bool(b)) => b,
                other => {
                    return Err(Failure::new(
                        node_pos(node, t.pos),
                        format!(
                            "finalized must be true or false, not {}",
                            other.map_or("missing".to_owned(), |v| clip_json(&v))
                        ),
                    ))
                }
            },
        };
        out.insert(mc::FINALIZED.to_owned(), Value::Bool(finalized));
    }
    Ok(())
}

fn render_object(
    node: Option<&Node>,
    what: &'static str,
    hook_pos: Pos,
    render: &mut Render,
) -> Result<Option<Value>, Failure> {
    let Some(node) = node else { return Ok(None) };
    match render.node(node)? {
        None | Some(Value::Null) => Ok(None),
        Some(mut v @ Value::Object(_)) => {
            if what != mc::LABELS && what != mc::ANNOTATIONS {
                strip_nulls(&mut v);
            }
            Ok(Some(v))
        }
        Some(other) => Err(Failure::new(
            node_pos(node, hook_pos),
            format!("{what} must be a map, not {}", type_name(&other)),
        )),
    }
}

/// Renders a list of Kubernetes objects and checks each can be applied.
fn render_objects(
    node: Option<&Node>,
    what: &'static str,
    hook_pos: Pos,
    render: &mut Render,
) -> Result<Vec<Value>, Failure> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let pos = node_pos(node, hook_pos);
    let list = match render.node(node)? {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(Failure::new(
                pos,
                format!("{what} must be a list, not {}", type_name(&other)),
            ))
        }
    };
    let mut list = list;
    for (i, object) in list.iter_mut().enumerate() {
        strip_nulls(object);
        check_object(object).map_err(|e| Failure::new(pos, format!("{what}[{i}] {e}")))?;
    }
    Ok(list)
}

pub(crate) fn customize(node: &Node, section: Pos, render: &mut Render) -> Result<Value, Failure> {
    let pos = node_pos(node, section);
    let list = match render.node(node)? {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(Failure::new(
                pos,
                format!("relatedResources must be a list, not {}", type_name(&other)),
            ))
        }
    };
    for (i, entry) in list.iter().enumerate() {
        check_related(entry)
            .map_err(|e| Failure::new(pos, format!("{}[{i}] {e}", mc::RELATED_RESOURCES)))?;
    }
    let mut out = Map::new();
    out.insert(mc::RELATED_RESOURCES.to_owned(), Value::Array(list));
    Ok(Value::Object(out))
}

fn node_pos(node: &Node, fallback: Pos) -> Pos {
    match node {
        Node::Expr(e) => e.pos,
        Node::Text(t) => t.pos,
        _ => fallback,
    }
}

/// Removes every `null` map entry and list item, however deep: a value copied from the
/// request (`data: "{{ source.data }}"`) may hold nulls, and a null in a child makes
/// Metacontroller update it forever.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// Why a rendered child, attachment or related-resource rule cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unanswerable {
    #[error("must be an object, not {0}")]
    NotAnObject(&'static str),
    #[error("must be an object")]
    RuleNotAnObject,
    #[error("has no `{0}` string")]
    NoString(&'static str),
    #[error("has unknown key `{key}`; allowed: {}", RELATED_RESOURCE_KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("`names` must be a list of strings")]
    NamesNotStrings,
    #[error("cannot combine `{0}` with `{1}`")]
    Conflict(&'static str, &'static str),
    #[error("{map}.{key} must be a string, not {found}")]
    NotAString {
        map: &'static str,
        key: String,
        found: &'static str,
    },
}

/// What Metacontroller needs of a child to apply it.
fn check_object(object: &Value) -> Result<(), Unanswerable> {
    let Value::Object(map) = object else {
        return Err(Unanswerable::NotAnObject(type_name(object)));
    };
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    for key in ["apiVersion", "kind"] {
        if !non_empty(map.get(key)) {
            return Err(Unanswerable::NoString(key));
        }
    }
    if !non_empty(object.pointer("/metadata/name")) {
        return Err(Unanswerable::NoString("metadata.name"));
    }
    Ok(())
}

/// A related-resource rule, which Metacontroller parses strictly.
fn check_related(entry: &Value) -> Result<(), Unanswerable> {
    let Value::Object(map) = entry else {
        return Err(Unanswerable::RuleNotAnObject);
    };
    if let Some(key) = map
        .keys()
        .find(|k| !RELATED_RESOURCE_KEYS.contains(&k.as_str()))
    {
        return Err(Unanswerable::UnknownKey {
            key: clip(key).into_owned(),
        });
    }
    for key in ["apiVersion", "resource"] {
        if !map.get(key).is_some_and(Value::is_string) {
            return Err(Unanswerable::NoString(key));
        }
    }
    if let Some(names) = map.get("names") {
        if !names
            .as_array()
            .is_some_and(|n| n.iter().all(Value::is_string))
        {
            return Err(Unanswerable::NamesNotStrings);
        }
        if map.contains_key("labelSelector") {
            return Err(Unanswerable::Conflict("names", "labelSelector"));
        }
    }
    if map.contains_key("namespace") && map.contains_key("namespaceSelector") {
        return Err(Unanswerable::Conflict("namespace", "namespaceSelector"));
    }
    Ok(())
}

/// Labels and annotations: string values, numbers and bools written as text, null kept to
/// delete the key.
fn string_map(map: Value, what: &'static str) -> Result<Value, Unanswerable> {
    let Value::Object(map) = map else {
        return Ok(map);
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let v = match v {
            Value::String(_) | Value::Null => v,
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Number(n) => Value::String(n.to_string()),
            other => {
                return Err(Unanswerable::NotAString {
                    map: what,
                    key: clip(&k).into_owned(),
                    found: type_name(&other),
                })
            }
        };
        out.insert(k, v);
    }
    Ok(Value::Object(out))
}

/// A sync or finalize answer written straight into one buffer, fields in key order: what
/// [`composite`] or [`decorator`] build, encoded, byte for byte. Its small fields (labels,
/// annotations, resyncAfterSeconds, finalized) are built as values first; status, children
/// and attachments are written where they go. A failure here may not be the one building
/// the answer would report first; callers report failures by building it.
pub(crate) fn written(
    kind: ControllerKind,
    t: &HookTemplates,
    finalize: bool,
    render: &mut Render,
) -> Result<Vec<u8>, Failure> {
    let mut built = Map::new();
    if kind == ControllerKind::Decorator {
        string_maps(t, render, &mut built)?;
    }
    common_fields(t, finalize, render, &mut built)?;
    let written_keys: &[&str] = match kind {
        ControllerKind::Composite => &[mc::CHILDREN, mc::STATUS],
        // Attachments only when the rule has them, as `decorator` does.
        ControllerKind::Decorator if t.attachments.is_some() => &[mc::ATTACHMENTS, mc::STATUS],
        ControllerKind::Decorator => &[mc::STATUS],
    };
    let mut keys: Vec<&str> = written_keys
        .iter()
        .copied()
        .chain(built.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    let mut out = vec![b'{'];
    for key in keys {
        let mark = out.len();
        if mark > 1 {
            out.push(b',');
        }
        write_str(key, &mut out);
        out.push(b':');
        let wrote = match (built.get(key), key) {
            // Labels and annotations keep their nulls: a null deletes the key.
            (Some(value), _) => {
                let _ = serde_json::to_writer(&mut out, value);
                true
            }
            (None, mc::STATUS) => write_status(t.status.as_ref(), t.pos, render, &mut out)?,
            (None, mc::CHILDREN) => write_objects(t.children.as_ref(), t.pos, render, &mut out)?,
            (None, _) => write_objects(t.attachments.as_ref(), t.pos, render, &mut out)?,
        };
        if !wrote {
            out.truncate(mark);
        }
    }
    out.push(b'}');
    Ok(out)
}

/// Writes a status; `false` (and whatever was written is to be dropped) when its template
/// gives nothing.
fn write_status(
    node: Option<&Node>,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let Some(node) = node else { return Ok(false) };
    let start = out.len();
    match render.write(node, out)? {
        Wrote::Nothing => Ok(false),
        Wrote::Value if out.get(start) == Some(&b'{') => Ok(true),
        Wrote::Value => Err(Failure::new(node_pos(node, hook_pos), "not a map")),
    }
}

/// Writes children or attachments, each checked as [`check_object`] checks it; a template
/// that gives nothing writes `[]`.
fn write_objects(
    node: Option<&Node>,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let start = out.len();
    let wrote = match node {
        None => Wrote::Nothing,
        Some(node) => render.write(node, out)?,
    };
    if wrote == Wrote::Nothing {
        out.truncate(start);
        out.extend_from_slice(b"[]");
        return Ok(true);
    }
    let pos = node.map_or(hook_pos, |n| node_pos(n, hook_pos));
    let written = &out[start..];
    if written.first() != Some(&b'[') {
        return Err(Failure::new(pos, "not a list"));
    }
    let heads: Vec<ObjectHead> = serde_json::from_slice(written)
        .map_err(|_| Failure::new(pos, "an object cannot be applied"))?;
    if heads.iter().all(ObjectHead::can_be_applied) {
        Ok(true)
    } else {
        Err(Failure::new(pos, "an object cannot be applied"))
    }
}

/// What [`check_object`] reads of a written object, borrowed from its bytes.
#[derive(serde::Deserialize)]
struct ObjectHead<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<MetadataHead<'a>>,
}

#[derive(serde::Deserialize)]
struct MetadataHead<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
}

impl ObjectHead<'_> {
    fn can_be_applied(&self) -> bool {
        let non_empty =
            |s: &Option<std::borrow::Cow<str>>| s.as_ref().is_some_and(|s| !s.is_empty());
        non_empty(&self.api_version)
            && non_empty(&self.kind)
            && self.metadata.as_ref().is_some_and(|m| non_empty(&m.name))
    }
}
