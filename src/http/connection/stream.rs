//! The stream every connection is read and written through: the one place that sees the
//! dispatcher's bytes, so it bounds what a connection may leave unsent, how much of a request
//! head it reads, and for how long, and it is the switch a watchdog turns to close it.
//!
//! actix-http's dispatcher encodes every answer into its write buffer and hands that buffer
//! to `poll_write` whole (`&write_buf[written..]`). It throttles only streamed bodies: answers
//! with no body (404, 304, HEAD) or pipelined requests go on being answered while the client
//! reads nothing. So `poll_write` sees exactly what a connection holds unsent, and refuses it
//! past [`MAX_UNSENT_BYTES`]. On the read side, the dispatcher is handed one request at a
//! time (see `heads`), and nothing is read while a request is being answered or answers wait
//! for the client: pipelined requests wait in the kernel, not decoded in a queue.

use std::cell::{Cell, RefCell};
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use actix_web::rt::net::TcpStream;
use actix_web::rt::time::Sleep;
use futures_util::ready;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::heads::Heads;
use super::peers::{Closed, Connections, PeerSlot};

/// A TLS stream as actix-tls hands it over after the handshake.
pub type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// What one connection may hold answered but unsent. actix fills its write buffer up to
/// [`super::WRITE_BUFFER_BYTES`] and then adds one more piece of a body (at most
/// [`super::body::CHUNK`]) and a response head, so a client that reads never comes near this. As a
/// connection reads no request while its answers wait, this is the last line, should actix
/// ever answer more at once than that.
pub const MAX_UNSENT_BYTES: usize = 64 * 1024;

/// The most one read takes while a head is read (with what follows it), and what a chunked
/// body is read in before the dispatcher decodes it. actix would read up to 128 KiB at once.
/// 16 KiB holds a whole ordinary hook request (the hello example's is 4 KB) in one read;
/// bodies of known length are read as they come.
pub const READ_ROUND_BYTES: usize = 16 * 1024;

/// The most a request head may take. Metacontroller's, Prometheus' and the kubelet's heads
/// are well under 2 KiB; actix alone would read 128 KiB of head before answering 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The two kinds of stream a connection can be.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// Where a connection stands between its requests, and so what it may read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Before the first request has reached the application: heads, in rounds. actix's own
    /// head timer (`--client-timeout` from the connection's start) bounds this one.
    First,
    /// A request has reached the application and at most this many bytes of its body are
    /// still to come: read as they come. Counted from its `Content-Length`, so it errs high
    /// by what arrived with the head, which is at most a round.
    Body(u64),
    /// A request with a chunked body has reached the application: read in rounds.
    Chunked,
    /// A request and its body are in; nothing more is read until its answer is written, so
    /// pipelined requests wait in the kernel, not in a queue of decoded requests.
    Answering,
    /// The last answer is written: the next head, in rounds, within `--client-timeout` of
    /// its first byte.
    Between,
}

/// What a request that reached the application still has to send.
#[derive(Clone, Copy, Debug)]
pub enum BodyToCome {
    Length(u64),
    Chunked,
}

/// The deadlines a connection keeps.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// From the first byte of a later request's head to its end.
    pub head: Duration,
    /// For answers waiting for the client to be written out.
    pub write: Duration,
}

/// What a connection and everyone acting on it share: the handlers (through `conn_data`), a
/// write watchdog, and the stream itself. Only ever touched on the connection's worker
/// thread.
pub struct ConnState {
    deadlines: Deadlines,
    connections: Arc<Connections>,
    closed: Cell<Option<Closed>>,
    waker: RefCell<Option<Waker>>,
    phase: Cell<Phase>,
    /// Where heads end in what is read, and what is held back.
    heads: RefCell<Heads>,
    /// Bytes of a chunked body read in the current round (reads until one would block).
    round_bytes: Cell<usize>,
    /// A read was refused because writes were blocked: wake the task when they drain.
    read_refused: Cell<bool>,
    /// The last write or flush could not finish; answers wait for the client.
    write_blocked: Cell<bool>,
    head_deadline: Cell<Option<Instant>>,
    write_deadline: Cell<Option<Instant>>,
    /// One timer for both deadlines, made when first needed and reset after.
    timer: RefCell<Option<Pin<Box<Sleep>>>>,
}

impl ConnState {
    pub fn new(deadlines: Deadlines, connections: Arc<Connections>) -> Rc<ConnState> {
        Rc::new(ConnState {
            deadlines,
            connections,
            closed: Cell::new(None),
            waker: RefCell::new(None),
            phase: Cell::new(Phase::First),
            heads: RefCell::new(Heads::default()),
            round_bytes: Cell::new(0),
            read_refused: Cell::new(false),
            write_blocked: Cell::new(false),
            head_deadline: Cell::new(None),
            write_deadline: Cell::new(None),
            timer: RefCell::new(None),
        })
    }

