//! The only part of rulehook that reads rule files: it lists a rule directory, reads each
//! rule file, and hands the text to the pure [`RuleSet`] merge. Every command (`serve` and its
//! reloads, `check`, `test`, `render`, `controllers`) gets its rules as [`CompiledRules`], so a
//! directory that passes `check` loads the same way in `serve`.
//!
//! What a directory holds, for [`CompiledRules::from_dir`]:
//!
//! - YAML files directly inside it, not test suites, not `.`-prefixed entries (a ConfigMap
//!   volume's bookkeeping). Subdirectories are not entered: a ConfigMap volume has none, and
//!   the offline tools find every directory of a tree themselves
//!   ([`CompiledRules::from_trees`]).
//! - Not Kubernetes manifests (first document with `apiVersion` and `kind`), which a rule
//!   never is; `examples/` keeps rules beside the manifests that install them.
//! - Symlinks that stay inside the directory, or that go through `..data/` as a ConfigMap
//!   volume's do (`hello.yaml -> ..data/hello.yaml`). Any other link is refused without
//!   being read, so its target's content never shows in an error.
//!
//! A link whose target is gone counts as a deleted file, except a `..data/` link, which
//! dangles for a moment while the kubelet swaps `..data`: that one is reported as transient.
//!
//! Each file is read as of one moment, never half of one write and half of the next; the
//! watching server also leaves a plain file (not a `..data/` link) unread until it has not
//! been modified for a quiet period ([`file`]).
//!
//! Every way of reading also takes the library search path (`--libraries DIR`, [`search`]):
//! the libraries (`*.lib.yaml`) directly in each of those directories, read with the same
//! link rules as a rule directory, join the libraries beside the rules.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::supply::ruleset::{FileRead, ReadResult, RuleLimits, RuleSet, UpdateReport};

mod file;
mod search;

use file::read_file;
use search::{is_search_dir, library_path_reads};

/// Rules compiled from files, as `serve` would answer with them, and every problem found on
/// the way. Every command gets its rules as one of these, read and merged the same way.
#[derive(Debug)]
pub struct CompiledRules {
    pub rules: RuleSet,
    /// What the merge found: errors, files to read again soon, whether anything changed.
    pub report: UpdateReport,
    /// Rule files read, usable or not.
    pub files_read: usize,
}

/// A rule directory that cannot be listed. Nothing was read from it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", dir.display())]
pub struct ReadDirError {
    pub dir: PathBuf,
    pub error: std::io::Error,
}

/// What a reading does with a file that could not be read for a moment (a `..data/` link
/// while the kubelet swaps it, a file that vanished or changed while being read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransientFiles {
    /// Keep the file's previous state, and report it in [`UpdateReport::transient`] so that
    /// it is read again soon.
    KeepPrevious,
    /// Count it as deleted: it stayed unreadable for longer than a swap takes.
    CountAsDeleted,
}

impl CompiledRules {
    /// The rule files directly inside `dir` (see the module documentation), compiled from
    /// nothing. Files are read as they are now, however recently modified: the quiet period
    /// belongs to the watching server, and the offline commands must not wait.
    ///
    /// # Errors
    ///
    /// Only when the directory itself, or one on the library search path `libraries`,
    /// cannot be listed. A file that cannot be used is an error in the report.
    pub fn from_dir(dir: &Path, libraries: &[PathBuf]) -> Result<Self, ReadDirError> {
        Self::merge_dir(
            dir,
            libraries,
            &RuleSet::default(),
            TransientFiles::KeepPrevious,
            Duration::ZERO,
        )
    }

    /// `dir` read again and merged into `current`, the set serving now: [`RuleSet::update`]
    /// says what is kept. A plain file modified less than `quiet_period` ago is not read yet
    /// and keeps its state ([`UpdateReport::settling`]); `ZERO` reads every file as it is.
    ///
    /// # Errors
    ///
    /// As [`CompiledRules::from_dir`].
    pub(crate) fn merge_dir(
        dir: &Path,
        libraries: &[PathBuf],
        current: &RuleSet,
        transient: TransientFiles,
        quiet_period: Duration,
    ) -> Result<Self, ReadDirError> {
        let max_bytes = current.limits().max_file_bytes;
        let mut reads = read_dir(dir, quiet_period, max_bytes).map_err(|error| ReadDirError {
            dir: dir.to_path_buf(),
            error,
        })?;
        reads.extend(library_path_reads(libraries, quiet_period, max_bytes)?);
        if transient == TransientFiles::CountAsDeleted {
            reads.retain(|read| !matches!(read.content, ReadResult::Transient(_)));
        }
        Ok(Self::merge(current, reads))
    }

