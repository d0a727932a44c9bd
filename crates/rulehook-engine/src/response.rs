//! The hook responses: each field rendered from its template straight into the answer's
//! bytes and checked the way Metacontroller will read it, so that a rule can never answer
//! 200 with something Metacontroller refuses or applies forever.

use serde_json::{Map, Value};

use crate::clip::{clip, clip_json};
use crate::json::{type_name, written_type_name};
use crate::locate::Pos;
use crate::metacontroller::{self as mc, ControllerKind, RELATED_RESOURCE_KEYS};
use crate::template::{write_str, Failure, Node, Render, Wrote};
use crate::written::{first_failure, Head, Items};

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
    /// Whether the children template, or the attachments one, writes only items that pass
    /// the identity check whatever the request (decided at load): they are not read back.
    pub(crate) children_identified: bool,
    pub(crate) attachments_identified: bool,
    pub(crate) pos: Pos,
}

impl HookTemplates {
    /// Decides, once its templates are compiled, which lists of objects need no identity
    /// check when answered.
    pub(crate) fn with_identities_decided(mut self) -> Self {
        let identified =
            |node: &Option<Node>| node.as_ref().is_some_and(Node::writes_identified_objects);
        self.children_identified = identified(&self.children);
        self.attachments_identified = identified(&self.attachments);
        self
    }
}

/// A sync or finalize answer, written straight into one buffer. Its keys are written in
/// sorted order, the order a built map would encode them in, and each field is rendered and
/// checked as it is written: the first field to fail in that order is the one reported.
///
/// Status, children and attachments are written where they go and checked on the bytes
/// written; the small fields (labels, annotations, resyncAfterSeconds, finalized) are built
/// as values first, as their checks need.
pub(crate) fn written(
    kind: ControllerKind,
    t: &HookTemplates,
    finalize: bool,
    render: &mut Render,
) -> Result<Vec<u8>, Failure> {
    let mut answer = AnswerObject::new();
    match kind {
        ControllerKind::Composite => answer.field(mc::CHILDREN, |out| {
            let identified = t.children_identified;
            write_objects(
                t.children.as_ref(),
                mc::CHILDREN,
                identified,
                t.pos,
                render,
                out,
            )
        })?,
        ControllerKind::Decorator => {
            answer.field(mc::ANNOTATIONS, |out| {
                write_string_map(t.annotations.as_ref(), mc::ANNOTATIONS, t.pos, render, out)
            })?;
            // Only when the rule has attachments: a decorator without them answers just
            // what it sets, as hand-written decorators do.
            if t.attachments.is_some() {
                answer.field(mc::ATTACHMENTS, |out| {
                    let (node, identified) = (t.attachments.as_ref(), t.attachments_identified);
                    write_objects(node, mc::ATTACHMENTS, identified, t.pos, render, out)
                })?;
            }
        }
    }
    if finalize {
        answer.field(mc::FINALIZED, |out| {
            write_finalized(t.finalized.as_ref(), t.pos, render, out)
        })?;
    }
    if kind == ControllerKind::Decorator {
        answer.field(mc::LABELS, |out| {
            write_string_map(t.labels.as_ref(), mc::LABELS, t.pos, render, out)
        })?;
    }
    answer.field(mc::RESYNC_AFTER_SECONDS, |out| {
        write_resync(t.resync_after_seconds.as_ref(), t.pos, render, out)
    })?;
    answer.field(mc::STATUS, |out| {
        write_status(t.status.as_ref(), t.pos, render, out)
    })?;
    Ok(answer.finish())
}

/// The customize answer: its `relatedResources` written, then read back and checked
/// strictly, as Metacontroller reads it. Customize answers are small and rare.
pub(crate) fn customize(
    node: &Node,
    section: Pos,
    render: &mut Render,
) -> Result<Vec<u8>, Failure> {
    let mut answer = AnswerObject::new();
    answer.field(mc::RELATED_RESOURCES, |out| {
        let rules = ItemCheck {
            items: Items::Rules,
            check: check_related,
        };
        write_checked_list(
            Some(node),
            mc::RELATED_RESOURCES,
            section,
            rules,
            render,
            out,
        )
    })?;
    Ok(answer.finish())
}

