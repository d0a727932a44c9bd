//! Answers to requests seen before, so a repeated request costs a hash and a compare
//! instead of a parse and a render.
//!
//! A render is a pure function of the rule, the hook and the request bytes: the engine reads
//! no clock, no randomness and no files (`tests/architecture.rs` keeps it so). And
//! Metacontroller sends the same bytes again and again: every resync of a parent whose
//! objects have not changed is a byte-identical request (it serializes objects with sorted
//! keys). So the answer to such a request is
//! kept and sent again, with its ETag.
//!
//! What is kept is bounded in bytes (`--answer-cache`, requests and answers counted), and
//! evicted oldest first, except that an entry used since it was last looked at gets another
//! round (CLOCK). An entry matches only the exact bytes of its request, compared in full,
//! and only the rule version that answered it: a reload makes the old entries unreachable,
//! and they age out. Only 200 answers of small requests are kept.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;

use rulehook_engine::Hook;

/// Requests larger than this are not kept: big requests are rarely repeated byte for byte
/// (their children's status changes), and one would push many small answers out.
pub const MAX_KEPT_REQUEST: usize = 64 * 1024;

/// Answers larger than this are not kept.
pub const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// What an entry costs beyond its bytes: the map slot, the queue slot, the answer's header.
const ENTRY_OVERHEAD: usize = 160;

/// One kept answer, shared by every hit.
#[derive(Debug)]
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// The parent's `namespace/name`, for the access log.
    pub parent: String,
}

struct Entry<R> {
    /// The rule version that answered. Compared by address: the `Weak` keeps the address
    /// from being reused while the entry exists.
    rule: Weak<R>,
    hook: Hook,
    request: Bytes,
    answer: Arc<Answer>,
    cost: usize,
    used: bool,
}

struct Entries<R> {
    by_hash: HashMap<u64, Entry<R>>,
    /// Hashes, oldest first; the CLOCK hand is the front.
    order: VecDeque<u64>,
    bytes: usize,
}