    /// One rule file named on the command line (`render FILE`, a suite's `rule: x.yaml`),
    /// compiled alone with the libraries of its directory and of `libraries`. It is read
    /// wherever it leads: a person asked for it.
    ///
    /// # Errors
    ///
    /// When the file cannot be read as UTF-8 text, or a directory of `libraries` cannot be
    /// listed.
    pub fn from_file(path: &Path, libraries: &[PathBuf]) -> std::io::Result<Self> {
        let max_bytes = RuleLimits::default().max_file_bytes;
        let len = std::fs::metadata(path)?.len();
        if usize::try_from(len).map_or(true, |len| len > max_bytes) {
            return Err(std::io::Error::other(format!(
                "the file is {len} bytes; a rule file may have at most {max_bytes}"
            )));
        }
        let text = std::fs::read_to_string(path)?;
        let read = FileRead {
            file: path.display().to_string(),
            content: ReadResult::Text(text),
        };
        let mut reads = library_reads(&parent_of(path), max_bytes);
        reads.extend(library_path_reads(libraries, Duration::ZERO, max_bytes)?);
        reads.push(read);
        Ok(Self::merge(&RuleSet::default(), reads))
    }

    /// The rules under `paths`, for `check`, one set per directory: every directory under a
    /// path given (walked recursively, `.`-prefixed and `target` directories skipped) is read
    /// as a server given that directory would read it, so a name defined twice is an error
    /// only within one directory. A file given by name is read alone, even when it is a
    /// manifest (it was asked for), with its directory's link rules, and joins its
    /// directory's set. The libraries of `libraries` join every set; a directory of the
    /// search path found in the tree is not read as a rule directory of its own.
    ///
    /// # Errors
    ///
    /// A path that does not exist or cannot be listed.
    pub fn from_trees(paths: &[PathBuf], libraries: &[PathBuf]) -> std::io::Result<Vec<Self>> {
        let groups = read_trees(paths, libraries)?;
        let max_bytes = RuleLimits::default().max_file_bytes;
        let shared = library_path_reads(libraries, Duration::ZERO, max_bytes)?;
        Ok(groups
            .into_iter()
            .enumerate()
            .map(|(i, mut reads)| {
                reads.extend(shared.iter().cloned());
                let mut compiled = Self::merge(&RuleSet::default(), reads);
                // Read once, whatever the number of sets they join.
                if i > 0 {
                    compiled.files_read -= shared.len();
                }
                compiled
            })
            .collect())
    }

    /// The one step from file contents to rules, for every way of reading them.
    fn merge(current: &RuleSet, reads: Vec<FileRead>) -> Self {
        let files_read = reads.len();
        let (rules, report) = current.update(reads, SystemTime::now());
        CompiledRules {
            rules,
            report,
            files_read,
        }
    }
}

/// Whether a directory entry is a rule file: YAML, not a test suite, not bookkeeping. A
/// library (`*.lib.yaml`) is read with the rules, and the merge tells it apart.
fn is_rule_file(name: &str) -> bool {
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.ends_with(".test.yaml")
        && !name.ends_with(".test.yml")
}

/// Lists and reads the rule files directly inside `dir`, in path order (see the module
/// documentation).
///
/// # Errors
///
/// Only when the directory itself cannot be listed. A file that cannot be used becomes a
/// [`ReadResult`] that says why.
fn read_dir(
    dir: &Path,
    quiet_period: Duration,
    max_bytes: usize,
) -> std::io::Result<Vec<FileRead>> {
    let root = dir.canonicalize()?;
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
    Ok(paths
        .iter()
        .filter_map(|p| read_file(p, &root, quiet_period, max_bytes))
        .filter(|read| !matches!(&read.content, ReadResult::Text(text) if is_not_a_rule(text)))
        .collect())
}

/// The directory a file named on the command line is in.
fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The library files (`*.lib.yaml`) directly inside `dir`, which a rule named alone may
/// import. None when the directory cannot be read: the rule's own read reports that.
fn library_reads(dir: &Path, max_bytes: usize) -> Vec<FileRead> {
    let mut reads = read_dir(dir, Duration::ZERO, max_bytes).unwrap_or_default();
    reads.retain(|read| crate::supply::ruleset::is_library_file(&read.file));
    reads
}

/// The rule files under `paths`, grouped by directory, for [`CompiledRules::from_trees`].
fn read_trees(paths: &[PathBuf], libraries: &[PathBuf]) -> std::io::Result<Vec<Vec<FileRead>>> {
    let with_path = |path: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    };
    let max_bytes = RuleLimits::default().max_file_bytes;
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<FileRead>> = Default::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| with_path(path, e))?;
        if meta.is_dir() {
            let mut dirs = vec![path.clone()];
            walk_dirs(path, &mut dirs)?;
            for dir in dirs {
                if is_search_dir(&dir, libraries) {
                    continue;
                }
                let reads =
                    read_dir(&dir, Duration::ZERO, max_bytes).map_err(|e| with_path(&dir, e))?;
                if !reads.is_empty() {
                    groups.entry(dir).or_default().extend(reads);
                }
            }
        } else {
            let parent = parent_of(path);
            let root = parent.canonicalize().map_err(|e| with_path(&parent, e))?;
            if let Some(read) = read_file(path, &root, Duration::ZERO, max_bytes) {
                let group = groups.entry(parent.clone()).or_default();
                // The libraries a rule may import come with it.
                for library in library_reads(&parent, max_bytes) {
                    if !group.iter().any(|r| r.file == library.file) {
                        group.push(library);
                    }
                }
                if !group.iter().any(|r| r.file == read.file) {
                    group.push(read);
                }
            }
        }
    }
    Ok(groups.into_values().collect())
}

