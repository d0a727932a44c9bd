//! Rule libraries: named functions and templates that rules of one directory share.
//!
//! A library file (`NAME.lib.yaml`) is parsed and checked on its own, against the libraries
//! it imports, and every problem is reported at its place in that file. A rule that imports
//! it compiles the library's definitions again into itself ([`link`]), so that a render
//! never reaches outside its rule. Definitions see only their parameters and `now`; one
//! that uses itself, directly or through others, is refused ([`graph`]).

mod directory;
mod graph;
pub(crate) mod imports;
pub(crate) mod link;
pub(crate) mod spec;
#[cfg(test)]
mod tests;

pub use directory::compile_directory;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostic::{check_keys, suggest, Diagnostic};
use crate::json::is_identifier;
use crate::locate::{join_index, join_key, Locator};
use crate::metacontroller as mc;
use crate::now::NOW;
pub(crate) use crate::template::Definition;

/// What ends the name of a library file; a rule file is any other `*.yaml`.
pub const LIBRARY_SUFFIX: &str = ".lib.yaml";

pub(crate) const LIBRARY_KEYS: &[&str] = &["imports", "functions", "templates"];
pub(crate) const FUNCTION_KEYS: &[&str] = &["params", "expr"];
pub(crate) const TEMPLATE_KEYS: &[&str] = &["params", "template"];

/// A checked library, ready to be compiled into the rules that import it.
#[derive(Debug)]
pub struct Library {
    /// Its name: the file name without `.lib.yaml`.
    pub name: String,
    /// The file label it was compiled from, used in every message.
    pub file: String,
    /// The libraries it imports, by name, as written.
    pub imports: Vec<String>,
    pub(crate) locator: Locator,
    /// Functions in an order where each comes after those it calls.
    pub(crate) functions: Vec<Definition>,
    pub(crate) templates: BTreeMap<String, Definition>,
    /// The libraries it imports, compiled.
    pub(crate) imported: Vec<Arc<Library>>,
}

/// The libraries a rule may import: the compiled libraries of its directory, by name.
#[derive(Debug, Default, Clone)]
pub struct LibrarySet {
    libraries: BTreeMap<String, Arc<Library>>,
}

impl LibrarySet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, library: Arc<Library>) {
        self.libraries.insert(library.name.clone(), library);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Library>> {
        self.libraries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.libraries.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    /// Warnings for the definitions that no rule uses, directly or through other
    /// definitions, given what every rule of the directory uses
    /// ([`Rule::library_uses`](crate::Rule::library_uses)).
    pub fn unused<'u>(
        &self,
        used: impl IntoIterator<Item = &'u (String, String)>,
    ) -> Vec<Diagnostic> {
        let used = used.into_iter().cloned().collect();
        let libraries: Vec<Arc<Library>> = self.libraries.values().cloned().collect();
        graph::unused(&libraries, &used)
    }
}

/// The library name of a file label: its last path segment without `.lib.yaml`.
pub fn library_name(file: &str) -> Option<&str> {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(LIBRARY_SUFFIX)
}

