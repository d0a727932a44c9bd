//! Who holds the connections: a count per peer address, so one client cannot take every
//! connection, and the counts of connections refused and closed, for `/metrics`.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Why the server closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// More answered-but-unsent bytes than one connection may hold.
    UnsentBound,
    /// A later request's head did not arrive within `--client-timeout` of its first byte.
    HeadDeadline,
    /// A request head larger than the connection reads.
    HeadTooLarge,
    /// Answers waited for the client longer than `--write-timeout`.
    WriteDeadline,
    /// A large answer was not read within `--write-timeout` (its body's watchdog).
    SlowReader,
}

impl Closed {
    pub const ALL: [Closed; 5] = [
        Closed::UnsentBound,
        Closed::HeadDeadline,
        Closed::HeadTooLarge,
        Closed::WriteDeadline,
        Closed::SlowReader,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::UnsentBound => "unsent_bound",
            Closed::HeadDeadline => "head_deadline",
            Closed::HeadTooLarge => "head_too_large",
            Closed::WriteDeadline => "write_deadline",
            Closed::SlowReader => "slow_reader",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl From<Closed> for io::Error {
    fn from(why: Closed) -> io::Error {
        let kind = match why {
            Closed::HeadDeadline | Closed::WriteDeadline | Closed::SlowReader => {
                io::ErrorKind::TimedOut
            }
            Closed::UnsentBound | Closed::HeadTooLarge => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, why.as_str())
    }
}

/// The connections of one listener, shared by its workers.
#[derive(Debug)]
pub struct Connections {
    /// Connections one peer address may hold; 0 for no limit.
    per_peer: usize,
    by_peer: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    refused: AtomicU64,
    closed: [AtomicU64; Closed::ALL.len()],
}

impl Connections {
    pub fn new(per_peer: usize) -> Arc<Connections> {
        Arc::new(Connections {
            per_peer,
            by_peer: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            closed: Default::default(),
        })
    }

    /// A place for one more connection from `peer`, or `None` when it already holds its
    /// share (counted as refused).
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<PeerSlot> {
        let peer = peer.map(canonical).filter(|_| self.per_peer > 0);
        if let Some(ip) = peer {
            let Ok(mut by_peer) = self.by_peer.lock() else {
                return None;
            };
            let held = by_peer.entry(ip).or_insert(0);
            if *held >= self.per_peer {
                drop(by_peer);
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            *held += 1;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(PeerSlot {
            connections: self.clone(),
            peer,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused because their peer held its share.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections closed for `why`.
    pub fn closed(&self, why: Closed) -> u64 {
        self.closed[why.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn count_closed(&self, why: Closed) {
        self.closed[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Peers holding connections now (a bounded map: at most one entry per open connection).
    pub fn peers(&self) -> usize {
        self.by_peer.lock().map_or(0, |m| m.len())
    }

    fn release(&self, peer: Option<IpAddr>) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        let Some(ip) = peer else { return };
        if let Ok(mut by_peer) = self.by_peer.lock() {
            if let Some(held) = by_peer.get_mut(&ip) {
                *held -= 1;
                if *held == 0 {
                    by_peer.remove(&ip);
                }
            }
        }
    }
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`; it is the same peer.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One connection's place in the count, given back when dropped.
#[derive(Debug)]
pub struct PeerSlot {
    connections: Arc<Connections>,
    peer: Option<IpAddr>,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.connections.release(self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_it_back_as_connections_end() {
        let connections = Connections::new(2);
        let a = connections.admit(ip("10.0.0.1")).unwrap();
        let _b = connections.admit(ip("10.0.0.1")).unwrap();
        assert!(connections.admit(ip("10.0.0.1")).is_none());
        assert!(
            connections.admit(ip("::ffff:10.0.0.1")).is_none(),
            "the same peer, IPv4-mapped"
        );
        let _other = connections.admit(ip("10.0.0.2")).unwrap();
        assert_eq!((connections.open(), connections.refused()), (3, 2));
        drop(a);
        assert!(connections.admit(ip("10.0.0.1")).is_some());
        assert_eq!(connections.peers(), 2);
    }

    #[test]
    fn zero_turns_the_per_peer_limit_off() {
        let connections = Connections::new(0);
        let held: Vec<_> = (0..100)
            .map(|_| connections.admit(ip("127.0.0.1")).unwrap())
            .collect();
        assert_eq!(connections.open(), 100);
        assert_eq!(connections.peers(), 0, "nothing kept per peer");
        drop(held);
        assert_eq!(connections.open(), 0);
    }
}
