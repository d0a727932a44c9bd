//! Typed templates: structured YAML whose string leaves are handlebars expressions.
//!
//! A leaf that is exactly one `{{ expression }}` keeps the JSON type of its value. Any other
//! leaf renders to a string. Values are never parsed as YAML or re-read as templates, so a
//! user value can only ever become one JSON value in one place.
//!
//! Everything is compiled once, when the rule loads: handlebars parses each leaf, and every
//! name and helper it uses is checked then, so a typo is a load error rather than an empty
//! string at run time. Rendering runs the engine's own compiled programs; handlebars is
//! only the parser.
//!
//! - [`compile`] turns a rule's YAML tree into [`Node`]s, [`directives`] its list items and
//!   conditional entries, and [`check`](self::check) makes sure
//!   every helper and value a template names exists;
//! - [`program`] and [`block`] are what an expression and a block compile to, evaluated
//!   against the scope with no handlebars at run time: in a [`frame`], with the meaning of
//!   handlebars' [`builtins`];
//! - [`render`] evaluates nodes against one request, and [`text`] does the string
//!   interpolation, charging every byte to the render's budget first.

mod block;
mod builtins;
mod check;
mod compile;
mod constant;
#[cfg(any(test, feature = "cross-check"))]
mod cross_check;
pub(crate) mod definitions;
mod directives;
mod frame;
pub(crate) mod functions;
mod program;
mod render;
#[cfg(test)]
mod tests;
mod text;
mod uses;
mod write;

use handlebars::template::Parameter;
use handlebars::PathSeg;
use serde_json::Value;

use block::Block;
pub(crate) use constant::Constant;
use program::Program;

use crate::locate::Pos;

pub(crate) use compile::{Compiler, Gathered};
pub(crate) use definitions::Definition;
pub(crate) use directives::literal_child_types;
pub(crate) use render::Render;
pub(crate) use write::{write_str, Wrote};

/// Keys that control a list item rather than being part of it.
pub(crate) const DIRECTIVE_KEYS: &[&str] = &[
    "$forEach",
    "$as",
    "$index",
    "$key",
    LET_KEY,
    WHEN_KEY,
    TEMPLATE_KEY,
    ITEMS_KEY,
    MERGE_KEY,
    USE_KEY,
    WITH_KEY,
];

/// The directives that only a list item may have: an object's entry stands once, so it
/// cannot loop or splice.
pub(crate) const LIST_ONLY_KEYS: &[&str] = &["$forEach", "$as", "$index", "$key", ITEMS_KEY];

/// The key whose condition includes a list item, or an object's entry, only when truthy.
/// An object entry whose value is a map with it is a conditional entry.
pub(crate) const WHEN_KEY: &str = "$includeWhen";

/// The key of names bound per item, before its condition.
pub(crate) const LET_KEY: &str = "$let";

/// The key of a template written apart from the directives.
pub(crate) const TEMPLATE_KEY: &str = "$template";

/// The key of items spliced into the enclosing list (flatMap).
pub(crate) const ITEMS_KEY: &str = "$items";

/// The key that starts an object from another object's entries (object spread). It may
/// stand in any object template, not only in list items.
pub(crate) const MERGE_KEY: &str = "$merge";

/// The key that puts a library's template in place: `$use: name`.
pub(crate) const USE_KEY: &str = "$use";

/// The key of the arguments of a `$use`: `$with: {param: "{{ expr }}"}`.
pub(crate) const WITH_KEY: &str = "$with";

/// One compiled node of a template tree.
#[derive(Debug)]
pub enum Node {
    /// A value with no template in it, written as its JSON was written when the rule
    /// loaded: a literal leaf, or an object or list template with only literals in it.
    Literal(Constant),
    /// A leaf that is one whole expression; it keeps its JSON type. `Missing` and `null`
    /// results drop the key or list item, so no null ever reaches a child object.
    Expr(Expr),
    /// A leaf that interpolates into a string.
    Text(Text),
    /// Boxed: the largest variant, which would make every node as large.
    Object(Box<ObjectNode>),
    List(Vec<Item>),
    /// An object's entry under `$includeWhen` (and `$let`): an item that stands at most
    /// once, whose body is always one template. Nothing when its condition is falsy.
    Conditional(Box<Item>),
    /// A library's template put in place by `$use`, with its parameters bound.
    Use(Box<uses::Use>),
}

impl Node {
    /// A literal value.
    pub(crate) fn literal(value: Value) -> Node {
        Node::Literal(Constant::new(value))
    }

    /// A node that gives nothing: `null`, where a template could not be compiled.
    pub(crate) fn nothing() -> Node {
        Node::literal(Value::Null)
    }

    /// Whether every item this list template writes is a map with an `apiVersion`, a `kind`
    /// and a `metadata.name` string that has text, whatever the request: decided when the
    /// rule loads, so that the answer's check of each child need not read them back.
    pub(crate) fn writes_identified_objects(&self) -> bool {
        match self {
            Node::List(items) => all_identified(items),
            Node::Literal(constant) => constant.writes_identified_objects(),
            _ => false,
        }
    }

    /// Whether this node always writes an identified object (see
    /// [`writes_identified_objects`](Node::writes_identified_objects)).
    fn writes_identified_object(&self) -> bool {
        let object = match self {
            Node::Object(object) => object,
            Node::Literal(constant) => return constant.is_identified_object(),
            // A library template writes what its body writes, whatever its params.
            Node::Use(used) => return used.body.writes_identified_object(),
            _ => return false,
        };
        let metadata = object.literal_entry("metadata");
        object
            .literal_entry("apiVersion")
            .is_some_and(Node::writes_text)
            && object.literal_entry("kind").is_some_and(Node::writes_text)
            && matches!(metadata, Some(Node::Object(metadata))
                if metadata.literal_entry("name").is_some_and(Node::writes_text))
    }

