//! Load-time checks of a parsed template: every helper exists and gets a valid number of
//! arguments, and every top-level name is a value of the rule. Also records what the
//! template reads from the request, so parsing can skip the rest.

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{PathSeg, Template};

use super::compile::path_names_helper;
use super::{path_first, path_text, Compiler};
use crate::diagnostic::suggest;
use crate::helpers;
use crate::locate::Pos;

/// The helper that fails a render on purpose. It never returns, so where it stands matters:
/// only where it does not run on every call.
const FAIL: &str = "fail";

/// The helper that needs only how many items a list or map has.
const LENGTH: &str = "length";

/// How a template uses the value a path names, which decides what of the request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// The value itself, all of it.
    Value,
    /// How many items it has.
    Counted,
}

/// The helpers whose second argument is a pattern.
const REGEX_HELPERS: [&str; 3] = ["regexMatch", "regexCapture", "regexReplace"];

/// The helper a call names, if it names one plainly.
fn helper_name(name: &Parameter) -> Option<&str> {
    match name {
        Parameter::Name(n) => Some(n.as_str()),
        Parameter::Path(p) => path_first(p),
        _ => None,
    }
}

fn subexpression_helper(sub: &handlebars::template::Subexpression) -> Option<&str> {
    match &*sub.element {
        TemplateElement::Expression(ht) => helper_name(&ht.name),
        _ => None,
    }
}

