//! How helpers compare JSON values, in one place: equality and order by value, so `1` and
//! `1.0` are one number to `eq`, `where`, `unique`, `sort` and every other helper that
//! compares, however deep inside a list or a map they stand.

use std::cmp::Ordering;
use std::str::FromStr;

use serde_json::{Number, Value};

use super::HelperError;
use crate::json::type_name;

/// Whether two values are equal as JSON, numbers by value: `{"a": 80}` equals `{"a": 80.0}`.
/// Recurses no deeper than the values nest, which parsing already bounds.
pub(crate) fn json_equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => x == y,
    }
}

/// [`json_equal`] where either side may be missing: missing equals only missing.
pub(crate) fn optional_equal(x: Option<&Value>, y: Option<&Value>) -> bool {
    match (x, y) {
        (Some(x), Some(y)) => json_equal(x, y),
        (x, y) => x.is_none() && y.is_none(),
    }
}

/// The order `sort`, `sortDesc`, `min` and `max` use, total over every value: numbers by
/// value, strings by text, `false` before `true`, anything else by its [`canonical_text`].
/// Values that are [`json_equal`] compare equal.
pub(crate) fn total_order(x: &Value, y: &Value) -> Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b).unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => canonical_text(x).cmp(&canonical_text(y)),
    }
}

/// The order `gt`, `gte`, `lt` and `lte` test: numbers by value (a string that holds a JSON
/// number, such as `"42"`, counts as that number), strings by text, `false` before `true`.
///
/// # Errors
///
/// Any other pair, such as a number and a list, cannot be ordered.
pub(crate) fn operand_order(x: &Value, y: &Value) -> Result<Option<Ordering>, HelperError> {
    let cannot = || HelperError::CannotOrder {
        first: type_name(x),
        second: type_name(y),
    };
    let number_in = |s: &str| Number::from_str(s).map_err(|_| cannot());
    Ok(match (x, y) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::String(b)) => compare_numbers(a, &number_in(b)?),
        (Value::String(a), Value::Number(b)) => compare_numbers(&number_in(a)?, b),
        _ => return Err(cannot()),
    })
}

/// Compares two JSON numbers exactly, whole numbers against fractions included.
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
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

/// 2^64: every u64 and i64 lies strictly between its negative and it.
const BEYOND_64_BITS: f64 = 18_446_744_073_709_551_616.0;

/// Compares a 64-bit whole number with a float without rounding either.
fn compare_whole_to_fraction(whole: i128, float: f64) -> Option<Ordering> {
    if float.is_nan() {
        return None;
    }
    if float >= BEYOND_64_BITS {
        return Some(Ordering::Less);
    }
    if float <= -BEYOND_64_BITS {
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

/// A number's text with a whole float written as the whole number it is (`2.0` as `2`), as
/// Go and JavaScript write it; other numbers as serde_json writes them.
pub(crate) fn number_text(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if !(n.is_i64() || n.is_u64()) && f.fract() == 0.0 && f.abs() < BEYOND_64_BITS => {
            // Exact: a whole float below 2^64 in size fits an i128 (and -0.0 becomes 0).
            #[allow(clippy::cast_possible_truncation)]
            let whole = f as i128;
            whole.to_string()
        }
        _ => n.to_string(),
    }
}

/// Compact JSON text with every number as [`number_text`] writes it: two values have the
/// same canonical text exactly when they are [`json_equal`], so it keys hash sets.
pub(crate) fn canonical_text(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Appends `value`'s [`canonical_text`] to `out`; recurses as deep as the value nests, as
/// serde_json's own writer does.
pub(crate) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).unwrap_or_default());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}
