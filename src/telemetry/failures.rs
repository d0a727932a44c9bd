//! The last hook calls that failed, with the object each was about, for `serve --ui`. The
//! log has them too, but an operator looking at one server's page should not need the log
//! pipeline to see why a controller's parent has a `SyncError` event.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// How many failed calls are kept: enough to see a pattern, small enough to hold on the
/// request path (each entry is clipped, so this is a few hundred KB at most).
pub const KEPT: usize = 32;

/// Longest error message kept, in bytes; the log has the whole of it.
const MESSAGE_BYTES: usize = 1024;

/// One failed call, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FailedCall {
    /// When it was answered, RFC 3339 in seconds.
    pub at: String,
    pub rule: String,
    pub hook: String,
    pub status: u16,
    pub message: String,
    /// `namespace/name` of the parent or decorated object; empty when the request named none.
    pub parent: String,
    pub kind: String,
    pub uid: String,
}

/// The last [`KEPT`] failed calls, newest last.
#[derive(Debug, Default)]
pub struct RecentFailures {
    calls: Mutex<VecDeque<FailedCall>>,
}

impl RecentFailures {
    /// Keeps `call`, forgetting the oldest once [`KEPT`] are held. The message is cut to
    /// [`MESSAGE_BYTES`] at a character boundary.
    pub fn record(&self, mut call: FailedCall) {
        if call.message.len() > MESSAGE_BYTES {
            let mut end = MESSAGE_BYTES;
            while !call.message.is_char_boundary(end) {
                end -= 1;
            }
            call.message.truncate(end);
            call.message.push('…');
        }
        // A poisoned lock only means another thread panicked mid-push; the ring is still whole.
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if calls.len() == KEPT {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    /// The failed calls kept, newest first.
    pub fn newest_first(&self) -> Vec<FailedCall> {
        let calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: usize, message: String) -> FailedCall {
        FailedCall {
            at: "2026-01-01T00:00:00Z".to_owned(),
            rule: format!("r{n}"),
            hook: "sync".to_owned(),
            status: 500,
            message,
            parent: "ns/p".to_owned(),
            kind: "HelloWorld".to_owned(),
            uid: "u".to_owned(),
        }
    }

    #[test]
    fn keeps_the_newest_calls_and_clips_long_messages() {
        let failures = RecentFailures::default();
        for n in 0..KEPT + 5 {
            failures.record(call(n, "é".repeat(MESSAGE_BYTES)));
        }
        let kept = failures.newest_first();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].rule, format!("r{}", KEPT + 4));
        assert_eq!(kept[KEPT - 1].rule, "r5");
        assert!(kept[0].message.len() <= MESSAGE_BYTES + '…'.len_utf8());
        assert!(kept[0].message.ends_with('…'));
    }
}
