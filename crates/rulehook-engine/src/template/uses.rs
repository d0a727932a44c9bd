//! `$use`: a library's template put in place, its params given by `$with`. The template is
//! compiled where it is used, from the library's file, seeing only its params and `now`;
//! the params are evaluated where it is used, all before any is bound.

use serde_json::{Map, Value};

use super::{Compiler, Expr, Failure, Let, Node, NullPolicy, Render, USE_KEY, WITH_KEY};
use crate::diagnostic::suggest;
use crate::locate::{join_key, Pos};

/// A library template in place, with its params.
#[derive(Debug)]
pub struct Use {
    /// The template's name, for messages.
    pub name: String,
    /// The library's file, where failures inside the template are.
    pub file: String,
    /// Where `$use` stands, where its failures are reported.
    pub pos: Pos,
    pub params: Vec<Let>,
    pub body: Node,
}

impl Compiler<'_> {
    /// A map with `$use` (and `$with`, and in a list item the other directives, which the
    /// caller has taken): the template it names, compiled here.
    pub(super) fn use_template(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        nulls: NullPolicy,
    ) -> Node {
        let nothing = Node::nothing();
        let use_path = join_key(path, USE_KEY);
        let at = self.locator.value(&use_path);
        let Some(name) = map.get(USE_KEY).and_then(Value::as_str) else {
            self.error(
                at,
                "`$use` needs the name of a library template, such as `$use: readyCondition`",
            );
            return nothing;
        };
        for key in map.keys().filter(|k| !k.starts_with('$')) {
            self.error(
                self.locator.key(&join_key(path, key)),
                format!("`{key}` cannot stand beside `$use`; the template used is the whole value"),
            );
        }
        if self.uses >= super::functions::MAX_DEPTH {
            self.error(
                at,
                format!(
                    "templates nest more than {} `$use`s deep here; use fewer levels",
                    super::functions::MAX_DEPTH
                ),
            );
            return nothing;
        }
        let Some(linked) = self.linked else {
            self.error(
                at,
                "`$use` needs a library: add `imports: [<library>]` at the top of the rule",
            );
            return nothing;
        };
        let scope = linked.scope(self.library);
        let Some(&(library, def)) = scope.templates.get(name) else {
            let message = if super::functions::lookup(name).is_some() {
                format!("`{name}` is a library function, not a template; call it in an expression: \"{{{{ {name} ... }}}}\"")
            } else {
                match suggest(name, scope.templates.keys().copied()) {
                    Some(close) => format!("unknown template `{name}`; did you mean `{close}`?"),
                    None => format!(
                        "unknown template `{name}`; the imported libraries define: {}",
                        scope
                            .templates
                            .keys()
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            };
            self.error(at, message);
            return nothing;
        };
        if self.library.is_none() {
            linked
                .used
                .borrow_mut()
                .insert((library.name.to_owned(), name.to_owned()));
        }
        let params = self.with_params(map, path, name, &def.params);
        // The template's own compile: its file, its names, its library's functions.
        let body = {
            let functions = linked.scope(Some(library.name)).functions.clone();
            let mut target = super::definitions::Target {
                diagnostics: &mut *self.diagnostics,
                gathered: &mut *self.gathered,
                guard: self.guard,
            };
            let mut inner = super::definitions::definition_compiler(library, def, &mut target);
            inner.linked = Some(linked);
            inner.uses = self.uses + 1;
            super::functions::in_scope(functions, || inner.node(&def.body, &def.path, nulls))
        };
        Node::Use(Box::new(Use {
            name: name.to_owned(),
            file: library.file.to_owned(),
            pos: at,
            params,
            body,
        }))
    }

    /// The `$with` of a `$use`: every param of the template, each a whole expression or a
    /// literal, compiled where the template is used.
    fn with_params(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        name: &str,
        wanted: &[String],
    ) -> Vec<Let> {
        let with_path = join_key(path, WITH_KEY);
        let given = match map.get(WITH_KEY) {
            None => Map::new(),
            Some(Value::Object(given)) => given.clone(),
            Some(_) => {
                self.error(
                    self.locator.value(&with_path),
                    "`$with` needs a map of params to values, such as `$with: {ready: \"{{ ready }}\"}`",
                );
                return Vec::new();
            }
        };
        for key in given.keys().filter(|k| !wanted.contains(k)) {
            let message = match suggest(key, wanted.iter().map(String::as_str)) {
                Some(close) => {
                    format!("template `{name}` has no param `{key}`; did you mean `{close}`?")
                }
                None => format!(
                    "template `{name}` has no param `{key}`; its params: {}",
                    wanted.join(", ")
                ),
            };
            self.error(self.locator.key(&join_key(&with_path, key)), message);
        }
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|p| !given.contains_key(*p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let at = self.locator.key(&join_key(path, USE_KEY));
            self.error(
                at,
                format!(
                    "template `{name}` needs {}; give {} under `$with`",
                    missing
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            );
        }
        let mut params = Vec::new();
        for param in wanted {
            let Some(value) = given.get(param) else {
                continue;
            };
            let param_path = join_key(&with_path, param);
            let expr = match value {
                Value::String(text) if text.contains("{{") => self.expr_at(value, &param_path),
                literal => Some(Expr::new(
                    handlebars::template::Parameter::Literal(literal.clone()),
                    self.locator.value(&param_path),
                )),
            };
            if let Some(value) = expr {
                params.push(Let {
                    name: param.clone(),
                    value,
                });
            }
        }
        params
    }
}

impl Render<'_> {
    /// Renders what `run` renders with the params of `used` bound: each evaluated first,
    /// where the template is used, then all bound, and put back afterwards. A failure inside
    /// the template is reported where it is used, naming the template's line.
    pub(super) fn with_params<T>(
        &mut self,
        used: &Use,
        run: impl FnOnce(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut values = Vec::with_capacity(used.params.len());
        for param in &used.params {
            values.push(self.expr(&param.value)?);
        }
        let scope = self.scope();
        let saved: Vec<Option<Value>> = used
            .params
            .iter()
            .zip(values)
            .map(|(param, value)| swap_in(scope, &param.name, value))
            .collect();
        let result = run(self);
        let scope = self.scope();
        for (param, outer) in used.params.iter().zip(saved) {
            swap_in(scope, &param.name, outer);
        }
        result.map_err(|failure| {
            Failure::new(
                used.pos,
                format!(
                    "in template `{}` at {}:{}: {}",
                    used.name, used.file, failure.pos, failure.message
                ),
            )
        })
    }
}

/// Puts `value` under `name` in `scope` (or takes the name out, for `None`), and gives
/// what was there. A name already in the scope keeps its key, so binding a name in a loop
/// allocates nothing.
pub(super) fn swap_in(
    scope: &mut Map<String, Value>,
    name: &str,
    value: Option<Value>,
) -> Option<Value> {
    if let Some(slot) = scope.get_mut(name) {
        return match value {
            Some(value) => Some(std::mem::replace(slot, value)),
            None => scope.remove(name),
        };
    }
    if let Some(value) = value {
        scope.insert(name.to_owned(), value);
    }
    None
}
