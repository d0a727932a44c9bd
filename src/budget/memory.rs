//! The process-wide memory budget, and the request limits derived from it.
//!
//! One server serves many controllers, so no request may spend memory the others need. Every
//! large thing a request holds (its body as it arrives, the parsed request, what its render
//! builds, its unsent response) is reserved here *before* it is allocated. A reservation that
//! does not fit is refused, and the request fails with 503 and `Retry-After` instead of the
//! process growing until the kernel kills every controller at once.
//!
//! The budget is derived from one number, the container's memory limit (read from the cgroup,
//! or `--memory-limit`), so the defaults of every other limit fit the shipped manifests and
//! cannot add up past it. See [`Budgets::derive`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const MIB: usize = 1024 * 1024;

/// The limit assumed when neither the flag nor the cgroup gives one: the shipped manifests'
/// container limit, so a process started by hand behaves as it will in the cluster.
pub const DEFAULT_MEMORY_LIMIT: usize = 128 * MIB;

/// The limits that follow from a memory limit, each of which a flag may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// The container's memory limit.
    pub memory_limit: usize,
    /// What requests may hold at once: bodies, parsed requests, renders, unsent responses.
    /// Half the limit; the other half is the process itself (code, rules, allocator slack).
    pub request_memory: usize,
    /// The largest request body.
    pub max_body: usize,
    /// The most one render may build.
    pub max_output: usize,
    /// What the answer cache may keep, out of the process's half.
    pub answer_cache: usize,
    /// What every served rule's compiled form may take together, out of the process's half.
    pub rules: usize,
    /// The largest rule file read at all.
    pub max_rule_file: usize,
    /// What connections may hold at their worst, outside the request budget, out of the
    /// process's half: the connection limit follows from it.
    pub connections: usize,
}

impl Budgets {
    /// The defaults for a container limited to `memory_limit` bytes.
    ///
    /// A request holds its body, what its parse keeps (charged as it is built: for most
    /// rules a small part of the body, since only what the rule reads is built) and its
    /// answer. The largest body and the largest answer together take 5/16 of
    /// `request_memory`: one worst case always fits, with room for light requests beside it.
    pub fn derive(memory_limit: usize) -> Budgets {
        Budgets {
            memory_limit,
            request_memory: memory_limit / 2,
            max_body: memory_limit / 8,
            max_output: memory_limit / 32,
            answer_cache: memory_limit / 32,
            rules: memory_limit / 8,
            // Compiling takes up to ~60 times a file's size on the way (measured: 30–56×
            // for rules of 250–570 KB), before the share is checked between templates.
            max_rule_file: memory_limit / 1024,
            connections: memory_limit / 8,
        }
    }
}

/// The memory limit of the cgroup this process runs in, if it has one (v2, then v1).
pub fn cgroup_memory_limit() -> Option<usize> {
    let v2 = read_limit(Path::new("/sys/fs/cgroup/memory.max"));
    v2.or_else(|| read_limit(Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes")))
}

fn read_limit(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_cgroup_limit(&text)
}

/// `max` (v2) and v1's "no limit" (a page-rounded `i64::MAX`) both mean unlimited.
fn parse_cgroup_limit(text: &str) -> Option<usize> {
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 60).then(|| usize::try_from(n).ok()).flatten()
}

/// A request that holds no more than this counts as light: a hello sync request reserves
/// about 64 KiB in all.
const LIGHT_REQUEST: usize = MIB;

/// A shared pool of bytes that requests reserve from before they allocate.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    reserved: AtomicUsize,
    /// The part of `reserved` held by responses waiting for their client to read them.
    unsent: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            reserved: AtomicUsize::new(0),
            unsent: AtomicUsize::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved right now.
    pub fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Bytes held by responses not yet written to their clients.
    pub fn unsent(&self) -> usize {
        self.unsent.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the pool, or nothing when they do not fit. Only a light request
    /// may take the last eighth, so requests that grow large can never crowd out the small
    /// ones that most controllers send.
    fn take(&self, bytes: usize, light: bool) -> bool {
        let cap = if light {
            self.limit
        } else {
            self.most_one_request_may_hold()
        };
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                now.checked_add(bytes).filter(|&after| after <= cap)
            })
            .is_ok()
    }

    /// The most one request may ever hold: everything but the last eighth, which only
    /// light requests may take.
    pub fn most_one_request_may_hold(&self) -> usize {
        self.limit - self.limit / 8
    }

    fn give_back(&self, bytes: usize) {
        self.reserved.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// An empty reservation that grows as its request needs more.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            held: AtomicUsize::new(0),
            unsent: AtomicBool::new(false),
        }
    }
}

/// Bytes one request holds from the pool; they go back when it is dropped.
///
/// Growing is lock-free and may happen from the render thread while the HTTP side holds the
/// same reservation behind an `Arc`.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    held: AtomicUsize,
    /// Whether `held` also counts as unsent response bytes.
    unsent: AtomicBool,
}

