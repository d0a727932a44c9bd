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
            Node::Literal(constant) => {
                self.charge(constant.charge())?;
                Ok(match constant.json() {
                    Some(json) => {
                        out.extend_from_slice(json);
                        Wrote::Value
                    }
                    None => Wrote::Nothing,
                })
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
            let Key::Literal { name: key, written } = key else {
                continue;
            };
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(written);
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
        let items = match node {
            Node::List(items) => items,
            Node::Literal(constant) => {
                let seen = constant.writes_identified_objects();
                return Ok((self.write(node, out)?, seen));
            }
            _ => return Ok((self.write(node, out)?, false)),
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
        let object = match node {
            Node::Literal(constant) => {
                let seen = constant.is_identified_object();
                return Ok((self.write(node, out)?, seen));
            }
            _ => match written_in_place(node) {
                Some(object) => object,
                None => return Ok((self.write(node, out)?, false)),
            },
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

/// Writes `text` as a JSON string, escaped as serde_json escapes it: `"`, `\\` and the
/// control characters, the common ones by their short escapes, the others as `\u00XX`.
pub fn write_str(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut plain_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPES[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..at]);
        plain_from = at + 1;
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// For each byte, what follows the backslash that escapes it (`u` for `\u00XX`), or 0 when
/// it is written as it is.
const ESCAPES: [u8; 256] = {
    let mut escapes = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        escapes[byte] = b'u';
        byte += 1;
    }
    escapes[0x08] = b'b';
    escapes[0x09] = b't';
    escapes[0x0a] = b'n';
    escapes[0x0c] = b'f';
    escapes[0x0d] = b'r';
    escapes[b'"' as usize] = b'"';
    escapes[b'\\' as usize] = b'\\';
    escapes
};

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's own string writer, which answers were written with before.
    fn serde_json_str(text: &str) -> Vec<u8> {
        serde_json::to_vec(text).expect("a string serializes")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7f_u8).map(|b| char::from(b).to_string()).collect();
        texts.extend(
            [
                "",
                "plain",
                "say \"hi\"\n\tto\\them\u{7f}",
                "\u{0}\u{1f}é😀\u{2028}\u{fffd}",
                "ends with a quote\"",
                "\\",
            ]
            .map(str::to_owned),
        );
        // Every control character between text, and at both ends.
        texts.push(
            (0..0x20_u8)
                .map(|b| format!("a{}b", char::from(b)))
                .collect(),
        );
        for text in &texts {
            let mut written = b"prefix".to_vec();
            write_str(text, &mut written);
            assert_eq!(
                &written[6..],
                serde_json_str(text).as_slice(),
                "{text:?} is written differently"
            );
        }
    }
}
