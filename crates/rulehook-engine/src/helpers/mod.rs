//! The helpers templates may call, and the one handlebars registry that holds them.
//!
//! Helpers are pure functions of their arguments: no clock, no files, no environment, no
//! network. That keeps a render a function of the request alone, which Metacontroller needs
//! because it may call a hook concurrently with old versions of a parent.
//!
//! A missing argument (a value the request lacks) reaches a helper as `None`, so helpers such
//! as `default`, `exists` and `length` can tell "missing" from `""`, `false` and `0`.
//!
//! This file is the catalogue (every helper's name and arity, checked when a rule loads);
//! the helpers themselves live by theme in the modules below. Templates call them through
//! their compiled programs (`crate::template`); the handlebars registry here only serves
//! the engine's tests, which check those programs against handlebars. A new helper is
//! a function in its theme's module and one line in [`HELPERS`], plus its entry in
//! `docs/rules.md`.

mod args;
mod collections;
mod compare;
mod digests;
mod error;
mod logic;
mod numbers;
mod objects;
mod printf;
mod regexes;
mod selectors;
mod strings;
#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "cross-check"))]
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    Renderable, ScopedJson,
};
use std::cmp::Ordering;

use serde_json::Value;

pub(crate) use args::{passed_on, Args};
#[cfg(test)]
pub(crate) use compare::compare_numbers;
use error::HelperError;
pub(crate) use logic::block_truthy;

pub(crate) type HelperFn = fn(&Args) -> Result<Option<Value>, HelperError>;

/// A helper's name, arity and body.
#[derive(Debug)]
pub struct HelperInfo {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    body: Option<HelperFn>,
    /// As a block (`{{#gt a b}}yes{{else}}no{{/gt}}`) it renders its body when its answer
    /// is true, as handlebars' boolean built-ins do, rather than writing the answer.
    condition: bool,
    /// Every argument must be present and not `null`: checked before the body runs, so
    /// the error names the argument's path as an interpolation would.
    present_args: bool,
}

const MANY: usize = usize::MAX;

const fn builtin(name: &'static str, min_args: usize, max_args: usize) -> HelperInfo {
    HelperInfo {
        name,
        min_args,
        max_args,
        body: None,
        condition: false,
        present_args: false,
    }
}

const fn catalogue(
    name: &'static str,
    min_args: usize,
    max_args: usize,
    f: HelperFn,
) -> HelperInfo {
    HelperInfo {
        name,
        min_args,
        max_args,
        body: Some(f),
        condition: false,
        present_args: false,
    }
}

/// A catalogue helper that answers `true` or `false` and, as a block, chooses its body.
const fn condition(
    name: &'static str,
    min_args: usize,
    max_args: usize,
    f: HelperFn,
) -> HelperInfo {
    HelperInfo {
        condition: true,
        ..catalogue(name, min_args, max_args, f)
    }
}

impl HelperInfo {
    /// The same helper, needing every argument present and not `null`.
    const fn all_present(self) -> HelperInfo {
        HelperInfo {
            present_args: true,
            ..self
        }
    }
}

