//! Number helpers: whole numbers stay whole (with overflow as an error), and anything else
//! is a finite float.

use serde_json::{Number, Value};

use super::args::{room_for, whole_number};
use super::{Args, HelperError};
use crate::budget;
use crate::clip::{clip, clip_json};
use crate::json::type_name;

/// `toInt x [base]`: a number (a float loses its fraction), a bool as 0 or 1, or text as a
/// whole number; with a base (2 to 36), text in that base, with an optional `0x`, `0o` or
/// `0b` prefix for bases 16, 8 and 2.
pub(super) fn to_int(a: &Args) -> Result<Option<Value>, HelperError> {
    if a.params.len() > 1 {
        return to_int_in_base(a.str(0)?, base(a.required(1)?)?).map(Some);
    }
    match a.required(0)? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(Value::Number(n.clone()))),
        Value::Number(n) => Ok(n.as_f64().map(|f| Value::from(f.trunc() as i64))),
        Value::String(s) => {
            super::args::scan(s.len())?;
            s.trim()
                .parse::<i64>()
                .map(|i| Some(Value::from(i)))
                .map_err(|_| HelperError::NotAWholeNumber(clip(s).into_owned()))
        }
        Value::Bool(b) => Ok(Some(Value::from(i64::from(*b)))),
        other => Err(HelperError::CannotMakeNumber(type_name(other))),
    }
}

/// A base of `toInt`: a whole number from 2 to 36, as `i64::from_str_radix` takes.
fn base(v: &Value) -> Result<u32, HelperError> {
    whole_number(v)
        .and_then(|b| u32::try_from(b).ok())
        .filter(|b| (2..=36).contains(b))
        .ok_or_else(|| HelperError::BadBase(clip_json(v)))
}

fn to_int_in_base(text: &str, base: u32) -> Result<Value, HelperError> {
    super::args::scan(text.len())?;
    let bad = || HelperError::NotInBase {
        text: clip(text).into_owned(),
        base,
    };
    let trimmed = text.trim();
    let (sign, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let prefix = match base {
        16 => Some(['x', 'X']),
        8 => Some(['o', 'O']),
        2 => Some(['b', 'B']),
        _ => None,
    };
    let digits = prefix
        .and_then(|p| unsigned.strip_prefix('0')?.strip_prefix(p))
        .unwrap_or(unsigned);
    // `from_str_radix` takes a sign of its own, which may not follow ours.
    if digits.starts_with(['+', '-']) {
        return Err(bad());
    }
    i64::from_str_radix(&format!("{sign}{digits}"), base)
        .map(Value::from)
        .map_err(|_| bad())
}

pub(super) fn number(v: &Value, i: usize) -> Result<&Number, HelperError> {
    v.as_number()
        .ok_or_else(|| HelperError::wrong_type(i, "a number", v))
}

pub(super) fn arith(
    a: &Args,
    name: &'static str,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Option<Value>, HelperError> {
    let mut acc = number(a.required(0)?, 0)?.clone();
    for i in 1..a.params.len() {
        let next = number(a.required(i)?, i)?;
        acc = match (acc.as_i64(), next.as_i64()) {
            (Some(x), Some(y)) => int(x, y)
                .map(Number::from)
                .ok_or(HelperError::Overflow(name))?,
            _ => float_number(float(
                acc.as_f64().unwrap_or(f64::NAN),
                next.as_f64().unwrap_or(f64::NAN),
            ))?,
        };
    }
    Ok(Some(Value::Number(acc)))
}

pub(super) fn float_number(f: f64) -> Result<Number, HelperError> {
    Number::from_f64(f).ok_or(HelperError::NotFinite)
}

pub(super) fn divide(a: &Args) -> Result<Option<Value>, HelperError> {
    let (x, y) = (number(a.required(0)?, 0)?, number(a.required(1)?, 1)?);
    match (x.as_i64(), y.as_i64()) {
        (_, Some(0)) => Err(HelperError::DivisionByZero),
        (Some(x), Some(y)) => x
            .checked_div(y)
            .map(|q| Some(Value::from(q)))
            .ok_or(HelperError::Overflow("div")),
        _ => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            Ok(Some(Value::Number(float_number(x / y)?)))
        }
    }
}

/// `mod a b`: the Euclidean remainder of whole numbers; a whole float (`6.0`) counts as one.
pub(super) fn modulo(a: &Args) -> Result<Option<Value>, HelperError> {
    let (x, y) = (a.required(0)?, a.required(1)?);
    number(x, 0)?;
    number(y, 1)?;
    match (whole_number(x), whole_number(y)) {
        (_, Some(0)) => Err(HelperError::DivisionByZero),
        (Some(x), Some(y)) => Ok(x.checked_rem_euclid(y).map(Value::from)),
        _ => Err(HelperError::ModNeedsWholeNumbers),
    }
}

/// `range n` is 0..n; `range a b` is a..b. Bounded by the loop limit where it is used, and
/// here by a hard cap so a hostile count cannot allocate without bound.
pub(super) fn range(a: &Args) -> Result<Option<Value>, HelperError> {
    const RANGE_CAP: i64 = 1_000_000;
    let int = |i: usize| -> Result<i64, HelperError> {
        whole_number(a.required(i)?).ok_or(HelperError::NotAWholeNumberArgument(i))
    };
    let (start, end) = if a.params.len() == 2 {
        (int(0)?, int(1)?)
    } else {
        (0, int(0)?)
    };
    let count = end.saturating_sub(start);
    if count > RANGE_CAP {
        return Err(HelperError::RangeTooLong(RANGE_CAP));
    }
    room_for(
        usize::try_from(count.max(0))
            .unwrap_or(0)
            .saturating_mul(budget::SCALAR),
    )?;
    Ok(Some(Value::Array((start..end).map(Value::from).collect())))
}

/// `sum list`: whole numbers add up as whole numbers (overflow is an error), and a single
/// float anywhere makes the sum a float; an empty list sums to 0.
pub(super) fn sum(a: &Args) -> Result<Option<Value>, HelperError> {
    let list = a.list(0)?;
    super::args::per_item(list.len(), super::args::ITEM_WORK)?;
    let mut whole = true;
    for (index, v) in list.iter().enumerate() {
        let n = v.as_number().ok_or(HelperError::NotANumberItem {
            index,
            found: type_name(v),
        })?;
        whole &= n.as_i64().is_some();
    }
    if whole {
        let total = list
            .iter()
            .filter_map(Value::as_i64)
            .try_fold(0i64, i64::checked_add)
            .ok_or(HelperError::Overflow("sum"))?;
        return Ok(Some(Value::from(total)));
    }
    let total = list.iter().filter_map(Value::as_f64).sum();
    Ok(Some(Value::Number(float_number(total)?)))
}
