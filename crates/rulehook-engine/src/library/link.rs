//! Compiling imported libraries into a rule: each function a rule may reach compiled once,
//! into the rule (its reads and patterns become the rule's), and the templates each
//! library and the rule itself may `$use`, which are compiled where they are used.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use super::{Definition, Library};
use crate::diagnostic::Diagnostic;
use crate::template::definitions::{definition_compiler, Linked, Scope, Source, Target};
use crate::template::functions::Functions;
use crate::template::Gathered;

/// Links `imported` for a rule (or for a library being checked): every function of every
/// library they reach is compiled, each after the functions it calls.
pub(crate) fn link<'l>(imported: &'l [Arc<Library>], target: &mut Target<'_>) -> Linked<'l> {
    let mut own: BTreeMap<&'l str, Rc<Functions>> = BTreeMap::new();
    let mut linked = Linked::default();
    for library in post_order(imported) {
        let mut functions = visible_functions(&library.imported, &own);
        let mut mine = Functions::new();
        for def in &library.functions {
            let scope = Rc::new(functions.clone());
            if let Some(function) = compile_function(library, def, scope, target) {
                let function = Arc::new(function);
                functions.insert(def.name.clone(), function.clone());
                mine.insert(def.name.clone(), function);
            }
        }
        own.insert(&library.name, Rc::new(mine));
        let scope = Scope {
            functions: Rc::new(functions),
            templates: visible_templates(Some(library), &library.imported),
        };
        linked.libraries.insert(&library.name, scope);
    }
    linked.rule = Scope {
        functions: Rc::new(visible_functions(imported, &own)),
        templates: visible_templates(None, imported),
    };
    linked
}

/// Every library `roots` reach, each after the libraries it imports. Iterative: imports
/// form no cycle (a directory's libraries are compiled in import order), but may be long.
fn post_order(roots: &[Arc<Library>]) -> Vec<&Library> {
    let mut order: Vec<&Library> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for root in roots {
        let mut stack: Vec<(&Library, usize)> = vec![(root, 0)];
        while let Some((library, next)) = stack.last_mut() {
            let library: &Library = library;
            if seen.contains(library.name.as_str()) {
                stack.pop();
                continue;
            }
            match library.imported.get(*next) {
                Some(import) => {
                    *next += 1;
                    stack.push((import, 0));
                }
                None => {
                    seen.insert(&library.name);
                    order.push(library);
                    stack.pop();
                }
            }
        }
    }
    order
}

fn visible_functions(imported: &[Arc<Library>], own: &BTreeMap<&str, Rc<Functions>>) -> Functions {
    let mut out = Functions::new();
    for library in imported {
        if let Some(functions) = own.get(library.name.as_str()) {
            out.extend(functions.iter().map(|(n, f)| (n.clone(), f.clone())));
        }
    }
    out
}

fn visible_templates<'l>(
    own: Option<&'l Library>,
    imported: &'l [Arc<Library>],
) -> BTreeMap<&'l str, (Source<'l>, &'l Definition)> {
    own.into_iter()
        .chain(imported.iter().map(|l| &**l))
        .flat_map(|library| {
            library
                .templates
                .iter()
                .map(move |(name, def)| (name.as_str(), (library.source(), def)))
        })
        .collect()
}

fn compile_function(
    library: &Library,
    def: &Definition,
    scope: Rc<Functions>,
    target: &mut Target<'_>,
) -> Option<crate::template::functions::Function> {
    let mut compiler = definition_compiler(library.source(), def, target);
    compiler.function(&library.name, def, scope)
}

/// Two libraries that give one scope the same name: a use would not say which it means.
pub(crate) fn clashes(imported: &[Arc<Library>]) -> Vec<(String, &Library, &Library)> {
    let mut first: BTreeMap<&str, &Library> = BTreeMap::new();
    let mut out = Vec::new();
    for library in imported {
        let names = library
            .functions
            .iter()
            .map(|f| f.name.as_str())
            .chain(library.templates.keys().map(String::as_str));
        for name in names {
            match first.get(name) {
                Some(other) if other.name != library.name => {
                    out.push((name.to_owned(), *other, &**library));
                }
                _ => {
                    first.insert(name, library);
                }
            }
        }
    }
    out
}

/// Checks a library on its own: every function compiled, every template compiled once
/// where it is defined, against a scratch rule.
pub(crate) fn check_library(library: &Arc<Library>, diagnostics: &mut Vec<Diagnostic>) {
    for (name, a, b) in clashes(&library.imported) {
        diagnostics.push(Diagnostic::at(
            &library.file,
            library.locator.key("imports"),
            format!(
                "`{name}` is defined by both imported libraries `{}` ({}) and `{}` ({}); rename one",
                a.name, a.file, b.name, b.file
            ),
        ));
    }
    let mut gathered = Gathered::new(crate::request::Reads::for_answer());
    let mut target = Target {
        diagnostics,
        gathered: &mut gathered,
        guard: &crate::Unbounded,
    };
    // Linked as if a rule imported only this library.
    let itself = [library.clone()];
    let linked = link(&itself, &mut target);
    let scope = linked.scope(Some(&library.name));
    for def in library.templates.values() {
        let functions = scope.functions.clone();
        let mut compiler = definition_compiler(library.source(), def, &mut target);
        compiler.linked = Some(&linked);
        crate::template::functions::in_scope(functions, || {
            compiler.node(&def.body, &def.path, crate::template::NullPolicy::Drop)
        });
    }
}

impl Library {
    /// What compiling one of its definitions needs of it.
    pub(crate) fn source(&self) -> Source<'_> {
        Source {
            name: &self.name,
            file: &self.file,
            locator: &self.locator,
        }
    }
}
