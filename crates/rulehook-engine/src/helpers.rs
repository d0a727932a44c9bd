//! The helpers templates may call, and the one handlebars registry that holds them.
//!
//! Helpers are pure functions of their arguments: no clock, no files, no environment, no
//! network. That keeps a render a function of the request alone, which Metacontroller needs
//! because it may call a hook concurrently with old versions of a parent.
//!
//! A missing argument (a value the request lacks) reaches a helper as `None`, so helpers such
//! as `default`, `exists` and `length` can tell "missing" from `""`, `false` and `0`.
//!
//! This file is long (the whole catalogue, its budget checks and its tests); splitting it by
//! theme (strings, numbers, collections, objects) is the engine's next restructuring step.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use regex::Regex;
use serde_json::{Map, Number, Value};

use super::budget;
use super::clip::clip;
use super::json::{truthy, type_name};

/// Checks that building `bytes` fits the render's budget, before anything is built.
fn room_for(bytes: usize) -> Result<(), String> {
    budget::fits(bytes).map_err(|e| e.message())
}

/// The total size of `values`, checked against the render's budget as it is measured.
fn room_for_all<'v>(values: impl IntoIterator<Item = &'v Value>) -> Result<usize, String> {
    let mut total = 0usize;
    for v in values {
        total = total.saturating_add(budget::measure(v).map_err(|e| e.message())?);
        room_for(total)?;
    }
    Ok(total)
}

/// A helper's arguments; `None` is a missing value.
pub struct Args<'a> {
    params: Vec<Option<&'a Value>>,
}

type HelperFn = fn(&Args) -> Result<Option<Value>, String>;

/// A helper's name, arity and body.
pub struct HelperInfo {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    body: Option<HelperFn>,
}

const MANY: usize = usize::MAX;

const fn builtin(name: &'static str, min_args: usize, max_args: usize) -> HelperInfo {
    HelperInfo {
        name,
        min_args,
        max_args,
        body: None,
    }
}

const fn pure(name: &'static str, min_args: usize, max_args: usize, f: HelperFn) -> HelperInfo {
    HelperInfo {
        name,
        min_args,
        max_args,
        body: Some(f),
    }
}

/// Every helper a template may use. handlebars' own `log`, `raw` and `lookup`-by-partial
/// style helpers are left out on purpose.
static HELPERS: &[HelperInfo] = &[
    // handlebars built-ins
    builtin("if", 1, 1),
    builtin("unless", 1, 1),
    builtin("each", 1, 1),
    builtin("with", 1, 1),
    builtin("lookup", 2, 2),
    builtin("eq", 2, 2),
    builtin("ne", 2, 2),
    builtin("gt", 2, 2),
    builtin("gte", 2, 2),
    builtin("lt", 2, 2),
    builtin("lte", 2, 2),
    builtin("and", 1, MANY),
    builtin("or", 1, MANY),
    builtin("not", 1, 1),
    // presence and choice
    pure("default", 1, MANY, default),
    pure("exists", 1, 1, exists),
    pure("ternary", 3, 3, ternary),
    pure("when", 2, 2, when),
    // strings
    pure("lower", 1, 1, |a| a.str_map(0, str::to_lowercase)),
    pure("upper", 1, 1, |a| a.str_map(0, str::to_uppercase)),
    pure("trim", 1, 1, |a| a.str_map(0, |s| s.trim().to_owned())),
    pure("trimPrefix", 2, 2, trim_prefix),
    pure("trimSuffix", 2, 2, trim_suffix),
    pure("replace", 3, 3, replace),
    pure("split", 2, 2, split),
    pure("join", 2, 2, join),
    pure("concat", 1, MANY, concat),
    pure("hasPrefix", 2, 2, has_prefix),
    pure("hasSuffix", 2, 2, has_suffix),
    pure("contains", 2, 2, contains),
    pure("regexMatch", 2, 2, regex_match),
    pure("regexCapture", 2, 3, regex_capture),
    pure("regexReplace", 3, 3, regex_replace),
    pure("printf", 1, MANY, printf),
    pure("toString", 1, 1, to_string),
    pure("toJson", 1, 1, to_json),
    // numbers
    pure("toInt", 1, 1, to_int),
    pure("add", 2, MANY, |a| {
        arith(a, "add", i64::checked_add, |x, y| x + y)
    }),
    pure("sub", 2, 2, |a| {
        arith(a, "sub", i64::checked_sub, |x, y| x - y)
    }),
    pure("mul", 2, MANY, |a| {
        arith(a, "mul", i64::checked_mul, |x, y| x * y)
    }),
    pure("div", 2, 2, divide),
    pure("mod", 2, 2, modulo),
    // collections
    pure("length", 1, 1, length),
    pure("list", 0, MANY, |a| {
        room_for_all(a.present())?;
        Ok(Some(Value::Array(a.present().cloned().collect())))
    }),
    pure("dict", 0, MANY, dict),
    pure("range", 1, 2, range),
    pure("keys", 1, 1, keys),
    pure("values", 1, 1, values),
    pure("sort", 1, 2, sort),
    pure("unique", 1, 1, unique),
    pure("min", 1, MANY, |a| extreme(a, std::cmp::Ordering::Less)),
    pure("max", 1, MANY, |a| extreme(a, std::cmp::Ordering::Greater)),
    pure("first", 1, 1, |a| Ok(a.list(0)?.first().cloned())),
    pure("last", 1, 1, |a| Ok(a.list(0)?.last().cloned())),
    pure("merge", 1, MANY, merge),
    pure("get", 2, 3, get),
    pure("pluck", 2, 2, pluck),
    // filtering observed objects
    pure("where", 3, 3, where_equals),
    pure("whereExists", 2, 2, where_exists),
    pure("whereLabel", 2, 3, |a| where_meta(a, "labels")),
    pure("whereAnnotation", 2, 3, |a| where_meta(a, "annotations")),
    pure("whereCondition", 2, 3, where_condition),
    pure("hasCondition", 2, 3, has_condition),
    pure("count", 1, 3, count),
    pure("countBy", 2, 2, count_by),
    pure("find", 2, 3, find),
];

