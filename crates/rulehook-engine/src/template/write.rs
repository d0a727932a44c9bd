//! Writing rendered nodes straight into an answer's JSON bytes, with no value tree in
//! between: keys in the order a built map holds them, strings escaped once, and every `null`
//! left out, as answers never hold one.
//!
//! Everything is charged to the render's budget exactly as building the value would be,
//! so the limits hold the same. What this writer does not handle itself (objects with
//! `$merge` or computed keys, and objects that keep their nulls) is built as a value and
//! written.

use serde_json::Value;

use super::render::Emitted;
use super::{Expr, Failure, Item, Key, Node, NullPolicy, ObjectNode, Render};
use crate::budget;

/// What writing a node did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    /// The node gave nothing (a missing value) or `null`: nothing was written.
    Nothing,
    /// A value was written.
    Value,
}

impl Render<'_> {
    /// Writes `node` as JSON into `out`, leaving out every `null`, however deep.
    pub fn write(&mut self, node: &Node, out: &mut Vec<u8>) -> Result<Wrote, Failure> {
        match node {
            Node::Literal(v) => {
                self.charge(budget::size_within(v, usize::MAX).unwrap_or(0))?;
                Ok(write_value(v, out))
            }
            Node::Expr(e) => self.write_expr(e, out),
            Node::Text(t) => {
                let text = self.text(t)?;
                write_str(&text, out);
                Ok(Wrote::Value)
            }
            Node::Object(object) if written_in_place(node).is_some() => {
                self.write_object(object, out)
            }
            Node::Object(_) => Ok(match self.node(node)? {
                None => Wrote::Nothing,
                Some(v) => write_value(&v, out),
            }),
            Node::List(items) => self.write_list(items, out, |render, emitted, out| {
                render.write_emitted(emitted, out)
            }),
            Node::Use(used) => self.with_params(used, |render| render.write(&used.body, out)),
            Node::Conditional(item) => {
                let mut wrote = Wrote::Nothing;
                self.item(item, &mut |render: &mut Self, emitted: Emitted<'_>| {
                    wrote = render.write_emitted(emitted, out)?;
                    Ok(())
                })?;
                Ok(wrote)
            }
        }
    }

    /// Writes an included item.
    fn write_emitted(&mut self, emitted: Emitted<'_>, out: &mut Vec<u8>) -> Result<Wrote, Failure> {
        match emitted {
            Emitted::Node(node) => self.write(node, out),
            Emitted::Value(value) => Ok(write_value(&value, out)),
        }
    }

    /// A whole expression's value, written where it stands rather than copied first; it is
    /// charged as the copy would be.
    fn write_expr(&mut self, expr: &Expr, out: &mut Vec<u8>) -> Result<Wrote, Failure> {
        self.step(expr.pos)?;
        self.with_value(&expr.expression, expr.pos, |value| {
            let Some(value) = value else {
                return Ok(Wrote::Nothing);
            };
            budget::charge_copy(value).map_err(|e| Failure::new(expr.pos, e.message()))?;
            Ok(write_value(value, out))
        })
    }

    /// A list, each item written by `write_one`; an item that gives nothing or `null` is
    /// left out.
    fn write_list(
        &mut self,
        items: &[Item],
        out: &mut Vec<u8>,
        mut write_one: impl FnMut(&mut Self, Emitted<'_>, &mut Vec<u8>) -> Result<Wrote, Failure>,
    ) -> Result<Wrote, Failure> {
        self.charge(budget::HEADER)?;
        out.push(b'[');
        let mut first = true;
        let mut write_item = |render: &mut Self, emitted: Emitted<'_>| {
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            match write_one(render, emitted, out)? {
                Wrote::Value => first = false,
                Wrote::Nothing => out.truncate(mark),
            }
            Ok(())
        };
        for item in items {
            self.item(item, &mut write_item)?;
        }
        out.push(b']');
        Ok(Wrote::Value)
    }

    /// An object whose keys are all literal, in the order a built map holds them; an entry
    /// that gives nothing or `null` is left out.
    fn write_object(&mut self, object: &ObjectNode, out: &mut Vec<u8>) -> Result<Wrote, Failure> {
        self.write_entries(object, out, |render, _, node, out| render.write(node, out))
    }

    /// [`write_object`](Self::write_object), each entry's value written by `write_entry`.
    fn write_entries(
        &mut self,
        object: &ObjectNode,
        out: &mut Vec<u8>,
        mut write_entry: impl FnMut(&mut Self, &str, &Node, &mut Vec<u8>) -> Result<Wrote, Failure>,
    ) -> Result<Wrote, Failure> {
        self.charge(budget::HEADER)?;
        out.push(b'{');
        let mut first = true;
        for (key, node) in &object.entries {
            let Key::Literal(key) = key else {
                continue;
            };
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            write_str(key, out);
            out.push(b':');
            match write_entry(self, key, node, out)? {
                Wrote::Value => {
                    self.charge(budget::key_size(key.len()))?;
                    first = false;
                }
                Wrote::Nothing => out.truncate(mark),
            }
        }
        out.push(b'}');
        Ok(Wrote::Value)
    }

    /// Writes a list template of children or attachments, and whether every item was seen,
    /// as it was written, to be a map with an `apiVersion`, a `kind` and a `metadata.name`
    /// that are strings with text. An item spliced from a value, or written by anything but
    /// literal objects, is not seen: `false` then leaves the check to the written bytes.
    pub fn write_object_list(
        &mut self,
        node: &Node,
        out: &mut Vec<u8>,
    ) -> Result<(Wrote, bool), Failure> {
        let Node::List(items) = node else {
            return Ok((self.write(node, out)?, false));
        };
        let mut all_seen = true;
        let wrote = self.write_list(items, out, |render, emitted, out| {
            let (wrote, seen) = render.write_object_seen(emitted, out)?;
            all_seen &= seen || wrote == Wrote::Nothing;
            Ok(wrote)
        })?;
        Ok((wrote, all_seen))
    }

    /// Writes one item of a list of objects; see [`write_object_list`](Self::write_object_list).
    fn write_object_seen(
        &mut self,
        emitted: Emitted<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(Wrote, bool), Failure> {
        match emitted {
            Emitted::Node(node) => self.write_node_seen(node, out),
            Emitted::Value(value) => Ok((write_value(&value, out), false)),
        }
    }

    /// Writes one object template; see [`write_object_list`](Self::write_object_list).
    fn write_node_seen(
        &mut self,
        node: &Node,
        out: &mut Vec<u8>,
    ) -> Result<(Wrote, bool), Failure> {
        if let Node::Use(used) = node {
            return self.with_params(used, |render| render.write_node_seen(&used.body, out));
        }
        let Some(object) = written_in_place(node) else {
            return Ok((self.write(node, out)?, false));
        };
        let (mut api_version, mut kind, mut name) = (false, false, false);
        let wrote = self.write_entries(object, out, |render, key, node, out| {
            let seen = match key {
                "apiVersion" => &mut api_version,
                "kind" => &mut kind,
                "metadata" => match written_in_place(node) {
                    Some(metadata) => {
                        return render.write_entries(metadata, out, |render, key, node, out| {
                            if key != "name" {
                                return render.write(node, out);
                            }
                            let start = out.len();
                            let wrote = render.write(node, out)?;
                            name = wrote == Wrote::Value && is_text(&out[start..]);
                            Ok(wrote)
                        })
                    }
                    None => return render.write(node, out),
                },
                _ => return render.write(node, out),
            };
            let start = out.len();
            let wrote = render.write(node, out)?;
            *seen = wrote == Wrote::Value && is_text(&out[start..]);
            Ok(wrote)
        })?;
        Ok((wrote, api_version && kind && name))
    }
}

/// The object `node` is, when it is written entry by entry where it stands.
fn written_in_place(node: &Node) -> Option<&ObjectNode> {
    match node {
        Node::Object(object) if object.literal_keys && object.nulls == NullPolicy::Drop => {
            Some(object)
        }
        _ => None,
    }
}

/// Whether the written JSON `value` is a string with text: `""` is the only empty one.
fn is_text(value: &[u8]) -> bool {
    value.first() == Some(&b'"') && value.len() > 2
}

/// Writes `value` as compact JSON, as serde_json writes it, leaving out every `null` map
/// entry and list item however deep.
pub fn write_value(value: &Value, out: &mut Vec<u8>) -> Wrote {
    match value {
        Value::Null => return Wrote::Nothing,
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for item in items.iter().filter(|v| !v.is_null()) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_str(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
    Wrote::Value
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it.
pub fn write_str(text: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}
