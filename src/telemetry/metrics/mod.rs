//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! Label values come only from bounded sets: loaded rule names, the three hooks, HTTP status
//! codes and file names. A request for a rule that is not loaded counts under `(unknown)`, so
//! a client cannot grow the series without bound.

use std::sync::{Arc, LazyLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rulehook_engine::Hook;

mod labels;

use labels::{
    BuildLabels, FileLabels, HookLabels, LibraryInfoLabels, ReasonLabels, RequestLabels,
    ResultLabels, RuleInfoLabels, RuleLabels,
};

/// One rule being served, as the rule gauges show it.
pub struct ServedRule<'a> {
    pub name: &'a str,
    /// Hex SHA-256 of the file it was compiled from.
    pub sha256: &'a str,
    /// The bytes its compiled form takes.
    pub memory: usize,
}

/// Every metric rulehook exports.
pub struct Metrics {
    id: u64,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<HookLabels, Histogram>,
    rules_loaded: Gauge,
    rule_errors: Family<FileLabels, Gauge>,
    rule_memory: Family<RuleLabels, Gauge>,
    rule_info: Family<RuleInfoLabels, Gauge>,
    library_info: Family<LibraryInfoLabels, Gauge>,
    rules_memory_limit: Gauge,
    reloads: Family<ResultLabels, Counter>,
    panics: Family<RuleLabels, Counter>,
    slow_readers: Counter,
    records_dropped: Counter,
    log_lines_dropped: Counter,
    memory_limit: Gauge,
    memory_reserved: Gauge,
    memory_unsent: Gauge,
    answer_cache_hits: Counter,
    answer_cache_misses: Counter,
    answer_cache_bytes: Gauge,
    connections_open: Gauge,
    connections_refused: Counter,
    connections_closed: Family<ReasonLabels, Counter>,
}

/// Raises `counter` to `total`, a count kept elsewhere (the log writer, the answer cache)
/// and read at scrape time.
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// One thread's handle on the series of one (rule, hook, code).
struct Series {
    /// Which [`Metrics`] they belong to (tests make several).
    metrics: u64,
    /// Compared by address: the `Weak` keeps the address from being reused meanwhile.
    rule: std::sync::Weak<str>,
    hook: &'static str,
    code: u16,
    counter: Counter,
    histogram: Histogram,
}

const MAX_SERIES_PER_THREAD: usize = 1024;

