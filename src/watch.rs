//! Hot reload: signal, rebuild, swap or keep.
//!
//! A ConfigMap volume never announces a content change under the rule file's own name: the
//! kubelet writes a new timestamped directory and renames a `..data` link over the old one.
//! So any event in the directory (except reads, which our own re-reading causes) means "look
//! again", and the content hash decides whether anything changed. A timer re-checks as a
//! backstop, and `--watch poll` relies on the timer alone for volumes without inotify.
//!
//! Two things must not make the loop spin: a `..data/` link that keeps dangling is retried
//! with a doubling delay and then counted as deleted, and a directory that cannot be read is
//! looked at every half second and reported once, then every 5 seconds (`MISSING_POLL`,
//! `MISSING_LOG_EVERY`). A directory deleted and created again is a new inode that inotify
//! does not follow, so the watch is set up again whenever the directory's identity changes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use crate::load::{CompiledRules, ReadDirError, TransientFiles};
use crate::ruleset::{RuleSet, UpdateReport};

/// Long enough to fold the kubelet's four swap steps into one event, short enough to keep
/// edit-to-answer latency well under a second.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// How soon to look again after a file could not be read (a link mid-swap); doubled at each
/// retry in a row.
const TRANSIENT_RETRY: Duration = Duration::from_millis(100);

/// Retries in a row (about 3 s with doubling) after which a `..data/` link that still
/// dangles counts as deleted: a kubelet swap takes milliseconds.
const TRANSIENT_RETRIES: u32 = 5;

/// How often to look for a rule directory that cannot be read, e.g. deleted and not yet back.
const MISSING_POLL: Duration = Duration::from_millis(500);

/// How often a directory that stays unreadable is reported again.
const MISSING_LOG_EVERY: Duration = Duration::from_secs(5);

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

/// The outcome of one reload, for logs and metrics.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// A new set is serving; `report.errors` are problems in files that kept their last good
    /// rule or are not served.
    Swapped {
        generation: u64,
        report: UpdateReport,
    },
    /// The directory could not be read; the current set keeps serving.
    Failed(ReadDirError),
}

/// A callback run after every reload attempt.
pub type Observer = Arc<dyn Fn(&Reload, &RuleSet) + Send + Sync>;

/// Reads one rule directory into a shared rule set: once at start-up, then at every change.
#[derive(Clone)]
pub struct Reloader {
    pub dir: PathBuf,
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Called after every reload attempt, e.g. to count it in metrics; not after the first
    /// load, which is no reload.
    pub observe: Option<Observer>,
}

impl Reloader {
    /// The first load, at start-up: the same reading and swap as every reload. What differs
    /// is what the outcome means. A directory that cannot be read is an error, since there is
    /// nothing yet to keep serving; and the caller logs and counts the outcome as the start-up
    /// load, so it is neither logged here nor observed.
    ///
    /// # Errors
    ///
    /// When the directory cannot be listed.
    pub fn load_first(&self) -> Result<UpdateReport, ReadDirError> {
        self.read_and_swap(TransientFiles::KeepPrevious)
            .map(|(report, _)| report)
    }

    /// Reads the directory again and swaps the new set in if anything changed, then logs the
    /// outcome and tells the observer. Also says whether to look again soon: when a file or
    /// the directory could not be read.
    fn reload(&self, transient: TransientFiles) -> (Reload, bool) {
        let (outcome, retry) = match self.read_and_swap(transient) {
            Err(e) => (Reload::Failed(e), true),
            Ok((report, generation)) => {
                let retry = !report.transient.is_empty();
                if report.changed {
                    (Reload::Swapped { generation, report }, retry)
                } else {
                    (Reload::Unchanged, retry)
                }
            }
        };
        log_outcome(&outcome, &self.rules.load());
        if let Some(observe) = &self.observe {
            observe(&outcome, &self.rules.load());
        }
        (outcome, retry)
    }

    /// Reads the directory, merges it into the set serving now, and swaps the result in if
    /// anything changed. Returns the merge's report and the generation serving after it.
    ///
    /// # Guarantees
    ///
    /// The swap is one atomic store: a request sees the old set or the new one, never a mix,
    /// and requests already running keep the snapshot they loaded.
    fn read_and_swap(
        &self,
        transient: TransientFiles,
    ) -> Result<(UpdateReport, u64), ReadDirError> {
        let current = self.rules.load_full();
        let compiled = CompiledRules::merge_dir(&self.dir, &current, transient)?;
        let generation = compiled.rules.generation;
        if compiled.report.changed {
            self.rules.store(Arc::new(compiled.rules));
        }
        Ok((compiled.report, generation))
    }
}

