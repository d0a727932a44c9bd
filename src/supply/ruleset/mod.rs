//! The set of rules a server answers with, and how a new reading of the rule files is merged
//! into it.
//!
//! Merging is pure: it takes the previous set and what the files say now, and returns the
//! next set. A file that fails keeps its last good rule serving; a file that disappeared stops
//! serving; a name defined twice stays with the file that had it first.
//!
//! Rules pay for their own memory: each compile is counted by the allocator
//! ([`crate::budget::allocation`]) and stopped once it passes what the rules' share of the memory
//! limit has left beside every other file's serving rule. A rule that does not fit is a load
//! error at its file, and its last good version, if any, keeps serving.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rulehook_engine::{Diagnostic, Rule};

mod libraries;
mod memory;

pub(crate) use libraries::is_library_file;
pub use libraries::LibraryVersion;
use libraries::Version;
pub use memory::RuleLimits;
use memory::{compile_within, Allowance, Refused};

/// A compiled rule and where it came from.
#[derive(Debug)]
pub struct LoadedRule {
    pub rule: Rule,
    /// Hex SHA-256 of the file content it was compiled from.
    pub(crate) hash: String,
    pub(crate) loaded_at: SystemTime,
    /// The rule's name as a metrics label, made once so counting a request allocates
    /// nothing.
    pub(crate) metric_label: Arc<str>,
    /// The bytes its compiled form takes, charged to the rules' share.
    pub memory: usize,
    /// Every library it was compiled with, directly imported or not, by name.
    pub(crate) libraries: Vec<LibraryVersion>,
}

/// What is known about one rule file.
#[derive(Debug, Clone)]
pub(crate) struct FileState {
    /// Hash of the content last read, good or bad.
    pub hash: String,
    /// The rule this file serves: its latest good version.
    pub serving: Option<Arc<LoadedRule>>,
    /// Why the latest content is not serving, if it is not.
    pub errors: Vec<Diagnostic>,
}

/// One file as read from disk by the loader.
#[derive(Debug, Clone)]
pub(crate) struct FileRead {
    /// The label used in messages, e.g. `rules/hello.yaml`.
    pub file: String,
    pub content: ReadResult,
}

#[derive(Debug, Clone)]
pub(crate) enum ReadResult {
    Text(String),
    /// The entry exists but could not be read right now (e.g. a ConfigMap link mid-swap);
    /// keep what we had.
    Transient(String),
    /// A plain file modified within the watching server's quiet period, perhaps still being
    /// written: keep what we had, and read it once it has been quiet, this long from now.
    Settling(Duration),
    /// The file exists but cannot be read (e.g. permissions): an error, and its last good
    /// rule keeps serving, as after a bad edit.
    Unreadable(String),
    /// The loader will not read this entry (a link out of the rule directory): an error, and
    /// nothing is served from it.
    Refused(String),
}

/// Every rule being served, by name, plus every file's state.
#[derive(Debug, Default)]
pub struct RuleSet {
    by_name: HashMap<String, Arc<LoadedRule>>,
    files: BTreeMap<String, FileState>,
    /// Counts applied changes, so observers can tell one set from the next.
    pub(crate) generation: u64,
    /// What rules may take; carried from one set to the next.
    limits: RuleLimits,
    /// The directory's libraries, compiled before its rules.
    libraries: libraries::Libraries,
}

/// What an update did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Whether the served rules or any file's state changed.
    pub(crate) changed: bool,
    /// Files whose content failed now (each with every problem).
    pub errors: Vec<Diagnostic>,
    /// Files that could not be read this time and should be retried soon.
    pub transient: Vec<String>,
    /// Files not read yet because they were modified within the quiet period.
    pub settling: Vec<String>,
    /// How soon the first of `settling` will have been quiet for the quiet period.
    pub quiet_in: Option<Duration>,
}

fn content_hash(text: &str) -> String {
    crate::telemetry::digest::sha256_hex(text.as_bytes(), 32)
}

impl RuleSet {
    /// An empty set whose rules will be held to `limits`.
    pub fn with_limits(limits: RuleLimits) -> RuleSet {
        RuleSet {
            limits,
            ..RuleSet::default()
        }
    }

    pub fn limits(&self) -> RuleLimits {
        self.limits
    }