/// Every helper a template may use. handlebars' own `log` and `raw` are left out on purpose,
/// and its `lookup` is replaced by one that gives missing rather than failing in strict mode.
static HELPERS: &[HelperInfo] = &[
    // handlebars built-ins
    builtin("if", 1, 1),
    builtin("unless", 1, 1),
    builtin("each", 1, 1),
    builtin("with", 1, 1),
    builtin("and", 1, MANY),
    builtin("or", 1, MANY),
    // comparisons, in place of handlebars' own: total over missing values, numbers by value
    condition("eq", 2, 2, |a| {
        logic::equal(a).map(|same| Some(Value::Bool(same)))
    }),
    condition("ne", 2, 2, |a| {
        logic::equal(a).map(|same| Some(Value::Bool(!same)))
    }),
    condition("gt", 2, 2, |a| logic::ordered(a, Ordering::is_gt)),
    condition("gte", 2, 2, |a| logic::ordered(a, Ordering::is_ge)),
    condition("lt", 2, 2, |a| logic::ordered(a, Ordering::is_lt)),
    condition("lte", 2, 2, |a| logic::ordered(a, Ordering::is_le)),
    condition("not", 1, 1, logic::not),
    // presence and choice
    catalogue("default", 1, MANY, logic::default),
    catalogue("exists", 1, 1, logic::exists),
    catalogue("ternary", 3, 3, logic::ternary),
    catalogue("when", 2, 2, logic::when),
    catalogue("fail", 1, 1, logic::fail),
    // strings
    catalogue("lower", 1, 1, |a| a.str_map(0, str::to_lowercase)),
    catalogue("upper", 1, 1, |a| a.str_map(0, str::to_uppercase)),
    catalogue("trim", 1, 1, |a| a.str_map(0, |s| s.trim().to_owned())),
    catalogue("trimPrefix", 2, 2, strings::trim_prefix),
    catalogue("trimSuffix", 2, 2, strings::trim_suffix),
    catalogue("replace", 3, 3, strings::replace),
    catalogue("split", 2, 2, strings::split),
    catalogue("join", 2, 2, strings::join),
    catalogue("concat", 1, MANY, strings::concat).all_present(),
    catalogue("hasPrefix", 2, 2, strings::has_prefix),
    catalogue("hasSuffix", 2, 2, strings::has_suffix),
    catalogue("contains", 2, 2, strings::contains),
    catalogue("regexMatch", 2, 2, regexes::regex_match),
    catalogue("regexCapture", 2, 3, regexes::regex_capture),
    catalogue("regexReplace", 3, 3, regexes::regex_replace),
    catalogue("regexEscape", 1, 1, regexes::regex_escape),
    catalogue("printf", 1, MANY, printf::printf),
    catalogue("toString", 1, 1, strings::to_string),
    catalogue("toJson", 1, 1, strings::to_json),
    catalogue("fromJson", 1, 1, strings::from_json),
    catalogue("sha256", 1, 1, digests::sha256),
    catalogue("md5", 1, 1, digests::md5),
    // numbers
    catalogue("toInt", 1, 2, numbers::to_int),
    catalogue("add", 2, MANY, |a| {
        numbers::arith(a, "add", i64::checked_add, |x, y| x + y)
    }),
    catalogue("sub", 2, 2, |a| {
        numbers::arith(a, "sub", i64::checked_sub, |x, y| x - y)
    }),
    catalogue("mul", 2, MANY, |a| {
        numbers::arith(a, "mul", i64::checked_mul, |x, y| x * y)
    }),
    catalogue("div", 2, 2, numbers::divide),
    catalogue("mod", 2, 2, numbers::modulo),
    catalogue("sum", 1, 1, numbers::sum),
    // collections
    catalogue("length", 1, 1, collections::length),
    catalogue("list", 0, MANY, |a| {
        args::room_for_all(a.present())?;
        Ok(Some(Value::Array(a.present().cloned().collect())))
    }),
    catalogue("dict", 0, MANY, objects::dict),
    catalogue("range", 1, 2, numbers::range),
    catalogue("keys", 1, 1, objects::keys),
    catalogue("values", 1, 1, objects::values),
    catalogue("sort", 1, 2, collections::sort),
    catalogue("sortDesc", 1, 2, collections::sort_desc),
    catalogue("reverse", 1, 1, collections::reverse),
    catalogue("flatten", 1, 1, collections::flatten),
    catalogue("unique", 1, 1, collections::unique),
    catalogue("min", 1, MANY, |a| {
        collections::extreme(a, std::cmp::Ordering::Less)
    }),
    catalogue("max", 1, MANY, |a| {
        collections::extreme(a, std::cmp::Ordering::Greater)
    }),
    catalogue("first", 1, 1, |a| args::chosen(a.list(0)?.first())),
    catalogue("last", 1, 1, |a| args::chosen(a.list(0)?.last())),
    catalogue("slice", 2, 3, collections::slice),
    catalogue("without", 2, 2, collections::without),
    catalogue("indexOf", 2, 2, collections::index_of),
    catalogue("merge", 1, MANY, objects::merge),
    catalogue("get", 2, 3, objects::get),
    catalogue("lookup", 2, 2, objects::lookup),
    catalogue("pluck", 2, 2, objects::pluck),
    // filtering observed objects
    catalogue("where", 3, 3, selectors::where_equals),
    catalogue("whereExists", 2, 2, selectors::where_exists),
    catalogue("whereLabel", 2, 3, |a| selectors::where_meta(a, "labels")),
    catalogue("whereAnnotation", 2, 3, |a| {
        selectors::where_meta(a, "annotations")
    }),
    catalogue("whereCondition", 2, 3, selectors::where_condition),
    catalogue("hasCondition", 2, 3, selectors::has_condition),
    catalogue("count", 1, 3, selectors::count),
    catalogue("countBy", 2, 2, selectors::count_by),
    catalogue("find", 2, 3, selectors::find),
];

