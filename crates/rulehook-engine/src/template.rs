//! Typed templates: structured YAML whose string leaves are handlebars expressions.
//!
//! A leaf that is exactly one `{{ expression }}` keeps the JSON type of its value. Any other
//! leaf renders to a string. Values are never parsed as YAML or re-read as templates, so a
//! user value can only ever become one JSON value in one place.
//!
//! Everything is compiled once, when the rule loads: handlebars parses each leaf, and every
//! name and helper it uses is checked then, so a typo is a load error rather than an empty
//! string at run time.
//!
//! This file is long: it holds the node types, the compiler and the renderer; splitting
//! them into `template/` is the engine's next restructuring step.

use std::collections::BTreeSet;

use handlebars::template::{Parameter, Subexpression, TemplateElement};
use handlebars::{Context, PathSeg, RenderContext, Renderable, Template};
use serde_json::{Map, Value};

use super::budget;
use super::diagnostic::{suggest, Diagnostic};
use super::helpers::{self, registry};
use super::locate::{join_index, join_key, Locator, Pos};

/// Keys that control a list item rather than being part of it.
pub(crate) const DIRECTIVE_KEYS: &[&str] = &[
    "$forEach",
    "$as",
    "$index",
    "$key",
    "$includeWhen",
    "$template",
];

/// One compiled node of a template tree.
#[derive(Debug)]
pub enum Node {
    /// A value with no template in it, emitted as written.
    Literal(Value),
    /// A leaf that is one whole expression; it keeps its JSON type. `Missing` and `null`
    /// results drop the key or list item, so no null ever reaches a child object.
    Expr(Expr),
    /// A leaf that interpolates into a string.
    Text(Text),
    Object(Vec<(Key, Node)>, NullPolicy),
    List(Vec<Item>),
}

/// What happens to a `null` produced inside an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullPolicy {
    /// Drop the key: the default, because a null in a child object makes Metacontroller
    /// update it forever.
    Drop,
    /// Keep it: decorator labels and annotations use null to delete a key.
    Keep,
}

#[derive(Debug)]
pub enum Key {
    Literal(String),
    Text(Text),
}

/// A list item, possibly repeated by `$forEach` and filtered by `$includeWhen`.
#[derive(Debug)]
pub struct Item {
    pub node: Node,
    pub each: Option<Loop>,
    pub when: Option<Expr>,
}

#[derive(Debug)]
pub struct Loop {
    pub source: Expr,
    pub item: String,
    pub index: String,
    pub key: String,
}

/// A compiled whole expression.
#[derive(Debug)]
pub struct Expr {
    param: Parameter,
    pub pos: Pos,
}

/// A compiled interpolating template: text, values and (rarely) handlebars blocks.
///
/// Plain `{{ value }}` pieces are evaluated here rather than by handlebars, so a list or map
/// interpolated into a string is an error instead of handlebars' `[object]`, and every byte
/// appended is charged to the render's budget first.
#[derive(Debug)]
pub struct Text {
    pieces: Vec<Piece>,
    /// The leaf as written, for messages.
    pub source: String,
    pub pos: Pos,
}

#[derive(Debug)]
enum Piece {
    Raw(String),
    Value(Parameter),
    /// `{{#if}}`, `{{#each}}` and friends, rendered by handlebars.
    Block(Template),
}

/// Why a render failed, and where in the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub pos: Pos,
    pub message: String,
}

impl Failure {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Failure {
            pos,
            message: message.into(),
        }
    }
}

/// The built-in names a template may use besides the rule's values.
#[derive(Debug, Clone)]
pub struct Names {
    stack: Vec<String>,
}

impl Names {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Names {
            stack: names.into_iter().collect(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.stack.iter().any(|n| n == name)
    }
}

/// Compile-time state: where diagnostics go and which names are in scope.
pub struct Compiler<'a> {
    pub file: &'a str,
    pub locator: &'a Locator,
    pub diagnostics: &'a mut Vec<Diagnostic>,
    pub names: Names,
    /// Collections and type keys that templates read (`children.[Pod.v1]`), so a type absent
    /// from the request can be shown to templates as an empty list.
    pub types: &'a mut BTreeSet<(String, String)>,
    /// The request keys templates read, so parsing can skip the others.
    pub reads: &'a mut super::request::Reads,
}

