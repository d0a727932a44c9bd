//! Rendering compiled nodes against one request's scope.

use serde_json::{Map, Value};

use std::collections::BTreeSet;

use super::frame::Frame;
use super::program::{lookup, Found};
use super::{Body, Expr, Expression, Failure, Item, Key, Node, NullPolicy, ObjectNode};
use crate::budget;
use crate::json::{truthy, type_name};
use crate::locate::Pos;
use crate::Limits;

/// The work a step does besides what it charges itself: looking values up, building a
/// node. Measured at 0.1–0.5 µs for the steps of the bundled rules.
pub(crate) const STEP_WORK: u64 = 500;

/// What a list does with each item it includes: builds its value, or writes it.
pub(super) type Emit<'e, 'l> = dyn FnMut(&mut Render<'l>, Emitted<'_>) -> Result<(), Failure> + 'e;

/// One item a list includes: a template to render, or a value `$items` spliced in, already
/// charged.
pub(super) enum Emitted<'n> {
    Node(&'n Node),
    Value(Value),
}

/// Per-render state: the template scope and the step budget. Bytes are metered in
/// [`budget`], which helpers reach too.
pub struct Render<'l> {
    /// The values templates read: the rule's values and the request's parts.
    pub(super) scope: Value,
    pub limits: &'l Limits,
    steps: u64,
    /// The last position evaluated, for failures of nodes that have none of their own.
    pos: Pos,
}

impl<'l> Render<'l> {
    pub fn new(scope: Map<String, Value>, limits: &'l Limits) -> Self {
        Render {
            scope: Value::Object(scope),
            limits,
            steps: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    /// The scope, once rendering is done.
    pub fn into_data(mut self) -> Value {
        std::mem::take(&mut self.scope)
    }

    pub(super) fn step(&mut self, pos: Pos) -> Result<(), Failure> {
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
        // Also asks the caller's guard whether the render was stopped.
        budget::work(STEP_WORK).map_err(|e| Failure::new(pos, e.message()))
    }

    /// Charges `bytes` about to be built at the current position.
    pub(super) fn charge(&self, bytes: usize) -> Result<(), Failure> {
        budget::charge(bytes).map_err(|e| Failure::new(self.pos, e.message()))
    }

    /// Renders a node; `None` means the node produced nothing (a missing value).
    pub fn node(&mut self, node: &Node) -> Result<Option<Value>, Failure> {
        match node {
            Node::Literal(constant) => {
                self.charge(constant.charge())?;
                Ok(Some(constant.value.clone()))
            }
            Node::Expr(e) => self.expr(e),
            Node::Text(t) => self.text(t).map(|s| Some(Value::String(s))),
            Node::Object(object) => self.object(object),
            Node::List(items) => {
                self.charge(budget::HEADER)?;
                let mut out = Vec::with_capacity(items.len());
                let mut keep = |render: &mut Self, emitted: Emitted<'_>| {
                    match render.emitted(emitted)? {
                        None | Some(Value::Null) => {}
                        Some(v) => out.push(v),
                    }
                    Ok(())
                };
                for item in items {
                    self.item(item, &mut keep)?;
                }
                Ok(Some(Value::Array(out)))
            }
            Node::Use(used) => self.with_params(used, |render| render.node(&used.body)),
            Node::Conditional(item) => {
                let mut rendered = None;
                self.item(item, &mut |render: &mut Self, emitted: Emitted<'_>| {
                    rendered = render.emitted(emitted)?;
                    Ok(())
                })?;
                Ok(rendered)
            }
        }
    }

    /// The value of an included item.
    fn emitted(&mut self, emitted: Emitted<'_>) -> Result<Option<Value>, Failure> {
        match emitted {
            Emitted::Node(node) => self.node(node),
            Emitted::Value(value) => Ok(Some(value)),
        }
    }