/// The helper called `name`, if templates may use it.
pub fn lookup(name: &str) -> Option<&'static HelperInfo> {
    HELPERS.iter().find(|h| h.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    HELPERS.iter().map(|h| h.name)
}

/// The shared registry: strict, with no HTML escaping, and only the helpers above.
pub fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.set_prevent_indent(true);
        for name in ["log", "raw", "len"] {
            hb.unregister_helper(name);
        }
        for info in HELPERS {
            if let Some(body) = info.body {
                hb.register_helper(
                    info.name,
                    Box::new(Pure {
                        name: info.name,
                        body,
                    }),
                );
            }
        }
        hb
    })
}

struct Pure {
    name: &'static str,
    body: HelperFn,
}

impl HelperDef for Pure {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args = Args {
            params: h
                .params()
                .iter()
                .map(|p| (!p.is_value_missing()).then(|| p.value()))
                .collect(),
        };
        match (self.body)(&args) {
            Ok(Some(v)) => Ok(ScopedJson::Derived(v)),
            Ok(None) => Ok(ScopedJson::Missing),
            Err(message) => {
                Err(RenderErrorReason::Other(format!("{}: {message}", self.name)).into())
            }
        }
    }
}

impl<'a> Args<'a> {
    fn get(&self, i: usize) -> Option<&'a Value> {
        self.params.get(i).copied().flatten()
    }

    fn present(&self) -> impl Iterator<Item = &'a Value> + '_ {
        self.params.iter().filter_map(|p| *p)
    }

    fn required(&self, i: usize) -> Result<&'a Value, String> {
        self.get(i)
            .ok_or_else(|| format!("argument {} is missing", i + 1))
    }

    fn str(&self, i: usize) -> Result<&'a str, String> {
        match self.required(i)? {
            Value::String(s) => Ok(s),
            other => Err(format!(
                "argument {} must be a string, not {}",
                i + 1,
                type_name(other)
            )),
        }
    }

    /// A list argument; a missing one reads as empty, as an absent child type does.
    fn list(&self, i: usize) -> Result<&'a [Value], String> {
        match self.get(i) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(format!(
                "argument {} must be a list, not {}",
                i + 1,
                type_name(other)
            )),
        }
    }

    /// A string built from argument `i`; case changes can grow a string up to three times.
    fn str_map(&self, i: usize, f: impl Fn(&str) -> String) -> Result<Option<Value>, String> {
        let s = self.str(i)?;
        room_for(s.len().saturating_mul(3))?;
        Ok(Some(Value::String(f(s))))
    }
}

fn default(a: &Args) -> Result<Option<Value>, String> {
    Ok(a.present().find(|v| !v.is_null()).cloned())
}

