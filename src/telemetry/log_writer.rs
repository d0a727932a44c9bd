//! The server's log writer: every line goes through one bounded queue to a thread of its
//! own, so a hook call never waits on stdout and a slow log sink never grows memory.
//!
//! The access log is most of the lines (one per hook call), so it skips `tracing`: the
//! handler queues an [`AccessRecord`] of plain values, and the writer thread formats it,
//! in the same JSON or text form as every other line: straight into the batch it writes,
//! a buffer kept from drain to drain, with the date and time text made once per second, so
//! a line allocates nothing (unless a name must be cut). Other events are formatted by
//! `tracing` on the thread that logs them, as before, and queued as bytes.
//!
//! The thread is not woken per line: it drains the queue every few milliseconds, so a hook
//! call pays for a queue push and nothing else (no futex, no system call). When the queue is
//! full, new lines are dropped and counted in `rulehook_log_lines_dropped_total`.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::MakeWriter;

use crate::telemetry::log_format::{clean_into, SecondText, TextOut};
use rulehook_engine::clip;
use rulehook_engine::metacontroller::Subject;

/// Lines the queue holds before new ones are dropped (and counted): about 4 MiB of lines at
/// most, and at 100,000 lines a second still more than ten drains' worth.
pub const QUEUE_LINES: usize = 16_384;

/// How long the writer sleeps after a drain that found lines, and at most when idle.
const BUSY_PAUSE: Duration = Duration::from_millis(2);
const IDLE_PAUSE: Duration = Duration::from_millis(50);

/// The `target` access lines carry: the hook handler's module, where `tracing` events of the
/// access log came from (and where the filter is checked).
const ACCESS_TARGET: &str = "rulehook::server::hook";

/// One hook call, as its access-log line shows it. Names come from the URL and the
/// request: the writer cuts and escapes them.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub at: SystemTime,
    pub rule: String,
    pub hook: String,
    pub status: u16,
    pub duration_us: u64,
    /// The object the call was about, shared with the answer that names it.
    pub subject: Arc<Subject>,
}

enum Line {
    /// A line `tracing` already formatted.
    Formatted(Vec<u8>),
    /// Boxed, so the queue's slots stay small.
    Access(Box<AccessRecord>),
}

struct Shared {
    lines: Sender<Line>,
    dropped: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    fn push(&self, line: Line) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer of the running server, once [`start`] has made it.
static WRITER: OnceLock<Arc<Shared>> = OnceLock::new();

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

/// Stops the writer thread when dropped, after it has written every queued line.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// `tracing`'s writer: each event's bytes become one queued line.
#[derive(Clone)]
pub struct Sink(Arc<Shared>);

/// One event's line, queued when `tracing` is done with it.
pub struct EventWriter {
    line: Vec<u8>,
    shared: Arc<Shared>,
}

impl std::io::Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.shared
                .push(Line::Formatted(std::mem::take(&mut self.line)));
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            line: Vec::new(),
            shared: self.0.clone(),
        }
    }
}

/// Starts the writer thread on `out` and makes it the server's writer. Returns `tracing`'s
/// writer and the guard that flushes on exit.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn start(
    format: Format,
    out: impl std::io::Write + Send + 'static,
) -> std::io::Result<(Sink, Guard)> {
    let (lines, queue) = crossbeam_channel::bounded(QUEUE_LINES);
    let shared = Arc::new(Shared {
        lines,
        dropped: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
    });
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("rulehook-log".into())
        .spawn(move || write_lines(&writer, &queue, format, out))?;
    let _ = WRITER.set(shared.clone());
    Ok((
        Sink(shared.clone()),
        Guard {
            shared,
            thread: Some(thread),
        },
    ))
}

/// Queues an access line, or gives the record back when no writer runs (offline commands,
/// tests of the library), for the caller to log another way.
pub fn access(record: AccessRecord) -> Result<(), AccessRecord> {
    match WRITER.get() {
        Some(shared) => {
            shared.push(Line::Access(Box::new(record)));
            Ok(())
        }
        None => Err(record),
    }
}

/// The access line through `tracing` instead, for when no writer runs. The same line as
/// [`format_access`] writes: names cut, and escaped by the subscriber's formatter.
pub fn via_tracing(r: &AccessRecord) {
    tracing::info!(
        target: ACCESS_TARGET,
        rule = %clip(&r.rule),
        hook = %clip(&r.hook),
        status = r.status,
        duration_us = r.duration_us,
        parent = %clip(&r.subject.namespaced_name()),
        kind = %clip(&r.subject.kind),
        uid = %clip(&r.subject.uid),
        "hook request"
    );
}