/// An answer's top-level object, written field by field.
struct AnswerObject {
    out: Vec<u8>,
    /// The last key written, to make sure keys come in the order a built map holds them.
    #[cfg(debug_assertions)]
    last_key: &'static str,
}

impl AnswerObject {
    fn new() -> Self {
        AnswerObject {
            // Most answers fit: growing from one byte would copy them five times over.
            out: Vec::with_capacity(512),
            #[cfg(debug_assertions)]
            last_key: "",
        }
        .opened()
    }

    fn opened(mut self) -> Self {
        self.out.push(b'{');
        self
    }

    /// Writes `key` and what `write` writes after it; both are taken back when `write`
    /// returns `false` (its template gave nothing).
    fn field(
        &mut self,
        key: &'static str,
        write: impl FnOnce(&mut Vec<u8>) -> Result<bool, Failure>,
    ) -> Result<(), Failure> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.last_key < key,
                "`{key}` is written after `{}`",
                self.last_key
            );
            self.last_key = key;
        }
        let mark = self.out.len();
        if mark > 1 {
            self.out.push(b',');
        }
        write_str(key, &mut self.out);
        self.out.push(b':');
        if !write(&mut self.out)? {
            self.out.truncate(mark);
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Writes a status; `false` when its template gives nothing.
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
        Wrote::Value => Err(Failure::new(
            node_pos(node, hook_pos),
            format!(
                "{} must be a map, not {}",
                mc::STATUS,
                written_type_name(&out[start..])
            ),
        )),
    }
}

/// Writes children or attachments, each checked as Metacontroller needs it to apply it,
/// unless the template was found at load to write only items that pass (`identified`), or
/// each item was seen to pass as it was written.
fn write_objects(
    node: Option<&Node>,
    what: &'static str,
    identified: bool,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    if let (true, Some(node)) = (identified, node) {
        // A list template: it always writes a list.
        render.write(node, out)?;
        return Ok(true);
    }
    let objects = ItemCheck {
        items: Items::Objects,
        check: check_object,
    };
    write_checked_list(node, what, hook_pos, objects, render, out)
}

/// What the items of a written list are, and how each is checked.
struct ItemCheck {
    items: Items,
    check: fn(Head) -> Result<(), Unanswerable>,
}

/// Writes a list whose items Metacontroller reads one by one, then checks each from what
/// was written, unless the writer saw each pass; a template that gives nothing writes `[]`.
fn write_checked_list(
    node: Option<&Node>,
    what: &'static str,
    hook_pos: Pos,
    items: ItemCheck,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let start = out.len();
    let (wrote, seen) = match (node, items.items) {
        (None, _) => (Wrote::Nothing, false),
        (Some(node), Items::Objects) => render.write_object_list(node, out)?,
        (Some(node), Items::Rules) => (render.write(node, out)?, false),
    };
    if wrote == Wrote::Nothing {
        out.truncate(start);
        out.extend_from_slice(b"[]");
        return Ok(true);
    }
    if seen {
        return Ok(true);
    }
    let pos = node.map_or(hook_pos, |n| node_pos(n, hook_pos));
    let written = &out[start..];
    if written.first() != Some(&b'[') {
        return Err(Failure::new(
            pos,
            format!("{what} must be a list, not {}", written_type_name(written)),
        ));
    }
    match first_failure(written, items.items, items.check) {
        Ok(None) => Ok(true),
        Ok(Some((i, e))) => Err(Failure::new(pos, format!("{what}[{i}] {e}"))),
        Err(e) => Err(Failure::new(pos, format!("{what} cannot be checked: {e}"))),
    }
}