fn exists(a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(Value::Bool(a.get(0).is_some_and(|v| !v.is_null()))))
}

fn ternary(a: &Args) -> Result<Option<Value>, String> {
    Ok(if truthy(a.get(0)) { a.get(1) } else { a.get(2) }.cloned())
}

fn when(a: &Args) -> Result<Option<Value>, String> {
    Ok(if truthy(a.get(0)) {
        a.get(1).cloned()
    } else {
        None
    })
}

fn trim_prefix(a: &Args) -> Result<Option<Value>, String> {
    let (s, p) = (a.str(0)?, a.str(1)?);
    Ok(Some(Value::from(s.strip_prefix(p).unwrap_or(s))))
}

fn trim_suffix(a: &Args) -> Result<Option<Value>, String> {
    let (s, p) = (a.str(0)?, a.str(1)?);
    Ok(Some(Value::from(s.strip_suffix(p).unwrap_or(s))))
}

fn replace(a: &Args) -> Result<Option<Value>, String> {
    let (s, from, to) = (a.str(0)?, a.str(1)?, a.str(2)?);
    // The result's size, counted before it is built: an empty pattern matches between every
    // character.
    let count = if from.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from).count()
    };
    let size = (s.len() - count.saturating_mul(from.len()).min(s.len()))
        .saturating_add(count.saturating_mul(to.len()));
    room_for(size)?;
    Ok(Some(Value::from(s.replace(from, to))))
}

fn split(a: &Args) -> Result<Option<Value>, String> {
    let (s, sep) = (a.str(0)?, a.str(1)?);
    if s.is_empty() {
        return Ok(Some(Value::Array(Vec::new())));
    }
    let pieces = if sep.is_empty() {
        s.chars().count() + 2
    } else {
        s.matches(sep).count() + 1
    };
    room_for(
        s.len()
            .saturating_add(pieces.saturating_mul(budget::string_size(1))),
    )?;
    Ok(Some(Value::Array(s.split(sep).map(Value::from).collect())))
}

fn join(a: &Args) -> Result<Option<Value>, String> {
    let (list, sep) = (a.list(0)?, a.str(1)?);
    let size = room_for_all(list)?;
    room_for(size.saturating_add(list.len().saturating_mul(sep.len())))?;
    let parts: Vec<String> = list.iter().map(plain_string).collect();
    Ok(Some(Value::from(parts.join(sep))))
}

fn concat(a: &Args) -> Result<Option<Value>, String> {
    room_for_all(a.present())?;
    if a.present().all(Value::is_array) {
        let mut out = Vec::new();
        for v in a.present() {
            out.extend(v.as_array().into_iter().flatten().cloned());
        }
        return Ok(Some(Value::Array(out)));
    }
    Ok(Some(Value::from(
        a.present().map(plain_string).collect::<String>(),
    )))
}

fn has_prefix(a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(Value::Bool(a.str(0)?.starts_with(a.str(1)?))))
}

fn has_suffix(a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(Value::Bool(a.str(0)?.ends_with(a.str(1)?))))
}

fn contains(a: &Args) -> Result<Option<Value>, String> {
    let needle = a.required(1)?;
    let found = match a.required(0)? {
        Value::String(s) => s.contains(needle.as_str().ok_or("argument 2 must be a string")?),
        Value::Array(list) => list.contains(needle),
        Value::Object(map) => {
            map.contains_key(needle.as_str().ok_or("argument 2 must be a string")?)
        }
        other => return Err(format!("cannot search in {}", type_name(other))),
    };
    Ok(Some(Value::Bool(found)))
}

/// Compiled patterns, kept because templates usually pass the same literal pattern on every
/// request. Bounded so hostile data cannot grow it.
fn regex(pattern: &str) -> Result<Regex, String> {
    const CACHE_LIMIT: usize = 256;
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    const PATTERN_LIMIT: usize = 4096;
    if pattern.len() > PATTERN_LIMIT {
        return Err(format!(
            "the pattern is {} bytes; patterns may have at most {PATTERN_LIMIT}",
            pattern.len()
        ));
    }
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(64)
        .build()
        .map_err(|e| format!("bad regular expression: {}", clip(&e.to_string())))?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(pattern.to_owned(), re.clone());
    }
    Ok(re)
}

fn regex_match(a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(Value::Bool(regex(a.str(1)?)?.is_match(a.str(0)?))))
}

