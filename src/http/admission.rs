//! What a hook request may take from the server, taken before it is spent: an in-flight
//! slot, body bytes as they arrive, memory for parsing and rendering, and time.
//!
//! Each refusal is cheap and early: a request that cannot be afforded is answered 429, 503
//! or 408 before it costs the other controllers anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpRequest;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::budget::memory::{MemoryBudget, Reservation};
use crate::http::ApiError;
use rulehook_engine::RenderGuard;

/// One request's share of the server: its memory reservation, and whether it was cancelled.
///
/// The render thread asks it for memory as the render grows; the HTTP side cancels it when
/// the render deadline passes. The response body keeps it, so the reservation lasts until
/// the answer is written.
#[derive(Debug)]
pub struct RequestGuard {
    reservation: Reservation,
    cancelled: AtomicBool,
    /// Set when the memory budget refused the render, so the caller answers 503, not 500.
    starved: AtomicBool,
    /// What the refused ask was for, to tell a request that must wait from one that can
    /// never fit.
    refused_ask: std::sync::atomic::AtomicUsize,
}

impl RequestGuard {
    pub fn new(budget: &Arc<MemoryBudget>) -> RequestGuard {
        RequestGuard {
            reservation: budget.reservation(),
            cancelled: AtomicBool::new(false),
            starved: AtomicBool::new(false),
            refused_ask: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }

    /// Stops the render at its next step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether a render stopped because memory ran out.
    pub fn starved(&self) -> bool {
        self.starved.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or fails the request: 503 when it may fit later, 413 when it never
    /// can.
    pub fn reserve_or_refuse(&self, bytes: usize) -> Result<(), ApiError> {
        if self.reservation.grow(bytes) {
            Ok(())
        } else {
            self.refused_ask.store(bytes, Ordering::Release);
            Err(self.out_of_memory())
        }
    }

    /// Why memory was refused: the pool is in use for now (503, retry), or the request
    /// needs more than one request may ever hold (413, a retry cannot help).
    pub fn out_of_memory(&self) -> ApiError {
        let asked = self.refused_ask.load(Ordering::Acquire);
        if self.reservation.could_ever_grow(asked) {
            ApiError::OutOfMemory
        } else {
            ApiError::NeedsTooMuchMemory {
                needed: self.reservation.held().saturating_add(asked),
                limit: self.reservation.most_one_request_may_hold(),
            }
        }
    }
}

impl RenderGuard for RequestGuard {
    fn reserve(&self, bytes: usize) -> bool {
        let granted = self.reservation.grow(bytes);
        if !granted {
            self.refused_ask.store(bytes, Ordering::Release);
            self.starved.store(true, Ordering::Release);
        }
        granted
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// The guard of a render tried on an HTTP I/O thread: the request's own guard, plus a time
/// limit. Once the time is up the render stops at its next step and starts over on a render
/// thread; the request itself is not cancelled.
#[derive(Debug)]
pub struct SliceGuard {
    request: Arc<RequestGuard>,
    until: Instant,
}

impl SliceGuard {
    pub fn new(request: Arc<RequestGuard>, time: Duration) -> SliceGuard {
        SliceGuard {
            request,
            until: Instant::now() + time,
        }
    }
}

impl RenderGuard for SliceGuard {
    fn reserve(&self, bytes: usize) -> bool {
        self.request.reserve(bytes)
    }

    /// The render polls every few microseconds of work (see the engine's budget), so the
    /// clock is read at each poll.
    fn cancelled(&self) -> bool {
        self.request.cancelled() || Instant::now() >= self.until
    }
}

/// Counts requests whose body has fully arrived and that are now being parsed and rendered.
/// Connections still sending their body do not count: a slow client must not take a slot.
#[derive(Debug, Default)]
pub struct InFlight(AtomicUsize);

/// Holds one in-flight slot; released however the request ends.
pub struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    /// A slot, or 429 when `limit` requests already hold one.
    pub fn admit(&self, limit: usize) -> Result<Slot<'_>, ApiError> {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(&self.0);
        if before >= limit {
            return Err(ApiError::Overloaded);
        }
        Ok(slot)
    }
}

/// Admits a request as every route that renders does: its body read within the server's
/// limits and charged to a guard of its own, then an in-flight slot.
///
/// # Errors
///
/// As [`read_body`], and 429 when every in-flight slot is taken.
pub(crate) async fn admit<'a>(
    state: &'a crate::http::AppState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<(Bytes, Arc<RequestGuard>, Slot<'a>), ApiError> {
    let limits = &state.limits;
    let guard = Arc::new(RequestGuard::new(&state.memory));
    let body = read_body(
        request,
        payload,
        limits.max_body_bytes,
        limits.body_timeout,
        &guard,
    )
    .await?;
    let slot = state.in_flight.admit(limits.max_in_flight)?;
    Ok((body, guard, slot))
}

/// Reads the whole body within `deadline`, reserving each piece before keeping it.
///
/// # Errors
///
/// 413 past `limit` (at once when the declared length says so), 408 past the deadline, 503
/// when the memory budget cannot hold the next piece, 400 when the client breaks off.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    deadline: Duration,
    guard: &RequestGuard,
) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let read = async {
        // Sized once from the declared length: growing by doubling would briefly hold twice
        // what was reserved. Untouched capacity costs address space, not memory.
        let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::Read(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::TooLarge(limit));
            }
            guard.reserve_or_refuse(chunk.len())?;
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A body whose bytes all came with the head is in memory already (the dispatcher hands
    // it over after the handler's first poll): reading it cannot wait on the client, so it
    // needs no deadline, whose timer entry, made and cleared, was a tenth of a cached
    // answer's cost.
    if request
        .conn_data::<crate::http::connection::Connection>()
        .is_some_and(|c| c.body_read())
    {
        return read.await;
    }
    actix_web::rt::time::timeout(deadline, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(deadline))?
}

/// How many render threads one rule may use at once: half of them, so one controller's heavy
/// parents (or one slow rule) leave the other half to every other controller. A rule's
/// requests beyond its share wait their turn, in order, without holding a thread.
#[derive(Debug)]
pub struct RuleShares {
    per_rule: usize,
    /// One entry per loaded rule name that has been called: bounded by the rule set.
    rules: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl RuleShares {
    pub fn new(render_threads: usize) -> RuleShares {
        RuleShares {
            per_rule: (render_threads / 2).max(1),
            rules: Mutex::default(),
        }
    }

    /// Waits for one of `rule`'s shares; the permit goes back when dropped.
    pub async fn acquire(&self, rule: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
            match rules.get(rule) {
                Some(semaphore) => semaphore.clone(),
                None => rules
                    .entry(rule.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_rule)))
                    .clone(),
            }
        };
        // The semaphore is never closed, so acquiring cannot fail.
        match semaphore.acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("rule share semaphores are never closed"),
        }
    }
}