    /// What the served rules' compiled forms take together.
    pub fn memory(&self) -> usize {
        self.files
            .values()
            .filter_map(|f| f.serving.as_ref())
            .map(|r| r.memory)
            .sum()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<LoadedRule>> {
        self.by_name.get(name)
    }

    pub fn rules(&self) -> impl Iterator<Item = &Arc<LoadedRule>> {
        let mut rules: Vec<_> = self.by_name.values().collect();
        rules.sort_by(|a, b| a.rule.name.cmp(&b.rule.name));
        rules.into_iter()
    }

    /// Every rule file read, with how many problems its current content has.
    pub fn file_problems(&self) -> impl Iterator<Item = (&str, usize)> {
        self.files
            .iter()
            .map(|(file, f)| (file.as_str(), f.errors.len()))
    }

    pub(crate) fn files(&self) -> &BTreeMap<String, FileState> {
        &self.files
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The file that would serve `name` by its file name (`name.yaml`, `name.yml`) but has
    /// errors and serves nothing: why a hook call for `name` finds no rule.
    pub(crate) fn failed_file_named(&self, name: &str) -> Option<&str> {
        self.files.iter().find_map(|(file, state)| {
            let stem = std::path::Path::new(file).file_stem()?.to_str()?;
            (stem == name && state.serving.is_none() && !state.errors.is_empty())
                .then_some(file.as_str())
        })
    }

    /// The library definitions no serving rule uses, directly or through another
    /// definition, as warnings for `check`.
    pub fn unused_library_definitions(&self) -> Vec<Diagnostic> {
        if self.libraries.set.is_empty() {
            return Vec::new();
        }
        let used = self
            .by_name
            .values()
            .flat_map(|r| r.rule.library_uses.iter());
        self.libraries.set.unused(used)
    }

    /// The libraries that load, with their files and hashes, by name.
    pub(crate) fn loaded_libraries(&self) -> impl Iterator<Item = LibraryVersion> + '_ {
        self.libraries.loaded()
    }

    /// Every current problem, across files.
    pub(crate) fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.libraries
            .errors
            .iter()
            .chain(self.files.values().flat_map(|f| f.errors.iter()))
    }