impl Compiler<'_> {
    /// Checks every helper and every top-level name a template uses.
    pub(super) fn check(&mut self, template: &Template, pos: Pos) {
        for element in &template.elements {
            self.check_element(element, pos, true);
        }
    }

    fn check_element(&mut self, element: &TemplateElement, pos: Pos, names_checked: bool) {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                let is_call = !ht.params.is_empty()
                    || !ht.hash.is_empty()
                    || matches!(&ht.name, Parameter::Name(_));
                if is_call || path_names_helper(&ht.name) {
                    self.check_helper(&ht.name, ht.params.len(), pos);
                    self.compile_literal_pattern(ht, pos);
                    if helper_name(&ht.name) == Some(FAIL) && self.guards == 0 {
                        self.error(
                            pos,
                            "`fail` here runs on every call; put it under `$includeWhen`, in a `$forEach`, or inside `{{#if}}`",
                        );
                    }
                } else {
                    self.check_param(&ht.name, pos, names_checked);
                }
                let counted = helper_name(&ht.name) == Some(LENGTH) && ht.params.len() == 1;
                for p in ht.params.iter().chain(ht.hash.values()) {
                    match p {
                        Parameter::Path(path) if counted => {
                            self.check_path(path, pos, names_checked, Use::Counted);
                        }
                        _ => self.check_param(p, pos, names_checked),
                    }
                }
            }
            TemplateElement::HelperBlock(ht) => {
                self.check_helper(&ht.name, ht.params.len(), pos);
                for p in ht.params.iter().chain(ht.hash.values()) {
                    self.check_param(p, pos, names_checked);
                }
                let name = match &ht.name {
                    Parameter::Name(n) => n.as_str(),
                    Parameter::Path(p) => path_first(p).unwrap_or(""),
                    _ => "",
                };
                // `each` and `with` change what a bare name means inside the block, so names
                // there cannot be checked against the rule's values.
                let inner_checked = names_checked && !matches!(name, "each" | "with");
                let depth = self.names.stack.len();
                if let Some(bp) = &ht.block_param {
                    self.names.stack.extend(block_param_names(bp));
                }
                // A block's body runs only when its condition (or list) says so.
                self.guards += 1;
                self.blocks += 1;
                for t in [&ht.template, &ht.inverse].into_iter().flatten() {
                    for e in &t.elements {
                        self.check_element(e, pos, inner_checked);
                    }
                }
                self.guards -= 1;
                self.blocks -= 1;
                self.names.stack.truncate(depth);
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => self.error(
                pos,
                "partials are not supported; share structure with YAML anchors instead",
            ),
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                self.error(pos, "handlebars decorators are not supported")
            }
            _ => self.error(pos, "this template construct is not supported"),
        }
    }

    /// A regex helper's pattern written in the template is compiled now, once, and a bad
    /// one is a load error rather than a failure of every call.
    fn compile_literal_pattern(&mut self, call: &handlebars::template::HelperTemplate, pos: Pos) {
        if !helper_name(&call.name).is_some_and(|n| REGEX_HELPERS.contains(&n)) {
            return;
        }
        let Some(Parameter::Literal(serde_json::Value::String(text))) = call.params.get(1) else {
            return;
        };
        if let Err(e) = self.gathered.patterns.add(text) {
            self.error(
                pos,
                format!("{}: {e}", helper_name(&call.name).unwrap_or("")),
            );
        }
    }

    fn check_helper(&mut self, name: &Parameter, arity: usize, pos: Pos) {
        let name = match name {
            Parameter::Name(n) => n.as_str(),
            Parameter::Path(p) => match path_first(p) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
        match helpers::lookup(name) {
            Some(info) => {
                if arity < info.min_args || arity > info.max_args {
                    let expected = if info.min_args == info.max_args {
                        format!("{}", info.min_args)
                    } else if info.max_args == usize::MAX {
                        format!("at least {}", info.min_args)
                    } else {
                        format!("{} to {}", info.min_args, info.max_args)
                    };
                    self.error(
                        pos,
                        format!("helper `{name}` takes {expected} arguments, not {arity}"),
                    );
                }
            }
            None if super::functions::lookup(name).is_some() => {
                self.check_function(name, arity, pos);
            }
            None => {
                let mut known = super::functions::names();
                known.extend(helpers::names().map(str::to_owned));
                let message = match suggest(name, known.iter().map(String::as_str)) {
                    Some(close) => format!("unknown helper `{name}`; did you mean `{close}`?"),
                    None => format!("unknown helper `{name}`; see docs/rules.md for the list"),
                };
                self.error(pos, message);
            }
        }
    }

    /// A call of a library function: its arity, and where it may stand.
    fn check_function(&mut self, name: &str, arity: usize, pos: Pos) {
        let Some(function) = super::functions::lookup(name) else {
            return;
        };
        if self.blocks > 0 {
            self.error(
                pos,
                format!("library function `{name}` cannot be called inside a `{{{{#...}}}}` block; call it in a whole expression or a `$let`"),
            );
        }
        let params = function.params.len();
        if arity != params {
            self.error(
                pos,
                format!(
                    "function `{name}` ({}) takes {params} arguments ({}), not {arity}",
                    function.origin,
                    function.params.join(", ")
                ),
            );
        }
        if let (None, Some(linked)) = (self.library, self.linked) {
            linked
                .used
                .borrow_mut()
                .insert((function.library.clone(), name.to_owned()));
        }
    }

    fn check_param(&mut self, param: &Parameter, pos: Pos, names_checked: bool) {
        match param {
            Parameter::Subexpression(sub) if subexpression_helper(sub) == Some(FAIL) => {
                self.error(
                    pos,
                    "`fail` as another helper's argument always runs, whatever that helper would choose (every argument is evaluated first); put it under `$includeWhen` or inside `{{#if}}`",
                );
            }
            Parameter::Subexpression(sub) => self.check_element(&sub.element, pos, names_checked),
            Parameter::Path(path) => self.check_path(path, pos, names_checked, Use::Value),
            _ => {}
        }
    }

    fn check_path(&mut self, path: &handlebars::Path, pos: Pos, names_checked: bool, used: Use) {
        let handlebars::Path::Relative((segs, _)) = path else {
            return; // @index and friends
        };
        let Some(PathSeg::Named(first)) = segs.first() else {
            // `this`, `../` or `@root` outside a block may reach any part of the request.
            if names_checked || path_text(path).contains("..") || path_text(path).contains("@root")
            {
                self.gathered.reads.all();
                if names_checked && self.library.is_some() {
                    self.error(
                        pos,
                        format!("`{}` here would read the names of whoever uses this definition; a library sees only its params and `now`", path_text(path)),
                    );
                }
            }
            return;
        };
        let plain: Vec<&str> = segs
            .iter()
            .map_while(|seg| match seg {
                PathSeg::Named(name) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        match used {
            Use::Value => self.gathered.reads.path(&plain),
            Use::Counted => self.gathered.reads.count(&plain),
        }
        if let Some(PathSeg::Named(kind)) = segs.get(1) {
            if matches!(first.as_str(), "children" | "related" | "attachments") {
                self.gathered
                    .types
                    .entry((first.clone(), kind.clone()))
                    .or_insert(pos);
            }
        }
        if !names_checked
            || self.names.contains(first)
            || helpers::lookup(first).is_some()
            || super::functions::lookup(first).is_some()
        {
            return;
        }
        if let Some(pending) = &self.later_lets {
            if pending.later.iter().any(|n| n == first) {
                let message = format!(
                    "`{first}` is defined later in this `$let`; move it above `{}`",
                    pending.defining
                );
                self.error(pos, message);
                return;
            }
        }
        let message = match suggest(first, self.names.stack.iter().map(String::as_str)) {
            Some(close) => format!("unknown value `{first}`; did you mean `{close}`?"),
            None if self.library.is_some() => format!(
                "unknown name `{first}`; a library definition sees only its params and `now` (known: {})",
                self.names.stack.join(", ")
            ),
            None => format!(
                "unknown value `{first}`; define it under `values:` (known: {})",
                self.names.stack.join(", ")
            ),
        };
        self.error(pos, message);
    }
}

fn block_param_names(bp: &handlebars::template::BlockParam) -> Vec<String> {
    use handlebars::template::BlockParam;
    let names = |p: &Parameter| match p {
        Parameter::Name(n) => Some(n.clone()),
        Parameter::Path(p) => path_first(p).map(str::to_owned),
        _ => None,
    };
    match bp {
        BlockParam::Single(p) => names(p).into_iter().collect(),
        BlockParam::Pair((a, b)) => names(a).into_iter().chain(names(b)).collect(),
        _ => Vec::new(),
    }
}
