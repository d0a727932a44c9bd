//! Compiling a [`RuleSpec`] into a [`Rule`]: JSONPaths parsed, templates compiled and every
//! name checked, once, when the rule loads. Every problem becomes a [`Diagnostic`] at its
//! place in the file.

use serde_json::Value;

use crate::compile_hook::compile_hook;
use crate::diagnostic::Diagnostic;
use crate::helpers;
use crate::json::is_identifier;
use crate::locate::{join_key, Locator, Pos};
use crate::metacontroller::{self as mc, Hook};
use crate::now::NOW;
use crate::query_cost;
use crate::request::Reads;
use crate::rule::{NamedValue, Rule, Source};
use crate::spec::{HookSpec, RuleSpec, ValueSpec};
use crate::template::{Compiler, Gathered, Names, NullPolicy};

impl Rule {
    /// Compiles rule text. `file` only labels diagnostics; nothing is read.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line and column.
    /// A rule compiled alone cannot import libraries: `imports:` is an error here.
    pub fn compile(file: &str, text: &str) -> Result<Rule, Vec<Diagnostic>> {
        Self::compile_guarded(file, text, &crate::Unbounded)
    }

    /// As [`Rule::compile`], with the libraries of the rule's directory, which its
    /// `imports:` names.
    ///
    /// # Errors
    ///
    /// As [`Rule::compile`]; also an import that `libraries` lacks.
    pub fn compile_with(
        file: &str,
        text: &str,
        libraries: &crate::LibrarySet,
    ) -> Result<Rule, Vec<Diagnostic>> {
        Self::compile_guarded_with(file, text, Some(libraries), &crate::Unbounded)
    }

    /// As [`Rule::compile`], asking `guard` between templates whether to go on.
    ///
    /// # Errors
    ///
    /// As [`Rule::compile`]; a stopped compile has the guard's reason as its one error.
    pub fn compile_guarded(
        file: &str,
        text: &str,
        guard: &dyn crate::CompileGuard,
    ) -> Result<Rule, Vec<Diagnostic>> {
        Self::compile_guarded_with(file, text, None, guard)
    }

    /// As [`Rule::compile_with`], asking `guard` between templates whether to go on.
    ///
    /// # Errors
    ///
    /// As [`Rule::compile_guarded`].
    pub fn compile_guarded_with(
        file: &str,
        text: &str,
        libraries: Option<&crate::LibrarySet>,
        guard: &dyn crate::CompileGuard,
    ) -> Result<Rule, Vec<Diagnostic>> {
        let locator = Locator::new(text);
        let spec = RuleSpec::parse(file, text, &locator).map_err(|mut diagnostics| {
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics
        })?;
        let mut diagnostics = Vec::new();
        let imported = crate::library::imports::imported(
            file,
            &spec.imports,
            libraries,
            &locator,
            &mut diagnostics,
        );
        let rule = match compile_spec(file, spec, &locator, &mut diagnostics, guard, &imported) {
            Ok(rule) => rule,
            // Stopped: its other diagnostics are about templates it skipped.
            Err(why) => return Err(vec![Diagnostic::at(file, Pos { line: 1, column: 1 }, why)]),
        };
        if diagnostics.is_empty() {
            Ok(rule)
        } else {
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics.dedup();
            Err(diagnostics)
        }
    }
}

