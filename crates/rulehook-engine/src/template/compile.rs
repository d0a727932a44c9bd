//! Compiling a template tree: YAML values in, [`Node`]s out, with every problem reported
//! as a diagnostic at its place in the rule file.

use std::collections::BTreeMap;
use std::ops::Range;

use handlebars::template::{Parameter, Subexpression, TemplateElement};
use handlebars::Template;
use serde_json::{Map, Value};

use super::constant;
use super::directives::list_only;
use super::{
    path_first, Block, Expr, Expression, FailAt, Key, Names, Node, NullPolicy, ObjectNode, Piece,
    Text, DIRECTIVE_KEYS, LET_KEY, LIST_ONLY_KEYS, MERGE_KEY, WHEN_KEY,
};
use crate::diagnostic::{suggest, Diagnostic};
use crate::helpers;
use crate::json::is_identifier;
use crate::locate::{join_key, Locator, Pos};

/// What compiling a rule's templates finds out about the rule as a whole, and whether the
/// caller stopped the compile.
#[derive(Debug)]
pub struct Gathered {
    /// Collections and type keys that templates read (`children.[Pod.v1]`), so a type absent
    /// from the request can be shown to templates as an empty list.
    pub types: BTreeMap<(String, String), Pos>,
    /// The request keys templates read, so parsing can skip the others.
    pub reads: crate::request::Reads,
    /// The patterns templates pass to regex helpers literally, compiled once.
    pub patterns: crate::pattern::RulePatterns,
    /// Why the caller's guard stopped the compile, once it has.
    pub stopped: Option<String>,
}

impl Gathered {
    pub fn new(reads: crate::request::Reads) -> Self {
        Gathered {
            types: BTreeMap::new(),
            reads,
            patterns: crate::pattern::RulePatterns::default(),
            stopped: None,
        }
    }
}

/// Compile-time state: where diagnostics go and which names are in scope.
pub struct Compiler<'a> {
    pub file: &'a str,
    pub locator: &'a Locator,
    pub diagnostics: &'a mut Vec<Diagnostic>,
    pub names: Names,
    pub gathered: &'a mut Gathered,
    /// Asked between templates whether to go on.
    pub(crate) guard: &'a dyn crate::CompileGuard,
    /// How many conditions (`$includeWhen`, `$forEach`, `{{#if}}` blocks) enclose what is
    /// being compiled: `fail` outside all of them would fail every call.
    pub(super) guards: usize,
    /// While a `$let` value compiles: the names written below it in the same `$let`, so
    /// using one is reported as an ordering mistake rather than an unknown value.
    pub(super) later_lets: Option<LaterLets>,
    /// The libraries the rule imports, compiled into it: what `$use` and function calls
    /// find.
    pub(crate) linked: Option<&'a super::definitions::Linked<'a>>,
    /// The library whose definition is being compiled, if one is: it sees only its
    /// parameters, `now`, and what its library may use.
    pub(crate) library: Option<&'a str>,
    /// How many `{{#if}}`-like blocks enclose what is being compiled.
    pub(super) blocks: usize,
    /// How many `$use`s enclose what is being compiled.
    pub(super) uses: usize,
}

/// The `$let` name being compiled and the names written after it.
pub(super) struct LaterLets {
    pub(super) defining: String,
    pub(super) later: Vec<String>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(
        file: &'a str,
        locator: &'a Locator,
        diagnostics: &'a mut Vec<Diagnostic>,
        names: Names,
        gathered: &'a mut Gathered,
        guard: &'a dyn crate::CompileGuard,
    ) -> Self {
        Compiler {
            file,
            locator,
            diagnostics,
            names,
            gathered,
            guard,
            guards: 0,
            later_lets: None,
            linked: None,
            library: None,
            blocks: 0,
            uses: 0,
        }
    }

    /// Asks the caller's guard whether to go on; once stopped, stays stopped.
    fn stop(&mut self) -> bool {
        if self.gathered.stopped.is_none() {
            self.gathered.stopped = self.guard.stop();
        }
        self.gathered.stopped.is_some()
    }
}