impl Compiler<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
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
                Node::Literal(Value::Null)
            }
            Value::Bool(_) | Value::Number(_) => Node::Literal(value.clone()),
            Value::Array(items) => self.list(items, path),
            Value::Object(map) => {
                let entries = map
                    .iter()
                    .map(|(k, v)| {
                        let child = join_key(path, k);
                        let key = if k.contains("{{") {
                            Key::Text(self.text(k, self.locator.key(&child)))
                        } else {
                            Key::Literal(k.clone())
                        };
                        // Only the entries of a map that keeps nulls may be null.
                        (key, self.node(v, &child, nulls))
                    })
                    .collect();
                Node::Object(entries, nulls)
            }
        }
    }

    fn list(&mut self, items: &[Value], path: &str) -> Node {
        let mut out = Vec::with_capacity(items.len());
        for (i, value) in items.iter().enumerate() {
            let item_path = join_index(path, i);
            match value {
                Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => {
                    out.push(self.directive_item(map, &item_path));
                }
                _ => out.push(Item {
                    node: self.node(value, &item_path, NullPolicy::Drop),
                    each: None,
                    when: None,
                }),
            }
        }
        Node::List(out)
    }

    fn directive_item(&mut self, map: &Map<String, Value>, path: &str) -> Item {
        for key in map.keys().filter(|k| k.starts_with('$')) {
            if !DIRECTIVE_KEYS.contains(&key.as_str()) {
                let message = match suggest(key, DIRECTIVE_KEYS.iter().copied()) {
                    Some(close) => format!("unknown directive `{key}`; did you mean `{close}`?"),
                    None => format!(
                        "unknown directive `{key}`; expected one of: {}",
                        DIRECTIVE_KEYS.join(", ")
                    ),
                };
                self.error(self.locator.key(&join_key(path, key)), message);
            }
        }
        let name_of = |this: &mut Self, key: &str, default: &str| -> String {
            match map.get(key) {
                None => default.to_owned(),
                Some(Value::String(s)) if is_identifier(s) => s.clone(),
                Some(_) => {
                    this.error(
                        this.locator.value(&join_key(path, key)),
                        format!("`{key}` must be a simple name such as `item`"),
                    );
                    default.to_owned()
                }
            }
        };
        let each = match map.get("$forEach") {
            Some(source) => {
                let source = self.expr_at(source, &join_key(path, "$forEach"));
                let item = name_of(self, "$as", "item");
                let index = name_of(self, "$index", "index");
                let key = name_of(self, "$key", "key");
                source.map(|source| Loop {
                    source,
                    item,
                    index,
                    key,
                })
            }
            None => {
                for key in ["$as", "$index", "$key"] {
                    if map.contains_key(key) {
                        self.error(
                            self.locator.key(&join_key(path, key)),
                            format!("`{key}` only makes sense with `$forEach`"),
                        );
                    }
                }
                None
            }
        };
        let pushed = each
            .as_ref()
            .map(|l| [l.item.clone(), l.index.clone(), l.key.clone()]);
        let depth = self.names.stack.len();
        if let Some(names) = pushed {
            self.names.stack.extend(names);
        }
        let when = map
            .get("$includeWhen")
            .and_then(|w| self.expr_at(w, &join_key(path, "$includeWhen")));
        let node = match map.get("$template") {
            Some(template) => {
                if let Some(extra) = map.keys().find(|k| !k.starts_with('$')) {
                    self.error(
                        self.locator.key(&join_key(path, extra)),
                        format!("`{extra}` cannot stand beside `$template`; move it inside"),
                    );
                }
                self.node(template, &join_key(path, "$template"), NullPolicy::Drop)
            }
            None => {
                let rest: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| !k.starts_with('$'))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.node(&Value::Object(rest), path, NullPolicy::Drop)
            }
        };
        self.names.stack.truncate(depth);
        Item { node, each, when }
    }

    /// A directive value, which must be one whole expression.
    pub(crate) fn expr_at(&mut self, value: &Value, path: &str) -> Option<Expr> {
        let pos = self.locator.value(path);
        match value {
            Value::String(s) => match whole_expression(s) {
                Some(inner) => self.expr(inner, pos),
                None => {
                    self.error(pos, "expected one whole expression such as \"{{ items }}\"");
                    None
                }
            },
            _ => {
                self.error(pos, "expected one whole expression such as \"{{ items }}\"");
                None
            }
        }
    }

    /// Compiles a string leaf.
    pub fn leaf(&mut self, s: &str, pos: Pos) -> Node {
        if !s.contains("{{") {
            return Node::Literal(Value::String(s.to_owned()));
        }
        match whole_expression(s) {
            Some(inner) => match self.expr(inner, pos) {
                Some(expr) => Node::Expr(expr),
                None => Node::Literal(Value::Null),
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
            return Some(Expr {
                param: Parameter::Literal(literal),
                pos,
            });
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
        Some(Expr {
            param: value_param(*ht),
            pos,
        })
    }

    fn text(&mut self, s: &str, pos: Pos) -> Text {
        let mut text = Text {
            pieces: Vec::new(),
            source: s.to_owned(),
            pos,
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

    /// Checks every helper and every top-level name a template uses.
    fn check(&mut self, template: &Template, pos: Pos) {
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
                } else {
                    self.check_param(&ht.name, pos, names_checked);
                }
                for p in ht.params.iter().chain(ht.hash.values()) {
                    self.check_param(p, pos, names_checked);
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
                for t in [&ht.template, &ht.inverse].into_iter().flatten() {
                    for e in &t.elements {
                        self.check_element(e, pos, inner_checked);
                    }
                }
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
            None => {
                let message = match suggest(name, helpers::names()) {
                    Some(close) => format!("unknown helper `{name}`; did you mean `{close}`?"),
                    None => format!("unknown helper `{name}`; see docs/rules.md for the list"),
                };
                self.error(pos, message);
            }
        }
    }

    fn check_param(&mut self, param: &Parameter, pos: Pos, names_checked: bool) {
        match param {
            Parameter::Subexpression(sub) => self.check_element(&sub.element, pos, names_checked),
            Parameter::Path(path) => self.check_path(path, pos, names_checked),
            _ => {}
        }
    }

    fn check_path(&mut self, path: &handlebars::Path, pos: Pos, names_checked: bool) {
        let handlebars::Path::Relative((segs, _)) = path else {
            return; // @index and friends
        };
        let Some(PathSeg::Named(first)) = segs.first() else {
            // `this`, `../` or `@root` outside a block may reach any part of the request.
            if names_checked || path_text(path).contains("..") || path_text(path).contains("@root")
            {
                self.reads.all();
            }
            return;
        };
        self.reads.name(first);
        if let Some(PathSeg::Named(kind)) = segs.get(1) {
            if matches!(first.as_str(), "children" | "related" | "attachments") {
                self.types.insert((first.clone(), kind.clone()));
            }
        }
        if !names_checked || self.names.contains(first) || helpers::lookup(first).is_some() {
            return;
        }
        let message = match suggest(first, self.names.stack.iter().map(String::as_str)) {
            Some(close) => format!("unknown value `{first}`; did you mean `{close}`?"),
            None => format!(
                "unknown value `{first}`; define it under `values:` (known: {})",
                self.names.stack.join(", ")
            ),
        };
        self.error(pos, message);
    }
}

fn path_text(path: &handlebars::Path) -> &str {
    match path {
        handlebars::Path::Relative((_, raw)) => raw,
        handlebars::Path::Local((_, _, raw)) => raw,
    }
}

fn path_first(path: &handlebars::Path) -> Option<&str> {
    match path {
        handlebars::Path::Relative((segs, _)) if segs.len() == 1 => match &segs[0] {
            PathSeg::Named(n) => Some(n.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn path_names_helper(param: &Parameter) -> bool {
    match param {
        Parameter::Path(p) => path_first(p).is_some_and(|n| helpers::lookup(n).is_some()),
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
            Some(Piece::Value(value_param(*ht)))
        }
        block => {
            let mut template = Template::new();
            template.elements.push(block);
            Some(Piece::Block(template))
        }
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

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Per-render state: the template scope and the step budget. Bytes are metered in
/// [`budget`], which helpers reach too.
pub struct Render<'l> {
    ctx: Context,
    pub limits: &'l super::Limits,
    steps: u64,
    /// The last position evaluated, for failures of nodes that have none of their own.
    pos: Pos,
}

impl<'l> Render<'l> {
    pub fn new(scope: Map<String, Value>, limits: &'l super::Limits) -> Self {
        Render {
            ctx: Context::from(Value::Object(scope)),
            limits,
            steps: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    /// The scope, once rendering is done.
    pub fn into_data(mut self) -> Value {
        std::mem::take(self.ctx.data_mut())
    }

    fn step(&mut self, pos: Pos) -> Result<(), Failure> {
        self.steps += 1;
        self.pos = pos;
        if self.steps > self.limits.max_steps {
            return Err(Failure::new(
                pos,
                format!(
                    "the render exceeded its budget of {} steps (limit max-render-steps)",
                    self.limits.max_steps
                ),
            ));
        }
        if budget::interrupted() {
            return Err(Failure::new(pos, budget::Exceeded::Interrupted.message()));
        }
        Ok(())
    }

    /// Charges `bytes` about to be built at the current position.
    fn charge(&self, bytes: usize) -> Result<(), Failure> {
        budget::charge(bytes).map_err(|e| Failure::new(self.pos, e.message()))
    }

    /// Renders a node; `None` means the node produced nothing (a missing value).
    pub fn node(&mut self, node: &Node) -> Result<Option<Value>, Failure> {
        match node {
            Node::Literal(v) => {
                self.charge(budget::size_within(v, usize::MAX).unwrap_or(0))?;
                Ok(Some(v.clone()))
            }
            Node::Expr(e) => self.expr(e),
            Node::Text(t) => self.text(t).map(|s| Some(Value::String(s))),
            Node::Object(entries, nulls) => self.object(entries, *nulls),
            Node::List(items) => {
                self.charge(budget::HEADER)?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    self.item(item, &mut out)?;
                }
                Ok(Some(Value::Array(out)))
            }
        }
    }

    /// Renders an object. A computed key may never take the place of another key of the
    /// same object, literal or computed: a parent could otherwise rename a child or move it
    /// to another namespace through a value meant only for a label.
    fn object(
        &mut self,
        entries: &[(Key, Node)],
        nulls: NullPolicy,
    ) -> Result<Option<Value>, Failure> {
        self.charge(budget::HEADER)?;
        let mut map = Map::with_capacity(entries.len());
        // YAML already refuses two equal literal keys, so only objects with a computed key
        // can collide.
        let computed = entries.iter().any(|(k, _)| matches!(k, Key::Text(_)));
        for (index, (key, node)) in entries.iter().enumerate() {
            let name = match key {
                Key::Literal(k) => k.clone(),
                Key::Text(t) => self.text(t)?,
            };
            let value = match self.node(node)? {
                Some(Value::Null) if nulls == NullPolicy::Drop => continue,
                Some(v) => v,
                None => continue,
            };
            if computed && map.contains_key(&name) {
                let first = self.key_origin(&entries[..index], &name)?;
                return Err(key_collision(&name, first, key, self.pos));
            }
            self.charge(budget::key_size(name.len()))?;
            map.insert(name, value);
        }
        Ok(Some(Value::Object(map)))
    }

    /// Which of `entries` gave the key `name`; only asked once a collision is found.
    fn key_origin<'k>(
        &mut self,
        entries: &'k [(Key, Node)],
        name: &str,
    ) -> Result<&'k Key, Failure> {
        for (key, _) in entries {
            let same = match key {
                Key::Literal(k) => k == name,
                Key::Text(t) => self.text(t)? == name,
            };
            if same {
                return Ok(key);
            }
        }
        Ok(&entries[0].0)
    }

    fn item(&mut self, item: &Item, out: &mut Vec<Value>) -> Result<(), Failure> {
        let Some(each) = &item.each else {
            return self.item_once(item, out);
        };
        let source = self.expr(&each.source)?;
        let limit = self.limits.max_loop_items;
        let count = match &source {
            None | Some(Value::Null) => 0,
            Some(Value::Array(list)) => list.len(),
            Some(Value::Object(map)) => map.len(),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(count) => usize::try_from(count).unwrap_or(usize::MAX),
                None => {
                    return Err(Failure::new(
                        each.source.pos,
                        format!("`$forEach` needs a list, a map or a count, not {n}"),
                    ))
                }
            },
            Some(other) => {
                return Err(Failure::new(
                    each.source.pos,
                    format!(
                        "`$forEach` needs a list, a map or a count, not {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if count > limit {
            return Err(loop_limit(each.source.pos, limit));
        }
        // The loop's own bookkeeping, an index and a key per item, lasts only as long as
        // the loop: it must fit, but is not kept on the render's account.
        budget::fits(count.saturating_mul(2 * budget::SCALAR))
            .map_err(|e| Failure::new(each.source.pos, e.message()))?;
        let entries: Vec<(Value, Value)> = match source {
            Some(Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), v))
                .collect(),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| (Value::String(k), v))
                .collect(),
            Some(Value::Number(_)) => (0..count)
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            _ => Vec::new(),
        };
        let saved = self.bind(&[
            (&each.item, Value::Null),
            (&each.index, Value::Null),
            (&each.key, Value::Null),
        ]);
        let mut result = Ok(());
        for (index, (key, value)) in entries.into_iter().enumerate() {
            let key = if key.is_number() {
                Value::from(index)
            } else {
                key
            };
            self.set(&each.item, value);
            self.set(&each.index, Value::from(index));
            self.set(&each.key, key);
            result = self.item_once(item, out);
            if result.is_err() {
                break;
            }
        }
        self.restore(saved);
        result
    }

    fn item_once(&mut self, item: &Item, out: &mut Vec<Value>) -> Result<(), Failure> {
        if let Some(when) = &item.when {
            self.step(when.pos)?;
            if !truthy(self.expr(when)?.as_ref()) {
                return Ok(());
            }
        }
        match self.node(&item.node)? {
            None | Some(Value::Null) => {}
            Some(v) => out.push(v),
        }
        Ok(())
    }

    /// Evaluates a whole expression to its JSON value. A value computed by a helper is
    /// taken as it is (the helper charged for it); one copied from the scope is charged
    /// before it is copied.
    pub fn expr(&mut self, expr: &Expr) -> Result<Option<Value>, Failure> {
        self.step(expr.pos)?;
        self.value(&expr.param, expr.pos)
    }

    fn value(&mut self, param: &Parameter, pos: Pos) -> Result<Option<Value>, Failure> {
        let mut rc = RenderContext::new(None);
        let value = param
            .expand(registry(), &self.ctx, &mut rc)
            .map_err(|e| Failure::new(pos, render_error_message(&e)))?;
        if value.is_value_missing() {
            return Ok(None);
        }
        // A helper's result was charged by the helper; a value from the scope or the rule
        // is charged here, before it is copied.
        let derived = value.try_get_constant_value().is_none() && value.context_path().is_none();
        if !derived {
            budget::charge_copy(value.value()).map_err(|e| Failure::new(pos, e.message()))?;
        }
        Ok(Some(value.value().clone()))
    }

    /// Renders an interpolating template to its string, charging each piece before it is
    /// appended.
    pub fn text(&mut self, text: &Text) -> Result<String, Failure> {
        self.step(text.pos)?;
        self.charge(budget::string_size(0))?;
        let mut out = MeteredString::default();
        for piece in &text.pieces {
            match piece {
                Piece::Raw(s) => out
                    .push(s)
                    .map_err(|e| Failure::new(text.pos, e.message()))?,
                Piece::Value(param) => {
                    let mut rc = RenderContext::new(None);
                    let value = param
                        .expand(registry(), &self.ctx, &mut rc)
                        .map_err(|e| Failure::new(text.pos, render_error_message(&e)))?;
                    if value.is_value_missing() {
                        return Err(Failure::new(text.pos, missing_message(param)));
                    }
                    let piece =
                        interpolated(value.value()).map_err(|m| Failure::new(text.pos, m))?;
                    out.push(&piece)
                        .map_err(|e| Failure::new(text.pos, e.message()))?;
                }
                Piece::Block(template) => {
                    let mut rc = RenderContext::new(None);
                    let result = template.render(registry(), &self.ctx, &mut rc, &mut out);
                    if let Some(exceeded) = out.exceeded.take() {
                        return Err(Failure::new(text.pos, exceeded.message()));
                    }
                    result.map_err(|e| Failure::new(text.pos, render_error_message(&e)))?;
                }
            }
        }
        Ok(out.text)
    }

    fn scope(&mut self) -> &mut Map<String, Value> {
        match self.ctx.data_mut() {
            Value::Object(map) => map,
            other => {
                *other = Value::Object(Map::new());
                match other {
                    Value::Object(map) => map,
                    _ => unreachable!("just set to an object"),
                }
            }
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.scope().insert(name.to_owned(), value);
    }

    fn bind(&mut self, names: &[(&String, Value)]) -> Vec<(String, Option<Value>)> {
        names
            .iter()
            .map(|(n, _)| ((*n).clone(), self.scope().remove(n.as_str())))
            .collect()
    }

    fn restore(&mut self, saved: Vec<(String, Option<Value>)>) {
        for (name, old) in saved {
            match old {
                Some(v) => {
                    self.scope().insert(name, v);
                }
                None => {
                    self.scope().remove(&name);
                }
            }
        }
    }
}

/// A string that charges the render's budget before it grows.
#[derive(Default)]
struct MeteredString {
    text: String,
    /// Why the last write failed, for blocks rendered by handlebars, which only see an
    /// I/O error.
    exceeded: Option<budget::Exceeded>,
}

impl MeteredString {
    fn push(&mut self, s: &str) -> Result<(), budget::Exceeded> {
        budget::charge(s.len())?;
        self.text.push_str(s);
        Ok(())
    }
}

impl handlebars::Output for MeteredString {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        self.push(seg).map_err(|e| {
            let error = std::io::Error::other(e.message());
            self.exceeded = Some(e);
            error
        })
    }
}

/// The text of a value placed inside a string. Lists and maps have no text form: placing
/// one in a string is almost always a mistake, and `toJson` says what is meant.
fn interpolated(value: &Value) -> Result<std::borrow::Cow<'_, str>, String> {
    use std::borrow::Cow;
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null => Ok(Cow::Borrowed("")),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "{} cannot be placed inside a string; use `toJson` for its JSON text, or make the leaf one whole expression to keep its type",
            type_name(value)
        )),
    }
}

/// What a missing value interpolated into a string is called in the error.
fn missing_message(param: &Parameter) -> String {
    match param {
        Parameter::Path(path) => format!(
            "`{}` is missing: the request has no such value and it has no default",
            path_text(path)
        ),
        _ => "a value used here is missing".to_owned(),
    }
}

/// Two keys of one object that render to the same name.
fn key_collision(name: &str, first: &Key, second: &Key, pos: Pos) -> Failure {
    let describe = |key: &Key| match key {
        Key::Literal(k) => format!("the key `{k}`"),
        Key::Text(t) => format!("the computed key `{}` (line {})", t.source, t.pos.line),
    };
    Failure::new(
        match second {
            Key::Text(t) => t.pos,
            Key::Literal(_) => match first {
                Key::Text(t) => t.pos,
                Key::Literal(_) => pos,
            },
        },
        format!(
            "{} and {} both give `{}`; a computed key may not replace another key of the same object",
            describe(first),
            describe(second),
            super::clip::clip(name)
        ),
    )
}

fn loop_limit(pos: Pos, limit: usize) -> Failure {
    Failure::new(
        pos,
        format!("`$forEach` has more than {limit} items (limit max-loop-items)"),
    )
}

/// JSON truthiness as handlebars' `if` sees it: false, null, 0, "" and [] are false.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn render_error_message(e: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match e.reason() {
        R::MissingVariable(Some(path)) => {
            format!("`{path}` is missing: the request has no such value and it has no default")
        }
        R::MissingVariable(None) => "a value used here is missing".to_owned(),
        R::Other(message) => message.clone(),
        other => other.to_string(),
    }
}
