//! Regular expressions: compiled with bounded size, charged for what they cost, and kept no
//! longer than whoever pays for them.
//!
//! A pattern written in a rule (`regexMatch s '^web-'`) is compiled once, when the rule
//! loads, and its memory counts as the rule's. A pattern that comes from the request (a
//! parent's `spec.pattern`) is compiled for that render only, under a much smaller size
//! limit, with its memory and compile time charged to the render; it is never shared with
//! other renders, so no request can fill or flush a cache other rules rely on.
//!
//! Matching needs a scratch cache per pattern (the lazy DFA's states, the PikeVM's
//! threads). A render makes one per pattern it uses, reuses it for every call, and charges
//! its memory; it goes with the render.
//!
//! One search cannot be interrupted, so its work is charged before it starts: the subject's
//! length times the worst per-byte cost of the slowest engine it may fall back to, which
//! grows with the number of positions a match can be at once (`[01]{200}` keeps 200 threads
//! alive in the PikeVM).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::budget::{self, Exceeded};
use crate::clip::clip;

/// The longest pattern text, from a rule or a request.
pub(crate) const TEXT_LIMIT: usize = 4096;

/// How deep groups and repetitions may nest.
const NEST_LIMIT: u32 = 64;

/// The lazy DFA's cache per direction. Small, since a render holds one per pattern; a
/// pattern whose automaton needs more falls back to the PikeVM, which the work charge
/// already prices in.
const LAZY_DFA_CACHE: usize = 64 * 1024;

/// What a render sets aside before compiling a pattern from the request, given back down to
/// the compiled size afterwards: measured at most 100 KiB at the request size limit.
const REQUEST_RESERVE: usize = 256 * 1024;

/// Compiling a pattern from the request, charged up front: measured at 0.1–1 ms near the
/// request size limit.
const COMPILE_WORK: u64 = 2_000_000;

/// What the PikeVM's cache may take for a small automaton with many live threads (measured:
/// 79 KB for `[01]*1[01]{200}`, an 11 KB automaton).
const MIN_THREAD_CACHE: usize = 96 * 1024;

/// Work one search costs besides its bytes: setting up the input and the cache.
const SEARCH_WORK: u64 = 100;

/// Work per subject byte of any search, and per byte and position a match can be at.
/// Measured with the PikeVM, the slowest engine: 800–2,800 ns per byte for 22 and 202
/// positions on this project's 2-CPU benchmark machine.
const BYTE_WORK: u64 = 50;
const POSITION_WORK: u64 = 20;

/// Where a pattern comes from, which decides how large it may compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Written in the rule: compiled once at load and charged to the rule.
    Rule,
    /// Taken from the request: compiled for one render and charged to it.
    Request,
}

impl Origin {
    fn size_limit(self) -> usize {
        match self {
            Origin::Rule => 1 << 20,
            Origin::Request => 64 * 1024,
        }
    }
}

/// Why a pattern did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PatternError {
    #[error("the pattern is {bytes} bytes; patterns may have at most {limit}")]
    TooLong { bytes: usize, limit: usize },
    #[error("bad regular expression: {0}")]
    Bad(String),
    #[error("{}", .0.message())]
    Exceeded(Exceeded),
}

impl From<Exceeded> for PatternError {
    fn from(e: Exceeded) -> Self {
        PatternError::Exceeded(e)
    }
}

/// A compiled pattern, what one byte of search with it costs, and the most its matching
/// cache can grow to.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    per_byte: u64,
    cache_bound: usize,
}

