//! What handlebars' built-ins mean, as the compiled programs evaluate them: truth, the
//! order of `gt` and friends, the text of a value, and the words of errors.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::str::FromStr;

use serde_json::{Number, Value};

use super::program::Message;

/// Truth as handlebars' built-ins see it: false, null, 0 (and subnormal numbers), "", []
/// and {} are false; `include_zero` makes every number true. Unlike [`crate::json::truthy`],
/// which `ternary`, `when` and `$includeWhen` use, an empty map is false here.
pub(super) fn truthy(value: &Value, include_zero: bool) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) if include_zero => n.as_f64().is_some_and(|f| !f.is_nan()),
        Value::Number(n) => n.as_f64().is_some_and(f64::is_normal),
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// The order `gt` and friends compare in: numbers by value (a string that is a JSON number
/// counts as one), strings and bools by their own order, anything else not at all.
pub(super) fn compare(x: &Value, y: &Value) -> Option<Ordering> {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::String(b)) => compare_numbers(a, &Number::from_str(b).ok()?),
        (Value::String(a), Value::Number(b)) => {
            compare_numbers(b, &Number::from_str(a).ok()?).map(Ordering::reverse)
        }
        _ => None,
    }
}

/// Compares two JSON numbers exactly, whole numbers against fractions included.
pub(super) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let whole = |n: &Number| {
        n.as_u64()
            .map(i128::from)
            .or_else(|| n.as_i64().map(i128::from))
    };
    match (whole(a), whole(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => compare_whole_to_fraction(x, b.as_f64()?),
        (None, Some(y)) => compare_whole_to_fraction(y, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Compares a 64-bit whole number with a float without rounding either.
fn compare_whole_to_fraction(whole: i128, float: f64) -> Option<Ordering> {
    /// 2^64: every u64 and i64 lies strictly between its negative and it.
    const BEYOND: f64 = 18_446_744_073_709_551_616.0;
    if float.is_nan() {
        return None;
    }
    if float >= BEYOND {
        return Some(Ordering::Less);
    }
    if float <= -BEYOND {
        return Some(Ordering::Greater);
    }
    let truncated = float.trunc();
    // Exact: a whole float below 2^64 in size fits an i128.
    #[allow(clippy::cast_possible_truncation)]
    let order = whole.cmp(&(truncated as i128));
    Some(match order {
        Ordering::Equal => 0.0_f64.partial_cmp(&(float - truncated))?,
        other => other,
    })
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

pub(super) fn param_not_found(helper: &str, index: usize) -> Message {
    format!("Helper/Decorator {helper} param at index {index} required but not found")
}

pub(super) fn helper_not_found(name: &str) -> Message {
    format!("Helper not found {name}")
}