impl Compiler<'_> {
    pub(super) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(self.file, pos, message));
    }

    /// Compiles a template tree found at `path` in the rule file.
    pub fn node(&mut self, value: &Value, path: &str, nulls: NullPolicy) -> Node {
        match value {
            Value::String(s) => self.leaf(s, self.locator.value(path)),
            Value::Null => {
                if nulls == NullPolicy::Drop {
                    self.error(
                        self.locator.value(path),
                        "null is not allowed here: Metacontroller would update the object forever; remove the key instead",
                    );
                }
                Node::nothing()
            }
            Value::Bool(_) | Value::Number(_) => Node::literal(value.clone()),
            Value::Array(items) => constant::fold(Node::List(self.items(items, path))),
            Value::Object(map) if map.contains_key(WHEN_KEY) => self.conditional(map, path, nulls),
            Value::Object(map) if map.contains_key(super::USE_KEY) => {
                self.use_template(map, path, nulls)
            }
            Value::Object(map) => constant::fold(self.object(map, path, nulls)),
        }
    }

    /// An object template. A `$` key other than `$merge` that names a directive (or nearly
    /// does) is an error: it would otherwise be written out as a key of the object.
    pub(super) fn object(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        nulls: NullPolicy,
    ) -> Node {
        for key in map
            .keys()
            .filter(|k| k.starts_with('$') && k.as_str() != MERGE_KEY)
        {
            let at = self.locator.key(&join_key(path, key));
            if LIST_ONLY_KEYS.contains(&key.as_str()) {
                self.error(at, list_only(key));
            } else if key == super::WITH_KEY {
                self.error(
                    at,
                    "`$with` gives the params of a `$use`; add `$use: <template>` beside it",
                );
            } else if DIRECTIVE_KEYS.contains(&key.as_str()) {
                self.error(
                    at,
                    format!("`{key}` in an object needs `{WHEN_KEY}` beside it, which makes the entry conditional; add it, or put the entry in a list item"),
                );
            } else if let Some(close) = suggest(key, DIRECTIVE_KEYS.iter().copied()) {
                self.error(
                    at,
                    format!("unknown directive `{key}`; did you mean `{close}`?"),
                );
            }
        }
        let merge_given = map.contains_key(MERGE_KEY);
        let merge = map
            .get(MERGE_KEY)
            .and_then(|m| self.expr_at(m, &join_key(path, MERGE_KEY)));
        let entries = map
            .iter()
            .filter(|(k, _)| k.as_str() != MERGE_KEY)
            .map(|(k, v)| {
                let child = join_key(path, k);
                let key = if k.contains("{{") {
                    Key::Text(self.text(k, self.locator.key(&child)))
                } else {
                    Key::literal(k.clone())
                };
                // Only the entries of a map that keeps nulls may be null, and in a
                // map with `$merge`, where null removes a merged entry.
                let node = if v.is_null() && merge_given {
                    Node::nothing()
                } else {
                    self.node(v, &child, nulls)
                };
                (key, node)
            })
            .collect::<Vec<(Key, Node)>>();
        let literal_keys = !merge_given
            && entries
                .iter()
                .all(|(k, _)| matches!(k, Key::Literal { .. }));
        Node::Object(Box::new(ObjectNode {
            entries,
            nulls,
            merge,
            literal_keys,
        }))
    }

    /// A directive value, which must be one whole expression.
    pub(crate) fn expr_at(&mut self, value: &Value, path: &str) -> Option<Expr> {
        let pos = self.locator.value(path);
        match value {
            Value::String(s) => match whole_expression(s) {
                Some(inner) => self.expr(inner, pos),
                None => {
                    self.error(pos, needs_expression(path, Some(s)));
                    None
                }
            },
            // `$forEach: 3` means the count: its fix is `"{{ 3 }}"`.
            Value::Number(_) | Value::Bool(_) => {
                self.error(pos, needs_expression(path, Some(&value.to_string())));
                None
            }
            _ => {
                self.error(pos, needs_expression(path, None));
                None
            }
        }
    }

    /// Compiles a string leaf.
    pub fn leaf(&mut self, s: &str, pos: Pos) -> Node {
        // The one place every template passes: what the rule keeps grows leaf by leaf.
        if self.stop() {
            return Node::nothing();
        }
        if !s.contains("{{") {
            return Node::literal(Value::String(s.to_owned()));
        }
        match whole_expression(s) {
            Some(inner) => match self.expr(inner, pos) {
                Some(expr) => Node::Expr(expr),
                None => Node::nothing(),
            },
            None => Node::Text(self.text(s, pos)),
        }
    }

    /// Compiles the inside of `{{ ... }}` into a parameter that evaluates to a JSON value.
    fn expr(&mut self, inner: &str, pos: Pos) -> Option<Expr> {
        if let Some(problem) = unbalanced(&format!("{{{{{inner}}}}}")) {
            self.error(pos, format!("template syntax error: {problem}"));
            return None;
        }
        if let Some(literal) = scalar_literal(inner) {
            return Some(Expr::new(Parameter::Literal(literal), pos));
        }
        let template = match Template::compile(&format!("{{{{{inner}}}}}")) {
            Ok(t) => t,
            Err(e) => {
                self.error(pos, template_error_message(&e));
                return None;
            }
        };
        self.check(&template, pos);
        let Some(TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht)) =
            template.elements.into_iter().next()
        else {
            self.error(pos, "expected one expression");
            return None;
        };
        Some(Expr::new(value_param(*ht), pos))
    }

    fn text(&mut self, s: &str, pos: Pos) -> Text {
        let fails = fail_calls(s)
            .into_iter()
            .map(|(within, message)| FailAt {
                message,
                pos: self.locator.within_scalar(pos, s, within).unwrap_or(pos),
            })
            .collect();
        let mut text = Text {
            pieces: Vec::new(),
            source: s.to_owned(),
            pos,
            fails,
        };
        if let Some(problem) = unbalanced(s) {
            self.error(pos, format!("template syntax error: {problem}"));
            return text;
        }
        match Template::compile(s) {
            Ok(template) => {
                self.check(&template, pos);
                text.pieces = template.elements.into_iter().filter_map(piece).collect();
            }
            Err(e) => self.error(pos, template_error_message(&e)),
        }
        text
    }
}

