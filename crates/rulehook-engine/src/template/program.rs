//! Compiled expressions: every `{{ }}` parameter becomes a [`Program`] when the rule loads,
//! with its helper resolved by name then, so a render evaluates it against the scope
//! directly and borrows what it finds there.
//!
//! The meaning is handlebars 6.4's as the engine configures it (strict mode, no escaping):
//! how a path finds its value inside blocks, which built-ins refuse a missing argument, how
//! a value reads as true, and the words of every error. The engine's tests evaluate each
//! expression with handlebars too and compare (see `cross_check`).

use std::borrow::Cow;

use handlebars::template::{Parameter, TemplateElement};
use handlebars::PathSeg;
use serde_json::Value;

use super::builtins::{
    helper_not_found, missing, param_not_found, render_json, text_index, truthy, PassThrough,
};
use super::frame::Frame;
use crate::budget;
use crate::helpers::{self, HelperFn, HelperInfo};
use crate::required;

/// What an expression evaluates to: `None` is missing, which is not `null`.
pub(super) type Found<'s> = Option<Cow<'s, Value>>;

/// Why an evaluation failed, as the render reports it.
pub(super) type Message = String;

/// A compiled expression.
#[derive(Debug)]
pub(super) enum Program {
    Path(Path),
    /// `@index`, `@../key`: a variable that the block `level` blocks out has set.
    Local {
        level: usize,
        name: String,
        raw: String,
    },
    Literal(Value),
    /// A bare name where no value is expected; it is always missing.
    Name(String),
    Call(Box<Call>),
}

/// A path into the scope, or into what an enclosing block stands on.
#[derive(Debug)]
pub(super) struct Path {
    raw: String,
    /// How many `../` lead it: which enclosing block it starts from.
    ups: usize,
    /// `@root.x`: it starts from the whole scope.
    from_root: bool,
    /// Whether its first name may be a block parameter (`as |item|`); then it is `names[0]`.
    may_name_param: bool,
    /// Every name of the path, in order.
    names: Vec<String>,
    /// Whether it is names only (`parent.spec.who`, `children.[Pod.v1]`, `items.0`).
    plain: bool,
}

/// A helper call: the helper, resolved when the rule loads, and its compiled arguments.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) callee: Callee,
    params: Vec<Program>,
    /// Hash arguments, by name; only `if`'s `includeZero` is read, but every one is
    /// evaluated, so one that fails fails the call.
    hash: Vec<(String, Program)>,
}

/// The helpers a template can call.
#[derive(Debug)]
pub(super) enum Callee {
    Catalogue {
        info: &'static HelperInfo,
        body: HelperFn,
        passes: Option<PassThrough>,
    },
    And,
    Or,
    If,
    Unless,
    Each,
    With,
    /// The hidden helper that charges one `{{#each}}` item's work.
    EachItem,
    /// A library function, resolved when the rule loads.
    Function(std::sync::Arc<super::functions::Function>),
    /// A name no helper has: calling it fails.
    Unknown(String),
}

/// A call's evaluated arguments.
pub(super) struct Args<'s> {
    pub(super) params: Vec<Arg<'s>>,
    /// `if`'s `includeZero=true`: every number is true.
    pub(super) include_zero: bool,
}

/// A value an argument evaluated to, and the path it was read from (for messages).
pub(super) struct Arg<'s> {
    pub(super) value: Found<'s>,
    pub(super) path: Option<&'s str>,
}

impl Arg<'_> {
    /// The value as handlebars hands it to a built-in: missing reads as `null`.
    pub(super) fn json(&self) -> &Value {
        self.value.as_deref().unwrap_or(&Value::Null)
    }
}

