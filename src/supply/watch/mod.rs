//! Hot reload: signal, rebuild, swap or keep.
//!
//! A ConfigMap volume never announces a content change under the rule file's own name: the
//! kubelet writes a new timestamped directory and renames a `..data` link over the old one.
//! So any event in the directory (except reads, which our own re-reading causes) means "look
//! again", and the content hash decides whether anything changed. A timer re-checks as a
//! backstop, and `--watch poll` relies on the timer alone for volumes without inotify.
//!
//! A plain file is read only once it has not been modified for [`QUIET_PERIOD`], so that a
//! file written in parts is never served half written; until then it keeps serving its last
//! good version, and the loop looks again when the period is over. A ConfigMap volume's files
//! are swapped in whole and are read at once.
//!
//! Two things must not make the loop spin: a `..data/` link that keeps dangling is retried
//! with a doubling delay and then counted as deleted, and a directory that cannot be read is
//! looked at every half second and reported once, then every 5 seconds (`MISSING_POLL`,
//! `MISSING_LOG_EVERY`). A directory deleted and created again is a new inode that inotify
//! does not follow, so the watch is set up again whenever the directory's identity changes.
//!
//! The directories of the library search path are watched and read the same way, at every
//! look: a change in one is a change of the rule set, and recompiles the rules that reach the
//! changed library.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use crate::supply::load::{CompiledRules, ReadDirError, TransientFiles};
use crate::supply::ruleset::{RuleSet, UpdateReport};

mod schedule;

use schedule::{dir_identities, watch_loop, LookAgain, LoopState};

/// Long enough to fold the kubelet's four swap steps into one event, short enough to keep
/// edit-to-answer latency well under a second.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// How long a plain file (not a ConfigMap's `..data/` link) must go unmodified before the
/// server reads it. A script or an editor that writes a file in parts leaves a shorter file
/// in between, often a valid rule with fewer children, which Metacontroller would act on by
/// deleting the rest. One second outlasts the pauses of such writers (half a second between
/// two writes is served whole) and keeps an edit in a plain directory served about a second
/// after its last write. A writer that pauses longer must write atomically (a temporary
/// file, then a rename), as the kubelet does.
pub const QUIET_PERIOD: Duration = Duration::from_secs(1);

/// How long the first load waits for plain files still within their quiet period. Start-up
/// waits only when a file was modified in the last second; a file still being written after
/// this is left to the watch loop, so that it cannot hold every other rule back.
const FIRST_LOAD_PATIENCE: Duration = Duration::from_secs(5);

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

impl Reload {
    /// What the metrics call this outcome.
    pub fn label(&self) -> &'static str {
        match self {
            Reload::Unchanged => "unchanged",
            Reload::Swapped { report, .. } if report.errors.is_empty() => "swapped",
            Reload::Swapped { .. } => "swapped_with_errors",
            Reload::Failed(_) => "failed",
        }
    }
}

/// A callback run after every reload attempt.
pub type Observer = Arc<dyn Fn(&Reload, &RuleSet) + Send + Sync>;

/// Reads one rule directory into a shared rule set: once at start-up, then at every change.
#[derive(Clone)]
pub struct Reloader {
    pub dir: PathBuf,
    /// The library search path (`--libraries`): directories whose libraries the rules of
    /// `dir` may import as if they lay beside them.
    pub libraries: Vec<PathBuf>,
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Called after every reload attempt, e.g. to count it in metrics; not after the first
    /// load, which is no reload.
    pub observe: Option<Observer>,
    /// How long a plain file must go unmodified before it is read: [`QUIET_PERIOD`] for a
    /// server; `ZERO` reads every file as it is.
    pub quiet_period: Duration,
}

impl Reloader {
    /// The first load, at start-up: the same reading and swap as every reload. What differs
    /// is what the outcome means. A directory that cannot be read is an error, since there is
    /// nothing yet to keep serving; and the caller logs and counts the outcome as the start-up
    /// load, so it is neither logged here nor observed.
    ///
    /// Plain files modified within the quiet period are waited for, for up to
    /// [`FIRST_LOAD_PATIENCE`], so that start-up serves no file caught mid-write; old files
    /// (the normal case) are read at once. Files still being written after that are in the
    /// report's `settling`, for [`spawn`] to look at again.
    ///
    /// # Errors
    ///
    /// When the directory cannot be listed.
    pub fn load_first(&self) -> Result<UpdateReport, ReadDirError> {
        let started = Instant::now();
        loop {
            let (report, _) = self.read_and_swap(TransientFiles::KeepPrevious)?;
            match report.quiet_in {
                Some(wait) if started.elapsed() + wait <= FIRST_LOAD_PATIENCE => {
                    std::thread::sleep(wait);
                }
                _ => return Ok(report),
            }
        }
    }

