//! Checking JSON without building it: the parts of a request no rule reads are only
//! scanned, and at 100 Pods and more they are nearly all of its bytes.
//!
//! The scanner accepts exactly what serde_json accepts when it reads a body into
//! `IgnoredAny` (tests compare the two on every sample and on mutated ones): strings may not
//! hold control characters, escapes are one of JSON's eight or `\u` and four hex digits, and
//! string contents are not checked to be UTF-8, as serde_json does not check what it skips.
//! It does not say where or why a body is malformed; the caller asks serde_json for that.
//!
//! It is iterative: nesting costs one bit per level, never the call stack.

/// The bytes are not JSON; serde_json says where and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid;

/// `0x0101…01`: one in every byte of a word.
const ONES: u64 = u64::MAX / 255;
/// `0x8080…80`: the high bit of every byte.
const HIGHS: u64 = ONES << 7;

/// The index of the first byte from `at` that is not JSON whitespace (or the end).
#[inline]
pub(super) fn whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// A word with the high bit set in each byte that is `"`, `\` or below 0x20, and perhaps in
/// bytes after the first such one (the subtraction borrows), never before it.
#[inline]
fn specials(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS
}

/// The index of the first `"`, `\` or control byte from `at`, eight bytes at a time.
#[inline]
fn to_special(bytes: &[u8], mut at: usize) -> usize {
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let found = specials(word);
        if found != 0 {
            return at + found.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            return at;
        }
        at += 1;
    }
    at
}

/// The end of a string whose opening quote is just before `at`: the index after its
/// closing quote. `escaped` is set when it holds an escape.
#[inline]
pub(super) fn string(bytes: &[u8], mut at: usize, escaped: &mut bool) -> Result<usize, Invalid> {
    loop {
        at = to_special(bytes, at);
        match bytes.get(at) {
            Some(b'"') => return Ok(at + 1),
            Some(b'\\') => {
                *escaped = true;
                at = escape(bytes, at + 1)?;
            }
            _ => return Err(Invalid),
        }
    }
}

/// The end of an escape whose backslash is just before `at`.
fn escape(bytes: &[u8], at: usize) -> Result<usize, Invalid> {
    match bytes.get(at) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 1),
        Some(b'u') => match bytes.get(at + 1..at + 5) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(at + 5),
            _ => Err(Invalid),
        },
        _ => Err(Invalid),
    }
}

/// The end of the digits from `at`, which must be at least one.
#[inline]
fn digits(bytes: &[u8], at: usize) -> Result<usize, Invalid> {
    let end = at
        + bytes[at.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    if end == at {
        Err(Invalid)
    } else {
        Ok(end)
    }
}

/// The end of a number starting at `at`: `-`, then `0` or digits not led by zero, then an
/// optional fraction and exponent.
fn number(bytes: &[u8], mut at: usize) -> Result<usize, Invalid> {
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    at = match bytes.get(at) {
        Some(b'0') => at + 1,
        _ => digits(bytes, at)?,
    };
    if bytes.get(at) == Some(&b'.') {
        at = digits(bytes, at + 1)?;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        at = digits(bytes, at)?;
    }
    Ok(at)
}

/// The end of `word` if the bytes at `at` spell it.
#[inline]
fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Result<usize, Invalid> {
    match bytes.get(at..at + word.len()) {
        Some(found) if found == word => Ok(at + word.len()),
        _ => Err(Invalid),
    }
}

/// Open containers, innermost last: a bit per level, objects set. The first 64 levels take
/// no allocation, which is every request Kubernetes sends.
struct Nesting {
    shallow: u64,
    deep: Vec<bool>,
    depth: usize,
}

impl Nesting {
    fn new() -> Self {
        Nesting {
            shallow: 0,
            deep: Vec::new(),
            depth: 0,
        }
    }

    #[inline]
    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            self.shallow = (self.shallow & !(1 << self.depth)) | (u64::from(object) << self.depth);
        } else {
            self.deep.push(object);
        }
        self.depth += 1;
    }

    /// Whether the innermost container is an object; `None` when there is none.
    #[inline]
    fn innermost(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 64 => Some(self.shallow >> (d - 1) & 1 == 1),
            _ => self.deep.last().copied(),
        }
    }

    #[inline]
    fn pop(&mut self) {
        if self.depth > 64 {
            self.deep.pop();
        }
        self.depth -= 1;
    }
}

/// After `{` or `,` in an object: a key and its colon, leaving `at` on the value.
#[inline]
fn key(bytes: &[u8], at: usize) -> Result<usize, Invalid> {
    let at = whitespace(bytes, at);
    if bytes.get(at) != Some(&b'"') {
        return Err(Invalid);
    }
    let mut at = string(bytes, at + 1, &mut false)?;
    // Bodies are mostly compact: `":` then the value, with no whitespace to skip.
    if bytes.get(at) != Some(&b':') {
        at = whitespace(bytes, at);
        if bytes.get(at) != Some(&b':') {
            return Err(Invalid);
        }
    }
    Ok(whitespace(bytes, at + 1))
}

/// Checks the one JSON value that starts at `at` (after any whitespace) and returns the
/// index just after it.
pub(super) fn value(bytes: &[u8], at: usize) -> Result<usize, Invalid> {
    let mut nesting = Nesting::new();
    // Whether the innermost open container is an object; kept beside `nesting` because
    // it is asked after every value.
    let mut in_object = false;
    let mut at = whitespace(bytes, at);
    loop {
        // One value at `at`.
        match bytes.get(at) {
            Some(b'"') => at = string(bytes, at + 1, &mut false)?,
            Some(b'{') => {
                let inside = whitespace(bytes, at + 1);
                if bytes.get(inside) == Some(&b'}') {
                    at = inside + 1;
                } else {
                    nesting.push(true);
                    in_object = true;
                    at = key(bytes, inside)?;
                    continue;
                }
            }
            Some(b'[') => {
                let inside = whitespace(bytes, at + 1);
                if bytes.get(inside) == Some(&b']') {
                    at = inside + 1;
                } else {
                    nesting.push(false);
                    in_object = false;
                    at = inside;
                    continue;
                }
            }
            Some(b'-' | b'0'..=b'9') => at = number(bytes, at)?,
            Some(b't') => at = literal(bytes, at, b"true")?,
            Some(b'f') => at = literal(bytes, at, b"false")?,
            Some(b'n') => at = literal(bytes, at, b"null")?,
            _ => return Err(Invalid),
        }
        // After a value: the next one in its container, or the containers it closes.
        loop {
            if nesting.depth == 0 {
                return Ok(at);
            }
            let mut next = bytes.get(at);
            if let Some(b' ' | b'\n' | b'\t' | b'\r') = next {
                at = whitespace(bytes, at);
                next = bytes.get(at);
            }
            match (next, in_object) {
                (Some(b','), true) => {
                    at = key(bytes, at + 1)?;
                    break;
                }
                (Some(b','), false) => {
                    at = whitespace(bytes, at + 1);
                    break;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    nesting.pop();
                    in_object = nesting.innermost() == Some(true);
                    at += 1;
                }
                _ => return Err(Invalid),
            }
        }
    }
}

/// Whether `bytes` are one JSON value with nothing but whitespace around it.
#[cfg(test)]
pub(super) fn document(bytes: &[u8]) -> bool {
    value(bytes, 0).is_ok_and(|end| whitespace(bytes, end) == bytes.len())
}