thread_local! {
    static SERIES: std::cell::RefCell<Vec<Series>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Tells [`Metrics`] instances apart in the per-thread tables.
static NEXT_METRICS_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The label for a rule name that is not loaded.
pub const UNKNOWN: &str = "(unknown)";

/// [`UNKNOWN`] as a shared label, made once.
pub fn unknown_label() -> Arc<str> {
    static LABEL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(UNKNOWN));
    LABEL.clone()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // 50 µs to ~1.6 s: hello answers in tens of microseconds, huge parents in tens of ms.
        let duration = Family::<HookLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 2.0, 16))
        });
        let rules_loaded = Gauge::default();
        let rule_errors = Family::<FileLabels, Gauge>::default();
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rulehook_requests",
            "Hook requests answered, by rule, hook and HTTP status",
            requests.clone(),
        );
        registry.register(
            "rulehook_request_duration_seconds",
            "Time to answer a hook request, from the first byte read to the response",
            duration.clone(),
        );
        registry.register(
            "rulehook_rules_loaded",
            "Rules being served",
            rules_loaded.clone(),
        );
        registry.register(
            "rulehook_rule_errors",
            "Problems in each rule file's current content",
            rule_errors.clone(),
        );
        let rule_memory = Family::<RuleLabels, Gauge>::default();
        registry.register(
            "rulehook_rule_memory_bytes",
            "What each served rule's compiled form takes, charged to the rules' share",
            rule_memory.clone(),
        );
        let rule_info = Family::<RuleInfoLabels, Gauge>::default();
        registry.register(
            "rulehook_rule_info",
            "Each served rule, labelled with the SHA-256 of its file; always 1",
            rule_info.clone(),
        );
        let library_info = Family::<LibraryInfoLabels, Gauge>::default();
        registry.register(
            "rulehook_library_info",
            "Each library that loads, labelled with the SHA-256 of its file; always 1",
            library_info.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: crate::build::VERSION,
                commit: crate::build::COMMIT,
            })
            .set(1);
        registry.register(
            "rulehook_build_info",
            "The version and git commit of this build; always 1",
            build_info,
        );
        let rules_memory_limit = Gauge::default();
        registry.register(
            "rulehook_rules_memory_limit_bytes",
            "What all served rules together may take (memory limit / 8)",
            rules_memory_limit.clone(),
        );
        registry.register(
            "rulehook_reloads",
            "Re-reads of the rule directory, by result",
            reloads.clone(),
        );
        let panics = Family::<RuleLabels, Counter>::default();
        registry.register(
            "rulehook_panics",
            "Renders that panicked, by rule; each was answered 500 and logged",
            panics.clone(),
        );
        let slow_readers = Counter::default();
        registry.register(
            "rulehook_slow_readers_dropped",
            "Connections closed because the client did not read its answers within the write timeout (a large answer's watchdog, or writes blocked that long)",
            slow_readers.clone(),
        );
        let records_dropped = Counter::default();
        registry.register(
            "rulehook_records_dropped",
            "Answered requests `--record` did not store because its writer was behind",
            records_dropped.clone(),
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "rulehook_log_lines_dropped",
            "Log lines not written because the log writer was behind (its buffer was full)",
            log_lines_dropped.clone(),
        );
        let memory_limit = Gauge::default();
        registry.register(
            "rulehook_request_memory_limit_bytes",
            "What all requests together may hold in memory",
            memory_limit.clone(),
        );
        let memory_reserved = Gauge::default();
        registry.register(
            "rulehook_request_memory_reserved_bytes",
            "Memory reserved by requests now: bodies, parsed requests, renders, unsent answers",
            memory_reserved.clone(),
        );
        let memory_unsent = Gauge::default();
        registry.register(
            "rulehook_unsent_response_bytes",
            "Answers waiting for their clients to read them",
            memory_unsent.clone(),
        );
        let answer_cache_hits = Counter::default();
        registry.register(
            "rulehook_answer_cache_hits",
            "Hook requests answered from the answer cache: the same bytes, rule version and hook as an earlier 200 that was kept (from the third sighting of those bytes)",
            answer_cache_hits.clone(),
        );
        let answer_cache_misses = Counter::default();
        registry.register(
            "rulehook_answer_cache_misses",
            "Hook requests small enough for the answer cache that were rendered",
            answer_cache_misses.clone(),
        );
        let answer_cache_bytes = Gauge::default();
        registry.register(
            "rulehook_answer_cache_bytes",
            "What the answer cache keeps now: requests, answers, overhead and its table of recent request hashes",
            answer_cache_bytes.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "rulehook_connections_open",
            "Connections open on the hook port",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "rulehook_connections_refused",
            "Connections dropped at accept because their peer held --max-connections-per-peer",
            connections_refused.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rulehook_connections_closed",
            "Connections the server closed, by reason: unsent_bound (answers piled up unread), head_deadline, head_too_large, write_deadline, slow_reader",
            connections_closed.clone(),
        );
        for result in ["unchanged", "swapped", "swapped_with_errors", "failed"] {
            drop(reloads.get_or_create(&ResultLabels { result }));
        }
        Metrics {
            id: NEXT_METRICS_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            requests,
            duration,
            rules_loaded,
            rule_errors,
            rule_memory,
            rule_info,
            library_info,
            rules_memory_limit,
            reloads,
            panics,
            slow_readers,
            records_dropped,
            log_lines_dropped,
            memory_limit,
            memory_reserved,
            memory_unsent,
            answer_cache_hits,
            answer_cache_misses,
            answer_cache_bytes,
            connections_open,
            connections_refused,
            connections_closed,
        }
    }

    /// Counts a render that panicked. `rule` is a loaded rule's name.
    pub fn observe_panic(&self, rule: &str) {
        self.panics
            .get_or_create(&RuleLabels {
                rule: rule.to_owned(),
            })
            .inc();
    }

    /// The counter of requests `--record` dropped.
    pub fn records_dropped(&self) -> Counter {
        self.records_dropped.clone()
    }

    /// Sets the memory gauges, at scrape time.
    pub fn observe_memory(&self, limit: usize, reserved: usize, unsent: usize) {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.memory_limit.set(as_i64(limit));
        self.memory_reserved.set(as_i64(reserved));
        self.memory_unsent.set(as_i64(unsent));
    }

    /// Sets the connection figures, at scrape time, from the counts the connections keep:
    /// those open, those refused at accept, those whose client left answers unread past the
    /// write timeout, and those closed, by reason.
    pub fn observe_connections(
        &self,
        open: usize,
        refused: u64,
        slow_readers: u64,
        closed: impl IntoIterator<Item = (&'static str, u64)>,
    ) {
        self.connections_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
        catch_up(&self.connections_refused, refused);
        catch_up(&self.slow_readers, slow_readers);
        for (reason, count) in closed {
            let counter = self
                .connections_closed
                .get_or_create(&ReasonLabels { reason });
            catch_up(&counter, count);
        }
    }

    /// Sets the answer cache's figures, at scrape time: its own counts are the truth.
    pub fn observe_answer_cache(&self, hits: u64, misses: u64, bytes: usize) {
        catch_up(&self.answer_cache_hits, hits);
        catch_up(&self.answer_cache_misses, misses);
        self.answer_cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Records one hook request. `rule` must be a loaded rule's label or [`unknown_label`].
    pub fn observe_request(&self, rule: &Arc<str>, hook: &str, code: u16, seconds: f64) {
        // The hook segment comes from the URL: only real hook names become label values.
        let hook = Hook::parse(hook).map_or(UNKNOWN, Hook::as_str);
        let (counter, histogram) = self.handles(rule, hook, code);
        counter.inc();
        histogram.observe(seconds);
    }

    /// The series of one (rule, hook, code), from this thread's own table when it has them.
    /// Looking them up in the families takes their locks and clones the label, on every
    /// request, on atomics every worker shares; the table is the thread's alone.
    fn handles(&self, rule: &Arc<str>, hook: &'static str, code: u16) -> (Counter, Histogram) {
        SERIES.with(|table| {
            let mut table = table.borrow_mut();
            let found = table.iter().find(|s| {
                s.metrics == self.id
                    && std::ptr::eq(s.rule.as_ptr(), Arc::as_ptr(rule))
                    && s.hook == hook
                    && s.code == code
            });
            if let Some(s) = found {
                return (s.counter.clone(), s.histogram.clone());
            }
            let counter = self
                .requests
                .get_or_create(&RequestLabels {
                    rule: rule.clone(),
                    hook,
                    code,
                })
                .clone();
            let histogram = self
                .duration
                .get_or_create(&HookLabels {
                    rule: rule.clone(),
                    hook,
                })
                .clone();
            // Bounded: rules × hooks × codes seen by this thread, cleared when it grows past
            // what any real rule set needs (labels of replaced rules linger until then).
            if table.len() >= MAX_SERIES_PER_THREAD {
                table.clear();
            }
            table.push(Series {
                metrics: self.id,
                rule: Arc::downgrade(rule),
                hook,
                code,
                counter: counter.clone(),
                histogram: histogram.clone(),
            });
            (counter, histogram)
        })
    }

    /// Counts a reload attempt by its result (`unchanged`, `swapped`,
    /// `swapped_with_errors`, `failed`).
    pub fn observe_reload(&self, result: &'static str) {
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// Sets one series per library that loads, named and with the hash of its file; the
    /// series of libraries gone, broken or changed go.
    pub fn observe_libraries(&self, libraries: impl IntoIterator<Item = (String, String)>) {
        self.library_info.clear();
        for (library, sha256) in libraries {
            self.library_info
                .get_or_create(&LibraryInfoLabels { library, sha256 })
                .set(1);
        }
    }

    /// Sets the gauges of the rule set being served: each rule's name, file hash and the
    /// bytes its compiled form takes, what all of them may take, and each file's number of
    /// problems. The series of rules no longer served, or served from other content, go.
    pub fn observe_rules<'a>(
        &self,
        rules: impl IntoIterator<Item = ServedRule<'a>>,
        memory_limit: usize,
        files: impl IntoIterator<Item = (&'a str, usize)>,
    ) {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.rules_memory_limit.set(as_i64(memory_limit));
        self.rule_memory.clear();
        self.rule_info.clear();
        let mut loaded = 0;
        for served in rules {
            loaded += 1;
            let labels = RuleLabels {
                rule: served.name.to_owned(),
            };
            self.rule_memory
                .get_or_create(&labels)
                .set(as_i64(served.memory));
            self.rule_info
                .get_or_create(&RuleInfoLabels {
                    rule: served.name.to_owned(),
                    sha256: served.sha256.to_owned(),
                })
                .set(1);
            // Every loaded rule has its panic series from the start, at 0, so an alert on
            // its increase works from the first panic.
            drop(self.panics.get_or_create(&labels));
        }
        self.rules_loaded.set(loaded);
        self.rule_errors.clear();
        for (file, errors) in files {
            self.rule_errors
                .get_or_create(&FileLabels {
                    file: file.to_owned(),
                })
                .set(as_i64(errors));
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        // The log writer keeps its own count, outside.
        catch_up(
            &self.log_lines_dropped,
            crate::telemetry::log_writer::lines_dropped(),
        );
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests;