impl Pattern {
    pub(crate) fn compile(text: &str, origin: Origin) -> Result<Pattern, PatternError> {
        if text.len() > TEXT_LIMIT {
            return Err(PatternError::TooLong {
                bytes: text.len(),
                limit: TEXT_LIMIT,
            });
        }
        let bad = |e: &dyn std::fmt::Display| PatternError::Bad(clip(&e.to_string()).into_owned());
        let syntax = syntax::Config::new().nest_limit(NEST_LIMIT);
        let hir = syntax::parse_with(text, &syntax).map_err(|e| bad(&e))?;
        let limit = origin.size_limit();
        let config = meta::Config::new()
            .nfa_size_limit(Some(limit))
            .onepass_size_limit(Some(limit))
            .dfa_size_limit(Some(limit))
            .hybrid_cache_capacity(LAZY_DFA_CACHE)
            // Its visited set grew caches past 600 KiB; the PikeVM is bounded by the NFA.
            .backtrack(false)
            // A full DFA is built ahead of any search, state by state: worth it for a rule's
            // pattern, which serves every render, not for a request's, which serves one render
            // and a few short subjects. The lazy DFA builds only the states a search visits.
            .dfa(origin == Origin::Rule);
        let regex = meta::Builder::new()
            .configure(config)
            .build_from_hir(&hir)
            .map_err(|e| match origin {
                Origin::Request if e.size_limit().is_some() => PatternError::Bad(format!(
                    "{}; a pattern from the request may compile to {} KiB at most, and Unicode classes are large: `(?-u:\\w)` or `[A-Za-z0-9_]` is far smaller than `\\w`",
                    clip(&e.to_string()),
                    limit / 1024
                )),
                _ => bad(&e),
            })?;
        let per_byte = positions(&hir)
            .saturating_mul(POSITION_WORK)
            .saturating_add(BYTE_WORK);
        // Two lazy DFA caches (forward, reverse) at their capacity, and the PikeVM's, which
        // grows with the automaton: measured at most 1.4 times the compiled size (captures
        // over Unicode classes), and up to 7 times it for tiny automata with many threads.
        let cache_bound = (2 * LAZY_DFA_CACHE)
            .saturating_add(regex.memory_usage().saturating_mul(2))
            .saturating_add(MIN_THREAD_CACHE);
        Ok(Pattern {
            regex,
            per_byte,
            cache_bound,
        })
    }

    /// The compiled pattern's own memory, without any matching cache.
    pub(crate) fn memory(&self) -> usize {
        self.regex.memory_usage()
    }

    /// The work of `passes` searches over `subject` bytes.
    fn search_work(&self, subject: usize, passes: u64) -> u64 {
        (subject as u64)
            .saturating_mul(self.per_byte)
            .saturating_mul(passes)
            .saturating_add(SEARCH_WORK)
    }
}

/// How many places in the subject a match can be at once: every literal byte and class a
/// match passes through, repetitions multiplied out. The PikeVM keeps up to this many
/// threads alive per byte.
fn positions(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Bytes(_)) => 1,
        HirKind::Class(Class::Unicode(class)) => class.maximum_len().unwrap_or(4) as u64,
        HirKind::Repetition(repetition) => {
            let times = repetition
                .max
                .unwrap_or(repetition.min.saturating_add(1))
                .max(1);
            positions(&repetition.sub).saturating_mul(u64::from(times))
        }
        HirKind::Capture(capture) => positions(&capture.sub),
        HirKind::Concat(all) | HirKind::Alternation(all) => {
            all.iter().map(positions).fold(0, u64::saturating_add)
        }
    }
}

/// The patterns a rule's templates write literally, compiled when the rule loads.
#[derive(Debug, Default)]
pub(crate) struct RulePatterns {
    patterns: Vec<Pattern>,
    index: HashMap<String, usize>,
}