/// `regexCapture s pattern [group]`: the group (default 1, or 0 without groups), or missing
/// when the pattern does not match.
fn regex_capture(a: &Args) -> Result<Option<Value>, String> {
    let re = regex(a.str(1)?)?;
    let Some(caps) = re.captures(a.str(0)?) else {
        return Ok(None);
    };
    let group = match a.get(2) {
        Some(Value::Number(n)) => n.as_u64().ok_or("the group must be a whole number")? as usize,
        Some(Value::String(name)) => {
            return Ok(caps.name(name).map(|m| Value::from(m.as_str())));
        }
        Some(other) => {
            return Err(format!(
                "the group must be a number or a name, not {}",
                type_name(other)
            ))
        }
        None => usize::from(caps.len() > 1),
    };
    Ok(caps.get(group).map(|m| Value::from(m.as_str())))
}

/// Replaces every match, checking before each replacement is expanded that the result so
/// far, the rest of the subject and the largest the expansion can be (the replacement with
/// each `$` reference standing for the whole match) still fit the render's budget.
fn regex_replace(a: &Args) -> Result<Option<Value>, String> {
    let re = regex(a.str(1)?)?;
    let (s, replacement) = (a.str(0)?, a.str(2)?);
    let references = replacement.matches('$').count();
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        let largest = replacement
            .len()
            .saturating_add(references.saturating_mul(m.len()));
        room_for(
            out.len()
                .saturating_add(largest)
                .saturating_add(s.len() - m.start()),
        )?;
        out.push_str(&s[last..m.start()]);
        caps.expand(replacement, &mut out);
        last = m.end();
    }
    out.push_str(&s[last..]);
    Ok(Some(Value::from(out)))
}

/// `printf "%s-%03d" a b`: `%s`, `%v`, `%d`, `%x`, `%f` (with width, `0` and `-` flags and
/// precision) and `%%`.
fn printf(a: &Args) -> Result<Option<Value>, String> {
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
        let verb = chars
            .next()
            .ok_or("the format ends in the middle of a `%` verb")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = match args.next() {
            Some(Some(v)) => *v,
            Some(None) => return Err("an argument is missing".to_owned()),
            None => return Err(format!("`%{verb}` has no argument")),
        };
        let body = match verb {
            's' | 'v' => {
                room_for(
                    out.len()
                        .saturating_add(budget::measure(arg).map_err(|e| e.message())?),
                )?;
                plain_string(arg)
            }
            'd' => match arg.as_i64() {
                Some(i) => i.to_string(),
                None => return Err(format!("`%d` needs a whole number, not {}", type_name(arg))),
            },
            'x' => match arg.as_i64() {
                Some(i) => format!("{i:x}"),
                None => return Err(format!("`%x` needs a whole number, not {}", type_name(arg))),
            },
            'f' => match arg.as_f64() {
                Some(_) if precision.is_some_and(|p| p > PRECISION_LIMIT) => {
                    return Err(format!(
                        "a precision over {PRECISION_LIMIT} digits is not supported"
                    ))
                }
                Some(f) => format!("{f:.*}", precision.unwrap_or(6)),
                None => return Err(format!("`%f` needs a number, not {}", type_name(arg))),
            },
            other => return Err(format!("unknown verb `%{other}`; use %s, %v, %d, %x or %f")),
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
        return Err("more arguments than `%` verbs".to_owned());
    }
    Ok(Some(Value::String(out)))
}

/// A value as text: strings bare, everything else as JSON.
fn plain_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn to_string(a: &Args) -> Result<Option<Value>, String> {
    room_for_all([a.required(0)?])?;
    Ok(Some(Value::String(plain_string(a.required(0)?))))
}

fn to_json(a: &Args) -> Result<Option<Value>, String> {
    // JSON escapes can make a string's text up to six times longer than its bytes.
    room_for(room_for_all([a.required(0)?])?.saturating_mul(6))?;
    Ok(Some(Value::String(a.required(0)?.to_string())))
}

fn to_int(a: &Args) -> Result<Option<Value>, String> {
    match a.required(0)? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(Value::Number(n.clone()))),
        Value::Number(n) => Ok(n.as_f64().map(|f| Value::from(f.trunc() as i64))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(|i| Some(Value::from(i)))
            .map_err(|_| format!("`{}` is not a whole number", clip(s))),
        Value::Bool(b) => Ok(Some(Value::from(i64::from(*b)))),
        other => Err(format!("cannot make a number of {}", type_name(other))),
    }
}

