//! A fixed-rate HTTP load generator on one thread: epoll for the sockets, an absolute
//! `timerfd` (nanosecond resolution) for the send schedule. One thread keeps the tool's own
//! CPU use low, which matters on a 2-CPU machine shared with the server under test.
//!
//! Connection `j` of `C` sends requests `j, j + C, j + 2C, ...`, request `k` being due at
//! `start + k * interval`. One request is in flight per connection (no pipelining). The
//! latency of a request is its virtual completion minus its due time, where the virtual
//! completion is `max(due, the previous virtual completion on the connection)` plus the
//! response time actually measured (from the write to the last byte). A slow response
//! therefore delays every later request queued behind it on its connection, in full (no
//! coordinated omission), while a late wake-up of this tool is not charged to the server.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;

pub struct Run {
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub interval_ns: f64,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    pub connections: usize,
}

pub struct Outcome {
    /// Corrected latencies of the requests due after the warm-up, in ns.
    pub latencies: Vec<u64>,
    /// Their raw response times, in ns.
    pub service: Vec<u64>,
    pub errors: u64,
    /// Requests this tool sent more than 1 ms after their due time.
    pub late: u64,
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn check(ret: libc::c_int, what: &str) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        let e = std::io::Error::last_os_error();
        Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(ret)
    }
}

struct Conn {
    stream: TcpStream,
    /// Index of the next request this connection sends.
    next: u64,
    /// `Some((due, sent))` while a request is in flight.
    in_flight: Option<(u64, u64)>,
    written: usize,
    /// Whether the socket is registered for writability (a request did not fit at once).
    want_out: bool,
    buf: Vec<u8>,
    /// Virtual completion of the previous request.
    free_at: u64,
}

const TIMER: u64 = u64::MAX;

struct Epoll(libc::c_int);

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this struct.
        unsafe { libc::close(self.0) };
    }
}