    /// Whether this node always writes a string with text: a literal one, or an
    /// interpolation with literal text of its own.
    fn writes_text(&self) -> bool {
        match self {
            Node::Literal(constant) => constant.value.as_str().is_some_and(|t| !t.is_empty()),
            Node::Text(text) => text
                .pieces
                .iter()
                .any(|piece| matches!(piece, Piece::Raw(raw) if !raw.is_empty())),
            _ => false,
        }
    }
}

/// Whether every item of a list template writes identified objects: spliced list templates
/// when all their items do, spliced values never (they come from the request).
fn all_identified(items: &[Item]) -> bool {
    items.iter().all(|item| match &item.body {
        Body::One(node) => node.writes_identified_object(),
        Body::Items(items) => all_identified(items),
        Body::Spliced(_) => false,
    })
}

impl ObjectNode {
    /// The template of `key`, when every key of the object is literal (no `$merge`, no
    /// computed key that could stand in its place).
    fn literal_entry(&self, key: &str) -> Option<&Node> {
        if !self.literal_keys {
            return None;
        }
        self.entries.iter().find_map(|(k, node)| match k {
            Key::Literal { name, .. } if name == key => Some(node),
            _ => None,
        })
    }
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

/// An object template: its own entries, in file order, and optionally an object its entries
/// start from.
#[derive(Debug)]
pub struct ObjectNode {
    pub entries: Vec<(Key, Node)>,
    pub nulls: NullPolicy,
    /// `$merge`: the object whose entries come first; the template's own keys replace them.
    pub merge: Option<Expr>,
    /// Whether every key is written literally and there is no `$merge`, so the object can
    /// be written straight into the answer's bytes. Its entries are then in the order of
    /// the rule file's parsed map, which is the order a built map holds them in.
    pub literal_keys: bool,
}

#[derive(Debug)]
pub enum Key {
    /// A key written as it stands, and as the answer writer writes it, `"name":`, escaped
    /// when the rule loaded.
    Literal {
        name: String,
        written: Box<[u8]>,
    },
    Text(Text),
}

impl Key {
    pub(crate) fn literal(name: String) -> Key {
        let mut written = Vec::with_capacity(name.len() + 3);
        write_str(&name, &mut written);
        written.push(b':');
        Key::Literal {
            name,
            written: written.into_boxed_slice(),
        }
    }
}

/// A list item, possibly repeated by `$forEach`, with names bound by `$let` and filtered by
/// `$includeWhen`, in that order.
#[derive(Debug)]
pub struct Item {
    pub body: Body,
    pub each: Option<Loop>,
    /// `$let`, in the order written: each may use the ones above it.
    pub lets: Vec<Let>,
    pub when: Option<Expr>,
}

/// What an included item gives its list.
#[derive(Debug)]
pub enum Body {
    /// One item: its template.
    One(Node),
    /// `$items` written as a list template: all its items, spliced.
    Items(Vec<Item>),
    /// `$items` as one whole expression: each item of the list it gives, spliced.
    Spliced(Expr),
}

/// One `$let` name and the expression it is bound to, per item.
#[derive(Debug)]
pub struct Let {
    pub name: String,
    pub value: Expr,
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
    expression: Expression,
    pub pos: Pos,
}

impl Expr {
    fn new(param: Parameter, pos: Pos) -> Expr {
        Expr {
            expression: Expression::new(param),
            pos,
        }
    }
}

/// One `{{ }}` expression: its program, and, where handlebars checks it, what handlebars
/// parsed.
#[derive(Debug)]
struct Expression {
    program: Program,
    #[cfg(any(test, feature = "cross-check"))]
    param: Parameter,
}

impl Expression {
    fn new(param: Parameter) -> Expression {
        Expression {
            program: Program::compile(&param),
            #[cfg(any(test, feature = "cross-check"))]
            param,
        }
    }
}

/// A compiled interpolating template: text, values and (rarely) blocks.
///
/// A `{{ value }}` piece outside any block that is a list or a map is an error rather than
/// handlebars' `[object]`; inside a block, values are written as handlebars writes them.
/// Every byte appended is charged to the render's budget first.
#[derive(Debug)]
pub struct Text {
    pieces: Vec<Piece>,
    /// The leaf as written, for messages.
    pub source: String,
    pub pos: Pos,
    /// The `fail` calls in the leaf, so that a failure points at the call that gave it.
    fails: Vec<FailAt>,
}

/// Where a `fail` call stands in the rule file, and the failure it gives when its message is
/// a plain string literal.
#[derive(Debug)]
struct FailAt {
    message: Option<String>,
    pos: Pos,
}

#[derive(Debug)]
enum Piece {
    Raw(String),
    Value(Expression),
    /// `{{#if}}`, `{{#each}}` and friends.
    Block {
        block: Box<Block>,
        /// The block as handlebars parsed it, its `{{#each}}` loops metered.
        #[cfg(any(test, feature = "cross-check"))]
        template: handlebars::Template,
    },
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
    /// How many of `stack` are the built-in names and the rule's values, which nothing
    /// inside a template may redefine; loop and `$let` names follow them.
    fixed: usize,
}

impl Names {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let stack: Vec<String> = names.into_iter().collect();
        Names {
            fixed: stack.len(),
            stack,
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.stack.iter().any(|n| n == name)
    }

    /// Whether `name` is a built-in name or one of the rule's values.
    fn is_fixed(&self, name: &str) -> bool {
        self.stack.iter().take(self.fixed).any(|n| n == name)
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