    /// Merges a fresh reading of every rule file into this set.
    ///
    /// # Guarantees
    ///
    /// - A file whose content did not change is not recompiled.
    /// - A file that now fails keeps its last good rule serving, and records its errors.
    /// - A file absent from `reads` stops serving.
    /// - A file read as transient or settling keeps its previous state, serving or not.
    /// - When two files define one name, the file that served it before keeps it; between
    ///   two new files, the first in path order wins. The other gets an error.
    /// - Library files (`*.lib.yaml`) are compiled first; a rule is recompiled when a
    ///   library it reaches changed, and keeps its last good rule when one fails.
    pub(crate) fn update(
        &self,
        mut reads: Vec<FileRead>,
        now: SystemTime,
    ) -> (RuleSet, UpdateReport) {
        let mut report = UpdateReport::default();
        let libraries = libraries::Libraries::compile(&self.libraries, &mut reads, &mut report);
        report.errors.extend(libraries.errors.iter().cloned());
        let mut files: BTreeMap<String, FileState> = BTreeMap::new();
        // What the rules of the files still there take, the old versions of files about to
        // change included: a new version is allowed what is left beside every other file's.
        let mut committed: usize = reads
            .iter()
            .filter_map(|read| self.files.get(&read.file)?.serving.as_ref())
            .map(|rule| rule.memory)
            .sum();
        for read in reads {
            let previous = self.files.get(&read.file);
            let text = match read.content {
                ReadResult::Text(text) => text,
                ReadResult::Transient(why) => {
                    report.transient.push(format!("{}: {why}", read.file));
                    if let Some(prev) = previous {
                        files.insert(read.file, prev.clone());
                    }
                    continue;
                }
                ReadResult::Settling(quiet_in) => {
                    report.settling.push(read.file.clone());
                    report.quiet_in = Some(report.quiet_in.map_or(quiet_in, |q| q.min(quiet_in)));
                    if let Some(prev) = previous {
                        files.insert(read.file, prev.clone());
                    }
                    continue;
                }
                ReadResult::Unreadable(why) => {
                    let serving = previous.and_then(|p| p.serving.clone());
                    let state = unusable(&read.file, why, serving);
                    report.changed |= previous.is_none_or(|p| !same_state(p, &state));
                    files.insert(read.file, state);
                    continue;
                }
                ReadResult::Refused(why) => {
                    let state = unusable(&read.file, why, None);
                    report.changed |= previous.is_none_or(|p| !same_state(p, &state));
                    files.insert(read.file, state);
                    continue;
                }
            };
            let Version {
                hash,
                libraries: reached,
                broken,
            } = libraries.version(&text);
            if let Some(prev) = previous.filter(|p| p.hash == hash) {
                files.insert(read.file, prev.clone());
                continue;
            }
            if let Some(why) = broken {
                let mut state = unusable(&read.file, why, previous.and_then(|p| p.serving.clone()));
                state.hash = hash;
                report.changed |= previous.is_none_or(|p| !same_state(p, &state));
                files.insert(read.file, state);
                continue;
            }
            let old = previous
                .and_then(|p| p.serving.as_ref())
                .map_or(0, |r| r.memory);
            let allowance = Allowance {
                bytes: self.limits.memory.saturating_sub(committed - old),
                share: self.limits.memory,
            };
            let state = match compile_within(&read.file, &text, &libraries.set, &allowance) {
                Ok((rule, memory)) => {
                    committed = committed - old + memory;
                    FileState {
                        hash: hash.clone(),
                        serving: Some(Arc::new(LoadedRule {
                            metric_label: Arc::from(rule.name.as_str()),
                            rule,
                            hash,
                            loaded_at: now,
                            memory,
                            libraries: reached,
                        })),
                        errors: Vec::new(),
                    }
                }
                Err(Refused { errors, for_memory }) => FileState {
                    // Refused for want of memory, the same content is tried again at the next
                    // reading: another rule may have made room meanwhile.
                    hash: if for_memory { String::new() } else { hash },
                    serving: previous.and_then(|p| p.serving.clone()),
                    errors,
                },
            };
            report.changed |= previous.is_none_or(|p| !same_state(p, &state));
            files.insert(read.file, state);
        }
        if self.files.keys().any(|f| !files.contains_key(f)) {
            report.changed = true;
        }

        // Settle names: first the files that already served a name, then the rest.
        let mut by_name: HashMap<String, Arc<LoadedRule>> = HashMap::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        let served_before =
            |file: &str, name: &str| self.by_name.get(name).is_some_and(|r| r.rule.file == file);
        let mut order: Vec<String> = files.keys().cloned().collect();
        order.sort_by_key(|file| {
            let state = &files[file];
            let keeps = state
                .serving
                .as_ref()
                .is_some_and(|r| served_before(file, &r.rule.name));
            (!keeps, file.clone())
        });
        for file in order {
            let Some(state) = files.get_mut(&file) else {
                continue;
            };
            let Some(rule) = state.serving.clone() else {
                continue;
            };
            let name = rule.rule.name.clone();
            if let Some(first) = owner.get(&name) {
                let message = format!(
                    "rule name `{name}` is already defined by {first}; this file is not served"
                );
                if !state.errors.iter().any(|d| d.message == message) {
                    let at = rule.rule.name_pos;
                    state.errors.push(Diagnostic::at(&file, at, message));
                }
                state.serving = None;
                continue;
            }
            owner.insert(name.clone(), file.clone());
            by_name.insert(name, rule);
        }
        for state in files.values() {
            report.errors.extend(state.errors.iter().cloned());
        }
        let same_rules = by_name.len() == self.by_name.len()
            && by_name
                .iter()
                .all(|(n, r)| self.by_name.get(n).is_some_and(|old| Arc::ptr_eq(old, r)));
        if !same_rules {
            report.changed = true;
        }
        let generation = self.generation + u64::from(report.changed);
        (
            RuleSet {
                by_name,
                files,
                generation,
                limits: self.limits,
                libraries,
            },
            report,
        )
    }
}

/// The state of a file that could not be used: one error at its start, and `serving`.
fn unusable(file: &str, why: String, serving: Option<Arc<LoadedRule>>) -> FileState {
    FileState {
        hash: String::new(),
        serving,
        errors: vec![Diagnostic::new(file, 1, 1, why)],
    }
}

/// Whether two states of one file say the same, so that re-reading it is not a change.
fn same_state(a: &FileState, b: &FileState) -> bool {
    let same_rule = match (&a.serving, &b.serving) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    };
    a.hash == b.hash && a.errors == b.errors && same_rule
}

#[cfg(test)]
mod tests;
