//! The work budget of one render: steps, bytes charged *before* they are built, work charged
//! *before* it is done, and memory helpers hold for their own use.
//!
//! A render builds values (rendered nodes, values copied from the request, interpolated
//! strings, helper results) and writes its answer's bytes. Each is charged here first, so a
//! rule that would copy a 1 MB value into 1,500 children fails at the fifth copy, in
//! microseconds, instead of building 1.5 GB and failing afterwards.
//!
//! Work is charged the same way. A step counts the same whether it adds two numbers or runs
//! a regular expression over 30 KB, so a step limit bounds nothing in time; and one step,
//! once started, cannot be interrupted. So every helper whose cost grows with its input
//! charges that cost up front, in *work units* (about a nanosecond of this machine's slowest
//! work for it, per unit: bytes touched times a factor for what is done with each byte), and
//! a step that would pass the render's work limit never starts. The server gives a render on
//! an HTTP I/O thread a small limit, so a render that would take longer moves to a render
//! thread before it starts the expensive step.
//!
//! The meter lives in a thread-local for the length of one render because handlebars calls
//! helpers with no way to hand them per-render state. A render runs on one thread from start
//! to end, and [`install`] returns a guard that removes the meter however the render ends.

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::Value;

use super::{Limits, RenderGuard};

/// The caller's guard is asked for memory in pieces of this size, so a light render asks
/// once and a heavy one every 64 KiB.
const GRANT: usize = 64 * 1024;

/// Outside a render (helpers called directly by tests and tools) this much may be built.
const UNMETERED_BYTES: usize = 64 * 1024 * 1024;

/// Why the meter refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    /// The render's own byte budget.
    Bytes { limit: usize },
    /// The render's work limit.
    Work { limit: u64 },
    /// What helpers may hold for their own use (compiled patterns and their caches).
    Held { limit: usize },
    /// The caller's guard refused memory or cancelled the render.
    Interrupted,
}