impl Reservation {
    /// Reserves `bytes` more, or nothing when the pool cannot spare them.
    pub fn grow(&self, bytes: usize) -> bool {
        let light = self.held().saturating_add(bytes) <= LIGHT_REQUEST;
        if !self.budget.take(bytes, light) {
            return false;
        }
        self.held.fetch_add(bytes, Ordering::AcqRel);
        true
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The most one request may ever hold.
    pub fn most_one_request_may_hold(&self) -> usize {
        self.budget.most_one_request_may_hold()
    }

    /// Whether holding `bytes` more could ever be granted, once every other request is done.
    pub fn could_ever_grow(&self, bytes: usize) -> bool {
        self.held().saturating_add(bytes) <= self.budget.most_one_request_may_hold()
    }

    /// Holds exactly `bytes` from here on: gives back the excess, or reserves what is
    /// missing. `false` when the missing part does not fit (nothing changes then).
    pub fn resize(&self, bytes: usize) -> bool {
        let held = self.held();
        if held >= bytes {
            self.shrink_to(bytes);
            true
        } else {
            self.grow(bytes - held)
        }
    }

    /// Gives back everything above `bytes`; it never grows.
    pub fn shrink_to(&self, bytes: usize) {
        let before = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.min(bytes))
            })
            .unwrap_or(0);
        self.budget.give_back(before - before.min(bytes));
    }

    /// From here on the bytes held are a response waiting for its client, and are counted
    /// as such until the reservation is dropped. Call it once, after the last change.
    pub fn mark_unsent(&self) {
        if !self.unsent.swap(true, Ordering::AcqRel) {
            self.budget.unsent.fetch_add(self.held(), Ordering::AcqRel);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let held = self.held.swap(0, Ordering::AcqRel);
        if *self.unsent.get_mut() {
            self.budget.unsent.fetch_sub(held, Ordering::AcqRel);
        }
        self.budget.give_back(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::answer_cache::AnswerCache;

    #[test]
    fn reservations_never_exceed_the_pool_and_return_on_drop() {
        let budget = MemoryBudget::new(100);
        let a = budget.reservation();
        assert!(a.grow(60));
        let b = budget.reservation();
        assert!(!b.grow(41), "60 + 41 is over 100");
        assert!(b.grow(40));
        assert_eq!(budget.reserved(), 100);
        a.shrink_to(10);
        assert_eq!(budget.reserved(), 50);
        assert!(a.resize(20) && a.resize(10));
        assert!(!a.resize(61), "51 more do not fit");
        assert_eq!(budget.reserved(), 50);
        b.mark_unsent();
        assert_eq!(budget.unsent(), 40);
        drop(b);
        assert_eq!((budget.reserved(), budget.unsent()), (10, 0));
        drop(a);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn the_last_eighth_is_kept_for_light_requests() {
        let budget = MemoryBudget::new(16 * MIB);
        let heavy = budget.reservation();
        assert!(heavy.grow(13 * MIB));
        assert!(
            !heavy.grow(2 * MIB),
            "past 14 MiB only light requests may reserve"
        );
        let light = budget.reservation();
        assert!(light.grow(MIB / 2));
        assert!(light.grow(MIB / 2));
        assert!(!light.grow(1), "a request past 1 MiB is no longer light");
    }

    #[test]
    fn cgroup_limits_parse_and_unlimited_is_none() {
        assert_eq!(parse_cgroup_limit("134217728\n"), Some(128 * MIB));
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
    }

    #[test]
    fn derived_limits_leave_room_for_one_worst_case_and_more() {
        let b = Budgets::derive(DEFAULT_MEMORY_LIMIT);
        let pool = MemoryBudget::new(b.request_memory);
        let body_and_answer = b.max_body + b.max_output;
        assert!(
            body_and_answer * 2 <= pool.most_one_request_may_hold(),
            "{b:?}"
        );
        assert!(b.request_memory < b.memory_limit);
    }

    /// SECURITY.md's memory table: what requests, connections, rules, the answer cache and a
    /// reload's parse can hold at their worst, all at once, leaves the process itself
    /// (about 10 MiB) room under the limit. The answer cache's table of recent request
    /// hashes comes out of its own share.
    #[test]
    fn every_share_at_its_worst_adds_up_to_less_than_the_limit() {
        for limit in [64 * MIB, DEFAULT_MEMORY_LIMIT, 1024 * MIB] {
            let b = Budgets::derive(limit);
            let empty_cache = AnswerCache::<()>::new(b.answer_cache);
            assert!(empty_cache.bytes() <= b.answer_cache / 16, "{b:?}");
            let reload_parse = 60 * b.max_rule_file;
            let shares = b.request_memory + b.connections + b.rules + b.answer_cache + reload_parse;
            assert!(shares <= limit - limit / 16, "{b:?}: {shares}");
        }
        let at_128 = Budgets::derive(DEFAULT_MEMORY_LIMIT);
        let shares = at_128.request_memory
            + at_128.connections
            + at_128.rules
            + at_128.answer_cache
            + 60 * at_128.max_rule_file;
        assert!(shares + 10 * MIB <= DEFAULT_MEMORY_LIMIT, "{shares}");
    }
}
