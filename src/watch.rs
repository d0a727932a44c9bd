//! Hot reload: signal, rebuild, swap or keep.
//!
//! A ConfigMap volume never announces a content change under the rule file's own name: the
//! kubelet writes a new timestamped directory and renames a `..data` link over the old one.
//! So any event in the directory (except reads, which our own re-reading causes) means "look
//! again", and the content hash decides whether anything changed. A timer re-checks as a
//! backstop, and `--watch poll` relies on the timer alone for volumes without inotify.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use crate::load;
use crate::ruleset::{RuleSet, UpdateReport};

/// Long enough to fold the kubelet's four swap steps into one event, short enough to keep
/// edit-to-answer latency well under a second.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// How soon to look again after a file could not be read (a link mid-swap).
const TRANSIENT_RETRY: Duration = Duration::from_millis(100);

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchMode {
    /// inotify (or the platform's equivalent), plus the periodic re-check.
    Auto,
    /// Re-read the directory at every poll interval.
    Poll,
    /// Load once at start-up.
    Off,
}

/// The outcome of one reload, for logs and tests.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// A new set is serving; `errors` are problems in files that kept their last good rule or
    /// are not served.
    Swapped {
        generation: u64,
        report: UpdateReport,
    },
    /// The directory could not be read; the current set keeps serving.
    Failed(String),
}

/// A callback run after every reload attempt.
pub type Observer = Arc<dyn Fn(&Reload, &RuleSet) + Send + Sync>;

/// Re-reads one rule directory into a shared rule set.
#[derive(Clone)]
pub struct Reloader {
    pub dir: PathBuf,
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Called after every reload attempt, e.g. to count it in metrics.
    pub observe: Option<Observer>,
}

impl Reloader {
    /// Reads the directory, merges, and swaps the new set in if anything changed.
    ///
    /// # Guarantees
    ///
    /// The swap is one atomic store: a request sees the old set or the new one, never a mix,
    /// and requests already running keep the snapshot they loaded.
    pub fn reload(&self) -> (Reload, bool) {
        let reads = match load::read_dir(&self.dir) {
            Ok(reads) => reads,
            Err(e) => {
                let outcome = Reload::Failed(format!("{}: {e}", self.dir.display()));
                self.finish(&outcome);
                return (outcome, true);
            }
        };
        let current = self.rules.load_full();
        let (next, report) = current.update(reads, SystemTime::now());
        let retry = !report.transient.is_empty();
        if !report.changed {
            let outcome = Reload::Unchanged;
            self.finish(&outcome);
            return (outcome, retry);
        }
        let generation = next.generation;
        self.rules.store(Arc::new(next));
        let outcome = Reload::Swapped { generation, report };
        self.finish(&outcome);
        (outcome, retry)
    }

    fn finish(&self, outcome: &Reload) {
        log_outcome(outcome, &self.rules.load());
        if let Some(observe) = &self.observe {
            observe(outcome, &self.rules.load());
        }
    }
}

fn log_outcome(outcome: &Reload, rules: &RuleSet) {
    match outcome {
        Reload::Unchanged => tracing::debug!("rules unchanged"),
        Reload::Failed(why) => {
            tracing::error!(error = %why, "cannot read the rule directory; keeping the current rules")
        }
        Reload::Swapped { generation, report } => {
            tracing::info!(
                generation,
                rules = rules.len(),
                errors = report.errors.len(),
                "rules reloaded"
            );
            for error in &report.errors {
                tracing::warn!("{error}");
            }
        }
    }
}

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    _debouncer: Option<Box<dyn std::any::Any + Send>>,
}

/// Starts watching. `recheck` is the backstop period (and the poll period in poll mode).
///
/// # Errors
///
/// When the platform watcher cannot be set up on the directory.
pub fn spawn(
    reloader: Reloader,
    mode: WatchMode,
    recheck: Duration,
) -> notify::Result<WatchHandle> {
    if mode == WatchMode::Off {
        return Ok(WatchHandle { _debouncer: None });
    }
    let (tx, rx) = mpsc::channel::<()>();
    let debouncer = if mode == WatchMode::Auto {
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let relevant = match result {
                Ok(events) => events
                    .iter()
                    .any(|e| !matches!(e.event.kind, EventKind::Access(_))),
                // A watcher error may mean missed events: look again.
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        })?;
        debouncer.watch(&reloader.dir, RecursiveMode::NonRecursive)?;
        Some(Box::new(debouncer) as Box<dyn std::any::Any + Send>)
    } else {
        drop(tx);
        None
    };
    std::thread::Builder::new()
        .name("rule-watch".to_owned())
        .spawn(move || watch_loop(&reloader, &rx, recheck))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(WatchHandle {
        _debouncer: debouncer,
    })
}

fn watch_loop(reloader: &Reloader, signals: &mpsc::Receiver<()>, recheck: Duration) {
    let mut wait = recheck;
    loop {
        match signals.recv_timeout(wait) {
            Ok(()) => while signals.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            // Poll mode has no sender: the timer alone drives it.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
        let (_, retry) = reloader.reload();
        wait = if retry { TRANSIENT_RETRY } else { recheck };
    }
}
