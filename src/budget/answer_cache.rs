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
//! Most requests are never repeated, though: a child's status changed, or a new
//! `resourceVersion`. Keeping their answers would cost a copy, an insert and an eviction
//! each, for nothing. So an answer is kept only the second time its request's bytes are
//! seen: a small table of recent request hashes remembers the first sighting, and a request
//! is answered from the cache from its third sighting on.
//!
//! What is kept is bounded in bytes (`--answer-cache`, requests, answers and the table of
//! recent hashes counted), and evicted oldest first, except that an entry used since it was
//! last looked at gets another round (CLOCK). An entry matches only the exact bytes of its
//! request, compared in full, and only the rule version that answered it: a reload makes the
//! old entries unreachable, and they age out. Only 200 answers of small requests are kept.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;

use rulehook_engine::metacontroller::Subject;
use rulehook_engine::Hook;

/// Requests larger than this are not kept: big requests are rarely repeated byte for byte
/// (their children's status changes), and one would push many small answers out.
pub const MAX_KEPT_REQUEST: usize = 64 * 1024;

/// Answers larger than this are not kept.
pub const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// What an entry costs beyond its bytes: the map slot, the queue slot, the answer's header.
const ENTRY_OVERHEAD: usize = 160;

/// What a kept answer's subject takes: its text and its shared allocation.
fn subject_size(subject: &Subject) -> usize {
    std::mem::size_of::<Subject>()
        + subject.kind.len()
        + subject.namespace.len()
        + subject.name.len()
        + subject.uid.len()
}

/// Slots in the table of recent request hashes at most: 32 KiB. A slot is overwritten by
/// the next request that hashes to it, so a sighting outlives about a thousand other
/// requests three times in four: about as many as a 4 MiB cache keeps answers for.
const MAX_RECENT_SLOTS: usize = 4096;

/// The table takes at most this fraction of the cache's limit, so a small `--answer-cache`
/// still leaves room for answers.
const RECENT_SHARE: usize = 16;

const RECENT_SLOT_BYTES: usize = std::mem::size_of::<u64>();

/// Slots of the recent-hash table for a cache of `limit` bytes: a power of two, so a slot
/// is a mask of the hash, and 0 when the cache is off.
fn recent_slots(limit: usize) -> usize {
    let fits = (limit / RECENT_SHARE / RECENT_SLOT_BYTES).min(MAX_RECENT_SLOTS);
    if fits == 0 {
        0
    } else {
        1 << fits.ilog2()
    }
}

/// One kept answer, shared by every hit.
#[derive(Debug)]
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// The object the request was about, for the access log.
    pub subject: Arc<Subject>,
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
    /// What the entries cost, the recent table not included.
    bytes: usize,
    /// Hashes of requests seen lately, one per slot (`hash & (len - 1)`), overwritten by
    /// whichever request lands there next. 0 is an empty slot (a request hashing to 0 counts
    /// as seen once too early, which costs one entry at most).
    recent: Box<[u64]>,
}

/// A lookup that found nothing: the request's hash, kept for [`AnswerCache::put`] so the
/// body is hashed once, and whether its answer is worth keeping.
#[derive(Debug, Clone, Copy)]
pub struct Miss {
    hash: u64,
    seen_before: bool,
}

impl Miss {
    /// A miss for a request the cache does not keep at all.
    pub const NOT_KEPT: Miss = Miss {
        hash: 0,
        seen_before: false,
    };

    /// Whether the answer should be kept: its request's bytes were seen before this one.
    pub fn worth_keeping(&self) -> bool {
        self.seen_before
    }
}

