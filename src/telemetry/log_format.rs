//! How field values appear in text logs.
//!
//! Log fields carry request data (the rule name from the URL, the parent's namespace and
//! name), so a value must never be able to end its line, start a forged one, or send escape
//! sequences to the terminal of whoever reads the log. JSON logs already escape; for text logs
//! every field value, the message included, goes through [`clean`] in one field formatter
//! ([`fields`]), so no call site has to remember.
//!
//! Colours are turned off in text logs: with them on, the output is full of escape bytes and
//! a reader cannot tell ours from forged ones at a glance; with them off, an escape byte in a
//! log line is always a bug.
//!
//! The log writer's access lines write their values through [`clean_into`] and their
//! timestamps through [`SecondText`], into one reused buffer.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::FormatFields;

/// The most characters of one field value a log line shows.
pub const MAX_VALUE_CHARS: usize = 200;

/// A field value made safe for a one-line text log: control characters (C0, DEL, C1) and
/// Unicode line and paragraph separators become `\n`, `\r`, `\t` or `\u{..}`; a value longer
/// than [`MAX_VALUE_CHARS`] is cut there, with a note of its full size in bytes.
pub fn clean(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_VALUE_CHARS + 16));
    let _ = clean_into(&mut out, value);
    out
}

/// [`clean`], written straight to `out`: the log writer formats every line into one buffer
/// it reuses, with no string per field.
pub fn clean_into(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    // A value the server already cut (`…(N bytes)`) keeps its note, which counts the
    // original size; only its text is escaped.
    if let Some((text, note)) = already_cut(value) {
        clean_into(out, text)?;
        return out.write_str(note);
    }
    let mut chars = value.char_indices();
    for (_, c) in chars.by_ref().take(MAX_VALUE_CHARS) {
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                write!(out, "\\u{{{:x}}}", u32::from(c))?;
            }
            c => out.write_char(c)?,
        }
    }
    if chars.next().is_some() {
        write!(out, "…({} bytes)", value.len())?;
    }
    Ok(())
}

/// `(text, note)` when `value` is at most [`MAX_VALUE_CHARS`] characters followed by a
/// `…(N bytes)` note, as the engine's `clip` leaves it.
fn already_cut(value: &str) -> Option<(&str, &str)> {
    let at = value.rfind("…(")?;
    let (text, note) = value.split_at(at);
    let digits = note.strip_prefix("…(")?.strip_suffix(" bytes)")?;
    let counted = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (counted && text.chars().count() <= MAX_VALUE_CHARS).then_some((text, note))
}

/// The field formatter for text logs: `message` bare, then `name=value`, space-separated,
/// every value through [`clean`].
pub fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer: &mut Writer<'_>, field, value| {
        let text = format!("{value:?}");
        if field.name() != "message" {
            write!(writer, "{}=", field.name())?;
        }
        clean_into(writer, &text)
    })
    .delimited(" ")
}

/// The text of the last whole second a line was written in, made again only when the second
/// changes: working out the date is most of a timestamp's cost, and a busy second has
/// thousands of lines.
pub struct SecondText {
    second: u64,
    /// `2025-11-29T05:54:27`: RFC 3339 without the fraction and the `Z`.
    text: String,
}

impl Default for SecondText {
    fn default() -> Self {
        SecondText {
            // No line is written in this second, so the first line makes the text.
            second: u64::MAX,
            text: String::with_capacity(32),
        }
    }
}

impl SecondText {
    /// Writes `at` as `humantime::format_rfc3339_micros` does: `2025-11-29T05:54:27.063793Z`.
    pub fn write(&mut self, out: &mut Vec<u8>, at: SystemTime) {
        let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since_epoch.as_secs();
        if second != self.second {
            self.second = second;
            self.text.clear();
            let whole = UNIX_EPOCH + Duration::from_secs(second);
            let _ = write!(self.text, "{}", humantime::format_rfc3339_seconds(whole));
            self.text.pop(); // the `Z`, written after the fraction
        }
        out.extend_from_slice(self.text.as_bytes());
        let mut fraction = *b".000000Z";
        let mut micros = since_epoch.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out.extend_from_slice(&fraction);
    }
}

/// `Vec<u8>` as a `fmt::Write`, for [`clean_into`]: what it is given is always UTF-8.
pub struct TextOut<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for TextOut<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Lets through at most one ERROR a minute from actix-server's accept loop.
///
/// When `accept` fails (out of descriptors, say), actix-server logs an ERROR and tries again
/// 500 ms later: two lines a second for as long as it lasts, drowning everything else. The
/// connection limit derived from the open-file limit keeps it from happening; this keeps a
/// cause nobody foresaw readable.
pub struct AcceptErrorLimit {
    started: std::time::Instant,
    /// Seconds after `started` of the last line let through, plus one (0: none yet).
    last: std::sync::atomic::AtomicU64,
}

/// The target actix-server logs its accept errors under.
const ACCEPT_TARGET: &str = "actix_server::accept";

/// Time between two accept errors let through.
const ACCEPT_ERROR_PERIOD_SECS: u64 = 60;

impl Default for AcceptErrorLimit {
    fn default() -> Self {
        AcceptErrorLimit {
            started: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AcceptErrorLimit {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        use std::sync::atomic::Ordering;
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || meta.target() != ACCEPT_TARGET {
            return true;
        }
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now >= last + ACCEPT_ERROR_PERIOD_SECS;
        due && self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// A log destination that keeps what it is given; clones share it. For tests of log lines:
/// `.with_writer(move || captured.clone())`.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\nb"), "a\\nb");
        assert_eq!(clean("x\u{1b}[31my"), "x\\u{1b}[31my");
        assert_eq!(
            clean("\r\t\u{7f}\u{9b}\u{2028}"),
            "\\r\\t\\u{7f}\\u{9b}\\u{2028}"
        );
        assert_eq!(clean("plain/ümlaut"), "plain/ümlaut");
    }

    #[test]
    fn long_values_are_cut_with_their_size() {
        let long = "é".repeat(300);
        let cut = clean(&long);
        assert!(cut.starts_with(&"é".repeat(200)));
        assert!(cut.ends_with("…(600 bytes)"), "{cut}");
        assert_eq!(clean(&"a".repeat(200)), "a".repeat(200));
    }

    #[test]
    fn accept_errors_are_let_through_once_a_minute_and_nothing_else_is_held_back() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish()
            .with(AcceptErrorLimit::default());
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..5 {
                tracing::error!(target: "actix_server::accept", "Error accepting connection");
                tracing::error!("another error");
            }
        });
        let text = captured.text();
        assert_eq!(
            text.matches("Error accepting connection").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("another error").count(), 5, "{text}");
    }

    #[test]
    fn every_field_of_events_and_spans_is_cleaned() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields())
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", path = "/a\nb");
            let _entered = span.enter();
            let who = "x\n\u{1b}[31mFORGED";
            tracing::info!(parent = %who, debug = ?who, "said {who}");
        });
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains(r#"path="/a\nb""#), "{text}");
        assert!(
            text.contains("said x\\n\\u{1b}[31mFORGED parent=x\\n"),
            "{text}"
        );
    }
}
