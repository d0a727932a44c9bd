//! When the watch loop looks again: at a signal from the watcher, soon after a file it could
//! not read, when a plain file's quiet period is over, every half second while the directory
//! is missing, and at the re-check.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Reload, Reloader, Rewatch};
use crate::supply::load::TransientFiles;
use crate::supply::ruleset::UpdateReport;

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

/// Why to look again before the re-check, as one reading found it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct LookAgain {
    /// A file (or the directory) could not be read for a moment: retried with a doubling
    /// delay.
    pub transient: bool,
    /// How soon a plain file not read yet will have been quiet for the quiet period.
    pub quiet_in: Option<Duration>,
}

impl LookAgain {
    pub(super) fn after(report: &UpdateReport) -> LookAgain {
        LookAgain {
            transient: !report.transient.is_empty(),
            quiet_in: report.quiet_in,
        }
    }
}

/// What the watch loop remembers from one reload to the next.
pub(super) struct LoopState {
    recheck: Duration,
    /// The identity of each directory being watched (the rule directory, then the library
    /// search path's), to notice a new one under its name.
    identity: Vec<Option<(u64, u64)>>,
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

/// Reloads at every signal and whenever `state` says to, starting after `first_wait`.
pub(super) fn watch_loop(
    reloader: &Reloader,
    signals: &mpsc::Receiver<()>,
    state: &mut LoopState,
    first_wait: Duration,
) {
    let mut wait = first_wait;
    loop {
        match signals.recv_timeout(wait) {
            Ok(()) => while signals.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            // Poll mode has no sender: the timer alone drives it.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
        state.follow_directory(&reloader.watched_dirs());
        let transient = if state.transient_rounds >= TRANSIENT_RETRIES {
            TransientFiles::CountAsDeleted
        } else {
            TransientFiles::KeepPrevious
        };
        let (outcome, look_again) = reloader.reload(transient);
        wait = state.next_wait(&outcome, look_again, &reloader.dir);
    }
}

impl LoopState {
    pub(super) fn new(
        recheck: Duration,
        identity: Vec<Option<(u64, u64)>>,
        lost: Arc<AtomicBool>,
        rewatch: Option<Rewatch>,
    ) -> LoopState {
        LoopState {
            recheck,
            identity,
            lost,
            rewatch,
            transient_rounds: 0,
            failing_since: None,
            failure_logged: None,
        }
    }

    /// Watches the directories again when a new one stands under the name of one of them.
    fn follow_directory(&mut self, dirs: &[PathBuf]) {
        let identity = dir_identities(dirs);
        if self.lost.swap(false, Ordering::AcqRel) {
            self.identity.clear();
        }
        let renewed = identity
            .iter()
            .zip(dirs)
            .enumerate()
            .find(|(i, (now, _))| now.is_some() && self.identity.get(*i) != Some(now));
        let Some((_, (_, dir))) = renewed else {
            return;
        };
        let Some(rewatch) = self.rewatch.as_mut() else {
            self.identity = identity;
            return;
        };
        match rewatch() {
            Ok(()) => {
                self.identity = identity;
                tracing::info!(dir = %dir.display(), "watching the directory again");
            }
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "cannot watch the rule directory or the library search path again; changes are seen at the re-check interval"
            ),
        }
    }

    /// How long to wait before the next reload, and the failure log at its bounded rate.
    pub(super) fn next_wait(
        &mut self,
        outcome: &Reload,
        look_again: LookAgain,
        dir: &Path,
    ) -> Duration {
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
            self.identity.clear();
            return MISSING_POLL.min(self.recheck);
        }
        if self.failing_since.take().is_some() {
            self.failure_logged = None;
            tracing::info!(dir = %dir.display(), "the rule directory can be read again");
        }
        let wait = if look_again.transient {
            self.transient_rounds += 1;
            let doubled = TRANSIENT_RETRY
                .saturating_mul(1 << self.transient_rounds.min(16).saturating_sub(1));
            doubled.min(self.recheck)
        } else {
            self.transient_rounds = 0;
            self.recheck
        };
        // A plain file is read as soon as its quiet period is over; waiting for it is no
        // failed round, so it never counts a file as deleted.
        look_again
            .quiet_in
            .map_or(wait, |quiet_in| wait.min(quiet_in))
    }
}

/// The identities of `dirs`, in order.
pub(super) fn dir_identities(dirs: &[PathBuf]) -> Vec<Option<(u64, u64)>> {
    dirs.iter().map(|dir| dir_identity(dir)).collect()
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

    #[test]
    fn a_file_in_its_quiet_period_shortens_the_wait_and_is_no_failed_round() {
        let recheck = Duration::from_secs(30);
        let mut state = LoopState::new(recheck, Vec::new(), Arc::new(AtomicBool::new(false)), None);
        let dir = Path::new("rules");
        let ms = Duration::from_millis;
        let settling = LookAgain {
            transient: false,
            quiet_in: Some(ms(700)),
        };
        for _ in 0..2 * TRANSIENT_RETRIES {
            assert_eq!(state.next_wait(&Reload::Unchanged, settling, dir), ms(700));
        }
        assert_eq!(
            state.transient_rounds, 0,
            "a settling file is never counted as deleted"
        );
        let both = LookAgain {
            transient: true,
            quiet_in: Some(ms(50)),
        };
        assert_eq!(state.next_wait(&Reload::Unchanged, both, dir), ms(50));
        assert_eq!(state.transient_rounds, 1);
        let nothing = LookAgain::default();
        assert_eq!(state.next_wait(&Reload::Unchanged, nothing, dir), recheck);
    }
}