impl Epoll {
    fn ctl(
        &self,
        op: libc::c_int,
        fd: libc::c_int,
        events: u32,
        token: u64,
    ) -> std::io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event; fds are open.
        check(
            unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) },
            "epoll_ctl",
        )?;
        Ok(())
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Run {
    fn due(&self, start: u64, k: u64) -> u64 {
        start + (k as f64 * self.interval_ns) as u64
    }

    pub fn run(&self) -> std::io::Result<Outcome> {
        // SAFETY: plain syscalls; results are checked.
        let ep = Epoll(check(
            unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
            "epoll_create1",
        )?);
        let timer = Epoll(check(
            // SAFETY: as above.
            unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            },
            "timerfd_create",
        )?);
        ep.ctl(libc::EPOLL_CTL_ADD, timer.0, libc::EPOLLIN as u32, TIMER)?;
        let mut conns = Vec::with_capacity(self.connections);
        for j in 0..self.connections {
            let stream = connect(self.addr)?;
            ep.ctl(
                libc::EPOLL_CTL_ADD,
                stream.as_raw_fd(),
                libc::EPOLLIN as u32,
                j as u64,
            )?;
            conns.push(Conn {
                stream,
                next: j as u64,
                in_flight: None,
                written: 0,
                want_out: false,
                buf: Vec::with_capacity(64 * 1024),
                free_at: 0,
            });
        }
        let start = now_ns() + 100_000_000;
        let record_from = start + self.warmup_ns;
        let end = record_from + self.duration_ns;
        for c in &mut conns {
            c.free_at = start;
        }
        let mut out = Outcome {
            latencies: Vec::new(),
            service: Vec::new(),
            errors: 0,
            late: 0,
        };
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; self.connections + 1];
        let mut armed = 0u64;
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let now = now_ns();
            // Send every request that is due on an idle connection.
            let mut next_due = u64::MAX;
            let mut busy = 0;
            for j in 0..conns.len() {
                if conns[j].in_flight.is_none() {
                    let due = self.due(start, conns[j].next);
                    if due >= end {
                        continue;
                    }
                    if due <= now {
                        if now - due > 1_000_000 {
                            out.late += 1;
                        }
                        self.send(&ep, &mut conns, j, due, now, &mut out)?;
                    } else {
                        next_due = next_due.min(due);
                    }
                }
                if conns[j].in_flight.is_some() {
                    busy += 1;
                }
            }
            if busy == 0 && next_due == u64::MAX {
                break;
            }
            if next_due != u64::MAX && next_due != armed {
                let spec = libc::itimerspec {
                    it_interval: libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                    it_value: libc::timespec {
                        tv_sec: (next_due / 1_000_000_000) as libc::time_t,
                        tv_nsec: (next_due % 1_000_000_000) as libc::c_long,
                    },
                };
                check(
                    // SAFETY: `spec` is valid; the fd is a timerfd.
                    unsafe {
                        libc::timerfd_settime(
                            timer.0,
                            libc::TFD_TIMER_ABSTIME,
                            &spec,
                            std::ptr::null_mut(),
                        )
                    },
                    "timerfd_settime",
                )?;
                armed = next_due;
            }
            let wait_ms = if now > end + 30_000_000_000 { 0 } else { 1000 };
            // SAFETY: `events` has room for the count passed.
            let n = check(
                unsafe {
                    libc::epoll_wait(
                        ep.0,
                        events.as_mut_ptr(),
                        events.len() as libc::c_int,
                        wait_ms,
                    )
                },
                "epoll_wait",
            );
            let n = match n {
                Ok(n) => n as usize,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 && now > end + 30_000_000_000 {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    "responses still missing 30 s after the end",
                ));
            }
            for ev in &events[..n] {
                let (token, flags) = (ev.u64, ev.events);
                if token == TIMER {
                    let mut b = [0u8; 8];
                    // SAFETY: reading 8 bytes into an 8-byte buffer.
                    unsafe { libc::read(timer.0, b.as_mut_ptr().cast(), 8) };
                    armed = 0;
                    continue;
                }
                let j = token as usize;
                if flags & libc::EPOLLOUT as u32 != 0 {
                    self.write(&ep, &mut conns, j, &mut out)?;
                }
                if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                    self.read(&ep, &mut conns, j, record_from, &mut chunk, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    fn send(
        &self,
        ep: &Epoll,
        conns: &mut [Conn],
        j: usize,
        due: u64,
        now: u64,
        out: &mut Outcome,
    ) -> std::io::Result<()> {
        let c = &mut conns[j];
        c.in_flight = Some((due, now));
        c.written = 0;
        c.buf.clear();
        self.write(ep, conns, j, out)
    }

    fn write(
        &self,
        ep: &Epoll,
        conns: &mut [Conn],
        j: usize,
        out: &mut Outcome,
    ) -> std::io::Result<()> {
        let c = &mut conns[j];
        if c.in_flight.is_none() {
            return Ok(());
        }
        while c.written < self.request.len() {
            match c.stream.write(&self.request[c.written..]) {
                Ok(n) => c.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if c.want_out {
                        return Ok(());
                    }
                    c.want_out = true;
                    return ep.ctl(
                        libc::EPOLL_CTL_MOD,
                        c.stream.as_raw_fd(),
                        (libc::EPOLLIN | libc::EPOLLOUT) as u32,
                        j as u64,
                    );
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.fail(ep, conns, j, out),
            }
        }
        if !c.want_out {
            return Ok(());
        }
        c.want_out = false;
        ep.ctl(
            libc::EPOLL_CTL_MOD,
            c.stream.as_raw_fd(),
            libc::EPOLLIN as u32,
            j as u64,
        )
    }

    fn read(
        &self,
        ep: &Epoll,
        conns: &mut [Conn],
        j: usize,
        record_from: u64,
        chunk: &mut [u8],
        out: &mut Outcome,
    ) -> std::io::Result<()> {
        let c = &mut conns[j];
        // One read per readiness event: the socket is level-triggered, so a response that
        // is not complete yet raises another event.
        match c.stream.read(chunk) {
            Ok(0) => return self.fail(ep, conns, j, out),
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(())
            }
            Err(_) => return self.fail(ep, conns, j, out),
        }
        let Some((due, sent)) = c.in_flight else {
            // Bytes nobody asked for: the server is confused.
            return self.fail(ep, conns, j, out);
        };
        let head = match super::head(&c.buf) {
            Ok(Some(h)) if c.buf.len() >= h.end + h.length => h,
            Ok(_) => return Ok(()),
            Err(_) => return self.fail(ep, conns, j, out),
        };
        let done = now_ns();
        let took = done - sent;
        let finish = due.max(c.free_at) + took;
        c.free_at = finish;
        c.in_flight = None;
        c.next += self.connections as u64;
        if due >= record_from {
            out.latencies.push(finish - due);
            out.service.push(took);
            if head.status != 200 {
                out.errors += 1;
            }
        }
        if head.close {
            self.reconnect(ep, conns, j)?;
        }
        Ok(())
    }

    /// A broken exchange: count it, open a new connection, move on.
    fn fail(
        &self,
        ep: &Epoll,
        conns: &mut [Conn],
        j: usize,
        out: &mut Outcome,
    ) -> std::io::Result<()> {
        let n = self.connections as u64;
        let c = &mut conns[j];
        if let Some((due, sent)) = c.in_flight.take() {
            let took = now_ns() - sent;
            c.free_at = due.max(c.free_at) + took;
            c.next += n;
            out.errors += 1;
        }
        self.reconnect(ep, conns, j)
    }

    fn reconnect(&self, ep: &Epoll, conns: &mut [Conn], j: usize) -> std::io::Result<()> {
        let c = &mut conns[j];
        let _ = ep.ctl(libc::EPOLL_CTL_DEL, c.stream.as_raw_fd(), 0, 0);
        c.stream = connect(self.addr)?;
        c.buf.clear();
        c.want_out = false;
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            c.stream.as_raw_fd(),
            libc::EPOLLIN as u32,
            j as u64,
        )
    }
}