/// Lines dropped so far because the queue was full or the output failed.
pub fn lines_dropped() -> u64 {
    WRITER
        .get()
        .map_or(0, |shared| shared.dropped.load(Ordering::Relaxed))
}

fn write_lines(
    shared: &Shared,
    queue: &Receiver<Line>,
    format: Format,
    mut out: impl std::io::Write,
) {
    // Every line is formatted straight into the batch, which is kept from drain to drain.
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut clock = SecondText::default();
    let mut pause = BUSY_PAUSE;
    loop {
        // Read before draining: a line queued before the flag was set is drained below.
        let stopping = shared.stopping.load(Ordering::Acquire);
        let mut lines = 0u64;
        while let Ok(line) = queue.try_recv() {
            match line {
                Line::Formatted(bytes) => batch.extend_from_slice(&bytes),
                Line::Access(record) => format_access(&mut batch, &mut clock, &record, format),
            }
            lines += 1;
            if batch.len() >= 60 * 1024 {
                flush(shared, &mut out, &mut batch, &mut lines);
            }
        }
        let wrote = lines > 0 || !batch.is_empty();
        flush(shared, &mut out, &mut batch, &mut lines);
        if stopping {
            return;
        }
        pause = if wrote {
            BUSY_PAUSE
        } else {
            (pause * 2).min(IDLE_PAUSE)
        };
        std::thread::park_timeout(pause);
    }
}

/// Writes `batch` (`lines` lines); lines that cannot be written are counted as dropped.
fn flush(shared: &Shared, out: &mut impl std::io::Write, batch: &mut Vec<u8>, lines: &mut u64) {
    if !batch.is_empty() && out.write_all(batch).and_then(|()| out.flush()).is_err() {
        shared.dropped.fetch_add(*lines, Ordering::Relaxed);
    }
    batch.clear();
    *lines = 0;
}

/// The line `tracing` wrote for the same event, in the same form: JSON with the fields
/// flattened, or text with every value escaped (see `log_format`).
fn format_access(out: &mut Vec<u8>, clock: &mut SecondText, r: &AccessRecord, format: Format) {
    let (rule, hook) = (clip(&r.rule), clip(&r.hook));
    let parent = r.subject.namespaced_name();
    let (parent, kind, uid) = (clip(&parent), clip(&r.subject.kind), clip(&r.subject.uid));
    match format {
        Format::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            clock.write(out, r.at);
            out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"hook request\",\"rule\":");
            json_string(out, &rule);
            out.extend_from_slice(b",\"hook\":");
            json_string(out, &hook);
            let _ = write!(
                out,
                ",\"status\":{},\"duration_us\":{},\"parent\":",
                r.status, r.duration_us
            );
            json_string(out, &parent);
            out.extend_from_slice(b",\"kind\":");
            json_string(out, &kind);
            out.extend_from_slice(b",\"uid\":");
            json_string(out, &uid);
            let _ = write!(out, ",\"target\":\"{ACCESS_TARGET}\"}}");
        }
        Format::Text => {
            clock.write(out, r.at);
            let _ = write!(out, "  INFO {ACCESS_TARGET}: hook request rule=");
            let _ = clean_into(&mut TextOut(out), &rule);
            out.extend_from_slice(b" hook=");
            let _ = clean_into(&mut TextOut(out), &hook);
            let _ = write!(
                out,
                " status={} duration_us={} parent=",
                r.status, r.duration_us
            );
            let _ = clean_into(&mut TextOut(out), &parent);
            out.extend_from_slice(b" kind=");
            let _ = clean_into(&mut TextOut(out), &kind);
            out.extend_from_slice(b" uid=");
            let _ = clean_into(&mut TextOut(out), &uid);
        }
    }
    out.push(b'\n');
}

