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

/// Reads rule files from a list of paths: each a directory (its rule files) or a file.
///
/// # Errors
///
/// A path that does not exist, or a directory that cannot be listed.
pub fn read_paths(paths: &[PathBuf]) -> std::io::Result<Vec<FileRead>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            out.extend(read_dir(path)?);
        } else if let Some(read) = read_file(path) {
            out.push(read);
        }
    }
    Ok(out)
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
}