/// Whether the written list `list` holds only children Metacontroller can apply: the check
/// an answer makes of what it writes, made once when a constant list is loaded.
pub(crate) fn identified_objects(list: &[u8]) -> bool {
    list.first() == Some(&b'[')
        && matches!(first_failure(list, Items::Objects, check_object), Ok(None))
}

/// What Metacontroller needs of a child to apply it: a map with an `apiVersion`, a `kind`
/// and a `metadata.name`, each a string with text.
fn check_object(head: Head) -> Result<(), Unanswerable> {
    match head {
        Head::Map {
            api_version: false, ..
        } => Err(Unanswerable::NoString("apiVersion")),
        Head::Map { kind: false, .. } => Err(Unanswerable::NoString("kind")),
        Head::Map { name: false, .. } => Err(Unanswerable::NoString("metadata.name")),
        Head::Map { .. } => Ok(()),
        other => Err(Unanswerable::NotAnObject(other.type_name())),
    }
}

/// A decorator's labels or annotations: string values (numbers and bools written as
/// text), null kept to delete the key.
fn write_string_map(
    node: Option<&Node>,
    what: &'static str,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let Some(node) = node else { return Ok(false) };
    let map = match render.node(node)? {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Failure::new(
                node_pos(node, hook_pos),
                format!("{what} must be a map, not {}", type_name(&other)),
            ))
        }
    };
    let map = string_map(map, what).map_err(|e| Failure::new(hook_pos, e.to_string()))?;
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &map);
    Ok(true)
}

fn write_resync(
    node: Option<&Node>,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let Some(node) = node else { return Ok(false) };
    match render.node(node)? {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f >= 0.0) => {
            let _ = serde_json::to_writer(out, &n);
            Ok(true)
        }
        Some(other) => Err(Failure::new(
            node_pos(node, hook_pos),
            format!(
                "resyncAfterSeconds must be a number of seconds, not {}",
                clip_json(&other)
            ),
        )),
    }
}

/// Writes `finalized`, true when the rule does not say.
fn write_finalized(
    node: Option<&Node>,
    hook_pos: Pos,
    render: &mut Render,
    out: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let finalized = match node {
        None => true,
        Some(node) => match render.node(node)? {
            Some(Value::Bool(b)) => b,
            other => {
                return Err(Failure::new(
                    node_pos(node, hook_pos),
                    format!(
                        "finalized must be true or false, not {}",
                        other.map_or("missing".to_owned(), |v| clip_json(&v))
                    ),
                ))
            }
        },
    };
    out.extend_from_slice(if finalized { b"true" } else { b"false" });
    Ok(true)
}

fn node_pos(node: &Node, fallback: Pos) -> Pos {
    match node {
        Node::Expr(e) => e.pos,
        Node::Text(t) => t.pos,
        _ => fallback,
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

/// A related-resource rule, which Metacontroller parses strictly.
fn check_related(head: Head) -> Result<(), Unanswerable> {
    let Head::Rule(rule) = head else {
        return Err(Unanswerable::RuleNotAnObject);
    };
    if let Some(key) = rule.unknown_key {
        return Err(Unanswerable::UnknownKey {
            key: clip(&key).into_owned(),
        });
    }
    if !rule.api_version_string {
        return Err(Unanswerable::NoString("apiVersion"));
    }
    if !rule.resource_string {
        return Err(Unanswerable::NoString("resource"));
    }
    if let Some(strings) = rule.names_strings {
        if !strings {
            return Err(Unanswerable::NamesNotStrings);
        }
        if rule.label_selector {
            return Err(Unanswerable::Conflict("names", "labelSelector"));
        }
    }
    if rule.namespace && rule.namespace_selector {
        return Err(Unanswerable::Conflict("namespace", "namespaceSelector"));
    }
    Ok(())
}

/// Labels and annotations: string values, numbers and bools written as text, null kept to
/// delete the key.
fn string_map(map: Map<String, Value>, what: &'static str) -> Result<Value, Unanswerable> {
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
