//! `printf`: a small, bounded subset of Go's verbs, enough for names and padded numbers.

use serde_json::Value;

use super::args::{plain_string, room_for};
use super::{Args, HelperError};
use crate::budget;

/// `printf "%s-%03d" a b`: `%s`, `%v`, `%d`, `%x`, `%f` (with width, `0` and `-` flags and
/// precision) and `%%`.
pub(super) fn printf(a: &Args) -> Result<Option<Value>, HelperError> {
    /// Far past any real use; Rust's formatter panics past 65,535.
    const PRECISION_LIMIT: usize = 100;
    let format = a.str(0)?;
    let mut args = a.params[1..].iter();
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if f == '-' || f == '0' {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(usize::MAX));
        }
        let verb = chars.next().ok_or(HelperError::UnfinishedVerb)?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = match args.next() {
            Some(Some(v)) => *v,
            Some(None) => return Err(HelperError::ArgumentMissing),
            None => return Err(HelperError::VerbWithoutArgument(verb)),
        };
        let body = match verb {
            's' | 'v' => {
                room_for(out.len().saturating_add(budget::measure(arg)?))?;
                plain_string(arg)
            }
            'd' => match arg.as_i64() {
                Some(i) => i.to_string(),
                None => return Err(HelperError::verb_needs(verb, "a whole number", arg)),
            },
            'x' => match arg.as_i64() {
                Some(i) => format!("{i:x}"),
                None => return Err(HelperError::verb_needs(verb, "a whole number", arg)),
            },
            'f' => match arg.as_f64() {
                Some(_) if precision.is_some_and(|p| p > PRECISION_LIMIT) => {
                    return Err(HelperError::PrecisionTooLarge(PRECISION_LIMIT))
                }
                Some(f) => format!("{f:.*}", precision.unwrap_or(6)),
                None => return Err(HelperError::verb_needs(verb, "a number", arg)),
            },
            other => return Err(HelperError::UnknownVerb(other)),
        };
        let width: usize = width.parse().unwrap_or(0).min(1024);
        let pad = width.saturating_sub(body.chars().count());
        room_for(
            out.len()
                .saturating_add(body.len())
                .saturating_add(pad)
                .saturating_add(format.len()),
        )?;
        if flags.contains('-') {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if flags.contains('0') && verb != 's' && verb != 'v' {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(rest) => ("-", rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&body);
        }
    }
    if args.next().is_some() {
        return Err(HelperError::TooManyArguments);
    }
    Ok(Some(Value::String(out)))
}