/// The cache, of answers by rule versions of type `R` (a loaded rule). `limit` 0 turns it
/// off.
pub struct AnswerCache<R> {
    entries: Mutex<Entries<R>>,
    limit: usize,
    /// What entries may cost: the limit less the recent table.
    entries_limit: usize,
    hasher: foldhash::quality::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<R> AnswerCache<R> {
    pub fn new(limit: usize) -> AnswerCache<R> {
        // Allocated once, at its full size: the table's memory never changes.
        let recent = vec![0; recent_slots(limit)].into_boxed_slice();
        let entries_limit = limit - recent.len() * RECENT_SLOT_BYTES;
        AnswerCache {
            entries: Mutex::new(Entries {
                by_hash: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                recent,
            }),
            limit,
            entries_limit,
            hasher: foldhash::quality::RandomState::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether `request` may be kept at all; when not, it is not looked up either.
    pub fn keeps(&self, request: &[u8]) -> bool {
        self.limit > 0 && request.len() <= MAX_KEPT_REQUEST
    }

    /// The answer `rule` gave to exactly `request` on `hook`, if it is kept; else the
    /// [`Miss`] to hand to [`put`](Self::put) with the answer. A miss also notes the
    /// request as seen.
    pub fn get(&self, rule: &Arc<R>, hook: Hook, request: &[u8]) -> Result<Arc<Answer>, Miss> {
        if !self.keeps(request) {
            return Err(Miss::NOT_KEPT);
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
        let result = match found {
            Some(answer) => Ok(answer),
            None => Err(Miss {
                hash,
                seen_before: entries.sighting(hash),
            }),
        };
        drop(entries);
        let counter = if result.is_ok() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Keeps `answer` as `rule`'s answer to `request` on `hook`, evicting what it must, when
    /// `miss` (this request's lookup) says the request was seen before.
    pub fn put(&self, miss: Miss, rule: &Arc<R>, hook: Hook, request: &[u8], answer: Answer) {
        let cost =
            request.len() + answer.body.len() + subject_size(&answer.subject) + ENTRY_OVERHEAD;
        // Larger answers would need the slow-reader watchdog that fresh answers get.
        let small = answer.body.len() <= MAX_KEPT_ANSWER;
        let fits = cost <= self.entries_limit / 4;
        if !miss.worth_keeping() || !self.keeps(request) || !small || !fits {
            return;
        }
        let hash = miss.hash;
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
        while entries.bytes > self.entries_limit {
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

    /// Bytes kept now, the recent table included: never more than the limit.
    pub fn bytes(&self) -> usize {
        let recent = self.limit - self.entries_limit;
        self.entries.lock().map_or(recent, |e| e.bytes + recent)
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
    /// Notes a sighting of the request that hashes to `hash`; whether it was seen before.
    fn sighting(&mut self, hash: u64) -> bool {
        let Some(last) = self.recent.len().checked_sub(1) else {
            return false;
        };
        // Truncating the hash is the point: its low bits pick the slot.
        let slot = &mut self.recent[hash as usize & last];
        let seen = *slot == hash;
        *slot = hash;
        seen
    }

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
            subject: Arc::new(Subject::default()),
        }
    }

    fn body(a: &Answer) -> &[u8] {
        &a.body
    }

    /// Looks `request` up and, on a miss, offers `answer` for it, as the hook route does.
    fn answer_once<R>(cache: &AnswerCache<R>, rule: &Arc<R>, request: &[u8], body: &str) {
        if let Err(miss) = cache.get(rule, Hook::Sync, request) {
            cache.put(miss, rule, Hook::Sync, request, answer(body));
        }
    }

    /// Answers `request` twice, which keeps its answer: the first sighting only notes it.
    fn keep<R>(cache: &AnswerCache<R>, rule: &Arc<R>, request: &[u8], body: &str) {
        answer_once(cache, rule, request, body);
        answer_once(cache, rule, request, body);
    }

    /// The entries' own bytes, without the recent table.
    fn entry_bytes<R>(cache: &AnswerCache<R>) -> usize {
        cache.bytes() - (cache.limit - cache.entries_limit)
    }

    /// A cache whose entries may cost `entries` bytes.
    fn cache_for_entries<R>(entries: usize) -> AnswerCache<R> {
        let mut cache = AnswerCache::new(entries);
        cache.entries_limit = entries;
        cache.limit = entries + cache.entries.get_mut().unwrap().recent.len() * RECENT_SLOT_BYTES;
        cache
    }

    #[test]
    fn an_answer_is_kept_the_second_time_its_request_is_seen_and_sent_from_the_third() {
        let cache = AnswerCache::new(1 << 20);
        let rule = Arc::new(());
        let request = b"{\"a\":1}";
        let first = cache.get(&rule, Hook::Sync, request).unwrap_err();
        assert!(!first.worth_keeping(), "a first sighting");
        cache.put(first, &rule, Hook::Sync, request, answer("one"));
        assert_eq!(entry_bytes(&cache), 0, "nothing kept after one sighting");

        let second = cache.get(&rule, Hook::Sync, request).unwrap_err();
        assert!(second.worth_keeping(), "a second sighting");
        cache.put(second, &rule, Hook::Sync, request, answer("one"));
        assert!(entry_bytes(&cache) > 0);

        let third = cache.get(&rule, Hook::Sync, request).unwrap();
        assert_eq!(body(&third), b"one");
        assert_eq!(cache.counts(), (1, 2));
    }

    #[test]
    fn only_the_same_bytes_for_the_same_rule_version_and_hook_hit() {
        let cache = AnswerCache::new(1 << 20);
        let (v1, v2) = (Arc::new(1), Arc::new(1));
        keep(&cache, &v1, b"{\"a\":1}", "one");
        assert_eq!(
            body(&cache.get(&v1, Hook::Sync, b"{\"a\":1}").unwrap()),
            b"one"
        );
        assert!(cache.get(&v1, Hook::Sync, b"{\"a\":2}").is_err());
        assert!(cache.get(&v1, Hook::Sync, b"{\"a\": 1}").is_err());
        assert!(cache.get(&v1, Hook::Finalize, b"{\"a\":1}").is_err());
        assert!(
            cache.get(&v2, Hook::Sync, b"{\"a\":1}").is_err(),
            "a reloaded rule"
        );
        assert_eq!(cache.counts(), (1, 2 + 4));
    }

    #[test]
    fn the_recent_table_is_bounded_counted_and_forgets_the_oldest_sightings() {
        for limit in [1 << 10, 1 << 20, 64 << 20] {
            let cache = AnswerCache::<()>::new(limit);
            let slots = cache.entries.lock().unwrap().recent.len();
            assert!(
                slots.is_power_of_two() && slots <= MAX_RECENT_SLOTS,
                "{slots}"
            );
            assert!(slots * RECENT_SLOT_BYTES <= limit / RECENT_SHARE);
            assert_eq!(
                cache.bytes(),
                slots * RECENT_SLOT_BYTES,
                "counted from the start"
            );
        }
        let cache = AnswerCache::new(64 << 20);
        let rule = Arc::new(());
        let request = |i: usize| format!("{{\"parent\":{i}}}");
        for i in 0..MAX_RECENT_SLOTS * 8 {
            answer_once(&cache, &rule, request(i).as_bytes(), "x");
        }
        assert_eq!(cache.bytes(), MAX_RECENT_SLOTS * RECENT_SLOT_BYTES);
        // Most of the early sightings were overwritten: seeing those requests again is
        // another first sighting, not a second.
        let remembered = (0..100)
            .filter(|&i| {
                let miss = cache.get(&rule, Hook::Sync, request(i).as_bytes());
                miss.unwrap_err().worth_keeping()
            })
            .count();
        assert!(remembered < 10, "{remembered} of 100 remembered");
    }

    #[test]
    fn the_bytes_kept_stay_under_the_limit_and_used_entries_stay_longest() {
        let request = |i: usize| format!("{{\"parent\":{i:>100}}}");
        let cost = request(0).len() + 3 + subject_size(&Subject::default()) + ENTRY_OVERHEAD;
        let cache = cache_for_entries(cost * 10);
        let rule = Arc::new(());
        for i in 0..10 {
            keep(&cache, &rule, request(i).as_bytes(), "abc");
        }
        assert_eq!(entry_bytes(&cache), cost * 10);
        // Entry 0 is used; the next put evicts entry 1, the oldest unused one.
        assert!(cache.get(&rule, Hook::Sync, request(0).as_bytes()).is_ok());
        for i in 10..15 {
            keep(&cache, &rule, request(i).as_bytes(), "abc");
            assert!(cache.bytes() <= cache.limit);
        }
        assert!(cache.get(&rule, Hook::Sync, request(0).as_bytes()).is_ok());
        for gone in 1..6 {
            assert!(cache
                .get(&rule, Hook::Sync, request(gone).as_bytes())
                .is_err());
        }
        assert!(cache.get(&rule, Hook::Sync, request(14).as_bytes()).is_ok());
    }

    #[test]
    fn large_requests_and_answers_and_a_zero_limit_keep_nothing() {
        let rule = Arc::new(());
        let off = AnswerCache::new(0);
        for _ in 0..3 {
            answer_once(&off, &rule, b"{}", "x");
        }
        assert!(off.get(&rule, Hook::Sync, b"{}").is_err());
        assert_eq!(off.counts(), (0, 0));
        assert_eq!(off.bytes(), 0, "not even a recent table");
        let cache = AnswerCache::new(64 << 20);
        let big = vec![b' '; MAX_KEPT_REQUEST + 1];
        keep(&cache, &rule, &big, "x");
        keep(&cache, &rule, b"{}", &"y".repeat(MAX_KEPT_ANSWER + 1));
        assert_eq!(entry_bytes(&cache), 0);
    }

    #[test]
    fn entries_of_replaced_rules_go_first() {
        let request = |i: usize| format!("{{\"parent\":{i:>100}}}");
        let cost = request(0).len() + 3 + subject_size(&Subject::default()) + ENTRY_OVERHEAD;
        let cache = cache_for_entries(cost * 4);
        let (live, replaced) = (Arc::new(0), Arc::new(1));
        let get = |rule: &Arc<i32>, i: usize| cache.get(rule, Hook::Sync, request(i).as_bytes());
        let put = |rule: &Arc<i32>, i: usize| keep(&cache, rule, request(i).as_bytes(), "abc");
        put(&live, 1);
        put(&replaced, 0);
        assert!(get(&live, 1).is_ok() && get(&replaced, 0).is_ok());
        drop(replaced);
        put(&live, 2);
        put(&live, 3);
        put(&live, 4);
        // Both older entries were used; only the one of a live rule gets another round, so
        // entry 2 (unused, but of a live rule) stays.
        for i in 1..=4 {
            assert!(get(&live, i).is_ok(), "entry {i}");
        }
    }

    #[test]
    fn a_second_answer_to_the_same_request_keeps_the_first_and_a_new_rule_version_replaces_it() {
        let cache = AnswerCache::new(1 << 20);
        let (old, new) = (Arc::new(0), Arc::new(1));
        answer_once(&cache, &old, b"{}", "unkept");
        // Two requests with the same bytes at once: both miss, and both answers are offered.
        let one = cache.get(&old, Hook::Sync, b"{}").unwrap_err();
        let other = cache.get(&old, Hook::Sync, b"{}").unwrap_err();
        cache.put(one, &old, Hook::Sync, b"{}", answer("first"));
        let kept = cache.bytes();
        cache.put(other, &old, Hook::Sync, b"{}", answer("again"));
        assert_eq!(body(&cache.get(&old, Hook::Sync, b"{}").unwrap()), b"first");
        assert_eq!(cache.bytes(), kept);
        // The bytes were seen before the reload, so the new version's answer is kept at once.
        answer_once(&cache, &new, b"{}", "newer");
        assert!(cache.get(&old, Hook::Sync, b"{}").is_err());
        assert_eq!(body(&cache.get(&new, Hook::Sync, b"{}").unwrap()), b"newer");
        assert_eq!(cache.bytes(), kept);
    }
}
