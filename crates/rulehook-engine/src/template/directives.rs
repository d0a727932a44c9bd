//! Compiling list items and conditional entries: the directives (`$forEach`, `$let`,
//! `$includeWhen`, `$template`, `$items`) that decide how often a template stands, and
//! under which names.

use serde_json::{Map, Value};

use super::compile::LaterLets;
use super::{
    Body, Compiler, Item, Let, Loop, Node, NullPolicy, DIRECTIVE_KEYS, ITEMS_KEY, LET_KEY,
    LIST_ONLY_KEYS, MERGE_KEY, TEMPLATE_KEY, WHEN_KEY,
};
use crate::diagnostic::suggest;
use crate::helpers;
use crate::json::is_identifier;
use crate::locate::{join_index, join_key};

impl Compiler<'_> {
    /// A map with `$includeWhen` outside a list: the template it guards, which stands at
    /// most once (a key left out, or nothing, when the condition is falsy).
    pub(super) fn conditional(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        nulls: NullPolicy,
    ) -> Node {
        self.unknown_directives(map, path);
        for key in map.keys().filter(|k| LIST_ONLY_KEYS.contains(&k.as_str())) {
            self.error(self.locator.key(&join_key(path, key)), list_only(key));
        }
        let item = self.guarded(map, path, None, &[], nulls);
        Node::Conditional(Box::new(item))
    }

    /// The items of a list template.
    pub(super) fn items(&mut self, items: &[Value], path: &str) -> Vec<Item> {
        let mut out = Vec::with_capacity(items.len());
        for (i, value) in items.iter().enumerate() {
            let item_path = join_index(path, i);
            match value {
                Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => {
                    out.push(self.directive_item(map, &item_path));
                }
                _ => out.push(Item {
                    body: Body::One(self.node(value, &item_path, NullPolicy::Drop)),
                    each: None,
                    lets: Vec::new(),
                    when: None,
                }),
            }
        }
        out
    }

    fn unknown_directives(&mut self, map: &Map<String, Value>, path: &str) {
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
    }

    fn directive_item(&mut self, map: &Map<String, Value>, path: &str) -> Item {
        self.unknown_directives(map, path);
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
        let loop_names: Vec<String> = each
            .as_ref()
            .map(|l| vec![l.item.clone(), l.index.clone(), l.key.clone()])
            .unwrap_or_default();
        let depth = self.names.stack.len();
        self.names.stack.extend(loop_names.iter().cloned());
        // What a loop encloses does not run on every call.
        let looped = usize::from(each.is_some());
        self.guards += looped;
        let item = self.guarded(map, path, each, &loop_names, NullPolicy::Drop);
        self.names.stack.truncate(depth);
        self.guards -= looped;
        item
    }

    /// What list items and conditional entries share: `$let`, then `$includeWhen`, then
    /// the body, each seeing the names bound before it.
    fn guarded(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        each: Option<Loop>,
        loop_names: &[String],
        nulls: NullPolicy,
    ) -> Item {
        let depth = self.names.stack.len();
        let lets = self.lets(map, path, loop_names);
        let when = map
            .get(WHEN_KEY)
            .and_then(|w| self.expr_at(w, &join_key(path, WHEN_KEY)));
        // What a condition encloses does not run on every call.
        let conditional = usize::from(when.is_some());
        self.guards += conditional;
        let body = self.body(map, path, nulls);
        self.guards -= conditional;
        self.names.stack.truncate(depth);
        Item {
            body,
            each,
            lets,
            when,
        }
    }

    /// The body of an item: `$items`, `$template`, or the item's own keys (with `$merge`).
    fn body(&mut self, map: &Map<String, Value>, path: &str, nulls: NullPolicy) -> Body {
        // `$merge` belongs to the item's object, not to the list.
        let own = |k: &&String| !k.starts_with('$') || k.as_str() == MERGE_KEY;
        let items_path = join_key(path, ITEMS_KEY);
        if map.contains_key(super::USE_KEY) {
            for key in map
                .keys()
                .filter(|k| own(k) || [TEMPLATE_KEY, ITEMS_KEY].contains(&k.as_str()))
            {
                self.error(
                    self.locator.key(&join_key(path, key)),
                    format!(
                        "`{key}` cannot stand beside `$use`; the template used is the whole item"
                    ),
                );
            }
            return Body::One(self.use_template(map, path, nulls));
        }
        if map.contains_key(super::WITH_KEY) {
            self.error(
                self.locator.key(&join_key(path, super::WITH_KEY)),
                "`$with` gives the params of a `$use`; add `$use: <template>` beside it",
            );
        }
        match (map.get(TEMPLATE_KEY), map.get(ITEMS_KEY)) {
            (Some(_), Some(_)) => {
                self.error(
                    self.locator.key(&items_path),
                    "`$items` cannot stand beside `$template`; keep `$items` to splice a list of items, or `$template` for one item",
                );
                Body::Items(Vec::new())
            }
            (None, Some(items)) => {
                if let Some(extra) = map.keys().find(own) {
                    self.error(
                        self.locator.key(&join_key(path, extra)),
                        format!("`{extra}` cannot stand beside `$items`; move it into the items, or drop `$items` to write one item"),
                    );
                }
                match items {
                    Value::Array(items) => Body::Items(self.items(items, &items_path)),
                    Value::String(_) => match self.expr_at(items, &items_path) {
                        Some(expr) => Body::Spliced(expr),
                        None => Body::Items(Vec::new()),
                    },
                    _ => {
                        self.error(
                            self.locator.value(&items_path),
                            "`$items` needs a list of item templates, or one whole expression such as \"{{ items }}\" that gives a list",
                        );
                        Body::Items(Vec::new())
                    }
                }
            }
            (Some(template), None) => {
                if let Some(extra) = map.keys().find(own) {
                    self.error(
                        self.locator.key(&join_key(path, extra)),
                        format!("`{extra}` cannot stand beside `$template`; move it inside"),
                    );
                }
                Body::One(self.node(template, &join_key(path, TEMPLATE_KEY), nulls))
            }
            (None, None) => {
                let rest: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| own(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Body::One(self.object(&rest, path, nulls))
            }
        }
    }

    /// `$let`: each name bound to one whole expression, in the order written, and pushed
    /// into scope for what follows it.
    fn lets(&mut self, map: &Map<String, Value>, path: &str, loop_names: &[String]) -> Vec<Let> {
        let Some(value) = map.get(LET_KEY) else {
            return Vec::new();
        };
        let let_path = join_key(path, LET_KEY);
        let Value::Object(entries) = value else {
            self.error(
                self.locator.value(&let_path),
                "`$let` needs a map of names to whole expressions, such as `$let: {host: \"{{ item.host }}\"}`",
            );
            return Vec::new();
        };
        // In the order written, which the parsed map does not keep.
        let mut written: Vec<(&String, &Value)> = entries.iter().collect();
        written.sort_by_key(|(name, _)| {
            let p = self.locator.key(&join_key(&let_path, name));
            (p.line, p.column)
        });
        let mut lets = Vec::with_capacity(written.len());
        for (index, (name, value)) in written.iter().enumerate() {
            let name_path = join_key(&let_path, name);
            if let Some(problem) = self.let_name_problem(name, loop_names) {
                self.error(self.locator.key(&name_path), problem);
                continue;
            }
            self.later_lets = Some(LaterLets {
                defining: (*name).clone(),
                later: written[index + 1..]
                    .iter()
                    .map(|(n, _)| (*n).clone())
                    .collect(),
            });
            let expr = self.expr_at(value, &name_path);
            self.later_lets = None;
            self.names.stack.push((*name).clone());
            if let Some(value) = expr {
                lets.push(Let {
                    name: (*name).clone(),
                    value,
                });
            }
        }
        lets
    }

    /// Why `name` cannot be a `$let` name, if it cannot.
    fn let_name_problem(&self, name: &str, loop_names: &[String]) -> Option<String> {
        if !is_identifier(name) {
            return Some(format!(
                "`$let` name `{name}` must be letters, digits and `_`"
            ));
        }
        if self.names.is_fixed(name) || name == "this" {
            return Some(format!(
                "`$let` name `{name}` would hide the value or built-in name `{name}`; pick another"
            ));
        }
        if helpers::lookup(name).is_some() {
            return Some(format!(
                "`$let` name `{name}` is a helper's name; pick another"
            ));
        }
        if let Some(function) = super::functions::lookup(name) {
            return Some(format!(
                "`$let` name `{name}` is the name of the imported function `{name}` ({}); pick another",
                function.origin
            ));
        }
        if loop_names.iter().any(|n| n == name) {
            return Some(format!(
                "`$let` name `{name}` is already this item's loop name; pick another, or rename the loop's with `$as`, `$index` or `$key`"
            ));
        }
        None
    }
}

/// Why a list-only directive cannot stand in an object.
pub(super) fn list_only(key: &str) -> String {
    format!("`{key}` belongs to list items: an object's entry stands at most once; make the value a list whose item has `{key}`")
}

/// Literal `apiVersion`/`kind` pairs of child templates, for generating controller
/// manifests; items spliced in by `$items` are children too.
pub(crate) fn literal_child_types(value: &Value, out: &mut Vec<(String, String)>) {
    let Value::Array(items) = value else { return };
    for item in items {
        if let Some(spliced) = item.get(ITEMS_KEY) {
            literal_child_types(spliced, out);
        }
        let template = item.get(TEMPLATE_KEY).unwrap_or(item);
        let api = template.get("apiVersion").and_then(Value::as_str);
        let kind = template.get("kind").and_then(Value::as_str);
        if let (Some(api), Some(kind)) = (api, kind) {
            if !api.contains("{{") && !kind.contains("{{") {
                out.push((api.to_owned(), kind.to_owned()));
            }
        }
    }
}