/// The error for a directive that needs one whole expression, naming its key and, when
/// the text written is a plain name or path, the fix in full.
fn needs_expression(path: &str, written: Option<&str>) -> String {
    let mut segments = path.rsplit('.');
    let key = segments.next().unwrap_or(path);
    let what = if segments.next() == Some(LET_KEY) {
        format!("`{LET_KEY}` value `{key}`")
    } else {
        format!("`{key}`")
    };
    let bare = written.map(str::trim).filter(|text| {
        !text.is_empty()
            && text
                .split('.')
                .all(|part| is_identifier(part) || part.parse::<usize>().is_ok())
    });
    match bare {
        Some(text) => format!("{what} needs one whole expression: write \"{{{{ {text} }}}}\""),
        None => format!(
            "{what} needs one whole expression, such as \"{{{{ items }}}}\" or \"{{{{ eq a b }}}}\""
        ),
    }
}

pub(super) fn path_names_helper(param: &Parameter) -> bool {
    match param {
        Parameter::Path(p) => path_first(p)
            .is_some_and(|n| helpers::lookup(n).is_some() || super::functions::lookup(n).is_some()),
        _ => false,
    }
}

/// The parameter that evaluates `{{ ht }}` to a JSON value: a path, or a helper call.
fn value_param(ht: handlebars::template::HelperTemplate) -> Parameter {
    let calls_helper = !ht.params.is_empty()
        || !ht.hash.is_empty()
        || matches!(&ht.name, Parameter::Name(_))
        || path_names_helper(&ht.name);
    if calls_helper {
        Parameter::Subexpression(Subexpression::new(ht.name, ht.params, ht.hash))
    } else {
        ht.name
    }
}

/// One element of an interpolating template, as the renderer will evaluate it.
fn piece(element: TemplateElement) -> Option<Piece> {
    match element {
        TemplateElement::RawString(s) => Some(Piece::Raw(s)),
        TemplateElement::Comment(_) => None,
        TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
            Some(Piece::Value(Expression::new(value_param(*ht))))
        }
        // Partials and decorators are left out: the checker refuses them.
        block => Block::compile(&block).map(|compiled| Piece::Block {
            block: Box::new(compiled),
            #[cfg(any(test, feature = "cross-check"))]
            template: super::cross_check::metered_template(block),
        }),
    }
}