    /// Renders an object: the entries of its `$merge` object first, then its own keys, which
    /// replace them. An own key whose value is missing leaves a merged entry as it is; one
    /// whose value is null removes it (unless the object keeps nulls, as labels do).
    ///
    /// A computed key may never take the place of another own key of the same object,
    /// literal or computed: a parent could otherwise rename a child or move it to another
    /// namespace through a value meant only for a label.
    fn object(&mut self, object: &ObjectNode) -> Result<Option<Value>, Failure> {
        let ObjectNode {
            entries,
            nulls,
            merge,
            ..
        } = object;
        self.charge(budget::HEADER)?;
        let mut map = match merge {
            None => Map::with_capacity(entries.len()),
            Some(expr) => match self.expr(expr)? {
                None | Some(Value::Null) => Map::with_capacity(entries.len()),
                Some(Value::Object(base)) => base,
                Some(other) => {
                    return Err(Failure::new(
                        expr.pos,
                        format!("`$merge` needs a map, not {}", type_name(&other)),
                    ))
                }
            },
        };
        // YAML already refuses two equal literal keys, so only objects with a computed key
        // can collide.
        let computed = entries.iter().any(|(k, _)| matches!(k, Key::Text(_)));
        let mut own: BTreeSet<String> = BTreeSet::new();
        for (index, (key, node)) in entries.iter().enumerate() {
            let name = match key {
                Key::Literal { name, .. } => name.clone(),
                Key::Text(t) => self.text(t)?,
            };
            let value = match self.node(node)? {
                Some(Value::Null) if *nulls == NullPolicy::Drop => {
                    map.remove(&name);
                    continue;
                }
                Some(v) => v,
                None => continue,
            };
            if computed && !own.insert(name.clone()) {
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
                Key::Literal { name: k, .. } => k == name,
                Key::Text(t) => self.text(t)? == name,
            };
            if same {
                return Ok(key);
            }
        }
        Ok(&entries[0].0)
    }

    /// Renders a list item: `emit` gets its node once for each time it is included.
    pub(super) fn item(&mut self, item: &Item, emit: &mut Emit<'_, 'l>) -> Result<(), Failure> {
        let Some(each) = &item.each else {
            return self.item_once(item, emit);
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
            result = self.item_once(item, emit);
            if result.is_err() {
                break;
            }
        }
        self.restore(saved);
        result
    }

    /// One pass of an item: its `$let` names bound in order, for as long as the item
    /// renders, then its condition and body. Each value is evaluated before its name is
    /// bound, so it sees an outer name of the same spelling, as the load-time check does.
    fn item_once(&mut self, item: &Item, emit: &mut Emit<'_, 'l>) -> Result<(), Failure> {
        if item.lets.is_empty() {
            return self.included(item, emit);
        }
        let mut saved = Vec::with_capacity(item.lets.len());
        let mut result = Ok(());
        for binding in &item.lets {
            let value = match self.expr(&binding.value) {
                Ok(value) => value,
                Err(failure) => {
                    result = Err(failure);
                    break;
                }
            };
            let scope = self.scope();
            // A missing value binds missing, so `exists` sees it as the request had it.
            let outer = match value {
                Some(value) => scope.insert(binding.name.clone(), value),
                None => scope.remove(&binding.name),
            };
            saved.push((binding.name.clone(), outer));
        }
        if result.is_ok() {
            result = self.included(item, emit);
        }
        self.restore(saved);
        result
    }