    /// Closes the connection at its next read or write, and wakes it so that comes now.
    pub fn close(&self, why: Closed) {
        if self.closed.get().is_none() {
            self.closed.set(Some(why));
            self.connections.count_closed(why);
        }
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// A request has reached the application: its head is complete.
    pub(super) fn request_arrived(&self, body: BodyToCome) {
        let read_with_head = self.heads.borrow().body_bytes();
        self.phase.set(match body {
            BodyToCome::Length(n) => match n.saturating_sub(read_with_head) {
                0 => Phase::Answering,
                left => Phase::Body(left),
            },
            BodyToCome::Chunked => Phase::Chunked,
        });
        self.head_deadline.set(None);
        self.wake_for_more();
    }

    /// Whether the request that reached the application has its whole body read.
    pub(super) fn body_read(&self) -> bool {
        self.phase.get() == Phase::Answering
    }

    /// The answer's body is written (or dropped): the next bytes begin the next head, unless
    /// the request's body has not all arrived (actix then reads and drops it, and closes).
    pub(super) fn response_done(&self) {
        if !matches!(self.phase.get(), Phase::Body(_)) {
            self.phase.set(Phase::Between);
            self.heads.borrow_mut().next_head();
        }
        self.wake_for_more();
    }

    /// Wakes the connection's task when it may now read what it was refused, or what is held
    /// back (no socket event would wake it for those).
    fn wake_for_more(&self) {
        if !self.heads.borrow().held().is_empty() {
            self.read_refused.set(true);
        }
        self.wake_refused_read();
    }

    /// Wakes the connection's task if a read was refused, so it reads again.
    fn wake_refused_read(&self) {
        if self.read_refused.replace(false) {
            if let Some(waker) = self.waker.borrow().as_ref() {
                waker.wake_by_ref();
            }
        }
    }

    fn remember_waker(&self, cx: &Context<'_>) {
        let mut stored = self.waker.borrow_mut();
        if !stored.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *stored = Some(cx.waker().clone());
        }
    }

    /// An error when the connection was closed or one of its deadlines has passed.
    fn check(&self) -> io::Result<()> {
        if let Some(why) = self.closed.get() {
            return Err(why.into());
        }
        if self.head_deadline.get().is_none() && self.write_deadline.get().is_none() {
            return Ok(());
        }
        let now = Instant::now();
        if self.head_deadline.get().is_some_and(|d| now >= d) {
            self.close(Closed::HeadDeadline);
        } else if self.write_deadline.get().is_some_and(|d| now >= d) {
            self.close(Closed::WriteDeadline);
        }
        self.closed.get().map_or(Ok(()), |why| Err(why.into()))
    }

    /// Makes sure the task wakes at the earliest deadline; an error when it has passed.
    fn watch_deadlines(&self, cx: &mut Context<'_>) -> io::Result<()> {
        let earliest = match (self.head_deadline.get(), self.write_deadline.get()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Ok(()),
        };
        let mut timer = self.timer.borrow_mut();
        let timer = timer
            .get_or_insert_with(|| Box::pin(actix_web::rt::time::sleep_until(earliest.into())));
        if timer.deadline().into_std() != earliest {
            timer.as_mut().reset(earliest.into());
        }
        if timer.as_mut().poll(cx).is_ready() {
            return self.check();
        }
        Ok(())
    }

    fn write_blocked(&self, cx: &mut Context<'_>) -> io::Result<()> {
        self.write_blocked.set(true);
        if self.write_deadline.get().is_none() {
            self.write_deadline
                .set(Some(Instant::now() + self.deadlines.write));
        }
        self.watch_deadlines(cx)
    }

    fn writes_drained(&self) {
        if self.write_blocked.replace(false) {
            self.write_deadline.set(None);
            self.wake_refused_read();
        }
    }

    /// The first byte of a later head that does not arrive whole starts its clock.
    fn head_started(&self) {
        if self.phase.get() == Phase::Between && self.head_deadline.get().is_none() {
            self.head_deadline
                .set(Some(Instant::now() + self.deadlines.head));
        }
    }
}

/// A connection's stream, with its state and its place in the per-peer count.
pub struct Conn {
    io: Transport,
    state: Rc<ConnState>,
    /// Given back when the connection ends, with its socket.
    _peer: PeerSlot,
}

impl Conn {
    pub fn new(io: Transport, state: Rc<ConnState>, peer: PeerSlot) -> Conn {
        Conn {
            io,
            state,
            _peer: peer,
        }
    }