impl HelperInfo {
    /// The Rust body of a catalogue helper; `None` for handlebars' built-ins, which the
    /// template programs evaluate themselves.
    pub(crate) fn body(&self) -> Option<HelperFn> {
        self.body
    }

    /// Whether, as a block, it chooses its body by its answer.
    pub(crate) fn is_condition(&self) -> bool {
        self.condition
    }

    /// Why the helper cannot run on these arguments (each a value, or missing, and the
    /// path it was read from), when it needs every one present and one is not.
    pub(crate) fn absent_argument<'a>(
        &self,
        args: impl IntoIterator<Item = (Option<&'a Value>, Option<&'a str>)>,
    ) -> Option<String> {
        if !self.present_args {
            return None;
        }
        args.into_iter()
            .enumerate()
            .find_map(|(index, (value, path))| match (value, path) {
                (None, Some(path)) => Some(format!(
                    "`{path}` is missing: the request has no such value and it has no default"
                )),
                (Some(Value::Null), Some(path)) => Some(format!(
                    "`{path}` is null: {} needs a value; `default` can give one",
                    self.name
                )),
                (None | Some(Value::Null), None) => Some(format!(
                    "{}: argument {} is {}; `default` can give it a value",
                    self.name,
                    index + 1,
                    if value.is_none() { "missing" } else { "null" }
                )),
                _ => None,
            })
    }
}

/// The helper called `name`, if templates may use it.
pub fn lookup(name: &str) -> Option<&'static HelperInfo> {
    HELPERS.iter().find(|h| h.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    HELPERS.iter().map(|h| h.name)
}

/// A handlebars registry as the engine once rendered with: strict, with no HTML escaping,
/// and only the helpers above. Tests check the compiled programs against it.
#[cfg(any(test, feature = "cross-check"))]
pub fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: std::sync::OnceLock<Handlebars<'static>> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.set_prevent_indent(true);
        for name in ["log", "raw", "len"] {
            hb.unregister_helper(name);
        }
        hb.register_helper(EACH_ITEM, Box::new(EachItem));
        for info in HELPERS {
            if let Some(body) = info.body {
                hb.register_helper(info.name, Box::new(CatalogueHelper { info, body }));
            }
        }
        hb
    })
}

/// The hidden helper that charges the work of one `{{#each}}` item before the item
/// renders, and writes nothing. Its name is not in [`HELPERS`], so no template can call it
/// where names are checked.
pub(crate) const EACH_ITEM: &str = "__each_item";

/// Work one `{{#each}}` item costs besides what its body charges: setting up the block's
/// frame and locals. Measured at about 0.1 µs.
pub(crate) const EACH_ITEM_WORK: u64 = 200;

#[cfg(any(test, feature = "cross-check"))]
struct EachItem;

#[cfg(any(test, feature = "cross-check"))]
impl HelperDef for EachItem {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        _: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        crate::budget::work(EACH_ITEM_WORK)
            .map_err(|e| RenderErrorReason::Other(e.message()).into())
    }
}

/// One catalogue helper as handlebars calls it: arguments in, typed error out as text.
#[cfg(any(test, feature = "cross-check"))]
struct CatalogueHelper {
    info: &'static HelperInfo,
    body: HelperFn,
}

#[cfg(any(test, feature = "cross-check"))]
impl HelperDef for CatalogueHelper {
    /// Writes the helper's value, as handlebars' default does; a condition used as a block
    /// renders the body its answer chooses instead, as handlebars' own `eq` and `gt` do.
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        let value = self.call_inner(h, r, ctx, rc)?;
        if self.info.condition && h.is_block() {
            let holds = value.as_json().as_bool() == Some(true);
            return match if holds { h.template() } else { h.inverse() } {
                Some(t) => t.render(r, ctx, rc, out),
                None => Ok(()),
            };
        }
        if value.is_missing() {
            return Err(RenderError::strict_error(None));
        }
        Ok(out.write(&value.render())?)
    }

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
        let paths = h
            .params()
            .iter()
            .map(|p| p.relative_path().map(String::as_str));
        if let Some(message) = self
            .info
            .absent_argument(args.params.iter().copied().zip(paths))
        {
            return Err(RenderErrorReason::Other(message).into());
        }
        match (self.body)(&args) {
            Ok(Some(v)) => Ok(ScopedJson::Derived(v)),
            Ok(None) => Ok(ScopedJson::Missing),
            // The one place a helper's error becomes text: handlebars carries no other kind.
            Err(error) => {
                Err(RenderErrorReason::Other(format!("{}: {error}", self.info.name)).into())
            }
        }
    }
}