impl Program {
    pub(super) fn compile(param: &Parameter) -> Program {
        match param {
            Parameter::Name(name) => Program::Name(name.clone()),
            Parameter::Path(handlebars::Path::Local((level, name, raw))) => Program::Local {
                level: *level,
                name: name.clone(),
                raw: raw.clone(),
            },
            Parameter::Path(handlebars::Path::Relative((segments, raw))) => {
                Program::Path(Path::compile(segments, raw))
            }
            Parameter::Literal(value) => Program::Literal(value.clone()),
            Parameter::Subexpression(sub) => match &*sub.element {
                TemplateElement::Expression(call) | TemplateElement::HtmlExpression(call) => {
                    Program::Call(Box::new(Call::compile(
                        &call.name,
                        &call.params,
                        &call.hash,
                    )))
                }
                // handlebars' parser makes every subexpression an expression.
                _ => Program::Call(Box::new(Call::named("", Vec::new()))),
            },
            // The parser makes no other kind of parameter.
            _ => Program::Name(String::new()),
        }
    }

    /// The path a value was read from, as handlebars names it in a "missing" error.
    pub(super) fn path(&self) -> Option<&str> {
        match self {
            Program::Path(path) => Some(&path.raw),
            Program::Local { raw, .. } => Some(raw),
            Program::Name(name) => Some(name),
            Program::Literal(_) | Program::Call(_) => None,
        }
    }

    /// The names of a path of plain names (`parent.spec.who`), which a whole expression
    /// looks up in the scope itself.
    pub(super) fn plain_names(&self) -> Option<&[String]> {
        match self {
            // A missing required value is read through `Path::find`, which fails on it.
            Program::Path(path)
                if path.plain && !path.names.first().is_some_and(|n| required::is_missing(n)) =>
            {
                Some(&path.names)
            }
            _ => None,
        }
    }

    /// Evaluates the expression where `frame` stands.
    ///
    /// # Errors
    ///
    /// A helper's error, a missing argument of a built-in that needs it, or a text index
    /// into a list.
    pub(super) fn eval<'s>(&'s self, frame: &Frame<'s>) -> Result<Found<'s>, Message> {
        match self {
            Program::Path(path) => path.find(frame),
            Program::Local { level, name, .. } => Ok(frame
                .level(*level)
                .and_then(|f| f.locals.get(name))
                .map(Cow::Owned)),
            Program::Literal(value) => Ok(Some(Cow::Borrowed(value))),
            Program::Name(_) => Ok(None),
            Program::Call(call) => call.value(frame),
        }
    }

    /// Whether it calls a library function, which handlebars does not know (the cross
    /// check leaves such expressions out).
    #[cfg(any(test, feature = "cross-check"))]
    pub(super) fn calls_function(&self) -> bool {
        match self {
            Program::Call(call) => {
                matches!(call.callee, Callee::Function(_))
                    || call.params.iter().any(Program::calls_function)
                    || call.hash.iter().any(|(_, p)| p.calls_function())
            }
            _ => false,
        }
    }

    /// Whether every path it reads starts with a name (`a.b`), never from the scope as a
    /// whole (`this`, `@root`, `../a`).
    pub(super) fn reads_names_only(&self) -> bool {
        match self {
            Program::Path(path) => path.plain,
            Program::Local { .. } | Program::Literal(_) | Program::Name(_) => true,
            Program::Call(call) => {
                call.params.iter().all(Program::reads_names_only)
                    && call.hash.iter().all(|(_, p)| p.reads_names_only())
            }
        }
    }

    fn arg<'s>(&'s self, frame: &Frame<'s>) -> Result<Arg<'s>, Message> {
        Ok(Arg {
            value: self.eval(frame)?,
            path: self.path(),
        })
    }
}

