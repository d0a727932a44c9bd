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
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// The module path of a file under `src/`: `http/connection/stream.rs` is
/// `[http, connection, stream]`, a `mod.rs` its folder's.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The top-level folders of the server crate that `file` names through `crate::` and
/// `super::` paths, outside comments and tests.
fn folder_imports(src: &Path, file: &Path) -> BTreeSet<String> {
    let module = module_path(src, file);
    // `super` is the parent of the file's module; a `mod.rs` is its folder's module.
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let before = line[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `rulehook_engine::...` and friends
            }
            out.insert(word(&line[i + "crate::".len()..]));
        }
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            let before = rest[..at].chars().last();
            let mut ups = 1;
            let mut tail = &rest[at + "super::".len()..];
            while let Some(more) = tail.strip_prefix("super::") {
                ups += 1;
                tail = more;
            }
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                let mut target: Vec<String> = module[..module.len().saturating_sub(ups)].to_vec();
                target.push(word(tail));
                out.insert(target[0].clone());
            }
            rest = tail;
        }
    }
    out
}

/// One depth-first search over `graph` for a path that comes back to where it started.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn from(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(at) = path.iter().position(|m| m == next) {
                let mut cycle = path[at..].to_vec();
                cycle.push(next.clone());
                return Some(cycle);
            }
            path.push(next.clone());
            if let Some(cycle) = from(graph, path) {
                return Some(cycle);
            }
            path.pop();
        }
        None
    }
    graph
        .keys()
        .find_map(|start| from(graph, &mut vec![start.clone()]))
}

/// The server crate's folders (its stages: `supply`, `http`, `budget`, `telemetry`,
/// `offline`) use each other without a circle. A folder and its own children may use each
/// other; the binary's `main.rs` and `cli/` are not part of the library.
#[test]
fn server_folders_import_each_other_without_cycles() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_path(&src, file);
        let top = module[0].clone();
        if matches!(top.as_str(), "lib" | "main" | "cli") {
            continue;
        }
        let imports = folder_imports(&src, file);
        graph
            .entry(top.clone())
            .or_default()
            .extend(imports.into_iter().filter(|m| *m != top));
    }
    for folder in ["supply", "http", "budget", "telemetry", "offline"] {
        assert!(graph.contains_key(folder), "no {folder} in {graph:?}");
    }
    let folders: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| folders.contains(d));
    }
    assert!(
        graph["http"].contains("supply") && graph["supply"].contains("budget"),
        "the walk missed known edges: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between folders: {}", cycle.join(" -> "));
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
/// of the cache (`src/budget/answer_cache.rs`).
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