    /// An item whose names are bound: its condition, then what it gives.
    fn included(&mut self, item: &Item, emit: &mut Emit<'_, 'l>) -> Result<(), Failure> {
        if let Some(when) = &item.when {
            self.step(when.pos)?;
            // Read where it stands: the condition is not kept, so it is not charged.
            if !self.with_value(&when.expression, when.pos, |value| Ok(truthy(value)))? {
                return Ok(());
            }
        }
        match &item.body {
            Body::One(node) => emit(self, Emitted::Node(node)),
            Body::Items(items) => {
                for inner in items {
                    self.item(inner, emit)?;
                }
                Ok(())
            }
            Body::Spliced(expr) => match self.expr(expr)? {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Array(values)) => {
                    for value in values {
                        emit(self, Emitted::Value(value))?;
                    }
                    Ok(())
                }
                Some(other) => Err(Failure::new(
                    expr.pos,
                    format!(
                        "`$items` needs a list to splice, not {}; wrap one item in `list`, or use `$template` for a single item",
                        type_name(&other)
                    ),
                )),
            },
        }
    }

    /// Evaluates a whole expression to its JSON value. A value computed by a helper is
    /// taken as it is (the helper charged for it); one copied from the scope is charged
    /// before it is copied.
    pub fn expr(&mut self, expr: &Expr) -> Result<Option<Value>, Failure> {
        self.step(expr.pos)?;
        self.value(expr)
    }

    fn value(&mut self, expr: &Expr) -> Result<Option<Value>, Failure> {
        let pos = expr.pos;
        self.with_found(&expr.expression, pos, |found| {
            let Some(found) = found else { return Ok(None) };
            // Everything a render keeps is charged before it is copied: a value from the scope
            // or the rule, and a helper's result, which the helper only checked would fit
            // before building it. A helper's result is kept as it is, not copied.
            budget::charge_copy(&found).map_err(|e| Failure::new(pos, e.message()))?;
            Ok(Some(found.into_owned()))
        })
    }

    /// Hands `use_value` what `expression` evaluates to (`None`: missing), where it stands.
    pub(super) fn with_value<T>(
        &mut self,
        expression: &Expression,
        pos: Pos,
        use_value: impl FnOnce(Option<&Value>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.with_found(expression, pos, |found| use_value(found.as_deref()))
    }

    /// Hands `use_found` what `expression` evaluates to: borrowed from the scope or the rule,
    /// or a helper's result.
    fn with_found<T>(
        &mut self,
        expression: &Expression,
        pos: Pos,
        use_found: impl FnOnce(Found<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        #[cfg(any(test, feature = "cross-check"))]
        let before = budget::snapshot();
        let found = expression.evaluate(&self.scope);
        #[cfg(any(test, feature = "cross-check"))]
        let ours = found
            .as_ref()
            .map(|found| found.as_deref().cloned())
            .map_err(Clone::clone);
        let used = match found {
            Ok(found) => use_found(found),
            Err(message) => Err(Failure::new(pos, message)),
        };
        #[cfg(any(test, feature = "cross-check"))]
        super::cross_check::expression(&mut self.scope, expression, &before, ours);
        used
    }

    pub(super) fn scope(&mut self) -> &mut Map<String, Value> {
        match &mut self.scope {
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
        super::uses::swap_in(self.scope(), name, Some(value));
    }

    fn bind(&mut self, names: &[(&String, Value)]) -> Vec<(String, Option<Value>)> {
        names
            .iter()
            .map(|(n, _)| ((*n).clone(), self.scope().remove(n.as_str())))
            .collect()
    }

    pub(super) fn restore(&mut self, saved: Vec<(String, Option<Value>)>) {
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

impl Expression {
    /// What the expression gives at the top of a template. A path of plain names is looked
    /// up in the scope leniently: a name into a list finds nothing rather than failing.
    ///
    /// # Errors
    ///
    /// A helper's error, or what handlebars' strict mode refuses.
    pub(super) fn evaluate<'s>(&'s self, scope: &'s Value) -> Result<Found<'s>, String> {
        if let Some(names) = self.program.plain_names() {
            return Ok(lookup(names, scope).map(std::borrow::Cow::Borrowed));
        }
        self.program.eval(&Frame::root(scope))
    }
}

/// Two keys of one object that render to the same name.
fn key_collision(name: &str, first: &Key, second: &Key, pos: Pos) -> Failure {
    let describe = |key: &Key| match key {
        Key::Literal { name, .. } => format!("the key `{name}`"),
        Key::Text(t) => format!("the computed key `{}` (line {})", t.source, t.pos.line),
    };
    Failure::new(
        match second {
            Key::Text(t) => t.pos,
            Key::Literal { .. } => match first {
                Key::Text(t) => t.pos,
                Key::Literal { .. } => pos,
            },
        },
        format!(
            "{} and {} both give `{}`; a computed key may not replace another key of the same object",
            describe(first),
            describe(second),
            crate::clip::clip(name)
        ),
    )
}

fn loop_limit(pos: Pos, limit: usize) -> Failure {
    Failure::new(
        pos,
        format!("`$forEach` has more than {limit} items (limit max-loop-items)"),
    )
}