/// The cache, of answers by rule versions of type `R` (a loaded rule). `limit` 0 turns it
/// off.
pub struct AnswerCache<R> {
    entries: Mutex<Entries<R>>,
    limit: usize,
    hasher: foldhash::quality::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<R> AnswerCache<R> {
    pub fn new(limit: usize) -> AnswerCache<R> {
        AnswerCache {
            entries: Mutex::new(Entries {
                by_hash: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
            limit,
            hasher: foldhash::quality::RandomState::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether `request` may be kept at all; when not, it is not looked up either.
    pub fn keeps(&self, request: &[u8]) -> bool {
        self.limit > 0 && request.len() <= MAX_KEPT_REQUEST
    }

    /// The answer `rule` gave to exactly `request` on `hook`, if it is kept.
    pub fn get(&self, rule: &Arc<R>, hook: Hook, request: &[u8]) -> Option<Arc<Answer>> {
        if !self.keeps(request) {
            return None;
        }
        let hash = self.hasher.hash_one(request);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = entries
            .by_hash
            .get_mut(&hash)
            .filter(|e| e.matches(rule, hook, request))
            .map(|e| {
                e.used = true;
                e.answer.clone()
            });
        drop(entries);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `answer` as `rule`'s answer to `request` on `hook`, evicting what it must.
    pub fn put(&self, rule: &Arc<R>, hook: Hook, request: &[u8], answer: Answer) {
        let cost = request.len() + answer.body.len() + answer.parent.len() + ENTRY_OVERHEAD;
        // Larger answers would need the slow-reader watchdog that fresh answers get.
        let small = answer.body.len() <= MAX_KEPT_ANSWER;
        if !self.keeps(request) || !small || cost > self.limit / 4 {
            return;
        }
        let hash = self.hasher.hash_one(request);
        let entry = Entry {
            rule: Arc::downgrade(rule),
            hook,
            // A copy of exactly the request, not the read buffer it may share.
            request: Bytes::copy_from_slice(request),
            answer: Arc::new(answer),
            cost,
            used: false,
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entries = &mut *entries;
        if let Some(existing) = entries.by_hash.get_mut(&hash) {
            // The same request answered twice at once (both missed): the first one stays.
            if existing.matches(rule, hook, request) {
                return;
            }
            // A replaced rule's answer to the same bytes, or another request with the same
            // hash: replaced where it stands in the order.
            entries.bytes = entries.bytes - existing.cost + cost;
            *existing = entry;
        } else {
            entries.bytes += cost;
            entries.order.push_back(hash);
            entries.by_hash.insert(hash, entry);
        }
        while entries.bytes > self.limit {
            if !entries.evict_one() {
                break;
            }
        }
    }

    /// Hits and misses so far, for the metrics.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.bytes)
    }
}

impl<R> Entry<R> {
    fn matches(&self, rule: &Arc<R>, hook: Hook, request: &[u8]) -> bool {
        std::ptr::eq(self.rule.as_ptr(), Arc::as_ptr(rule))
            && self.hook == hook
            && *self.request == *request
    }
}

impl<R> Entries<R> {
    /// Evicts the oldest entry not used since the hand last passed it; `false` when empty.
    fn evict_one(&mut self) -> bool {
        while let Some(hash) = self.order.pop_front() {
            let Some(entry) = self.by_hash.get_mut(&hash) else {
                continue;
            };
            // An entry whose rule was replaced can never match again.
            if entry.used && entry.rule.strong_count() > 0 {
                entry.used = false;
                self.order.push_back(hash);
                continue;
            }
            if let Some(gone) = self.by_hash.remove(&hash) {
                self.bytes -= gone.cost;
            }
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        Answer {
            body: Bytes::from(body.to_owned()),
            etag: HeaderValue::from_static("\"t\""),
            parent: "ns/p".into(),
        }
    }

    fn body(a: &Answer) -> &[u8] {
        &a.body
    }

    #[test]
    fn only_the_same_bytes_for_the_same_rule_version_and_hook_hit() {
        let cache = AnswerCache::new(1 << 20);
        let (v1, v2) = (Arc::new(1), Arc::new(1));
        cache.put(&v1, Hook::Sync, b"{\"a\":1}", answer("one"));
        assert_eq!(
            body(&cache.get(&v1, Hook::Sync, b"{\"a\":1}").unwrap()),
            b"one"
        );
        assert!(cache.get(&v1, Hook::Sync, b"{\"a\":2}").is_none());
        assert!(cache.get(&v1, Hook::Sync, b"{\"a\": 1}").is_none());
        assert!(cache.get(&v1, Hook::Finalize, b"{\"a\":1}").is_none());
        assert!(
            cache.get(&v2, Hook::Sync, b"{\"a\":1}").is_none(),
            "a reloaded rule"
        );
        assert_eq!(cache.counts(), (1, 4));
    }

    #[test]
    fn the_bytes_kept_stay_under_the_limit_and_used_entries_stay_longest() {
        let request = |i: usize| format!("{{\"parent\":{i:>100}}}");
        let cost = request(0).len() + 3 + 4 + ENTRY_OVERHEAD;
        let cache = AnswerCache::new(cost * 10);
        let rule = Arc::new(());
        for i in 0..10 {
            cache.put(&rule, Hook::Sync, request(i).as_bytes(), answer("abc"));
        }
        assert_eq!(cache.bytes(), cost * 10);
        // Entry 0 is used; the next put evicts entry 1, the oldest unused one.
        assert!(cache
            .get(&rule, Hook::Sync, request(0).as_bytes())
            .is_some());
        for i in 10..15 {
            cache.put(&rule, Hook::Sync, request(i).as_bytes(), answer("abc"));
            assert!(cache.bytes() <= cost * 10);
        }
        assert!(cache
            .get(&rule, Hook::Sync, request(0).as_bytes())
            .is_some());
        for gone in 1..6 {
            assert!(cache
                .get(&rule, Hook::Sync, request(gone).as_bytes())
                .is_none());
        }
        assert!(cache
            .get(&rule, Hook::Sync, request(14).as_bytes())
            .is_some());
    }

    #[test]
    fn large_requests_and_answers_and_a_zero_limit_keep_nothing() {
        let rule = Arc::new(());
        let off = AnswerCache::new(0);
        off.put(&rule, Hook::Sync, b"{}", answer("x"));
        assert!(off.get(&rule, Hook::Sync, b"{}").is_none());
        assert_eq!(off.counts(), (0, 0));
        let cache = AnswerCache::new(64 << 20);
        let big = vec![b' '; MAX_KEPT_REQUEST + 1];
        cache.put(&rule, Hook::Sync, &big, answer("x"));
        cache.put(
            &rule,
            Hook::Sync,
            b"{}",
            answer(&"y".repeat(MAX_KEPT_ANSWER + 1)),
        );
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn entries_of_replaced_rules_go_first() {
        let request = |i: usize| format!("{{\"parent\":{i:>100}}}");
        let cost = request(0).len() + 3 + 4 + ENTRY_OVERHEAD;
        let cache = AnswerCache::new(cost * 4);
        let (live, replaced) = (Arc::new(0), Arc::new(1));
        let get = |rule: &Arc<i32>, i: usize| cache.get(rule, Hook::Sync, request(i).as_bytes());
        let put = |rule: &Arc<i32>, i: usize| {
            cache.put(rule, Hook::Sync, request(i).as_bytes(), answer("abc"));
        };
        put(&live, 1);
        put(&replaced, 0);
        assert!(get(&live, 1).is_some() && get(&replaced, 0).is_some());
        drop(replaced);
        put(&live, 2);
        put(&live, 3);
        put(&live, 4);
        // Both older entries were used; only the one of a live rule gets another round, so
        // entry 2 (unused, but of a live rule) stays.
        for i in 1..=4 {
            assert!(get(&live, i).is_some(), "entry {i}");
        }
    }

    #[test]
    fn a_second_answer_to_the_same_request_keeps_the_first_and_a_new_rule_version_replaces_it() {
        let cache = AnswerCache::new(1 << 20);
        let (old, new) = (Arc::new(0), Arc::new(1));
        cache.put(&old, Hook::Sync, b"{}", answer("first"));
        let one = cache.bytes();
        cache.put(&old, Hook::Sync, b"{}", answer("again"));
        assert_eq!(body(&cache.get(&old, Hook::Sync, b"{}").unwrap()), b"first");
        assert_eq!(cache.bytes(), one);
        cache.put(&new, Hook::Sync, b"{}", answer("newer"));
        assert!(cache.get(&old, Hook::Sync, b"{}").is_none());
        assert_eq!(body(&cache.get(&new, Hook::Sync, b"{}").unwrap()), b"newer");
        assert_eq!(cache.bytes(), one);
    }
}