impl Path {
    fn compile(segments: &[PathSeg], raw: &str) -> Path {
        let mut ups = 0;
        let mut from_root = false;
        let mut may_name_param = false;
        for segment in segments {
            match segment {
                PathSeg::Named(_) => {
                    may_name_param = true;
                    break;
                }
                // handlebars does not export its grammar's rules, only their names.
                PathSeg::Ruled(rule) => match format!("{rule:?}").as_str() {
                    "path_root" => {
                        from_root = true;
                        break;
                    }
                    "path_up" => ups += 1,
                    _ => break,
                },
                _ => break,
            }
        }
        Path {
            raw: raw.to_owned(),
            ups,
            from_root,
            may_name_param,
            names: segments
                .iter()
                .filter_map(|s| match s {
                    PathSeg::Named(name) => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            plain: !segments.is_empty() && segments.iter().all(|s| matches!(s, PathSeg::Named(_))),
        }
    }

    /// Where the path leads: from a block parameter its first name names, else from the
    /// block `../` climbs to, the whole scope (`@root`), or the innermost block.
    fn find<'s>(&'s self, frame: &Frame<'s>) -> Result<Found<'s>, Message> {
        if self.may_name_param {
            if let Some(param) = frame.block_param(&self.names[0]) {
                return Ok(navigate(Some(param), &self.names[1..])?.map(Cow::Borrowed));
            }
        }
        let base = if self.ups > 0 {
            frame.up(self.ups)
        } else if self.from_root {
            frame.outermost()
        } else {
            frame
        };
        // A top-level name the scope lacks may be a required value the request left missing.
        if let (None, Some(first)) = (base.parent, self.names.first()) {
            if base.this.get(first).is_none() {
                required::read(first)?;
            }
        }
        Ok(navigate(Some(base.this), &self.names)?.map(Cow::Borrowed))
    }
}

/// Follows `names` from `at` as handlebars does: a text index into a list is an error.
fn navigate<'v>(mut at: Option<&'v Value>, names: &[String]) -> Result<Option<&'v Value>, Message> {
    for name in names {
        at = match at {
            Some(Value::Array(items)) => match name.parse::<usize>() {
                Ok(index) => items.get(index),
                Err(_) => return Err(text_index(name)),
            },
            Some(Value::Object(map)) => map.get(name.as_str()),
            _ => None,
        };
    }
    Ok(at)
}

