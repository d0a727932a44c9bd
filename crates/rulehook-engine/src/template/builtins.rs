//! What handlebars' built-ins mean, as the compiled programs evaluate them: truth, the
//! text of a value, and the words of errors.

use std::borrow::Cow;

use serde_json::Value;

use super::program::{Arg, Message};
use crate::helpers;

#[cfg(test)]
pub(super) use crate::helpers::compare_numbers;

/// Truth as handlebars' `{{#if}}` sees it (see [`helpers::block_truthy`]);
/// `include_zero` makes every number true.
pub(super) fn truthy(value: &Value, include_zero: bool) -> bool {
    match value {
        Value::Number(n) if include_zero => n.as_f64().is_some_and(|f| !f.is_nan()),
        other => helpers::block_truthy(Some(other)),
    }
}

/// A value as handlebars writes it into text: strings bare, `null` as nothing, a list as
/// `[a, b]` and a map as `[object]`.
pub(super) fn render_json(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Null => Cow::Borrowed(""),
        Value::Array(items) => {
            let mut text = String::from("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(&render_json(item));
            }
            text.push(']');
            Cow::Owned(text)
        }
        Value::Object(_) => Cow::Borrowed("[object]"),
    }
}

/// A value that is missing where handlebars' strict mode needs one.
pub(super) fn missing(path: Option<&str>) -> Message {
    match path {
        Some(path) => {
            format!("`{path}` is missing: the request has no such value and it has no default")
        }
        None => "a value used here is missing".to_owned(),
    }
}

/// A block helper called with no argument, which only a computed name (`{{ (name) }}`
/// whose value names a helper) can do: arity is checked when the rule loads.
pub(super) fn param_not_found(helper: &str, index: usize) -> Message {
    format!("{helper}: argument {} is missing", index + 1)
}

/// A call of a name that is no helper, which only a subexpression of a path (`(a.b)`) can
/// make: names are checked when the rule loads.
pub(super) fn helper_not_found(name: &str) -> Message {
    format!("`{name}` is not a helper; parentheses call a helper, so write the value without them")
}

/// A name read from a list, inside a block: a list's items are read by position.
pub(super) fn text_index(name: &str) -> Message {
    format!("cannot read `{name}` from a list; read an item by its position, such as `.0`")
}

/// A helper that answers with one of its arguments (`default`, `ternary`, `when`), known
/// when the rule loads: the caller hands that argument on as it is, where the helper's body
/// would copy it.
#[derive(Debug, Clone, Copy)]
pub(super) enum PassThrough {
    Default,
    Ternary,
    When,
}

impl PassThrough {
    pub(super) fn of(helper: &str) -> Option<PassThrough> {
        match helper {
            "default" => Some(PassThrough::Default),
            "ternary" => Some(PassThrough::Ternary),
            "when" => Some(PassThrough::When),
            _ => None,
        }
    }

    /// Which argument the helper answers with, or `None` for none.
    pub(super) fn chosen(self, args: &[Arg<'_>]) -> Option<usize> {
        let value = |i: usize| args.get(i).and_then(|a| a.value.as_deref());
        match self {
            PassThrough::Default => args
                .iter()
                .position(|a| a.value.as_deref().is_some_and(|v| !v.is_null())),
            PassThrough::Ternary => Some(if crate::json::truthy(value(0)) { 1 } else { 2 }),
            PassThrough::When => crate::json::truthy(value(0)).then_some(1),
        }
    }
}
