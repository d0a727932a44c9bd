//! Which definitions of a library use which, found when the library loads: a definition
//! that uses itself, directly or through others, is refused with the cycle named, and
//! functions are put in an order where each comes after those it calls.
//!
//! Uses are read from the text: every name inside `{{ }}` outside quotes, and every `$use`.
//! A name that is also a parameter or a `$let` name may be taken for a use; that can only
//! order definitions differently or, in a body that calls nothing, report a cycle
//! that a rename resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Definition, Library};
use crate::diagnostic::Diagnostic;
use crate::template::definitions::names_used;

/// Functions in dependency order, and templates by name; a cycle among them is reported.
pub(super) fn ordered(
    file: &str,
    functions: Vec<Definition>,
    templates: Vec<Definition>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<Definition>, BTreeMap<String, Definition>) {
    let defined: BTreeSet<&str> = functions
        .iter()
        .chain(&templates)
        .map(|d| d.name.as_str())
        .collect();
    let edges: BTreeMap<&str, Vec<&str>> = functions
        .iter()
        .chain(&templates)
        .map(|d| {
            let uses = names_used(&d.body);
            let within = defined
                .iter()
                .copied()
                .filter(|n| uses.contains(*n))
                .collect();
            (d.name.as_str(), within)
        })
        .collect();
    let (order, cycle) = depth_first(&edges);
    if let Some(cycle) = cycle {
        let first = functions
            .iter()
            .chain(&templates)
            .find(|d| d.name == cycle[0])
            .map(|d| d.pos)
            .unwrap_or(crate::locate::Pos { line: 1, column: 1 });
        diagnostics.push(Diagnostic::at(
            file,
            first,
            format!(
                "`{}` uses itself: {}; a definition may not call or use itself, directly or through others",
                cycle[0],
                cycle.join(" -> ")
            ),
        ));
    }
    let position: BTreeMap<String, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| ((*n).to_owned(), i))
        .collect();
    drop(edges);
    let mut functions = functions;
    functions.sort_by_key(|f| position.get(&f.name).copied().unwrap_or(usize::MAX));
    let templates = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
    (functions, templates)
}

/// A post-order of the graph (each name after those it uses) and the first cycle found,
/// if any, as names from its start back to it. Iterative, so a long chain of definitions
/// cannot exhaust the stack.
pub(super) fn depth_first<'n>(
    edges: &BTreeMap<&'n str, Vec<&'n str>>,
) -> (Vec<&'n str>, Option<Vec<&'n str>>) {
    let mut order = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut cycle = None;
    for &start in edges.keys() {
        if done.contains(start) {
            continue;
        }
        // The path being walked, each with how many of its uses were visited.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((name, next)) = path.last_mut() {
            let uses = edges.get(*name).map(Vec::as_slice).unwrap_or(&[]);
            let Some(&target) = uses.get(*next) else {
                done.insert(*name);
                order.push(*name);
                path.pop();
                continue;
            };
            *next += 1;
            if done.contains(target) {
                continue;
            }
            if let Some(at) = path.iter().position(|(n, _)| *n == target) {
                if cycle.is_none() {
                    let mut names: Vec<&str> = path[at..].iter().map(|(n, _)| *n).collect();
                    names.push(target);
                    cycle = Some(names);
                }
                continue;
            }
            path.push((target, 0));
        }
    }
    (order, cycle)
}

/// The definitions of `libraries` that nothing uses: neither a rule (`used`, as library
/// name and definition name) nor a definition that is itself used.
pub(crate) fn unused(
    libraries: &[Arc<Library>],
    used: &BTreeSet<(String, String)>,
) -> Vec<Diagnostic> {
    let mut reached: BTreeSet<(String, String)> = BTreeSet::new();
    let mut todo: Vec<(String, String)> = used.iter().cloned().collect();
    let by_name: BTreeMap<&str, &Arc<Library>> =
        libraries.iter().map(|l| (l.name.as_str(), l)).collect();
    while let Some((lib, name)) = todo.pop() {
        if !reached.insert((lib.clone(), name.clone())) {
            continue;
        }
        let Some(library) = by_name.get(lib.as_str()) else {
            continue;
        };
        let Some(def) = library.definition(&name) else {
            continue;
        };
        for word in names_used(&def.body) {
            if let Some(owner) = library.owner_of(&word) {
                todo.push((owner.to_owned(), word));
            }
        }
    }
    let mut out = Vec::new();
    for library in libraries {
        let defs = library.functions.iter().chain(library.templates.values());
        for def in defs {
            if !reached.contains(&(library.name.clone(), def.name.clone())) {
                out.push(Diagnostic::at(
                    &library.file,
                    def.pos,
                    format!("`{}` is never used by a rule of this directory", def.name),
                ));
            }
        }
    }
    out
}

impl Library {
    fn definition(&self, name: &str) -> Option<&Definition> {
        self.templates
            .get(name)
            .or_else(|| self.functions.iter().find(|f| f.name == name))
    }

    /// The library that defines `name` as this one sees it: itself, or one it imports.
    pub(crate) fn owner_of(&self, name: &str) -> Option<&str> {
        if self.defines(name) {
            return Some(&self.name);
        }
        self.imported
            .iter()
            .find(|l| l.defines(name))
            .map(|l| l.name.as_str())
    }
}
