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
use super::{Expr, Failure, Key, Node, NullPolicy, ObjectNode, Render};
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
            Node::Object(object) if object.literal_keys && object.nulls == NullPolicy::Drop => {
                self.write_object(object, out)
            }
            Node::Object(_) => Ok(match self.node(node)? {
                None => Wrote::Nothing,
                Some(v) => write_value(&v, out),
            }),
            Node::List(items) => {
                self.charge(budget::HEADER)?;
                out.push(b'[');
                let mut first = true;
                let mut write_item = |render: &mut Self, emitted: Emitted<'_>| {
                    let mark = out.len();
                    if !first {
                        out.push(b',');
                    }
                    match render.write_emitted(emitted, out)? {
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

    /// An object whose keys are all literal, in the order a built map holds them; an entry
    /// that gives nothing or `null` is left out.
    fn write_object(&mut self, object: &ObjectNode, out: &mut Vec<u8>) -> Result<Wrote, Failure> {
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
            match self.write(node, out)? {
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