fn number(v: &Value, i: usize) -> Result<&Number, String> {
    v.as_number()
        .ok_or_else(|| format!("argument {} must be a number, not {}", i + 1, type_name(v)))
}

fn arith(
    a: &Args,
    name: &str,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Option<Value>, String> {
    let mut acc = number(a.required(0)?, 0)?.clone();
    for i in 1..a.params.len() {
        let next = number(a.required(i)?, i)?;
        acc = match (acc.as_i64(), next.as_i64()) {
            (Some(x), Some(y)) => int(x, y)
                .map(Number::from)
                .ok_or_else(|| format!("{name} overflows a 64-bit integer"))?,
            _ => float_number(float(
                acc.as_f64().unwrap_or(f64::NAN),
                next.as_f64().unwrap_or(f64::NAN),
            ))?,
        };
    }
    Ok(Some(Value::Number(acc)))
}

fn float_number(f: f64) -> Result<Number, String> {
    Number::from_f64(f).ok_or_else(|| "the result is not a finite number".to_owned())
}

fn divide(a: &Args) -> Result<Option<Value>, String> {
    let (x, y) = (number(a.required(0)?, 0)?, number(a.required(1)?, 1)?);
    match (x.as_i64(), y.as_i64()) {
        (_, Some(0)) => Err("division by zero".to_owned()),
        (Some(x), Some(y)) => x
            .checked_div(y)
            .map(|q| Some(Value::from(q)))
            .ok_or_else(|| "div overflows a 64-bit integer".to_owned()),
        _ => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            Ok(Some(Value::Number(float_number(x / y)?)))
        }
    }
}

fn modulo(a: &Args) -> Result<Option<Value>, String> {
    let (x, y) = (number(a.required(0)?, 0)?, number(a.required(1)?, 1)?);
    match (x.as_i64(), y.as_i64()) {
        (_, Some(0)) => Err("division by zero".to_owned()),
        (Some(x), Some(y)) => Ok(x.checked_rem_euclid(y).map(Value::from)),
        _ => Err("mod needs whole numbers".to_owned()),
    }
}

fn length(a: &Args) -> Result<Option<Value>, String> {
    let n = match a.get(0) {
        None | Some(Value::Null) => 0,
        Some(Value::Array(l)) => l.len(),
        Some(Value::Object(m)) => m.len(),
        Some(Value::String(s)) => s.chars().count(),
        Some(other) => return Err(format!("{} has no length", type_name(other))),
    };
    Ok(Some(Value::from(n)))
}

fn dict(a: &Args) -> Result<Option<Value>, String> {
    if a.params.len() % 2 != 0 {
        return Err("needs key and value pairs".to_owned());
    }
    room_for_all(a.present())?;
    let mut map = Map::new();
    for pair in a.params.chunks(2) {
        let key = match pair[0] {
            Some(Value::String(k)) => k.clone(),
            Some(other) => plain_string(other),
            None => return Err("a key is missing".to_owned()),
        };
        if let Some(v) = pair[1] {
            map.insert(key, v.clone());
        }
    }
    Ok(Some(Value::Object(map)))
}

/// `range n` is 0..n; `range a b` is a..b. Bounded by the loop limit where it is used, and
/// here by a hard cap so a hostile count cannot allocate without bound.
fn range(a: &Args) -> Result<Option<Value>, String> {
    const RANGE_CAP: i64 = 1_000_000;
    let int = |i: usize| -> Result<i64, String> {
        a.required(i)?
            .as_i64()
            .ok_or_else(|| format!("argument {} must be a whole number", i + 1))
    };
    let (start, end) = if a.params.len() == 2 {
        (int(0)?, int(1)?)
    } else {
        (0, int(0)?)
    };
    let count = end.saturating_sub(start);
    if count > RANGE_CAP {
        return Err(format!("a range of more than {RANGE_CAP} numbers"));
    }
    room_for(
        usize::try_from(count.max(0))
            .unwrap_or(0)
            .saturating_mul(budget::SCALAR),
    )?;
    Ok(Some(Value::Array((start..end).map(Value::from).collect())))
}

fn object<'a>(a: &Args<'a>, i: usize) -> Result<Option<&'a Map<String, Value>>, String> {
    match a.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!(
            "argument {} must be a map, not {}",
            i + 1,
            type_name(other)
        )),
    }
}