/// What a path of plain names finds in the scope: a map's key, or a list's index; a name
/// into a list finds nothing.
pub(super) fn lookup<'v>(names: &[String], scope: &'v Value) -> Option<&'v Value> {
    names.iter().try_fold(scope, |at, name| match at {
        Value::Object(map) => map.get(name.as_str()),
        Value::Array(items) => name.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

impl Call {
    pub(super) fn compile(
        name: &Parameter,
        params: &[Parameter],
        hash: &std::collections::HashMap<String, Parameter>,
    ) -> Call {
        let name = match name {
            Parameter::Name(name) => name.clone(),
            Parameter::Path(path) => super::path_text(path).to_owned(),
            Parameter::Literal(value) => render_json(value).into_owned(),
            // The grammar names a call by a name or a path, never by a subexpression.
            _ => String::new(),
        };
        let mut call = Call::named(&name, params.iter().map(Program::compile).collect());
        call.hash = hash
            .iter()
            .map(|(key, value)| (key.clone(), Program::compile(value)))
            .collect();
        // In name order: handlebars keeps a hash map, so where two fail, which error it
        // reports varies from run to run.
        call.hash.sort_by(|a, b| a.0.cmp(&b.0));
        call
    }

    /// A call of the helper `name` with `params` and no hash.
    pub(super) fn named(name: &str, params: Vec<Program>) -> Call {
        Call {
            callee: Callee::named(name),
            params,
            hash: Vec::new(),
        }
    }

    /// Evaluates the arguments, in order, then the hash.
    pub(super) fn args<'s>(&'s self, frame: &Frame<'s>) -> Result<Args<'s>, Message> {
        let params = self
            .params
            .iter()
            .map(|p| p.arg(frame))
            .collect::<Result<Vec<_>, _>>()?;
        let mut include_zero = false;
        for (key, value) in &self.hash {
            let value = value.eval(frame)?;
            if key == "includeZero" {
                include_zero = value.as_deref().and_then(Value::as_bool).unwrap_or(false);
            }
        }
        Ok(Args {
            params,
            include_zero,
        })
    }

    /// The call's value, as a subexpression gives it.
    fn value<'s>(&'s self, frame: &Frame<'s>) -> Result<Found<'s>, Message> {
        let args = self.args(frame)?.params;
        let text = || Some(Cow::Owned(Value::String(String::new())));
        match &self.callee {
            Callee::Catalogue { info, body, passes } => match passes {
                // Nothing is made: the argument is handed on as it was found.
                Some(passes) => {
                    let chosen = passes.chosen(&args);
                    check_present(info, &args)?;
                    let mut args = args;
                    let found = chosen
                        .filter(|i| *i < args.len())
                        .and_then(|i| args.swap_remove(i).value);
                    // Checked and charged as the copy the helper would make.
                    if let Some(value) = found.as_deref() {
                        helpers::passed_on(value).map_err(|e| format!("{}: {e}", info.name))?;
                    }
                    Ok(found)
                }
                None => call_catalogue(info, *body, &args),
            },
            Callee::And | Callee::Or => Ok(Some(Cow::Owned(Value::Bool(self.callee.truth(&args))))),
            // Block helpers write nothing when called for a value: handlebars gives the
            // text they wrote, which is empty.
            Callee::If | Callee::Unless | Callee::Each => {
                self.callee.first(&args)?;
                Ok(text())
            }
            Callee::With => {
                let arg = self.callee.first(&args)?;
                if truthy(arg.json(), false) {
                    Ok(text())
                } else {
                    Err(missing(arg.path))
                }
            }
            Callee::EachItem => {
                each_item()?;
                Ok(text())
            }
            Callee::Function(function) => function.call(&args, frame),
            Callee::Unknown(name) => Err(helper_not_found(name)),
        }
    }
}

impl Callee {
    /// The helper handlebars would find registered under `name`.
    pub(super) fn named(name: &str) -> Callee {
        match name {
            "if" => Callee::If,
            "unless" => Callee::Unless,
            "each" => Callee::Each,
            "with" => Callee::With,
            "and" => Callee::And,
            "or" => Callee::Or,
            helpers::EACH_ITEM => Callee::EachItem,
            _ => match helpers::lookup(name).and_then(|h| h.body().map(|body| (h, body))) {
                Some((info, body)) => Callee::Catalogue {
                    info,
                    body,
                    passes: PassThrough::of(info.name),
                },
                None => match super::functions::lookup(name) {
                    Some(function) => Callee::Function(function),
                    None => Callee::Unknown(name.to_owned()),
                },
            },
        }
    }

    pub(super) fn exists(&self) -> bool {
        !matches!(self, Callee::Unknown(_))
    }

    fn name(&self) -> &'static str {
        match self {
            Callee::Catalogue { info, .. } => info.name,
            Callee::And => "and",
            Callee::Or => "or",
            // handlebars names `unless` "if" in its errors: they share one helper.
            Callee::If | Callee::Unless => "if",
            Callee::Each => "each",
            Callee::With => "with",
            Callee::EachItem | Callee::Function(_) | Callee::Unknown(_) => "",
        }
    }

    /// The first argument, which every block helper needs.
    pub(super) fn first<'a, 's>(&self, args: &'a [Arg<'s>]) -> Result<&'a Arg<'s>, Message> {
        args.first().ok_or_else(|| param_not_found(self.name(), 0))
    }

    /// The answer of `and` or `or`, which read a missing argument as false.
    pub(super) fn truth(&self, args: &[Arg<'_>]) -> bool {
        match self {
            Callee::And => args.iter().all(|a| truthy(a.json(), false)),
            Callee::Or => args.iter().any(|a| truthy(a.json(), false)),
            _ => false,
        }
    }
}

/// Calls a catalogue helper, first checking the arguments it needs present; its error
/// becomes `"<helper>: <error>"`.
pub(super) fn call_catalogue<'s>(
    info: &HelperInfo,
    body: HelperFn,
    args: &[Arg<'_>],
) -> Result<Found<'s>, Message> {
    check_present(info, args)?;
    let args = helpers::Args::new(args.iter().map(|a| a.value.as_deref()).collect());
    match body(&args) {
        Ok(value) => Ok(value.map(Cow::Owned)),
        Err(error) => Err(format!("{}: {error}", info.name)),
    }
}

/// Fails when an argument the helper needs present is missing or `null`.
fn check_present(info: &HelperInfo, args: &[Arg<'_>]) -> Result<(), Message> {
    match info.absent_argument(args.iter().map(|a| (a.value.as_deref(), a.path))) {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

/// Charges the work of one `{{#each}}` item.
pub(super) fn each_item() -> Result<(), Message> {
    budget::work(helpers::EACH_ITEM_WORK).map_err(|e| e.message())
}