fn log_outcome(outcome: &Reload, rules: &RuleSet) {
    match outcome {
        Reload::Unchanged => tracing::debug!("rules unchanged"),
        // The watch loop reports these, at a bounded rate.
        Reload::Failed(_) => {}
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

/// Whether a batch of watcher events may mean changed content: anything but reads, and any
/// watcher error (which may mean missed events: look again).
fn is_change(result: &DebounceEventResult) -> bool {
    match result {
        Ok(events) => events
            .iter()
            .any(|e| !matches!(e.event.kind, EventKind::Access(_))),
        Err(_) => true,
    }
}

/// Calls `changed` after every change under `paths` (files, or directories watched with
/// everything below them), with the same debouncing as the rule-directory watch, until
/// `changed` returns `false`. For `rulehook test --watch`.
///
/// # Errors
///
/// When the platform watcher cannot be set up on one of the paths.
pub fn on_change(paths: &[PathBuf], mut changed: impl FnMut() -> bool) -> notify::Result<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        if is_change(&result) {
            let _ = tx.send(());
        }
    })?;
    for path in paths {
        debouncer.watch(path, RecursiveMode::Recursive)?;
    }
    while rx.recv().is_ok() {
        // One run for a burst of changes: an editor's save is several events.
        while rx.recv_timeout(DEBOUNCE).is_ok() {}
        if !changed() {
            break;
        }
    }
    Ok(())
}

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    _debouncer: Option<Box<dyn std::any::Any + Send>>,
}

/// Sets the platform watch up again on the rule directory.
type Rewatch = Box<dyn FnMut() -> notify::Result<()> + Send>;

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
    let identity = dir_identity(&reloader.dir);
    let lost = Arc::new(AtomicBool::new(false));
    let (debouncer, rewatch) = if mode == WatchMode::Auto {
        let (watched_dir, lost_watch) = (reloader.dir.clone(), lost.clone());
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            // The directory itself went away: its watch is gone, whatever inode comes next.
            if let Ok(events) = &result {
                let gone = events.iter().any(|e| {
                    matches!(e.event.kind, EventKind::Remove(_))
                        && e.event.paths.iter().any(|p| p == &watched_dir)
                });
                if gone {
                    lost_watch.store(true, Ordering::Release);
                }
            }
            if is_change(&result) {
                let _ = tx.send(());
            }
        })?;
        debouncer.watch(&reloader.dir, RecursiveMode::NonRecursive)?;
        let shared = Arc::new(Mutex::new(debouncer));
        let (inner, dir) = (shared.clone(), reloader.dir.clone());
        let rewatch: Rewatch = Box::new(move || {
            let mut debouncer = inner.lock().unwrap_or_else(|e| e.into_inner());
            // The old watch died with the old directory; forgetting it may fail, harmlessly.
            let _ = debouncer.unwatch(&dir);
            debouncer.watch(&dir, RecursiveMode::NonRecursive)
        });
        (
            Some(Box::new(shared) as Box<dyn std::any::Any + Send>),
            Some(rewatch),
        )
    } else {
        drop(tx);
        (None, None)
    };
    let mut state = LoopState {
        recheck,
        identity,
        lost,
        rewatch,
        transient_rounds: 0,
        failing_since: None,
        failure_logged: None,
    };
    std::thread::Builder::new()
        .name("rule-watch".to_owned())
        .spawn(move || watch_loop(&reloader, &rx, &mut state))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(WatchHandle {
        _debouncer: debouncer,
    })
}

/// What the watch loop remembers from one reload to the next.
struct LoopState {
    recheck: Duration,
    /// The identity of the directory being watched, to notice a new one under its name.
    identity: Option<(u64, u64)>,
    /// Set when the watcher saw the directory itself removed.
    lost: Arc<AtomicBool>,
    /// `None` in poll mode.
    rewatch: Option<Rewatch>,
    /// Reloads in a row that met a file mid-swap.
    transient_rounds: u32,
    /// Since when the directory cannot be read, and when that was last logged.
    failing_since: Option<Instant>,
    failure_logged: Option<Instant>,
}