fn compile_spec(
    file: &str,
    spec: RuleSpec,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
    guard: &dyn crate::CompileGuard,
    imported: &[std::sync::Arc<crate::Library>],
) -> Result<Rule, String> {
    let name = crate::rule_name::rule_name(file, spec.name.as_deref(), locator, diagnostics);
    let name_pos = if spec.name.is_some() {
        locator.value("name")
    } else {
        Pos { line: 1, column: 1 }
    };
    let base: Vec<&str> = mc::request_shape(spec.kind, Hook::Sync)
        .keys
        .iter()
        .chain([NOW].iter())
        .copied()
        .collect();
    let base = base.as_slice();
    // A customize hook sees `parent` even when the rule is a decorator's.
    let value_scope: Vec<&str> = base.iter().chain([mc::PARENT].iter()).copied().collect();
    let mut gathered = Gathered::new(Reads::for_answer());
    let mut target = crate::template::definitions::Target {
        diagnostics,
        gathered: &mut gathered,
        guard,
    };
    let linked = crate::library::link::link(imported, &mut target);
    crate::library::imports::check_value_names(
        file,
        spec.values.keys(),
        &linked,
        locator,
        diagnostics,
    );
    // Every template of the rule may call the functions of the libraries it imports.
    let _functions = crate::template::functions::enter(linked.rule.functions.clone());
    let linked = Some(&linked);
    let mut target = crate::template::definitions::Target {
        diagnostics,
        gathered: &mut gathered,
        guard,
    };
    let values = compile_values(file, &spec, locator, &value_scope, &mut target, linked);
    // Every value written counts, also one that failed to compile: its error is reported
    // once, not again at every template that uses it.
    let names_for = |builtins: &[&str]| {
        Names::new(
            builtins
                .iter()
                .map(|s| (*s).to_owned())
                .chain(spec.values.keys().cloned()),
        )
    };
    let mut child_types = Vec::new();
    if spec.sync.is_none() && spec.finalize.is_none() && spec.customize.is_none() {
        diagnostics.push(Diagnostic::at(
            file,
            locator.value(""),
            "the rule has no hook: add `sync`, `finalize` or `customize`",
        ));
    }
    let mut hook =
        |section: Hook, hook_spec: Option<&HookSpec>, diagnostics: &mut Vec<Diagnostic>| {
            let hook_spec = hook_spec?;
            let mut compiler = Compiler::new(
                file,
                locator,
                diagnostics,
                names_for(base),
                &mut gathered,
                guard,
            );
            compiler.linked = linked;
            Some(compile_hook(
                section,
                spec.kind,
                hook_spec,
                &mut compiler,
                &mut child_types,
            ))
        };
    let sync = hook(Hook::Sync, spec.sync.as_ref(), diagnostics);
    let finalize = hook(Hook::Finalize, spec.finalize.as_ref(), diagnostics);
    let customize = spec.customize.as_ref().map(|c| {
        let mut compiler = Compiler::new(
            file,
            locator,
            diagnostics,
            names_for(
                &mc::request_shape(spec.kind, Hook::Customize)
                    .keys
                    .iter()
                    .chain([NOW].iter())
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            &mut gathered,
            guard,
        );
        compiler.linked = linked;
        let node = compiler.node(
            &c.related_resources,
            "customize.relatedResources",
            NullPolicy::Drop,
        );
        (node, locator.value("customize.relatedResources"))
    });
    child_types.sort();
    child_types.dedup();
    if let Some(why) = gathered.stopped.take() {
        return Err(why);
    }
    let Gathered {
        types,
        reads,
        patterns,
        ..
    } = gathered;
    let mut warnings = crate::controller_section::unknown_type_reads(
        file,
        &types,
        &child_types,
        spec.controller.as_ref(),
        spec.customize.as_ref().map(|c| &c.related_resources),
    );
    for (hook, hook_spec) in [(Hook::Sync, &spec.sync), (Hook::Finalize, &spec.finalize)] {
        if let Some(status) = hook_spec.as_ref().and_then(|h| h.status.as_ref()) {
            let path = join_key(hook.as_str(), mc::STATUS);
            crate::status_time::unconditional_now(file, status, &path, locator, &mut warnings);
        }
    }
    if let Some(controller) = &spec.controller {
        warnings.extend(crate::controller_section::resource_names(
            file, controller, locator,
        ));
        crate::controller_section::check_owned_resources(
            file,
            controller,
            &child_types,
            locator,
            diagnostics,
        );
    }
    Ok(Rule {
        name,
        name_pos,
        file: file.to_owned(),
        kind: spec.kind,
        hook_version: spec.hook_version.unwrap_or_default(),
        controller: spec.controller,
        child_types,
        warnings,
        values,
        sync,
        finalize,
        customize,
        library_uses: linked.map(|l| l.used.take()).unwrap_or_default(),
        types: types.into_keys().collect(),
        reads: reads.with_subject(),
        answer_reads: reads,
        patterns: (!patterns.is_empty()).then(|| std::sync::Arc::new(patterns)),
    })
}

fn compile_values(
    file: &str,
    spec: &RuleSpec,
    locator: &Locator,
    builtins: &[&str],
    target: &mut crate::template::definitions::Target<'_>,
    linked: Option<&crate::template::definitions::Linked<'_>>,
) -> Vec<NamedValue> {
    let crate::template::definitions::Target {
        diagnostics,
        gathered,
        guard,
    } = target;
    let guard = *guard;
    // In file order, so a computed value sees exactly the computed values above it.
    let mut entries: Vec<(&String, &ValueSpec)> = spec.values.iter().collect();
    entries.sort_by_key(|(name, _)| {
        let p = locator.key(&join_key("values", name));
        (p.line, p.column)
    });
    let path_names: Vec<String> = entries
        .iter()
        .filter(|(_, v)| {
            matches!(v, ValueSpec::Path(_))
                || matches!(v, ValueSpec::Full(f) if f.expr.is_none() && f.template.is_none())
        })
        .map(|(n, _)| (*n).clone())
        .collect();
    let mut computed_names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (name, value) in entries {
        let path = join_key("values", name);
        let key_pos = locator.key(&path);
        if !is_identifier(name) {
            diagnostics.push(Diagnostic::at(
                file,
                key_pos,
                format!("value name `{name}` must be letters, digits and `_`"),
            ));
            continue;
        }
        // Request keys, `this` and helpers already mean something in templates.
        let reserved = mc::REQUEST_KEYS.contains(&name.as_str()) || name == "this" || name == NOW;
        if reserved || helpers::lookup(name).is_some() {
            diagnostics.push(Diagnostic::at(
                file,
                key_pos,
                format!("value name `{name}` is already used by templates; pick another"),
            ));
            continue;
        }
        let (path_text, expr_text, template, default, all, required) = match value {
            ValueSpec::Path(p) => (Some(p.clone()), None, None, None, false, false),
            ValueSpec::Full(f) => (
                f.path.clone(),
                f.expr.clone(),
                f.template.as_ref(),
                f.default.clone(),
                f.all,
                f.required,
            ),
        };
        let sources = [
            path_text.is_some().then_some("path"),
            expr_text.is_some().then_some("expr"),
            template.is_some().then_some("template"),
        ];
        let given: Vec<&str> = sources.into_iter().flatten().collect();
        if given.len() != 1 {
            let message = if given.is_empty() {
                format!("value `{name}` needs a `path`, an `expr` or a `template`")
            } else {
                format!(
                    "value `{name}` has {}; keep one",
                    given
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            };
            diagnostics.push(Diagnostic::at(file, key_pos, message));
            computed_names.push(name.clone());
            continue;
        }
        if all && path_text.is_none() {
            diagnostics.push(Diagnostic::at(
                file,
                locator.key(&join_key(&path, "all")),
                "`all` only applies to `path`",
            ));
        }
        let mut compiler = Compiler::new(
            file,
            locator,
            diagnostics,
            Names::new(
                builtins
                    .iter()
                    .map(|s| (*s).to_owned())
                    .chain(path_names.iter().cloned())
                    .chain(computed_names.iter().cloned()),
            ),
            gathered,
            guard,
        );
        compiler.linked = linked;
        let source = if let Some(text) = path_text {
            compiler.gathered.reads.query(&text);
            let at = if matches!(value, ValueSpec::Path(_)) {
                path.clone()
            } else {
                join_key(&path, "path")
            };
            query_cost::compile(file, &text, locator.value(&at), compiler.diagnostics).map(
                |(query, cost)| {
                    let members = crate::request::plain_query(&text).map(Vec::into_boxed_slice);
                    Source::Path(query, text, cost, members)
                },
            )
        } else if let Some(text) = expr_text {
            compiler
                .expr_at(&Value::String(text), &join_key(&path, "expr"))
                .map(Source::Expr)
        } else if let Some(template) = template {
            // A value is data, not a child object: a literal null in it is kept.
            let node = compiler.node(template, &join_key(&path, "template"), NullPolicy::Keep);
            Some(Source::Template(node))
        } else {
            None
        };
        computed_names.push(name.clone());
        if let Some(source) = source {
            let pos = match &source {
                Source::Path(..) if matches!(value, ValueSpec::Full(_)) => {
                    locator.value(&join_key(&path, "path"))
                }
                Source::Path(..) => locator.value(&path),
                Source::Expr(e) => e.pos,
                Source::Template(_) => locator.value(&join_key(&path, "template")),
            };
            out.push(NamedValue {
                name: name.clone(),
                source,
                default,
                all,
                required,
                pos,
            });
        }
    }
    out
}