/// `text` as a JSON string. Names are nearly always plain, and then copied as they are.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let plain = text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f);
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rule: &str, parent: &str) -> AccessRecord {
        let (namespace, name) = parent.split_once('/').unwrap_or(("", parent));
        AccessRecord {
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_395_667_063_793),
            rule: rule.into(),
            hook: "sync".into(),
            status: 200,
            duration_us: 168,
            subject: Arc::new(Subject {
                kind: format!("Kind{name}"),
                namespace: namespace.into(),
                name: name.into(),
                uid: format!("uid-{parent}"),
            }),
        }
    }

    /// The line `tracing` writes for the same event, with the subscriber `serve` sets up.
    fn tracing_line(r: &AccessRecord, format: Format) -> String {
        let captured = crate::telemetry::log_format::Captured::default();
        let sink = captured.clone();
        let writer = move || sink.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(writer);
        let log = || via_tracing(r);
        match format {
            Format::Json => {
                let subscriber = builder.json().flatten_event(true).finish();
                tracing::subscriber::with_default(subscriber, log);
            }
            Format::Text => {
                let subscriber = builder
                    .fmt_fields(crate::telemetry::log_format::fields())
                    .finish();
                tracing::subscriber::with_default(subscriber, log);
            }
        }
        captured.text()
    }

    fn ours(r: &AccessRecord, format: Format) -> String {
        let mut out = Vec::new();
        format_access(&mut out, &mut SecondText::default(), r, format);
        String::from_utf8(out).unwrap()
    }

    /// Everything but the timestamp, which `tracing` takes from the clock.
    fn after_timestamp(line: &str, format: Format) -> &str {
        match format {
            Format::Json => line.split_once("\",\"level\"").unwrap().1,
            Format::Text => line.split_once("Z ").unwrap().1,
        }
    }

    #[test]
    fn access_lines_are_the_lines_tracing_wrote() {
        let hostile = format!("x\n\u{1b}[31m\"FORGED\"{}", "é".repeat(300));
        for r in [
            record("hello", "hello/your-name"),
            record(&hostile, &hostile),
        ] {
            for format in [Format::Json, Format::Text] {
                let (ours, theirs) = (ours(&r, format), tracing_line(&r, format));
                assert_eq!(
                    after_timestamp(&ours, format),
                    after_timestamp(&theirs, format),
                    "{format:?}"
                );
                assert_eq!(ours.lines().count(), 1, "{ours}");
            }
        }
        let json: serde_json::Value =
            serde_json::from_str(&ours(&record("hello", "ns/p"), Format::Json)).unwrap();
        assert_eq!(json["timestamp"], "2025-11-29T05:54:27.063793Z");
        assert!(ours(&record("hello", "ns/p"), Format::Text)
            .starts_with("2025-11-29T05:54:27.063793Z  INFO rulehook::server::hook: "));
    }

    #[test]
    fn lines_of_one_second_share_its_text_and_a_line_of_another_second_gets_its_own() {
        let second = 1_764_395_667; // 2025-11-29T05:54:27Z
        let at = |micros: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_micros(second * 1_000_000 + micros)
        };
        let lines = [
            (at(63_793), "2025-11-29T05:54:27.063793Z"),
            (at(999_999), "2025-11-29T05:54:27.999999Z"),
            (at(1_000_007), "2025-11-29T05:54:28.000007Z"),
            // Workers take the time before they queue, so a line of the second before can
            // come after one of the next.
            (at(999_000), "2025-11-29T05:54:27.999000Z"),
        ];
        for format in [Format::Json, Format::Text] {
            let mut clock = SecondText::default();
            let rest = after_timestamp(&ours(&record("hello", "ns/p"), format), format).to_owned();
            for (time, timestamp) in lines {
                assert_eq!(
                    humantime::format_rfc3339_micros(time).to_string(),
                    timestamp
                );
                let r = AccessRecord {
                    at: time,
                    ..record("hello", "ns/p")
                };
                let mut out = Vec::new();
                format_access(&mut out, &mut clock, &r, format);
                let line = String::from_utf8(out).unwrap();
                let expected = match format {
                    Format::Json => format!("{{\"timestamp\":\"{timestamp}\",\"level\"{rest}"),
                    Format::Text => format!("{timestamp} {rest}"),
                };
                assert_eq!(line, expected, "{format:?}");
            }
        }
    }

    #[test]
    fn every_queued_line_is_written_in_order_and_a_full_queue_counts_drops() {
        let (lines, queue) = crossbeam_channel::bounded(4);
        let shared = Shared {
            lines,
            dropped: AtomicU64::new(0),
            stopping: AtomicBool::new(true),
        };
        for i in 0..6 {
            shared.push(Line::Formatted(format!("line {i}\n").into_bytes()));
        }
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 2);
        let mut out = Vec::new();
        write_lines(&shared, &queue, Format::Json, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "line 0\nline 1\nline 2\nline 3\n"
        );
    }

    #[test]
    fn lines_that_cannot_be_written_are_counted_as_dropped() {
        struct Closed;
        impl std::io::Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (lines, queue) = crossbeam_channel::bounded(8);
        let shared = Shared {
            lines,
            dropped: AtomicU64::new(0),
            stopping: AtomicBool::new(true),
        };
        shared.push(Line::Access(Box::new(record("a", "b"))));
        shared.push(Line::Formatted(b"x\n".to_vec()));
        write_lines(&shared, &queue, Format::Text, Closed);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 2);
    }
}