    /// The directories watched: the rule directory, then the library search path's.
    fn watched_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(&self.dir)
            .chain(&self.libraries)
            .cloned()
            .collect()
    }

    /// Reads the directory again and swaps the new set in if anything changed, then logs the
    /// outcome and tells the observer. Also says when to look again before the re-check.
    fn reload(&self, transient: TransientFiles) -> (Reload, LookAgain) {
        let (outcome, look_again) = match self.read_and_swap(transient) {
            // The loop's wait after a failure is its own (MISSING_POLL).
            Err(e) => (Reload::Failed(e), LookAgain::default()),
            Ok((report, generation)) => {
                let look_again = LookAgain::after(&report);
                if !report.settling.is_empty() {
                    tracing::debug!(files = ?report.settling, "modified within the quiet period; not read yet");
                }
                if report.changed {
                    (Reload::Swapped { generation, report }, look_again)
                } else {
                    (Reload::Unchanged, look_again)
                }
            }
        };
        log_outcome(&outcome, &self.rules.load());
        if let Some(observe) = &self.observe {
            observe(&outcome, &self.rules.load());
        }
        (outcome, look_again)
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
        let compiled = CompiledRules::merge_dir(
            &self.dir,
            &self.libraries,
            &current,
            transient,
            self.quiet_period,
        )?;
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
/// `first` is the report of [`Reloader::load_first`]: a file it could not read yet is looked
/// at again as soon as after any reload, not at the first re-check.
///
/// # Errors
///
/// When the platform watcher cannot be set up on the directory.
pub fn spawn(
    reloader: Reloader,
    mode: WatchMode,
    recheck: Duration,
    first: &UpdateReport,
) -> notify::Result<WatchHandle> {
    if mode == WatchMode::Off {
        return Ok(WatchHandle { _debouncer: None });
    }
    let (tx, rx) = mpsc::channel::<()>();
    let identity = dir_identities(&reloader.watched_dirs());
    let lost = Arc::new(AtomicBool::new(false));
    let (debouncer, rewatch) = if mode == WatchMode::Auto {
        let (watched_dirs, lost_watch) = (reloader.watched_dirs(), lost.clone());
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            // A directory itself went away: its watch is gone, whatever inode comes next.
            if let Ok(events) = &result {
                let gone = events.iter().any(|e| {
                    matches!(e.event.kind, EventKind::Remove(_))
                        && e.event.paths.iter().any(|p| watched_dirs.contains(p))
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
        for dir in &reloader.libraries {
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let shared = Arc::new(Mutex::new(debouncer));
        let (inner, dir) = (shared.clone(), reloader.dir.clone());
        let libraries = reloader.libraries.clone();
        let rewatch: Rewatch = Box::new(move || {
            let mut debouncer = inner.lock().unwrap_or_else(|e| e.into_inner());
            // The old watch died with the old directory; forgetting it may fail, harmlessly.
            let _ = debouncer.unwatch(&dir);
            debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
            // A library directory replaced meanwhile is watched again too; one that is not
            // there now is found by the re-check.
            for library_dir in &libraries {
                let _ = debouncer.unwatch(library_dir);
                let _ = debouncer.watch(library_dir, RecursiveMode::NonRecursive);
            }
            Ok(())
        });
        (
            Some(Box::new(shared) as Box<dyn std::any::Any + Send>),
            Some(rewatch),
        )
    } else {
        drop(tx);
        (None, None)
    };
    let mut state = LoopState::new(recheck, identity, lost, rewatch);
    let first_wait = state.next_wait(&Reload::Unchanged, LookAgain::after(first), &reloader.dir);
    std::thread::Builder::new()
        .name("rule-watch".to_owned())
        .spawn(move || watch_loop(&reloader, &rx, &mut state, first_wait))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(WatchHandle {
        _debouncer: debouncer,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn reloader(dir: &Path) -> Reloader {
        Reloader {
            dir: dir.to_path_buf(),
            libraries: Vec::new(),
            rules: Arc::new(ArcSwap::from_pointee(RuleSet::default())),
            observe: None,
            quiet_period: Duration::ZERO,
        }
    }

    /// Sets the modification time of `path` to `ago` before now.
    fn modified_ago(path: &Path, ago: Duration) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(std::time::SystemTime::now() - ago)
            .unwrap();
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

        let (outcome, look_again) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Unchanged), "{outcome:?}");
        assert_eq!(look_again, LookAgain::default());

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
        let (outcome, _) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn a_plain_file_is_read_once_quiet_and_meanwhile_its_last_version_serves() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        std::fs::write(&path, "sync:\n  status: {n: 1}\n").unwrap();
        modified_ago(&path, QUIET_PERIOD);
        let reloader = Reloader {
            quiet_period: QUIET_PERIOD,
            ..reloader(temp.path())
        };
        reloader.load_first().unwrap();
        let first = reloader.rules.load().get("a").cloned().unwrap();

        std::fs::write(&path, "sync:\n  status: {n: 2}\n").unwrap();
        let (outcome, look_again) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Unchanged), "{outcome:?}");
        assert!(Arc::ptr_eq(reloader.rules.load().get("a").unwrap(), &first));
        assert!(!look_again.transient);
        assert!(
            look_again.quiet_in.is_some_and(|q| q <= QUIET_PERIOD),
            "{look_again:?}"
        );

        modified_ago(&path, QUIET_PERIOD);
        let (outcome, look_again) = reloader.reload(TransientFiles::KeepPrevious);
        assert!(matches!(outcome, Reload::Swapped { .. }), "{outcome:?}");
        assert!(!Arc::ptr_eq(
            reloader.rules.load().get("a").unwrap(),
            &first
        ));
        assert_eq!(look_again, LookAgain::default());
    }

    #[test]
    fn the_first_load_waits_for_a_file_modified_within_the_quiet_period() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        std::fs::write(&path, "sync:\n  status: {n: 1}\n").unwrap();
        modified_ago(&path, QUIET_PERIOD - Duration::from_millis(200));
        let reloader = Reloader {
            quiet_period: QUIET_PERIOD,
            ..reloader(temp.path())
        };
        let report = reloader.load_first().unwrap();
        assert!(report.settling.is_empty(), "{report:?}");
        assert!(reloader.rules.load().get("a").is_some());
    }
}
