//! The only part of rulehook that reads rule files: it lists a rule directory, reads each
//! rule file (following symlinks), and hands the text to the pure [`RuleSet`] merge.
//!
//! A ConfigMap volume holds `name -> ..data/name` links and `..`-prefixed bookkeeping
//! entries; the latter are skipped, and a link that briefly points at nothing mid-swap is
//! reported as transient rather than as a deletion.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::ruleset::{FileRead, ReadResult};

/// Whether a directory entry is a rule file: YAML, not a test suite, not bookkeeping.
pub fn is_rule_file(name: &str) -> bool {
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.ends_with(".test.yaml")
        && !name.ends_with(".test.yml")
}

/// Reads every rule file directly inside `dir`.
///
/// # Errors
///
/// Only when the directory itself cannot be listed. Unreadable files become
/// [`ReadResult::Transient`].
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<FileRead>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_rule_file(name) {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths.iter().filter_map(|p| read_file(p)).collect())
}

/// Reads one rule file; `None` when it is not a regular file (e.g. a directory).
pub fn read_file(path: &Path) -> Option<FileRead> {
    let file = path.display().to_string();
    let content = match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return None,
        Ok(_) => match std::fs::read_to_string(path) {
            Ok(text) => ReadResult::Text(text),
            Err(e) if e.kind() == ErrorKind::InvalidData => ReadResult::Text(
                String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned(),
            ),
            Err(e) => ReadResult::Transient(e.to_string()),
        },
        // A dangling link: the kubelet is between two steps of a swap.
        Err(e) => ReadResult::Transient(e.to_string()),
    };
    Some(FileRead { file, content })
}

/// Rule files for the offline tools, grouped by directory as a server would load them.
/// Directories are walked recursively; Kubernetes manifests kept beside rules (CRDs,
/// controllers, kustomizations) are skipped, since a rule file never has `apiVersion` and
/// `kind`.
///
/// # Errors
///
/// A path that does not exist or cannot be listed.
pub fn discover_rules(paths: &[PathBuf]) -> std::io::Result<Vec<Vec<FileRead>>> {
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<FileRead>> = Default::default();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files, &|name| is_rule_file(name))?;
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let Some(read) = read_file(&file) else {
                continue;
            };
            if let ReadResult::Text(text) = &read.content {
                if meta.is_dir() && is_manifest(text) {
                    continue;
                }
            }
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            groups.entry(dir).or_default().push(read);
        }
    }
    Ok(groups.into_values().collect())
}

/// Test suites (`*.test.yaml`) under `paths`, walked recursively.
///
/// # Errors
///
/// A path that does not exist or cannot be listed.
pub fn discover_suites(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut out, &is_suite_file)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

pub fn is_suite_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&str) -> bool) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out, keep)?;
        } else if keep(name) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether YAML text holds Kubernetes objects (or a kustomization) rather than a rule: its
/// first document has `apiVersion` and `kind`. Multi-document files count too.
fn is_manifest(text: &str) -> bool {
    use serde::Deserialize;
    let Some(first) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return false;
    };
    match serde_yaml_ng::Value::deserialize(first) {
        Ok(serde_yaml_ng::Value::Mapping(map)) => {
            map.contains_key("apiVersion") && map.contains_key("kind")
        }
        _ => false,
    }
}

/// Reads the rule files of one directory for the offline tools: as [`read_dir`], but
/// skipping Kubernetes manifests kept beside the rules.
///
/// # Errors
///
/// When the directory cannot be listed.
pub fn read_dir_beside_manifests(dir: &Path) -> std::io::Result<Vec<FileRead>> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|read| !matches!(&read.content, ReadResult::Text(text) if is_manifest(text)))
        .collect())
}

/// A request document, JSON or YAML.
///
/// # Errors
///
/// When the text is neither.
pub fn parse_request(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(json_error) => serde_yaml_ng::from_str::<serde_json::Value>(text)
            .map_err(|yaml_error| format!("neither JSON ({json_error}) nor YAML ({yaml_error})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yaml_rules_are_rule_files() {
        assert!(is_rule_file("hello.yaml"));
        assert!(is_rule_file("hello.yml"));
        assert!(!is_rule_file("hello.test.yaml"));
        assert!(!is_rule_file("..data"));
        assert!(!is_rule_file("..2026_11_22_10_00_00.1"));
        assert!(!is_rule_file("README.md"));
    }

    #[test]
    fn manifests_are_told_from_rules_even_with_several_documents() {
        assert!(is_manifest("apiVersion: v1\nkind: ConfigMap\n"));
        assert!(is_manifest(
            "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\n"
        ));
        assert!(!is_manifest("name: hello\nsync: {}\n"));
        assert!(!is_manifest("a: [\n"));
    }
}
