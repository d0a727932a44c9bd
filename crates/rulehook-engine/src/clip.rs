//! Values quoted in messages are cut short.
//!
//! A render error quotes the value it failed on, and the server puts that message in the
//! answer and the log. A 5 MB annotation must not become a 5 MB log line.

use std::borrow::Cow;

/// The most characters of a value a message quotes.
pub const QUOTED_CHARS: usize = 200;

/// `text` itself when short, else its first [`QUOTED_CHARS`] characters and a note of its
/// full length.
pub fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTED_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…({} bytes)", &text[..cut], text.len())),
    }
}

/// A JSON value as a message quotes it: its JSON text, cut short.
pub fn clip_json(value: &serde_json::Value) -> String {
    // A value can be large; only its start is ever shown, so only that much is encoded.
    let mut out = LimitedWriter::default();
    let _ = serde_json::to_writer(&mut out, value);
    let text = String::from_utf8_lossy(&out.bytes);
    if out.truncated {
        let cut = text
            .char_indices()
            .nth(QUOTED_CHARS)
            .map_or(text.len(), |(i, _)| i);
        format!("{}…(longer)", &text[..cut])
    } else {
        clip(&text).into_owned()
    }
}

/// Keeps the first few hundred bytes written, then fails, which stops the encoder.
#[derive(Default)]
struct LimitedWriter {
    bytes: Vec<u8>,
    truncated: bool,
}

impl std::io::Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = (QUOTED_CHARS * 4).saturating_sub(self.bytes.len());
        if buf.len() > room {
            self.bytes.extend_from_slice(&buf[..room]);
            self.truncated = true;
            return Err(std::io::Error::other("enough"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_with_their_length() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(5000);
        let clipped = clip(&long);
        assert!(clipped.starts_with(&"é".repeat(200)));
        assert!(clipped.ends_with("…(10000 bytes)"), "{clipped}");
        let json = clip_json(&serde_json::json!({"a": "x".repeat(5_000_000)}));
        assert!(json.len() < 300 && json.ends_with("…(longer)"), "{json}");
    }
}