/// The entries of `dir` in name order, with their names, leaving out `.`-prefixed ones,
/// `target` and names that are not UTF-8.
fn visible_entries(dir: &Path) -> std::io::Result<Vec<(String, std::fs::DirEntry)>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries
        .into_iter()
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e)))
        .filter(|(name, _)| !name.starts_with('.') && name != "target")
        .collect())
}

/// Every directory under `dir`, in name order, skipping `.`-prefixed ones and `target`.
fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for (_, entry) in visible_entries(dir)? {
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
            walk_dirs(&entry.path(), out)?;
        }
    }
    Ok(())
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
            walk_suites(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn is_suite_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Every test suite under `dir`, in name order, skipping `.`-prefixed directories and
/// `target`.
fn walk_suites(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for (name, entry) in visible_entries(dir)? {
        let path = entry.path();
        if path.is_dir() {
            walk_suites(&path, out)?;
        } else if is_suite_file(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether YAML text holds something other than a rule, which every command skips alike:
/// Kubernetes objects or a kustomization (the first document has `apiVersion` and `kind`),
/// or a hook request kept as a test fixture (it has `parent` or `object`, which no rule
/// has, and only request keys). Multi-document files count too.
fn is_not_a_rule(text: &str) -> bool {
    use serde::Deserialize;
    let Some(first) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return false;
    };
    match serde_yaml_ng::Value::deserialize(first) {
        Ok(serde_yaml_ng::Value::Mapping(map)) => {
            let has = |key: &str| map.contains_key(key);
            let manifest = has("apiVersion") && has("kind");
            let request = (has("parent") || has("object"))
                && map.keys().all(|k| {
                    k.as_str()
                        .is_some_and(|k| rulehook_engine::metacontroller::REQUEST_KEYS.contains(&k))
                });
            manifest || request
        }
        _ => false,
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

    fn contents(dir: &Path) -> Vec<(String, String)> {
        read_dir(dir, Duration::ZERO, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|read| {
                let name = read.file.rsplit('/').next().unwrap_or_default().to_owned();
                let what = match read.content {
                    ReadResult::Text(text) => text,
                    ReadResult::Transient(_) => "transient".to_owned(),
                    ReadResult::Settling(_) => "settling".to_owned(),
                    ReadResult::Unreadable(why) | ReadResult::Refused(why) => why,
                };
                (name, what)
            })
            .collect()
    }

    #[test]
    fn links_may_leave_the_directory_only_through_configmap_data() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "root:*:0:0\n").unwrap();
        std::fs::create_dir(outside.path().join("ts")).unwrap();
        std::fs::write(outside.path().join("ts/cm.yaml"), "name: cm\n").unwrap();
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("plain.yaml"), "name: plain\n").unwrap();
        symlink("plain.yaml", dir.join("inside.yaml")).unwrap();
        symlink(outside.path().join("secret"), dir.join("out.yaml")).unwrap();
        symlink(outside.path().join("ts"), dir.join("..data")).unwrap();
        symlink("..data/cm.yaml", dir.join("cm.yaml")).unwrap();
        symlink("..data/gone.yaml", dir.join("swapping.yaml")).unwrap();
        symlink("nowhere.yaml", dir.join("dangling.yaml")).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "apiVersion: v1\nkind: List\n",
        )
        .unwrap();

        let got = contents(dir);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "cm.yaml",
                "inside.yaml",
                "out.yaml",
                "plain.yaml",
                "swapping.yaml"
            ]
        );
        assert_eq!(got[0].1, "name: cm\n");
        assert_eq!(got[1].1, "name: plain\n");
        assert!(
            got[2].1.contains("outside the rule directory"),
            "{}",
            got[2].1
        );
        assert!(!got[2].1.contains("root:"), "{}", got[2].1);
        assert_eq!(got[4].1, "transient");
    }

    #[test]
    fn manifests_are_told_from_rules_even_with_several_documents() {
        assert!(is_not_a_rule("apiVersion: v1\nkind: ConfigMap\n"));
        assert!(is_not_a_rule(
            "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\n"
        ));
        assert!(!is_not_a_rule("name: hello\nsync: {}\n"));
        // A hook request kept as a YAML fixture beside the rules is not a rule either.
        assert!(is_not_a_rule(
            "parent: {metadata: {name: a}}\nchildren: {}\nfinalizing: false\n"
        ));
        assert!(!is_not_a_rule("parent: {}\nsync: {}\n"));
        assert!(!is_not_a_rule("a: [\n"));
    }
}
