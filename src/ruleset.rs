//! The set of rules a server answers with, and how a new reading of the rule files is merged
//! into it.
//!
//! Merging is pure: it takes the previous set and what the files say now, and returns the
//! next set. A file that fails keeps its last good rule serving; a file that disappeared stops
//! serving; a name defined twice stays with the file that had it first.
//!
//! Rules pay for their own memory: each compile is counted by the allocator
//! ([`crate::allocation`]) and stopped once it passes what the rules' share of the memory
//! limit has left beside every other file's serving rule. A rule that does not fit is a load
//! error at its file, and its last good version, if any, keeps serving.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rulehook_engine::{CompileGuard, Diagnostic, Rule};

use crate::allocation;
use crate::memory::{Budgets, DEFAULT_MEMORY_LIMIT};

/// What rules may take: their share of the memory limit, and the largest rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleLimits {
    /// What every served rule's compiled form may take together.
    pub memory: usize,
    /// The largest rule file that is read at all: compiling takes up to ~60 times a file's
    /// size on the way, before the share is checked.
    pub max_file_bytes: usize,
}

impl RuleLimits {
    pub fn for_memory(memory_limit: usize) -> RuleLimits {
        let budgets = Budgets::derive(memory_limit);
        RuleLimits {
            memory: budgets.rules,
            max_file_bytes: budgets.max_rule_file,
        }
    }
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits::for_memory(DEFAULT_MEMORY_LIMIT)
    }
}

/// Stops a compile once what it holds passes what the rules' share has left for it.
struct Allowance {
    bytes: usize,
    share: usize,
}

impl CompileGuard for Allowance {
    fn stop(&self) -> Option<String> {
        let held = allocation::held_now()?;
        (held > self.bytes).then(|| self.message(held))
    }
}

impl Allowance {
    fn message(&self, held: usize) -> String {
        format!(
            "the rule takes more than {held} bytes compiled, and the rules' share of memory ({} bytes, memory limit / 8) has {} left beside the other rules; make it smaller, split it, or raise --memory-limit",
            self.share, self.bytes
        )
    }
}

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
    crate::digest::sha256_hex(text.as_bytes(), 32)
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

    /// Every current problem, across files.
    pub(crate) fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.files.values().flat_map(|f| f.errors.iter())
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
    pub(crate) fn update(&self, reads: Vec<FileRead>, now: SystemTime) -> (RuleSet, UpdateReport) {
        let mut report = UpdateReport::default();
        let mut files: BTreeMap<String, FileState> = BTreeMap::new();
        // What serving rules take, the old versions of files about to change included: a new
        // version is allowed what is left beside every other file's rule.
        let mut committed = self.memory();
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
            let hash = content_hash(&text);
            if let Some(prev) = previous.filter(|p| p.hash == hash) {
                files.insert(read.file, prev.clone());
                continue;
            }
            report.changed = true;
            let old = previous
                .and_then(|p| p.serving.as_ref())
                .map_or(0, |r| r.memory);
            let allowance = Allowance {
                bytes: self.limits.memory.saturating_sub(committed - old),
                share: self.limits.memory,
            };
            let state = match compile_within(&read.file, &text, &allowance) {
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
                        })),
                        errors: Vec::new(),
                    }
                }
                Err(errors) => FileState {
                    hash,
                    serving: previous.and_then(|p| p.serving.clone()),
                    errors,
                },
            };
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
            },
            report,
        )
    }
}

