//! What a rule's templates may use of the libraries it imports, once linked: the types the
//! library module fills in and the template compiler reads.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde_json::Value;

use super::functions::Functions;
use super::{Compiler, Gathered};
use crate::diagnostic::Diagnostic;
use crate::locate::{Locator, Pos};

/// One function or template of a library.
#[derive(Debug)]
pub(crate) struct Definition {
    pub(crate) name: String,
    pub(crate) params: Vec<String>,
    /// The expression (a function) or the template, as written.
    pub(crate) body: Value,
    /// Where the body is, as a locator path (`templates.ready.template`).
    pub(crate) path: String,
    /// Where the name is written.
    pub(crate) pos: Pos,
}

/// The library a definition comes from, as its compile needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'l> {
    pub(crate) name: &'l str,
    pub(crate) file: &'l str,
    pub(crate) locator: &'l Locator,
}

/// What one scope may use: the rule's own templates, or one library's definitions.
#[derive(Debug, Default)]
pub(crate) struct Scope<'l> {
    pub(crate) functions: Rc<Functions>,
    pub(crate) templates: BTreeMap<&'l str, (Source<'l>, &'l Definition)>,
}

/// The libraries of one rule, linked.
#[derive(Debug, Default)]
pub(crate) struct Linked<'l> {
    /// Each library reached, by name: what its definitions may use.
    pub(crate) libraries: BTreeMap<&'l str, Scope<'l>>,
    /// What the rule's own templates may use: the libraries it imports.
    pub(crate) rule: Scope<'l>,
    /// The definitions the rule's own templates use, as (library, name).
    pub(crate) used: RefCell<BTreeSet<(String, String)>>,
}

impl<'l> Linked<'l> {
    /// The scope of `library`, or the rule's when `None`.
    pub(crate) fn scope(&self, library: Option<&str>) -> &Scope<'l> {
        library
            .and_then(|name| self.libraries.get(name))
            .unwrap_or(&self.rule)
    }
}

/// Where the caller's compile goes: its diagnostics, what it gathers and its guard.
pub(crate) struct Target<'t> {
    pub(crate) diagnostics: &'t mut Vec<Diagnostic>,
    pub(crate) gathered: &'t mut Gathered,
    pub(crate) guard: &'t dyn crate::CompileGuard,
}

/// A compiler for one definition of `library`: its file, and its params and `now` as the
/// only names.
pub(crate) fn definition_compiler<'c>(
    library: Source<'c>,
    def: &Definition,
    target: &'c mut Target<'_>,
) -> Compiler<'c> {
    let names = super::Names::new(
        def.params
            .iter()
            .cloned()
            .chain([crate::now::NOW.to_owned()]),
    );
    let mut compiler = Compiler::new(
        library.file,
        library.locator,
        target.diagnostics,
        names,
        target.gathered,
        target.guard,
    );
    compiler.library = Some(library.name);
    compiler
}

/// Every name a definition's body may use: the words inside its `{{ }}`, outside quotes,
/// and the templates it names with `$use`.
pub(crate) fn names_used(body: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![body];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => words_in_expressions(text, &mut out),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (key, value) in map {
                    if key == super::USE_KEY {
                        if let Some(name) = value.as_str() {
                            out.insert(name.to_owned());
                        }
                    }
                    words_in_expressions(key, &mut out);
                    stack.push(value);
                }
            }
            _ => {}
        }
    }
    out
}

fn words_in_expressions(text: &str, out: &mut BTreeSet<String>) {
    for part in text.split("{{").skip(1) {
        let inside = part.split("}}").next().unwrap_or("");
        let mut quote = None;
        let mut word = String::new();
        for c in inside.chars().chain([' ']) {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c.is_alphanumeric() || c == '_' => {
                    word.push(c);
                    continue;
                }
                None => {}
            }
            if !word.is_empty() {
                out.insert(std::mem::take(&mut word));
            }
        }
    }
}