impl Exceeded {
    pub fn message(&self) -> String {
        match self {
            Exceeded::Bytes { limit } => {
                format!("the render would build more than {limit} bytes (limit max-output-bytes)")
            }
            Exceeded::Work { limit } => format!(
                "the render would do more than {limit} units of work, about a nanosecond each (the limit follows render-timeout)"
            ),
            Exceeded::Held { limit } => format!(
                "the render's regular expressions would take more than {limit} bytes (limit max-output-bytes)"
            ),
            Exceeded::Interrupted => "the render was stopped by the server".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Meter {
    limit: usize,
    /// What the render has built.
    charged: usize,
    /// Bytes helpers hold for their own use; limited to `limit` too.
    held: usize,
    /// Bytes the guard has granted so far, for both.
    granted: usize,
    /// Work units spent, and the most the render may spend.
    work: u64,
    work_limit: u64,
    guard: Option<Arc<dyn RenderGuard>>,
    /// Set once the guard stopped the render; a stopped render stays stopped.
    interrupted: bool,
    /// Charges since the guard was last polled, and the work count at which it is polled
    /// again whatever that count says.
    unpolled: u32,
    next_poll: u64,
}

/// The guard is polled once every this many charges, or before work that would take the
/// count past `next_poll`, whichever comes first: a poll costs more than a light charge,
/// and a stop needs to be seen within microseconds, not at every byte.
const POLL_EVERY_CHARGES: u32 = 16;
const POLL_EVERY_UNITS: u64 = 4096;

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// Removes the render's meter when dropped.
pub struct Installed {
    previous: Option<Meter>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        METER.with(|m| *m.borrow_mut() = previous);
    }
}

/// Starts metering a render on this thread.
pub fn install(limits: &Limits) -> Installed {
    let meter = Meter {
        limit: limits.max_output_bytes,
        charged: 0,
        held: 0,
        granted: 0,
        work: 0,
        work_limit: limits.max_work,
        guard: limits.guard.clone(),
        interrupted: false,
        unpolled: 0,
        next_poll: 0,
    };
    let previous = METER.with(|m| m.borrow_mut().replace(meter));
    Installed { previous }
}

/// The render's meter as it stands, without its guard: a second evaluation, made only to
/// compare with the first, runs from it and charges nothing (see [`aside`]).
#[cfg(any(test, feature = "cross-check"))]
pub struct Snapshot(Option<Meter>);

#[cfg(any(test, feature = "cross-check"))]
impl Meter {
    fn unguarded_copy(&self) -> Meter {
        Meter {
            guard: None,
            ..*self
        }
    }
}

#[cfg(any(test, feature = "cross-check"))]
pub fn snapshot() -> Snapshot {
    METER.with(|m| Snapshot(m.borrow().as_ref().map(Meter::unguarded_copy)))
}

/// Runs `f` on a copy of `from`, then puts the render's meter back as it was. The copy has
/// no guard, so the caller never stops it.
#[cfg(any(test, feature = "cross-check"))]
pub fn aside<T>(from: &Snapshot, f: impl FnOnce() -> T) -> T {
    let saved = METER.with(|m| {
        std::mem::replace(
            &mut *m.borrow_mut(),
            from.0.as_ref().map(Meter::unguarded_copy),
        )
    });
    let result = f();
    METER.with(|m| *m.borrow_mut() = saved);
    result
}

/// Whether the render may stop where handlebars, run beside it, goes on: it has a guard,
/// or it read a required value the request left missing (`required.rs`).
#[cfg(any(test, feature = "cross-check"))]
pub fn guarded() -> bool {
    let has_guard = METER.with(|m| {
        m.borrow()
            .as_ref()
            .is_some_and(|meter| meter.guard.is_some())
    });
    has_guard || crate::required::was_read()
}

/// Charges `bytes` about to be built.
///
/// # Errors
///
/// When they would pass the render's byte limit, or the caller's guard stops the render.
pub fn charge(bytes: usize) -> Result<(), Exceeded> {
    METER.with(|m| match m.borrow_mut().as_mut() {
        Some(meter) => meter.charge(bytes),
        None if bytes > UNMETERED_BYTES => Err(Exceeded::Bytes {
            limit: UNMETERED_BYTES,
        }),
        None => Ok(()),
    })
}

/// Checks that a value of `bytes`, built for a moment and dropped again (a helper's result
/// inside a larger expression), fits in what the render has left. Nothing is charged: the
/// value that survives is charged when it is placed.
///
/// # Errors
///
/// As [`charge`].
pub fn fits(bytes: usize) -> Result<(), Exceeded> {
    METER.with(|m| match m.borrow().as_ref() {
        Some(meter) => meter.check(meter.charged.saturating_add(bytes)),
        None if bytes > UNMETERED_BYTES => Err(Exceeded::Bytes {
            limit: UNMETERED_BYTES,
        }),
        None => Ok(()),
    })
}

/// The size of `value`, or an error when even measuring it passes what the render has left.
///
/// # Errors
///
/// As [`charge`].
pub fn measure(value: &Value) -> Result<usize, Exceeded> {
    let room = METER.with(|m| {
        m.borrow().as_ref().map_or(UNMETERED_BYTES, |meter| {
            meter.limit.saturating_sub(meter.charged)
        })
    });
    size_within(value, room).ok_or(Exceeded::Bytes {
        limit: METER.with(|m| m.borrow().as_ref().map_or(UNMETERED_BYTES, |m| m.limit)),
    })
}

/// Charges what copying `value` will build, measuring no further than the budget left.
///
/// # Errors
///
/// As [`charge`].
pub fn charge_copy(value: &Value) -> Result<(), Exceeded> {
    let room = METER.with(|m| {
        m.borrow().as_ref().map_or(UNMETERED_BYTES, |meter| {
            meter.limit.saturating_sub(meter.charged)
        })
    });
    match size_within(value, room) {
        Some(size) => charge(size),
        None => charge(room.saturating_add(1)),
    }
}

/// Charges `units` of work about to be done, before doing it.
///
/// # Errors
///
/// When the work would pass the render's work limit, or the caller's guard stopped the
/// render.
pub fn work(units: u64) -> Result<(), Exceeded> {
    METER.with(|m| match m.borrow_mut().as_mut() {
        Some(meter) => meter.work(units),
        None => Ok(()),
    })
}

/// The work units the render has left: how far a helper may go measuring what it would cost.
pub fn work_left() -> u64 {
    METER.with(|m| {
        m.borrow().as_ref().map_or(u64::MAX, |meter| {
            meter.work_limit.saturating_sub(meter.work)
        })
    })
}

/// Charges `units` of work for each byte of `values`, measuring no further than the work
/// left: the measuring walks what the work will touch, so it is bounded by the same number.
///
/// # Errors
///
/// As [`work`].
pub fn work_per_byte<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    units: u64,
) -> Result<(), Exceeded> {
    let units = units.max(1);
    let room = usize::try_from(work_left() / units).unwrap_or(usize::MAX);
    let mut total = 0usize;
    for value in values {
        match size_within(value, room.saturating_sub(total)) {
            Some(size) => total = total.saturating_add(size),
            None => return work(u64::MAX),
        }
    }
    work((total as u64).saturating_mul(units))
}

/// Reserves `bytes` that a helper keeps for the rest of the render (a compiled pattern, a
/// matcher's cache), within the same limit as the render's output.
///
/// # Errors
///
/// When they do not fit, or the caller's guard refuses them.
pub fn hold(bytes: usize) -> Result<(), Exceeded> {
    METER.with(|m| match m.borrow_mut().as_mut() {
        Some(meter) => meter.hold(bytes),
        None if bytes > UNMETERED_BYTES => Err(Exceeded::Held {
            limit: UNMETERED_BYTES,
        }),
        None => Ok(()),
    })
}

/// Gives back part of what [`hold`] took, once the real size is known to be smaller than
/// the reserve. The guard's grant stays, for the rest of the render to reuse.
pub fn release(bytes: usize) {
    METER.with(|m| {
        if let Some(meter) = m.borrow_mut().as_mut() {
            meter.held = meter.held.saturating_sub(bytes);
        }
    });
}

/// Whether the caller's guard has stopped the render; polled at every step.
pub fn interrupted() -> bool {
    METER.with(|m| {
        m.borrow_mut().as_mut().is_some_and(|meter| {
            if !meter.interrupted && meter.guard.as_ref().is_some_and(|g| g.cancelled()) {
                meter.interrupted = true;
            }
            meter.interrupted
        })
    })
}

impl Meter {
    /// Building a byte is about a unit of work, so charged bytes are work too.
    ///
    /// Charges come by the dozen in every render and nearly all pass: the checks are
    /// inlined, and what is rare (a poll, a grant) is out of line, so a charge that passes
    /// stays a few instructions.
    #[inline]
    fn charge(&mut self, bytes: usize) -> Result<(), Exceeded> {
        let after = self.charged.saturating_add(bytes);
        self.check(after)?;
        self.work(bytes as u64)?;
        self.reserve(after.saturating_add(self.held))?;
        self.charged = after;
        Ok(())
    }