/// Compiles `text` counting what it allocates, stopped by `allowance` between templates and
/// refused when what it keeps passes it. Returns the rule and the bytes it keeps.
fn compile_within(
    file: &str,
    text: &str,
    allowance: &Allowance,
) -> Result<(Rule, usize), Vec<Diagnostic>> {
    let (compiled, measured) = allocation::measure(|| Rule::compile_guarded(file, text, allowance));
    let rule = compiled?;
    if measured.kept > allowance.bytes {
        return Err(vec![Diagnostic::new(
            file,
            1,
            1,
            allowance.message(measured.kept),
        )]);
    }
    Ok((rule, measured.kept))
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
mod tests {
    use super::*;

    fn read(file: &str, text: &str) -> FileRead {
        FileRead {
            file: file.to_owned(),
            content: ReadResult::Text(text.to_owned()),
        }
    }

    fn status(n: u64) -> String {
        format!("sync:\n  status:\n    n: {n}\n")
    }

    const BAD: &str = "sync:\n  status:\n    n: \"{{ nope }}\"\n";

    fn served_n(set: &RuleSet, name: &str) -> Option<u64> {
        let rule = &set.get(name)?.rule;
        let r = rule
            .render(
                rulehook_engine::Hook::Sync,
                serde_json::json!({"parent": {}}),
                &Default::default(),
            )
            .ok()?;
        r["status"]["n"].as_u64()
    }

    #[test]
    fn a_bad_edit_keeps_the_last_good_rule_and_records_the_error() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
        let (set, report) = set.update(vec![read("r/a.yaml", BAD)], now);
        assert_eq!(served_n(&set, "a"), Some(1));
        assert_eq!(report.errors.len(), 1);
        assert_eq!(set.files()["r/a.yaml"].errors.len(), 1);
        let (set, report) = set.update(vec![read("r/a.yaml", &status(2))], now);
        assert_eq!(served_n(&set, "a"), Some(2));
        assert!(report.errors.is_empty());
    }

    #[test]
    fn a_new_bad_file_is_not_served_and_others_are_untouched() {
        let now = SystemTime::now();
        let (set, report) = RuleSet::default().update(
            vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
            now,
        );
        assert_eq!(served_n(&set, "a"), Some(1));
        assert!(set.get("b").is_none());
        assert_eq!(report.errors.len(), 1);
    }

    #[test]
    fn unchanged_content_is_not_a_change() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(
            vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
            now,
        );
        let (next, report) = set.update(
            vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
            now,
        );
        assert!(!report.changed);
        assert_eq!(next.generation, set.generation);
        assert!(Arc::ptr_eq(next.get("a").unwrap(), set.get("a").unwrap()));
    }

    #[test]
    fn a_deleted_file_stops_serving() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(
            vec![read("r/a.yaml", &status(1)), read("r/b.yaml", &status(2))],
            now,
        );
        let (set, report) = set.update(vec![read("r/a.yaml", &status(1))], now);
        assert!(report.changed);
        assert!(set.get("b").is_none());
        assert_eq!(served_n(&set, "a"), Some(1));
    }

    #[test]
    fn a_duplicate_name_stays_with_the_file_that_had_it() {
        let now = SystemTime::now();
        let named = |n: u64| format!("name: x\n{}", status(n));
        let (set, _) = RuleSet::default().update(vec![read("r/b.yaml", &named(1))], now);
        let (set, report) = set.update(
            vec![read("r/a.yaml", &named(2)), read("r/b.yaml", &named(1))],
            now,
        );
        assert_eq!(served_n(&set, "x"), Some(1));
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0]
            .to_string()
            .starts_with("r/a.yaml:1:7: rule name `x` is already defined by r/b.yaml"));
    }

    #[test]
    fn an_unreadable_file_keeps_its_rule_and_shows_the_error_once() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
        let unreadable = || FileRead {
            file: "r/a.yaml".to_owned(),
            content: ReadResult::Unreadable("cannot be read: permission denied".to_owned()),
        };
        let (set, report) = set.update(vec![unreadable()], now);
        assert!(report.changed);
        assert_eq!(served_n(&set, "a"), Some(1));
        assert_eq!(set.errors().count(), 1);
        let (again, report) = set.update(vec![unreadable()], now);
        assert!(!report.changed, "the same error is not a new change");
        assert_eq!(again.generation, set.generation);
    }

    #[test]
    fn a_refused_file_serves_nothing() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
        let refused = FileRead {
            file: "r/a.yaml".to_owned(),
            content: ReadResult::Refused("links outside the rule directory".to_owned()),
        };
        let (set, report) = set.update(vec![refused], now);
        assert!(report.changed);
        assert!(set.get("a").is_none());
        assert_eq!(report.errors.len(), 1);
    }

    #[test]
    fn a_transient_read_keeps_the_previous_state() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
        let transient = FileRead {
            file: "r/a.yaml".to_owned(),
            content: ReadResult::Transient("dangling link".to_owned()),
        };
        let (set, report) = set.update(vec![transient], now);
        assert_eq!(served_n(&set, "a"), Some(1));
        assert_eq!(report.transient.len(), 1);
        assert!(!report.changed);
    }

    #[test]
    fn a_settling_file_keeps_serving_its_last_version_and_says_when_to_look_again() {
        let now = SystemTime::now();
        let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
        let settling = |file: &str, ms: u64| FileRead {
            file: file.to_owned(),
            content: ReadResult::Settling(Duration::from_millis(ms)),
        };
        let (set, report) = set.update(
            vec![settling("r/a.yaml", 700), settling("r/b.yaml", 300)],
            now,
        );
        assert_eq!(served_n(&set, "a"), Some(1));
        assert!(
            set.get("b").is_none(),
            "a new file is not served before it is quiet"
        );
        assert!(!report.changed);
        assert_eq!(report.settling, ["r/a.yaml", "r/b.yaml"]);
        assert_eq!(report.quiet_in, Some(Duration::from_millis(300)));
        assert!(report.transient.is_empty());
    }
}
