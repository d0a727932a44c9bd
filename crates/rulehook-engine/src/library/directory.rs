//! The libraries of one directory, compiled in import order.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{graph, imports_of, library_name, Library, LibrarySet};
use crate::diagnostic::Diagnostic;

/// Compiles the library files of one directory, each after those it imports: the ones that
/// load, and for each file that does not, why. A library in an import cycle, or importing
/// one that failed, fails with a message naming it.
pub fn compile_directory(
    files: &[(&str, &str)],
) -> (LibrarySet, BTreeMap<String, Vec<Diagnostic>>) {
    let by_name: BTreeMap<&str, (&str, &str)> = files
        .iter()
        .map(|&(file, text)| (library_name(file).unwrap_or(file), (file, text)))
        .collect();
    let imports: BTreeMap<&str, Vec<String>> = by_name
        .iter()
        .map(|(name, (_, text))| (*name, imports_of(text)))
        .collect();
    let edges: BTreeMap<&str, Vec<&str>> = imports
        .iter()
        .map(|(name, list)| {
            let known = list
                .iter()
                .filter_map(|i| by_name.get_key_value(i.as_str()).map(|(k, _)| *k));
            (*name, known.collect())
        })
        .collect();
    let (order, cycle) = graph::depth_first(&edges);
    let mut set = LibrarySet::new();
    let mut failures: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    let in_cycle: Vec<&str> = cycle.clone().unwrap_or_default();
    for name in order {
        let (file, text) = by_name[name];
        if in_cycle.contains(&name) {
            let cycle = in_cycle.join(" -> ");
            failures.insert(
                file.to_owned(),
                vec![Diagnostic::at(file, imports_at(text), format!("libraries import each other: {cycle}; a library may not import itself, directly or through others"))],
            );
            continue;
        }
        let failed: Vec<&String> = imports[name]
            .iter()
            .filter(|i| by_name.contains_key(i.as_str()) && set.get(i).is_none())
            .collect();
        if let Some(import) = failed.first() {
            let (import_file, _) = by_name[import.as_str()];
            failures.insert(
                file.to_owned(),
                vec![Diagnostic::at(file, imports_at(text), format!("cannot load: the library `{import}` it imports ({import_file}) does not load"))],
            );
            continue;
        }
        match Library::compile(file, text, &set) {
            Ok(library) => set.insert(Arc::new(library)),
            Err(diagnostics) => {
                failures.insert(file.to_owned(), diagnostics);
            }
        }
    }
    (set, failures)
}

/// Where a library file lists its imports, for the errors about them.
fn imports_at(text: &str) -> crate::locate::Pos {
    crate::locate::Locator::new(text).key("imports")
}
