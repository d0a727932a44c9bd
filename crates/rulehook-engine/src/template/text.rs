//! String interpolation: the pieces of a [`Text`] appended one by one, each charged to the
//! render's budget before it is.

use serde_json::Value;

use super::builtins::missing;
use super::frame::Frame;
use super::{Failure, Piece, Render, Text};
use crate::budget;
use crate::json::type_name;

impl Render<'_> {
    /// Renders an interpolating template to its string, charging each piece before it is
    /// appended.
    pub fn text(&mut self, text: &Text) -> Result<String, Failure> {
        self.interpolate(text)
            .map_err(|failure| text.placed(failure))
    }

    fn interpolate(&mut self, text: &Text) -> Result<String, Failure> {
        self.step(text.pos)?;
        self.charge(budget::string_size(0))?;
        let mut out = MeteredString::default();
        for piece in &text.pieces {
            match piece {
                Piece::Raw(s) => out
                    .push(s)
                    .map_err(|e| Failure::new(text.pos, e.message()))?,
                Piece::Value(expression) => self.with_value(expression, text.pos, |value| {
                    let value = value.ok_or_else(|| {
                        Failure::new(text.pos, missing(expression.program.path()))
                    })?;
                    // As with a missing value: text made from nothing is rarely meant.
                    if value.is_null() {
                        return Err(Failure::new(
                            text.pos,
                            null_in_text(expression.program.path()),
                        ));
                    }
                    let piece = interpolated(value).map_err(|m| Failure::new(text.pos, m))?;
                    out.push(&piece)
                        .map_err(|e| Failure::new(text.pos, e.message()))
                })?,
                Piece::Block { block, .. } => {
                    #[cfg(any(test, feature = "cross-check"))]
                    let (before, start) = (budget::snapshot(), out.text.len());
                    let rendered = block.render(&Frame::root(&self.scope), &mut out);
                    #[cfg(any(test, feature = "cross-check"))]
                    if let Piece::Block { template, .. } = piece {
                        let ours = rendered.clone().map(|()| out.text[start..].to_owned());
                        super::cross_check::block(&mut self.scope, template, &before, ours);
                    }
                    rendered.map_err(|message| Failure::new(text.pos, message))?;
                }
            }
        }
        Ok(out.text)
    }
}

impl Text {
    /// A failure of this leaf, placed at the `fail` call that gave it where that is known:
    /// the leaf's only `fail`, or the only one with that message.
    fn placed(&self, failure: Failure) -> Failure {
        if failure.pos != self.pos || !failure.message.starts_with("fail: ") {
            return failure;
        }
        let pos = match self.fails.as_slice() {
            [only] => only.pos,
            calls => {
                let mut same = calls
                    .iter()
                    .filter(|call| call.message.as_deref() == Some(failure.message.as_str()));
                match (same.next(), same.next()) {
                    (Some(call), None) => call.pos,
                    _ => self.pos,
                }
            }
        };
        Failure { pos, ..failure }
    }
}

/// A string that charges the render's budget before it grows.
#[derive(Default)]
pub(super) struct MeteredString {
    pub(super) text: String,
    /// Why the last write failed, for blocks rendered by handlebars, which only see an
    /// I/O error.
    #[cfg(any(test, feature = "cross-check"))]
    pub(super) exceeded: Option<budget::Exceeded>,
}

impl MeteredString {
    pub(super) fn push(&mut self, s: &str) -> Result<(), budget::Exceeded> {
        budget::charge(s.len())?;
        self.text.push_str(s);
        Ok(())
    }
}

#[cfg(any(test, feature = "cross-check"))]
impl handlebars::Output for MeteredString {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        self.push(seg).map_err(|e| {
            let error = std::io::Error::other(e.message());
            self.exceeded = Some(e);
            error
        })
    }
}

/// The text of a value placed inside a string. Lists and maps have no text form: placing
/// one in a string is almost always a mistake, and `toJson` says what is meant.
fn interpolated(value: &Value) -> Result<std::borrow::Cow<'_, str>, String> {
    use std::borrow::Cow;
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null => Ok(Cow::Borrowed("")),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "{} cannot be placed inside a string; use `toJson` for its JSON text, or make the leaf one whole expression to keep its type",
            type_name(value)
        )),
    }
}

/// Why a `null` cannot be placed inside a string.
fn null_in_text(path: Option<&str>) -> String {
    match path {
        Some(path) => format!(
            "`{path}` is null and cannot be placed inside a string; `default` can give it a value"
        ),
        None => {
            "a value placed inside this string is null; `default` can give it a value".to_owned()
        }
    }
}