    fn hold(&mut self, bytes: usize) -> Result<(), Exceeded> {
        let after = self.held.saturating_add(bytes);
        self.check(0)?;
        self.poll_guard()?;
        if after > self.limit {
            return Err(Exceeded::Held { limit: self.limit });
        }
        self.reserve(after.saturating_add(self.charged))?;
        self.held = after;
        Ok(())
    }

    #[inline]
    fn work(&mut self, units: u64) -> Result<(), Exceeded> {
        let after = self.work.saturating_add(units);
        self.unpolled += 1;
        if self.unpolled >= POLL_EVERY_CHARGES || after >= self.next_poll {
            self.poll_guard()?;
        } else if self.interrupted {
            return Err(Exceeded::Interrupted);
        }
        if after > self.work_limit {
            return Err(Exceeded::Work {
                limit: self.work_limit,
            });
        }
        self.work = after;
        Ok(())
    }

    #[inline]
    fn check(&self, after: usize) -> Result<(), Exceeded> {
        if self.interrupted {
            return Err(Exceeded::Interrupted);
        }
        if after > self.limit {
            return Err(Exceeded::Bytes { limit: self.limit });
        }
        Ok(())
    }

    /// Stops the render once its guard says so.
    #[inline(never)]
    fn poll_guard(&mut self) -> Result<(), Exceeded> {
        self.unpolled = 0;
        self.next_poll = self.work.saturating_add(POLL_EVERY_UNITS);
        if self.interrupted || self.guard.as_ref().is_some_and(|g| g.cancelled()) {
            self.interrupted = true;
            return Err(Exceeded::Interrupted);
        }
        Ok(())
    }

    /// Makes sure the guard has granted `total` bytes, asking in grants. The caller has
    /// polled the guard.
    #[inline]
    fn reserve(&mut self, total: usize) -> Result<(), Exceeded> {
        if self.guard.is_some() && total > self.granted {
            return self.ask_guard(total);
        }
        Ok(())
    }

    /// Asks the guard for what `total` needs beyond its grants, a grant at least.
    #[inline(never)]
    fn ask_guard(&mut self, total: usize) -> Result<(), Exceeded> {
        let ask = (total - self.granted).max(GRANT);
        if !self.guard.as_ref().is_some_and(|g| g.reserve(ask)) {
            self.interrupted = true;
            return Err(Exceeded::Interrupted);
        }
        self.granted += ask;
        Ok(())
    }
}

/// A value's size as JSON text, the unit of `max-output-bytes` (in memory a built value
/// takes a small multiple of it, which the server's budget leaves room for). `None` as soon
/// as it passes `room`, so measuring is bounded too.
pub fn size_within(value: &Value, room: usize) -> Option<usize> {
    fn walk(value: &Value, total: &mut usize, room: usize) -> bool {
        *total += match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => SCALAR,
            Value::String(s) => string_size(s.len()),
            Value::Array(items) => HEADER + items.len(),
            Value::Object(map) => HEADER + map.len(),
        };
        if *total > room {
            return false;
        }
        match value {
            Value::Array(items) => items.iter().all(|v| walk(v, total, room)),
            Value::Object(map) => map.iter().all(|(k, v)| {
                *total += key_size(k.len());
                *total <= room && walk(v, total, room)
            }),
            _ => true,
        }
    }
    let mut total = 0;
    walk(value, &mut total, room).then_some(total)
}

/// A number, bool or null: most are a few characters.
pub const SCALAR: usize = 8;
/// A list's or map's brackets.
pub const HEADER: usize = 2;

/// A string of `len` bytes, with its quotes.
pub fn string_size(len: usize) -> usize {
    len.saturating_add(2)
}

/// A map key of `len` bytes, with its quotes, colon and comma.
pub fn key_size(len: usize) -> usize {
    len.saturating_add(4)
}

#[cfg(test)]
mod tests;
