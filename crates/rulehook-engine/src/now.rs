//! The current time as a render input: the engine reads no clock, so the caller hands it the
//! time and templates see it as the name `now`, a string such as `2026-12-06T16:20:05Z`.
//!
//! One form only (RFC 3339, whole seconds, UTC, `Z`) so that times compare as strings
//! and a template can copy one into a `metav1.Time` field as it is.

use std::fmt;

/// The name templates and computed values read the time by.
pub(crate) const NOW: &str = "now";

/// A time in the one form templates see: `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Now(String);

/// The form a [`Now`] is written in, for messages.
pub(crate) const NOW_FORM: &str =
    "RFC 3339 in whole seconds and UTC, such as `2026-01-01T00:00:00Z`";

impl Now {
    /// Reads a time written as `2026-12-06T16:20:05Z`.
    ///
    /// # Errors
    ///
    /// Any other form (fractions of a second, an offset, a lowercase `t` or `z`) or a date
    /// or time of day that does not exist, with the form it should have.
    pub fn parse(text: &str) -> Result<Now, String> {
        if valid(text.as_bytes()) {
            Ok(Now(text.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a time in {NOW_FORM}",
                crate::clip::clip(text)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid(b: &[u8]) -> bool {
    const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
    if b.len() != SHAPE.len() {
        return false;
    }
    let shaped = b.iter().zip(SHAPE).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    if !shaped {
        return false;
    }
    let number = |at: usize, len: usize| {
        b[at..at + len]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (number(0, 4), number(5, 2), number(8, 2));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && number(11, 2) < 24 && number(14, 2) < 60 && number(17, 2) < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_seconds_in_utc_are_times() {
        for good in [
            "2026-12-06T16:20:05Z",
            "2024-02-29T00:00:00Z",
            "1999-12-31T23:59:59Z",
        ] {
            assert_eq!(Now::parse(good).map(|n| n.to_string()), Ok(good.to_owned()));
        }
        for bad in [
            "2026-12-06T16:20:05.5Z",
            "2026-12-06T16:20:05+00:00",
            "2026-12-06t16:20:05z",
            "2026-12-06 16:20:05Z",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T16:60:05Z",
            "2026-12-00T16:20:05Z",
            "today",
            "",
        ] {
            let error = Now::parse(bad).unwrap_err();
            assert!(
                error.contains("RFC 3339 in whole seconds and UTC"),
                "{bad}: {error}"
            );
        }
    }
}