    pub fn state(&self) -> &Rc<ConnState> {
        &self.state
    }

    pub fn transport(&self) -> &Transport {
        &self.io
    }
}

impl Conn {
    /// Hands over at most `limit` bytes: those held back first, else from the socket.
    fn read_at_most(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        limit: usize,
    ) -> Poll<io::Result<usize>> {
        {
            let mut heads = self.state.heads.borrow_mut();
            heads.release_drained();
            let held = heads.held();
            if !held.is_empty() {
                let n = held.len().min(limit).min(buf.remaining());
                buf.put_slice(&held[..n]);
                heads.take_held(n);
                return Poll::Ready(Ok(n));
            }
        }
        let before = buf.filled().len();
        if limit >= buf.remaining() {
            ready!(self.read_into(cx, buf))?;
            return Poll::Ready(Ok(buf.filled().len() - before));
        }
        // Through a small buffer of our own, left uninitialized (`ReadBuf::uninit` is safe):
        // limiting `buf` itself would need unsafe code.
        let mut bounce = [std::mem::MaybeUninit::<u8>::uninit(); BOUNCE_BYTES];
        let mut limited = ReadBuf::uninit(&mut bounce[..limit.min(BOUNCE_BYTES)]);
        ready!(self.read_into(cx, &mut limited))?;
        buf.put_slice(limited.filled());
        Poll::Ready(Ok(limited.filled().len()))
    }

    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }

    /// Reads part of a head (and what follows it), handing over at most one complete head.
    fn read_head(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let state = self.state.clone();
        if state.heads.borrow().head_bytes() >= MAX_HEAD_BYTES {
            state.close(Closed::HeadTooLarge);
            return Poll::Ready(Err(Closed::HeadTooLarge.into()));
        }
        let from_held = !state.heads.borrow().held().is_empty();
        let before = buf.filled().len();
        let read = ready!(self.read_at_most(cx, buf, READ_ROUND_BYTES))?;
        let mut heads = state.heads.borrow_mut();
        let keep = heads.handed_over(&buf.filled()[before..]);
        if keep < read {
            if from_held {
                heads.untake_held(read - keep);
            } else {
                heads.hold_back(&buf.filled()[before + keep..]);
            }
            buf.set_filled(before + keep);
        }
        // A head handed over whole needs no clock: it is decoded before the next read.
        let incomplete = keep > 0 && !heads.head_complete();
        drop(heads);
        if incomplete {
            state.head_started();
        }
        Poll::Ready(Ok(()))
    }
}

/// The most one limited read takes (a round, or the end of a body).
const BOUNCE_BYTES: usize = READ_ROUND_BYTES;

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let state = this.state.clone();
        state.remember_waker(cx);
        state.check()?;
        let phase = state.phase.get();
        let reading_head = matches!(phase, Phase::First | Phase::Between);
        let refused = state.write_blocked.get()
            || phase == Phase::Answering
            || (reading_head && state.heads.borrow().waiting_for_arrival());
        if refused {
            // Answers wait for the client, or a request is in: read nothing until it is
            // answered. A drained write, an arrival or a finished answer wakes the task.
            state.read_refused.set(true);
            return Poll::Pending;
        }
        let polled = match phase {
            Phase::Body(left) => this
                .read_at_most(cx, buf, usize::try_from(left).unwrap_or(usize::MAX))
                .map_ok(|read| {
                    state.phase.set(match left.saturating_sub(read as u64) {
                        0 => Phase::Answering,
                        left => Phase::Body(left),
                    });
                }),
            Phase::Chunked => {
                let round = state.round_bytes.get();
                if round >= READ_ROUND_BYTES {
                    // Let the dispatcher decode this round before reading the next.
                    state.round_bytes.set(0);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                this.read_at_most(cx, buf, READ_ROUND_BYTES - round)
                    .map_ok(|read| state.round_bytes.set(round + read))
            }
            _ => this.read_head(cx, buf),
        };
        if polled.is_pending() {
            state.round_bytes.set(0);
            state.watch_deadlines(cx)?;
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let state = &*this.state;
        state.check()?;
        if buf.len() > MAX_UNSENT_BYTES {
            state.close(Closed::UnsentBound);
            return Poll::Ready(Err(Closed::UnsentBound.into()));
        }
        let polled = match &mut this.io {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        };
        if polled.is_pending() {
            state.write_blocked(cx)?;
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let state = &*this.state;
        state.check()?;
        let polled = match &mut this.io {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        };
        match &polled {
            Poll::Ready(Ok(())) => state.writes_drained(),
            Poll::Pending => state.write_blocked(cx)?,
            Poll::Ready(Err(_)) => {}
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