fn keys(a: &Args) -> Result<Option<Value>, String> {
    if let Some(map) = object(a, 0)? {
        room_for(map.keys().map(|k| budget::string_size(k.len())).sum())?;
    }
    let keys = object(a, 0)?
        .map(|m| m.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    Ok(Some(Value::Array(keys)))
}

fn values(a: &Args) -> Result<Option<Value>, String> {
    if let Some(map) = object(a, 0)? {
        room_for_all(map.values())?;
    }
    let values = object(a, 0)?
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    Ok(Some(Value::Array(values)))
}

/// Orders JSON values: numbers by value, strings by text, others by their JSON text.
fn compare(x: &Value, y: &Value) -> std::cmp::Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => x.to_string().cmp(&y.to_string()),
    }
}

/// `sort list [field.path]`.
fn sort(a: &Args) -> Result<Option<Value>, String> {
    room_for_all(a.list(0)?)?;
    let mut list = a.list(0)?.to_vec();
    match a.get(1) {
        Some(Value::String(path)) => list.sort_by(|x, y| {
            let (x, y) = (dig(x, path), dig(y, path));
            match (x, y) {
                (Some(x), Some(y)) => compare(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            }
        }),
        Some(other) => {
            return Err(format!(
                "the sort field must be a string, not {}",
                type_name(other)
            ))
        }
        None => list.sort_by(compare),
    }
    Ok(Some(Value::Array(list)))
}

/// The first of each distinct value, in order. Distinct by JSON text, in a hash set, so a
/// long list costs linear time rather than comparing every pair.
fn unique(a: &Args) -> Result<Option<Value>, String> {
    let list = a.list(0)?;
    room_for(room_for_all(list)?.saturating_mul(2))?;
    let mut seen = std::collections::HashSet::new();
    let out = list
        .iter()
        .filter(|v| seen.insert(v.to_string()))
        .cloned()
        .collect();
    Ok(Some(Value::Array(out)))
}

/// `min list` or `min a b c`; missing for an empty list.
fn extreme(a: &Args, want: std::cmp::Ordering) -> Result<Option<Value>, String> {
    let items: Vec<&Value> = match (a.params.len(), a.get(0)) {
        (1, Some(Value::Array(list))) => list.iter().collect(),
        _ => a.present().collect(),
    };
    Ok(items
        .into_iter()
        .reduce(|best, v| if compare(v, best) == want { v } else { best })
        .cloned())
}

/// Deep-merges maps left to right; later values win, nested maps merge.
fn merge(a: &Args) -> Result<Option<Value>, String> {
    fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
        for (k, v) in source {
            match (target.get_mut(k), v) {
                (Some(Value::Object(t)), Value::Object(s)) => merge_into(t, s),
                _ => {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    room_for_all(a.present())?;
    let mut out = Map::new();
    for i in 0..a.params.len() {
        if let Some(m) = object(a, i)? {
            merge_into(&mut out, m);
        }
    }
    Ok(Some(Value::Object(out)))
}

/// Follows a dotted field path (`status.phase`) into a value.
fn dig<'v>(mut v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    for seg in path.split('.') {
        v = match v {
            Value::Object(m) => m.get(seg)?,
            Value::Array(l) => l.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// `get value "field.path" [default]`.
fn get(a: &Args) -> Result<Option<Value>, String> {
    let found = a
        .get(0)
        .and_then(|v| dig(v, a.str(1).unwrap_or_default()))
        .filter(|v| !v.is_null());
    a.str(1)?;
    Ok(found.or(a.get(2)).cloned())
}

fn pluck(a: &Args) -> Result<Option<Value>, String> {
    let path = a.str(1)?;
    Ok(Some(Value::Array(
        a.list(0)?
            .iter()
            .filter_map(|v| dig(v, path).filter(|v| !v.is_null()).cloned())
            .collect(),
    )))
}

fn filtered(a: &Args, keep: impl Fn(&Value) -> bool) -> Result<Option<Value>, String> {
    Ok(Some(Value::Array(
        a.list(0)?.iter().filter(|v| keep(v)).cloned().collect(),
    )))
}

/// `where list "field.path" value`: the items whose field equals the value.
fn where_equals(a: &Args) -> Result<Option<Value>, String> {
    let path = a.str(1)?;
    let want = a.get(2);
    filtered(a, |v| dig(v, path) == want)
}

fn where_exists(a: &Args) -> Result<Option<Value>, String> {
    let path = a.str(1)?;
    filtered(a, |v| dig(v, path).is_some_and(|f| !f.is_null()))
}

/// `whereLabel list key [value]`: label keys hold dots and slashes, so they get their own
/// helper instead of a dotted path.
fn where_meta(a: &Args, field: &str) -> Result<Option<Value>, String> {
    let key = a.str(1)?;
    let want = a.get(2);
    filtered(a, |v| {
        let got = v
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|m| m.get(key));
        match want {
            Some(want) => got == Some(want),
            None => got.is_some(),
        }
    })
}

fn condition_matches(v: &Value, kind: &str, status: Option<&Value>) -> bool {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && status.is_none_or(|s| c.get("status") == Some(s))
        })
}

/// `whereCondition list type [status]`: objects with a status condition of that type (and
/// status, e.g. "True").
fn where_condition(a: &Args) -> Result<Option<Value>, String> {
    let kind = a.str(1)?;
    filtered(a, |v| condition_matches(v, kind, a.get(2)))
}

fn has_condition(a: &Args) -> Result<Option<Value>, String> {
    let kind = a.str(1)?;
    Ok(Some(Value::Bool(
        a.get(0)
            .is_some_and(|v| condition_matches(v, kind, a.get(2))),
    )))
}

/// `count list` is its length; `count list "field"` counts items where the field is set;
/// `count list "field" value` counts items where it equals the value.
fn count(a: &Args) -> Result<Option<Value>, String> {
    let list = a.list(0)?;
    let n = match a.params.len() {
        1 => list.len(),
        2 => {
            let path = a.str(1)?;
            list.iter()
                .filter(|v| dig(v, path).is_some_and(|f| !f.is_null()))
                .count()
        }
        _ => {
            let path = a.str(1)?;
            list.iter().filter(|v| dig(v, path) == a.get(2)).count()
        }
    };
    Ok(Some(Value::from(n)))
}

/// `countBy list "status.phase"`: a map from each value of the field to how many items have it.
fn count_by(a: &Args) -> Result<Option<Value>, String> {
    let path = a.str(1)?;
    let mut counts = Map::new();
    for v in a.list(0)? {
        if let Some(field) = dig(v, path).filter(|f| !f.is_null()) {
            let key = plain_string(field);
            let n = counts.get(&key).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(key, Value::from(n + 1));
        }
    }
    Ok(Some(Value::Object(counts)))
}

/// `find list name [namespace]`: the object with that name (and namespace), or missing.
fn find(a: &Args) -> Result<Option<Value>, String> {
    let name = a.str(1)?;
    let namespace = match a.get(2) {
        Some(Value::String(ns)) => Some(ns.as_str()),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(format!(
                "the namespace must be a string, not {}",
                type_name(other)
            ))
        }
    };
    Ok(a.list(0)?
        .iter()
        .find(|v| {
            let meta = v.get("metadata");
            meta.and_then(|m| m.get("name")).and_then(Value::as_str) == Some(name)
                && namespace.is_none_or(|ns| {
                    meta.and_then(|m| m.get("namespace"))
                        .and_then(Value::as_str)
                        == Some(ns)
                })
        })
        .cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: &[Option<Value>]) -> Result<Option<Value>, String> {
        let params = args.iter().map(Option::as_ref).collect();
        (lookup(name).unwrap().body.unwrap())(&Args { params })
    }

    fn ok(name: &str, args: &[Value]) -> Value {
        let args: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        call(name, &args).unwrap().unwrap()
    }

    #[test]
    fn default_skips_missing_and_null_but_keeps_falsy_values() {
        assert_eq!(
            call("default", &[None, Some(json!("x"))]).unwrap(),
            Some(json!("x"))
        );
        assert_eq!(
            call("default", &[Some(json!(null)), Some(json!(1))]).unwrap(),
            Some(json!(1))
        );
        assert_eq!(ok("default", &[json!(""), json!("x")]), json!(""));
        assert_eq!(ok("default", &[json!(0), json!(5)]), json!(0));
        assert_eq!(ok("default", &[json!(false), json!(true)]), json!(false));
    }

    #[test]
    fn strings() {
        assert_eq!(ok("split", &[json!("a,b"), json!(",")]), json!(["a", "b"]));
        assert_eq!(ok("join", &[json!(["a", 1]), json!("-")]), json!("a-1"));
        assert_eq!(ok("upper", &[json!("ab")]), json!("AB"));
        assert_eq!(ok("trim", &[json!(" a ")]), json!("a"));
        assert_eq!(
            ok("replace", &[json!("a.b"), json!("."), json!("-")]),
            json!("a-b")
        );
        assert_eq!(
            ok("hasPrefix", &[json!("web-1"), json!("web")]),
            json!(true)
        );
        assert_eq!(ok("hasSuffix", &[json!("web-1"), json!("2")]), json!(false));
        assert_eq!(
            ok("regexMatch", &[json!("web-12"), json!("^web-\\d+$")]),
            json!(true)
        );
        assert_eq!(
            ok("regexCapture", &[json!("web-12"), json!("-(\\d+)$")]),
            json!("12")
        );
        assert_eq!(
            call(
                "regexCapture",
                &[Some(json!("web")), Some(json!("-(\\d+)$"))]
            )
            .unwrap(),
            None
        );
        assert_eq!(
            ok(
                "printf",
                &[
                    json!("%s-%03d|%-3s|%x"),
                    json!("w"),
                    json!(7),
                    json!("a"),
                    json!(255)
                ]
            ),
            json!("w-007|a  |ff")
        );
    }

    #[test]
    fn printf_rejects_a_mismatched_argument_count() {
        assert!(call("printf", &[Some(json!("%s %s")), Some(json!("a"))]).is_err());
        assert!(call(
            "printf",
            &[Some(json!("%s")), Some(json!("a")), Some(json!("b"))]
        )
        .is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(ok("toInt", &[json!(" 42 ")]), json!(42));
        assert!(call("toInt", &[Some(json!("4x"))]).is_err());
        assert_eq!(ok("add", &[json!(1), json!(2), json!(3)]), json!(6));
        assert_eq!(ok("sub", &[json!(1), json!(3)]), json!(-2));
        assert_eq!(ok("mul", &[json!(2), json!(1.5)]), json!(3.0));
        assert_eq!(ok("div", &[json!(7), json!(2)]), json!(3));
        assert_eq!(ok("mod", &[json!(-1), json!(3)]), json!(2));
        assert!(call("div", &[Some(json!(1)), Some(json!(0))]).is_err());
        assert!(call("add", &[Some(json!(i64::MAX)), Some(json!(1))]).is_err());
    }

    #[test]
    fn collections() {
        assert_eq!(ok("sort", &[json!([3, 1, 2])]), json!([1, 2, 3]));
        assert_eq!(
            ok("sort", &[json!([{"a": 2}, {"a": 1}]), json!("a")]),
            json!([{"a": 1}, {"a": 2}])
        );
        assert_eq!(ok("unique", &[json!([1, 1, 2])]), json!([1, 2]));
        assert_eq!(ok("keys", &[json!({"b": 1, "a": 2})]), json!(["a", "b"]));
        assert_eq!(ok("values", &[json!({"b": 1, "a": 2})]), json!([2, 1]));
        assert_eq!(ok("min", &[json!([3, 1, 2])]), json!(1));
        assert_eq!(ok("max", &[json!(3), json!(9)]), json!(9));
        assert_eq!(ok("range", &[json!(3)]), json!([0, 1, 2]));
        assert_eq!(
            ok("merge", &[json!({"a": {"x": 1}}), json!({"a": {"y": 2}})]),
            json!({"a": {"x": 1, "y": 2}})
        );
        assert_eq!(ok("length", &[json!("héllo")]), json!(5));
        assert_eq!(call("length", &[None]).unwrap(), Some(json!(0)));
    }

    #[test]
    fn filters_over_observed_objects() {
        let pods = json!([
            {"metadata": {"name": "a", "namespace": "x", "labels": {"app.kubernetes.io/name": "web"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b", "namespace": "y"}, "status": {"phase": "Pending"}},
        ]);
        assert_eq!(
            ok(
                "count",
                &[pods.clone(), json!("status.phase"), json!("Running")]
            ),
            json!(1)
        );
        assert_eq!(
            ok("countBy", &[pods.clone(), json!("status.phase")]),
            json!({"Running": 1, "Pending": 1})
        );
        assert_eq!(
            ok(
                "whereLabel",
                &[pods.clone(), json!("app.kubernetes.io/name")]
            )
            .as_array()
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            ok(
                "whereCondition",
                &[pods.clone(), json!("Ready"), json!("True")]
            )
            .as_array()
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            ok("find", &[pods.clone(), json!("b")])["metadata"]["namespace"],
            json!("y")
        );
        assert_eq!(
            call("find", &[Some(pods), Some(json!("b")), Some(json!("x"))]).unwrap(),
            None
        );
    }
}