impl RulePatterns {
    /// Compiles `text` once for the rule, unless it already has it.
    pub(crate) fn add(&mut self, text: &str) -> Result<(), PatternError> {
        if self.index.contains_key(text) {
            return Ok(());
        }
        let pattern = Pattern::compile(text, Origin::Rule)?;
        self.index.insert(text.to_owned(), self.patterns.len());
        self.patterns.push(pattern);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// A pattern's matching cache in one render, and the bytes held for it: its measured size
/// between searches, its bound during one.
struct Cache {
    cache: meta::Cache,
    held: usize,
}

impl Cache {
    fn new(pattern: &Pattern) -> Result<Cache, PatternError> {
        let cache = pattern.regex.create_cache();
        let held = cache.memory_usage();
        budget::hold(held)?;
        Ok(Cache { cache, held })
    }

    /// Runs one search, holding the most the cache can grow to while it runs and its
    /// measured size afterwards.
    fn search<R>(
        &mut self,
        pattern: &Pattern,
        search: impl FnOnce(&Regex, &mut meta::Cache) -> R,
    ) -> Result<R, PatternError> {
        let room = pattern.cache_bound.saturating_sub(self.held);
        budget::hold(room)?;
        let result = search(&pattern.regex, &mut self.cache);
        let now = self.cache.memory_usage().min(pattern.cache_bound);
        budget::release(self.held.saturating_add(room).saturating_sub(now));
        self.held = now;
        Ok(result)
    }
}

/// The patterns one render has compiled or used, each with its matching cache.
struct Table {
    rule: Option<Arc<RulePatterns>>,
    /// One cache slot per rule pattern, made on first use.
    rule_caches: Vec<Option<Cache>>,
    request: HashMap<String, (Pattern, Cache)>,
}

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Ends the render's pattern table when dropped, freeing what it compiled.
pub(crate) struct Installed {
    previous: Option<Table>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        TABLE.with(|t| *t.borrow_mut() = previous);
    }
}

/// Starts a render's pattern table on this thread, with the rule's own patterns.
pub(crate) fn install(rule: Option<Arc<RulePatterns>>) -> Installed {
    let rule_caches = rule.as_ref().map_or(0, |r| r.patterns.len());
    let table = Table {
        rule,
        rule_caches: (0..rule_caches).map(|_| None).collect(),
        request: HashMap::new(),
    };
    let previous = TABLE.with(|t| t.borrow_mut().replace(table));
    Installed { previous }
}

/// Runs `search` with `text` compiled and a cache for it, once the work of `passes`
/// searches over `subject` bytes is charged. Compiles and caches as the table says.
///
/// # Errors
///
/// When the pattern does not compile, or the render cannot afford its memory or the work.
pub(crate) fn with<R>(
    text: &str,
    subject: usize,
    passes: u64,
    search: impl FnOnce(&Regex, &mut meta::Cache) -> R,
) -> Result<R, PatternError> {
    TABLE.with(|t| match t.borrow_mut().as_mut() {
        Some(table) => table.with(text, subject, passes, search),
        // Outside a render (helpers called directly): compile on the spot, keep nothing.
        None => {
            let pattern = Pattern::compile(text, Origin::Request)?;
            budget::work(pattern.search_work(subject, passes))?;
            let mut cache = pattern.regex.create_cache();
            Ok(search(&pattern.regex, &mut cache))
        }
    })
}

impl Table {
    fn with<R>(
        &mut self,
        text: &str,
        subject: usize,
        passes: u64,
        search: impl FnOnce(&Regex, &mut meta::Cache) -> R,
    ) -> Result<R, PatternError> {
        let rule_index = self.rule.as_ref().and_then(|r| r.index.get(text).copied());
        if let (Some(rule), Some(i)) = (&self.rule, rule_index) {
            if let (Some(pattern), Some(slot)) = (rule.patterns.get(i), self.rule_caches.get_mut(i))
            {
                budget::work(pattern.search_work(subject, passes))?;
                let cache = match slot {
                    Some(cache) => cache,
                    None => slot.insert(Cache::new(pattern)?),
                };
                return cache.search(pattern, search);
            }
        }
        if !self.request.contains_key(text) {
            budget::work(COMPILE_WORK)?;
            budget::hold(REQUEST_RESERVE)?;
            let pattern = match Pattern::compile(text, Origin::Request) {
                Ok(pattern) => pattern,
                Err(e) => {
                    budget::release(REQUEST_RESERVE);
                    return Err(e);
                }
            };
            budget::release(REQUEST_RESERVE.saturating_sub(pattern.memory()));
            let cache = Cache::new(&pattern)?;
            self.request.insert(text.to_owned(), (pattern, cache));
        }
        let Some((pattern, cache)) = self.request.get_mut(text) else {
            return Err(PatternError::Bad("the pattern was not kept".to_owned()));
        };
        budget::work(pattern.search_work(subject, passes))?;
        cache.search(pattern, search)
    }
}

#[cfg(test)]
mod tests;
