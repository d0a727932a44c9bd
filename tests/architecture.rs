//! The shape of the code, checked like behaviour: the engine stays pure and acyclic, and no
//! source file grows past the size a reader can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo;

/// Above this, a file almost always has more than one reason to change.
const MAX_LINES: usize = 500;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    rust_files(&repo().join("crates"), &mut files);
    assert!(
        files.len() > 40,
        "the walk found only {} files",
        files.len()
    );
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

/// The engine module each `crate::module` path in `file` names, outside comments and tests.
fn engine_imports(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn engine_modules_import_each_other_without_cycles() {
    let src = repo().join("crates/rulehook-engine/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str();
        let module = top.to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "tests" {
            continue;
        }
        let imports = engine_imports(file);
        graph
            .entry(module.clone())
            .or_default()
            .extend(imports.into_iter().filter(|m| *m != module));
    }
    assert!(graph.contains_key("rule") && graph.contains_key("template"));
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    // Depth-first search for a path that comes back to where it started.
    fn cycle_from(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let last = path.last().unwrap().clone();
        for next in &graph[&last] {
            if let Some(at) = path.iter().position(|m| m == next) {
                let mut cycle = path[at..].to_vec();
                cycle.push(next.clone());
                return Some(cycle);
            }
            path.push(next.clone());
            if let Some(cycle) = cycle_from(graph, path) {
                return Some(cycle);
            }
            path.pop();
        }
        None
    }
    for module in graph.keys() {
        let cycle = cycle_from(&graph, &mut vec![module.clone()]);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_engine_depends_on_no_server_runtime() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "rulehook-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("handlebars"), "{tree}");
    for runtime in ["actix", "tokio", "notify", "mio", "socket2"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(runtime)),
            "the engine pulls in {runtime}:\n{tree}"
        );
    }
}

/// The answer cache sends a kept answer again for the same request bytes, which is right
/// only while a render reads nothing but the rule and the request: no clock, no randomness,
/// no environment, no files. A helper that needs one of them must first take its rules out
/// of the cache (`src/answer_cache.rs`).
#[test]
fn the_engine_reads_no_clock_randomness_environment_or_files() {
    let mut files = Vec::new();
    rust_files(&repo().join("crates/rulehook-engine/src"), &mut files);
    let forbidden = [
        "SystemTime",
        "Instant::now",
        "std::env",
        "env::var",
        "rand::",
        "std::fs",
        "File::open",
        "getrandom",
    ];
    let mut found = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "tests"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden.iter().filter(|w| line.contains(**w)) {
                found.push(format!("{}:{}: {word}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "impure engine code:\n{}",
        found.join("\n")
    );
}