/// Each `{{ fail ... }}` of an interpolating leaf: the bytes of its `{{ }}`, and the
/// failure's message when its argument is a plain string literal.
fn fail_calls(s: &str) -> Vec<(Range<usize>, Option<String>)> {
    let mut calls = Vec::new();
    let mut from = 0;
    while let Some(found) = s.get(from..).and_then(|rest| rest.find("{{")) {
        let open = from + found;
        from = open + 2;
        if s[..open].ends_with('\\') {
            continue; // written out as text
        }
        let head = s[from..].trim_start_matches(['{', '~']).trim_start();
        let Some(args) = head.strip_prefix("fail") else {
            continue;
        };
        if !args.starts_with(|c: char| c.is_whitespace() || c == '}' || c == '~') {
            continue; // `{{ failed }}` is a value
        }
        let Some(close) = s[open..].find("}}") else {
            continue;
        };
        calls.push((open..open + close + 2, literal_message(args)));
    }
    calls
}

/// The message `fail` gives for `args` when they are one string literal with no escapes.
fn literal_message(args: &str) -> Option<String> {
    let args = args.trim_start();
    let quote = args.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let body = &args[1..];
    let end = body.find(quote)?;
    let text = &body[..end];
    let after = body[end + 1..].trim_start().trim_start_matches('~');
    (!text.contains('\\') && after.starts_with("}}"))
        .then(|| format!("fail: {}", crate::clip::clip(text)))
}

/// The common template mistakes, named plainly before handlebars' parser gets to them.
fn unbalanced(s: &str) -> Option<String> {
    let opens = s.matches("{{").count();
    let closes = s.matches("}}").count();
    if opens > closes {
        return Some("unclosed `{{`; missing `}}`".to_owned());
    }
    if closes > opens {
        return Some("`}}` without a matching `{{`".to_owned());
    }
    let mut blocks: Vec<String> = Vec::new();
    for tag in s.split("{{").skip(1) {
        let tag = tag.trim_start_matches(['~', ' ']);
        let name = |t: &str| {
            t[1..]
                .trim_start_matches(['>', '*'])
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .next()
                .unwrap_or("")
                .to_owned()
        };
        if tag.starts_with('#') {
            blocks.push(name(tag));
        } else if tag.starts_with('/') {
            let n = name(tag);
            match blocks.pop() {
                Some(open) if open == n => {}
                Some(open) => {
                    return Some(format!(
                        "`{{{{/{n}}}}}` closes `{{{{#{open}}}}}`; close `{open}` first"
                    ))
                }
                None => return Some(format!("`{{{{/{n}}}}}` has no matching `{{{{#{n}}}}}`")),
            }
        }
    }
    blocks
        .pop()
        .map(|open| format!("`{{{{#{open}}}}}` is never closed; add `{{{{/{open}}}}}`"))
}

fn template_error_message(e: &handlebars::TemplateError) -> String {
    // The reason alone: its position is inside the leaf, while ours points at the leaf.
    format!("template syntax error: {}", e.reason())
}

/// The inside of a leaf that is exactly one `{{ ... }}` (or `{{{ ... }}}`) expression.
pub fn whole_expression(s: &str) -> Option<&str> {
    let inner = s
        .strip_prefix("{{{")
        .and_then(|r| r.strip_suffix("}}}"))
        .or_else(|| s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")))?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    let head = inner.trim_start_matches('~').trim_start();
    if head.is_empty()
        || head.starts_with(['#', '/', '^', '!', '>', '&', '*'])
        || head.starts_with("else")
    {
        return None;
    }
    Some(inner)
}

/// `{{ 5 }}`, `{{ true }}`, `{{ "text" }}` or `{{ 'text' }}`: handlebars reads a bare literal
/// in name position as a path, so these are recognised here.
fn scalar_literal(inner: &str) -> Option<Value> {
    let text = inner.trim();
    if let Some(quoted) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return (!quoted.contains('\'')).then(|| Value::String(quoted.to_owned()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) if !v.is_array() && !v.is_object() => Some(v),
        _ => None,
    }
}