fn watch_loop(reloader: &Reloader, signals: &mpsc::Receiver<()>, state: &mut LoopState) {
    let mut wait = state.recheck;
    loop {
        match signals.recv_timeout(wait) {
            Ok(()) => while signals.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            // Poll mode has no sender: the timer alone drives it.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
        state.follow_directory(&reloader.dir);
        let transient = if state.transient_rounds >= TRANSIENT_RETRIES {
            TransientFiles::CountAsDeleted
        } else {
            TransientFiles::KeepPrevious
        };
        let (outcome, retry) = reloader.reload(transient);
        wait = state.next_wait(&outcome, retry, &reloader.dir);
    }
}

impl LoopState {
    /// Watches the directory again when a new one stands under its name.
    fn follow_directory(&mut self, dir: &Path) {
        let identity = dir_identity(dir);
        if self.lost.swap(false, Ordering::AcqRel) {
            self.identity = None;
        }
        if identity.is_none() || identity == self.identity {
            return;
        }
        let Some(rewatch) = self.rewatch.as_mut() else {
            self.identity = identity;
            return;
        };
        match rewatch() {
            Ok(()) => {
                self.identity = identity;
                tracing::info!(dir = %dir.display(), "watching the rule directory again");
            }
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "cannot watch the rule directory; changes are seen at the re-check interval"
            ),
        }
    }

    /// How long to wait before the next reload, and the failure log at its bounded rate.
    fn next_wait(&mut self, outcome: &Reload, retry: bool, dir: &Path) -> Duration {
        if let Reload::Failed(why) = outcome {
            let now = Instant::now();
            let since = *self.failing_since.get_or_insert(now);
            let due = self
                .failure_logged
                .is_none_or(|at| now.duration_since(at) >= MISSING_LOG_EVERY);
            if due {
                self.failure_logged = Some(now);
                tracing::error!(
                    error = %why,
                    failing_for_s = now.duration_since(since).as_secs(),
                    "cannot read the rule directory; keeping the current rules, looking again every {}",
                    humantime::format_duration(MISSING_POLL)
                );
            }
            self.transient_rounds = 0;
            // A file system may give the next directory the same inode: watch whatever comes.
            self.identity = None;
            return MISSING_POLL.min(self.recheck);
        }
        if self.failing_since.take().is_some() {
            self.failure_logged = None;
            tracing::info!(dir = %dir.display(), "the rule directory can be read again");
        }
        if !retry {
            self.transient_rounds = 0;
            return self.recheck;
        }
        self.transient_rounds += 1;
        let doubled =
            TRANSIENT_RETRY.saturating_mul(1 << self.transient_rounds.min(16).saturating_sub(1));
        doubled.min(self.recheck)
    }
}

/// Device and inode of the directory, to tell a recreated directory from the one watched.
#[cfg(unix)]
fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|_| (0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reloader(dir: &Path) -> Reloader {
        Reloader {
            dir: dir.to_path_buf(),
            rules: Arc::new(ArcSwap::from_pointee(RuleSet::default())),
            observe: None,
        }
    }

    #[test]
    fn the_first_load_and_every_reload_swap_the_same_way() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("a.yaml"), "sync:\n  status: {n: 1}\n").unwrap();
        let reloader = reloader(temp.path());
        let report = reloader.load_first().unwrap();
        assert!(report.changed && report.errors.is_empty());
        assert!(reloader.rules.load().get("a").is_some());
        let generation = reloader.rules.load().generation;

        let (outcome, retry) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Unchanged), "{outcome:?}");
        assert!(!retry);

        std::fs::write(temp.path().join("b.yaml"), "sync:\n  status: {n: 2}\n").unwrap();
        let (outcome, _) = reloader.reload(TransientFiles::KeepPrevious);
        let Reload::Swapped {
            generation: next, ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(next, generation + 1);
        assert_eq!(reloader.rules.load().generation, next);
        assert!(reloader.rules.load().get("b").is_some());
    }

    #[test]
    fn a_directory_that_cannot_be_read_fails_the_first_load_but_not_a_reload() {
        let temp = tempfile::tempdir().unwrap();
        let reloader = reloader(&temp.path().join("missing"));
        let error = reloader.load_first().unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
        let (outcome, retry) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Failed(_)), "{outcome:?}");
        assert!(retry);
    }
}