/// The libraries a library file imports, read without compiling it: how a directory's
/// libraries are put in order before any is compiled. Empty when the file does not parse
/// (compiling it then reports why).
pub fn imports_of(text: &str) -> Vec<String> {
    let Ok(Value::Object(root)) = crate::spec::parse_tree("", text) else {
        return Vec::new();
    };
    match root.get("imports") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl Library {
    /// Compiles library text, with `available` holding the libraries it may import (those
    /// of its directory compiled before it). `file` names the library and labels messages.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line and column.
    pub fn compile(
        file: &str,
        text: &str,
        available: &LibrarySet,
    ) -> Result<Library, Vec<Diagnostic>> {
        let name = library_name(file).unwrap_or(file).to_owned();
        let tree = crate::spec::parse_tree(file, text)?;
        let locator = Locator::new(text);
        let mut diagnostics = Vec::new();
        let Value::Object(root) = tree else {
            return Err(vec![Diagnostic::at(
                file,
                locator.value(""),
                "a library file must be a mapping with `functions` or `templates`",
            )]);
        };
        check_keys(file, "", &root, LIBRARY_KEYS, &locator, &mut diagnostics);
        let imports = read_imports(file, &root, &locator, &mut diagnostics);
        let imported = resolve_imports(
            file,
            &imports,
            "imports",
            available,
            &locator,
            &mut diagnostics,
        );
        let functions = definitions(
            file,
            &root,
            "functions",
            FUNCTION_KEYS,
            "expr",
            &locator,
            &mut diagnostics,
        );
        let templates = definitions(
            file,
            &root,
            "templates",
            TEMPLATE_KEYS,
            "template",
            &locator,
            &mut diagnostics,
        );
        check_names(file, &functions, &templates, &imported, &mut diagnostics);
        let (functions, templates) = graph::ordered(file, functions, templates, &mut diagnostics);
        let library = Library {
            name,
            file: file.to_owned(),
            imports,
            locator,
            functions,
            templates,
            imported,
        };
        if !diagnostics.is_empty() {
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics.dedup();
            return Err(diagnostics);
        }
        // Each definition compiled once on its own, so its mistakes are reported here, in
        // this file, rather than in every rule that imports it.
        let library = Arc::new(library);
        link::check_library(&library, &mut diagnostics);
        let library = Arc::into_inner(library).ok_or_else(|| {
            vec![Diagnostic::new(
                file,
                1,
                1,
                "the library is still in use after its check",
            )]
        })?;
        if diagnostics.is_empty() {
            Ok(library)
        } else {
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics.dedup();
            Err(diagnostics)
        }
    }

    /// Whether it defines a function or a template named `name`.
    pub(crate) fn defines(&self, name: &str) -> bool {
        self.templates.contains_key(name) || self.functions.iter().any(|f| f.name == name)
    }
}

/// The names under `imports`, each checked to be one.
pub(crate) fn read_imports(
    file: &str,
    root: &Map<String, Value>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let Some(value) = root.get("imports") else {
        return Vec::new();
    };
    let Value::Array(names) = value else {
        diagnostics.push(Diagnostic::at(
            file,
            locator.value("imports"),
            "`imports` needs a list of library names, such as `imports: [rollup]`",
        ));
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = locator.value(&join_index("imports", i));
        match name.as_str() {
            Some(n) if out.iter().any(|o| o == n) => diagnostics.push(Diagnostic::at(
                file,
                at,
                format!("library `{n}` is imported twice; remove one"),
            )),
            Some(n) if !n.is_empty() && !n.contains(['/', '\\']) => out.push(n.to_owned()),
            _ => diagnostics.push(Diagnostic::at(
                file,
                at,
                format!("an import is a library's name: its file name without `{LIBRARY_SUFFIX}`"),
            )),
        }
    }
    out
}

/// The imported libraries from those available; a missing one is an error naming it.
pub(crate) fn resolve_imports(
    file: &str,
    imports: &[String],
    path: &str,
    available: &LibrarySet,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Arc<Library>> {
    let mut out = Vec::new();
    for (i, name) in imports.iter().enumerate() {
        match available.get(name) {
            Some(library) => out.push(library.clone()),
            None => {
                let hint = match suggest(name, available.names()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "put `{name}{LIBRARY_SUFFIX}` in the rule directory or in a directory of the library search path (`--libraries`), or fix it there if it does not load"
                    ),
                };
                diagnostics.push(Diagnostic::at(
                    file,
                    locator.value(&join_index(path, i)),
                    format!("library `{name}` is not available; {hint}"),
                ));
            }
        }
    }
    out
}

/// The definitions under `section`, each with its params and body checked for shape.
fn definitions(
    file: &str,
    root: &Map<String, Value>,
    section: &str,
    keys: &[&str],
    body_key: &str,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Definition> {
    let Some(value) = root.get(section) else {
        return Vec::new();
    };
    let Value::Object(entries) = value else {
        diagnostics.push(Diagnostic::at(
            file,
            locator.value(section),
            format!("`{section}` needs a map of names to definitions"),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, entry) in entries {
        let path = join_key(section, name);
        let pos = locator.key(&path);
        let error = |message: String| Diagnostic::at(file, pos, message);
        if !is_identifier(name) {
            diagnostics.push(error(format!("`{name}` must be letters, digits and `_`")));
            continue;
        }
        let Value::Object(map) = entry else {
            diagnostics.push(error(format!("`{name}` needs `params` and `{body_key}`")));
            continue;
        };
        check_keys(file, &path, map, keys, locator, diagnostics);
        let Some(body) = map.get(body_key) else {
            diagnostics.push(error(format!("`{name}` needs `{body_key}`")));
            continue;
        };
        let params = params(file, &path, map.get("params"), locator, diagnostics);
        out.push(Definition {
            name: name.clone(),
            params,
            body: body.clone(),
            path: join_key(&path, body_key),
            pos,
        });
    }
    out
}

fn params(
    file: &str,
    path: &str,
    value: Option<&Value>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let params_path = join_key(path, "params");
    let list = match value {
        None => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            diagnostics.push(Diagnostic::at(
                file,
                locator.value(&params_path),
                "`params` needs a list of names, such as `params: [objects]`",
            ));
            return Vec::new();
        }
    };
    let mut out: Vec<String> = Vec::new();
    for (i, param) in list.iter().enumerate() {
        let at = locator.value(&join_index(&params_path, i));
        let problem = match param.as_str() {
            None => Some("a param is a name: letters, digits and `_`".to_owned()),
            Some(p) if !is_identifier(p) => Some(format!("param `{p}` must be letters, digits and `_`")),
            Some(p) if reserved(p) => Some(format!(
                "param `{p}` would hide the built-in name `{p}`, which a library cannot see; pick another"
            )),
            Some(p) if crate::helpers::lookup(p).is_some() => {
                Some(format!("param `{p}` is a helper's name; pick another"))
            }
            Some(p) if out.iter().any(|o| o == p) => Some(format!("param `{p}` is given twice")),
            Some(p) => {
                out.push(p.to_owned());
                None
            }
        };
        if let Some(problem) = problem {
            diagnostics.push(Diagnostic::at(file, at, problem));
        }
    }
    out
}

/// Names a template already means something by: the request's keys, `this` and `now`.
pub(crate) fn reserved(name: &str) -> bool {
    mc::REQUEST_KEYS.contains(&name) || name == "this" || name == NOW
}

/// A definition's name may not be a helper's or a built-in name, and may not be defined
/// by a library it imports too: a call would not say which it means.
fn check_names(
    file: &str,
    functions: &[Definition],
    templates: &[Definition],
    imported: &[Arc<Library>],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (kind, defs) in [("function", functions), ("template", templates)] {
        for def in defs {
            let name = &def.name;
            let problem = if crate::helpers::lookup(name).is_some() {
                Some(format!("{kind} `{name}` has a helper's name; pick another"))
            } else if reserved(name) {
                Some(format!("{kind} `{name}` has a built-in name; pick another"))
            } else if kind == "template" && functions.iter().any(|f| &f.name == name) {
                Some(format!(
                    "template `{name}` has the name of a function of this library; pick another"
                ))
            } else {
                imported.iter().find(|l| l.defines(name)).map(|l| {
                    format!("{kind} `{name}` is also defined by the imported library `{}` ({}); rename one", l.name, l.file)
                })
            };
            if let Some(problem) = problem {
                diagnostics.push(Diagnostic::at(file, def.pos, problem));
            }
        }
    }
}
