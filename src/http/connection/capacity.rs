//! How many connections the process can hold: as many as its descriptors allow, and as many
//! as its memory allows at each connection's worst, whichever is lower.
//!
//! A listener that accepts more connections than it has descriptors for fails every accept
//! ("Too many open files") while the connections it holds stay; one that accepts more than
//! its memory can hold at their worst lets a few clients take the memory every request needs.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::budget::memory::Budgets;

/// What one plain connection can hold at its worst, outside the request budget: actix's read
/// buffer (a head of at most [`super::stream::MAX_HEAD_BYTES`]), its write buffer (one answer's
/// worth; [`super::stream::MAX_UNSENT_BYTES`] closes it), at most one decoded request, bytes held
/// back from the dispatcher (one read, [`super::stream::READ_ROUND_BYTES`]), the dispatcher and the
/// stream's state. Measured with `bench/connection_memory.sh`, 1,000 connections each: 25 KB
/// holding a 15 KiB unfinished head, 15 KB pipelining and reading nothing, 10 KB idle;
/// rounded up to the next power of two (see SECURITY.md).
pub const CONNECTION_BYTES: usize = 32 * 1024;

/// What TLS adds to a connection: rustls' session and its buffers, a record being received
/// (up to 16 KiB) and plaintext not yet read (up to 16 KiB). Measured: 8–10 KB more per idle
/// connection and per connection holding an unfinished head.
pub const TLS_CONNECTION_EXTRA_BYTES: usize = 16 * 1024;

/// Descriptors the process keeps besides its connections: standard streams, the listeners,
/// each runtime thread's poller and waker, the watcher, and files read during a reload, a
/// certificate rotation or a recording.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// Descriptors per runtime thread (an epoll instance and an eventfd waker).
pub const DESCRIPTORS_PER_THREAD: u64 = 2;

/// How many connections the process can hold, and what bounded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// What the descriptor limit allows: one descriptor per connection.
    pub by_descriptors: usize,
    /// What the memory limit allows, at each connection's worst.
    pub by_memory: usize,
}

impl Capacity {
    /// The capacity under `descriptors` open files, `memory_limit` bytes, and `threads`
    /// runtime threads.
    pub fn derive(descriptors: u64, memory_limit: usize, threads: usize, tls: bool) -> Capacity {
        let reserved = RESERVED_DESCRIPTORS
            .saturating_add(DESCRIPTORS_PER_THREAD.saturating_mul(threads as u64));
        let by_descriptors = descriptors.saturating_sub(reserved);
        let per_connection = if tls {
            CONNECTION_BYTES + TLS_CONNECTION_EXTRA_BYTES
        } else {
            CONNECTION_BYTES
        };
        Capacity {
            by_descriptors: usize::try_from(by_descriptors).unwrap_or(usize::MAX),
            by_memory: Budgets::derive(memory_limit).connections / per_connection,
        }
    }

    /// The lower of the two, at least one.
    pub fn connections(&self) -> usize {
        self.by_descriptors.min(self.by_memory).max(1)
    }
}

/// Raises the soft limit on open files to the hard limit, and returns the soft limit in force
/// (raised or not). Containers often start with a soft limit of 1024 under a much higher
/// hard one.
pub fn raise_descriptor_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let Some(hard) = limit.maximum else {
        // No hard limit: keep the soft one, which is what the kernel enforces anyway.
        return limit.current.unwrap_or(u64::MAX);
    };
    if limit.current.is_some_and(|soft| soft >= hard) {
        return hard;
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => hard,
        Err(_) => limit.current.unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn descriptors_bound_the_connections_under_a_low_open_file_limit() {
        let capacity = Capacity::derive(1024, 1024 * MIB, 6, false);
        assert_eq!(capacity.by_descriptors, 1024 - 64 - 12);
        assert!(capacity.by_memory > capacity.by_descriptors);
        assert_eq!(capacity.connections(), capacity.by_descriptors);
    }

    #[test]
    fn memory_bounds_the_connections_when_descriptors_are_plenty() {
        let plain = Capacity::derive(1 << 20, 128 * MIB, 6, false);
        assert_eq!(plain.by_memory, 128 * MIB / 8 / CONNECTION_BYTES);
        assert_eq!(plain.connections(), plain.by_memory);
        let tls = Capacity::derive(1 << 20, 128 * MIB, 6, true);
        assert!(tls.by_memory < plain.by_memory);
        assert!(plain.connections() * CONNECTION_BYTES <= Budgets::derive(128 * MIB).connections);
    }

    #[test]
    fn a_tiny_limit_still_leaves_one_connection() {
        assert_eq!(Capacity::derive(10, 1, 6, false).connections(), 1);
    }

    #[test]
    fn the_soft_limit_ends_at_least_where_it_started() {
        let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        assert!(raise_descriptor_limit() >= before);
    }
}
