//! String interpolation: the pieces of a [`Text`] appended one by one, each charged to the
//! render's budget before it is.

use handlebars::template::Parameter;
use handlebars::{RenderContext, Renderable};
use serde_json::Value;

use super::render::render_error_message;
use super::{path_text, Failure, Piece, Render, Text};
use crate::budget;
use crate::helpers::registry;
use crate::json::type_name;

impl Render<'_> {
    /// Renders an interpolating template to its string, charging each piece before it is
    /// appended.
    pub fn text(&mut self, text: &Text) -> Result<String, Failure> {
        self.step(text.pos)?;
        self.charge(budget::string_size(0))?;
        let mut out = MeteredString::default();
        for piece in &text.pieces {
            match piece {
                Piece::Raw(s) => out
                    .push(s)
                    .map_err(|e| Failure::new(text.pos, e.message()))?,
                Piece::Value(param, plain) => {
                    self.with_value(param, *plain, text.pos, |value| {
                        let value =
                            value.ok_or_else(|| Failure::new(text.pos, missing_message(param)))?;
                        let piece = interpolated(value).map_err(|m| Failure::new(text.pos, m))?;
                        out.push(&piece)
                            .map_err(|e| Failure::new(text.pos, e.message()))
                    })?
                }
                Piece::Block(template) => {
                    let mut rc = RenderContext::new(None);
                    let result = template.render(registry(), &self.ctx, &mut rc, &mut out);
                    if let Some(exceeded) = out.exceeded.take() {
                        return Err(Failure::new(text.pos, exceeded.message()));
                    }
                    result.map_err(|e| Failure::new(text.pos, render_error_message(&e)))?;
                }
            }
        }
        Ok(out.text)
    }
}

/// A string that charges the render's budget before it grows.
#[derive(Default)]
struct MeteredString {
    text: String,
    /// Why the last write failed, for blocks rendered by handlebars, which only see an
    /// I/O error.
    exceeded: Option<budget::Exceeded>,
}

impl MeteredString {
    fn push(&mut self, s: &str) -> Result<(), budget::Exceeded> {
        budget::charge(s.len())?;
        self.text.push_str(s);
        Ok(())
    }
}

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

/// What a missing value interpolated into a string is called in the error.
fn missing_message(param: &Parameter) -> String {
    match param {
        Parameter::Path(path) => format!(
            "`{}` is missing: the request has no such value and it has no default",
            path_text(path)
        ),
        _ => "a value used here is missing".to_owned(),
    }
}
