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

/// The index of the first byte from `at` that is not JSON whitespace (or the end).
#[inline]
pub(super) fn whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// A scan of one body. Inside strings it looks for the bytes that end a plain run (`"`,
/// `\\` and control bytes) 64 at a time, and keeps that window's bitmask: most strings in
/// a request are short, so the next few are found in the same window with a shift.
pub(super) struct Scanner<'b> {
    bytes: &'b [u8],
    /// Where the window starts, how many bytes it covers (64 but at the end), and which of
    /// them end a plain run (bit `i` for `bytes[base + i]`).
    base: usize,
    width: usize,
    mask: u64,
    /// How deep the last value [`Scanner::value`] checked nests: 0 for a scalar.
    pub(super) nested: usize,
}

impl<'b> Scanner<'b> {
    pub(super) fn new(bytes: &'b [u8]) -> Self {
        Scanner {
            bytes,
            base: 0,
            width: 0,
            mask: 0,
            nested: 0,
        }
    }

    /// The body being scanned.
    pub(super) fn bytes(&self) -> &'b [u8] {
        self.bytes
    }

    /// The index of the first `"`, `\` or control byte from `at` (or the end).
    #[inline(always)]
    fn next_special(&mut self, mut at: usize) -> usize {
        loop {
            let offset = at.wrapping_sub(self.base);
            if offset < self.width {
                let rest = self.mask >> offset;
                if rest != 0 {
                    return at + rest.trailing_zeros() as usize;
                }
                at = self.base + self.width;
            }
            if at >= self.bytes.len() {
                return self.bytes.len();
            }
            self.fill(at);
        }
    }

    /// Moves the window to start at `at`, which is inside the body.
    fn fill(&mut self, at: usize) {
        self.base = at;
        match self.bytes.get(at..at + 64) {
            Some(block) => {
                self.width = 64;
                self.mask = block_mask(block);
            }
            None => {
                let tail = &self.bytes[at..];
                self.width = tail.len();
                self.mask = bytewise_mask(tail);
            }
        }
    }

    /// The end of a string whose opening quote is just before `at`: the index after its
    /// closing quote. `escaped` is set when it holds an escape.
    #[inline(always)]
    pub(super) fn string(&mut self, mut at: usize, escaped: &mut bool) -> Result<usize, Invalid> {
        loop {
            at = self.next_special(at);
            match self.bytes.get(at) {
                Some(b'"') => return Ok(at + 1),
                Some(b'\\') => {
                    *escaped = true;
                    at = escape(self.bytes, at + 1)?;
                }
                _ => return Err(Invalid),
            }
        }
    }
}

/// Bit `i` set where `bytes[i]` (at most 64) is `"`, `\\` or a control byte, a byte at a
/// time: the end of a body, and the whole window where SSE2 is not to be had.
fn bytewise_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(64)
        .enumerate()
        .filter(|(_, &b)| b == b'"' || b == b'\\' || b < 0x20)
        .fold(0, |mask, (i, _)| mask | 1 << i)
}

/// Bit `i` set where `block[i]` (of 64 bytes) is `"`, `\\` or a control byte: SSE2, which
/// every x86-64 processor has, 16 bytes to a comparison.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn block_mask(block: &[u8]) -> u64 {
    #[allow(unsafe_code)]
    // SAFETY: this is compiled only where SSE2 is enabled for the whole build.
    unsafe {
        block_mask_sse2(block)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn block_mask_sse2(block: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let control = _mm_set1_epi8(0x1f);
    let mut mask = 0;
    for (i, chunk) in block.chunks_exact(16).take(4).enumerate() {
        #[allow(unsafe_code)]
        // SAFETY: `chunk` is 16 readable bytes, and an unaligned load needs no alignment.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        // A byte is at most 0x1f exactly when the larger of it and 0x1f is 0x1f.
        let below_space = _mm_cmpeq_epi8(_mm_max_epu8(v, control), control);
        let found = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
            below_space,
        );
        mask |= u64::from(_mm_movemask_epi8(found) as u16) << (16 * i);
    }
    mask
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn block_mask(block: &[u8]) -> u64 {
    bytewise_mask(block)
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
pub(super) fn number(bytes: &[u8], mut at: usize) -> Result<usize, Invalid> {
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
pub(super) fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Result<usize, Invalid> {
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
    /// The most levels open at once.
    deepest: usize,
}

impl Nesting {
    fn new() -> Self {
        Nesting {
            shallow: 0,
            deep: Vec::new(),
            depth: 0,
            deepest: 0,
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
        self.deepest = self.deepest.max(self.depth);
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

impl Scanner<'_> {
    /// After `{` or `,` in an object: a key and its colon, leaving `at` on the value.
    #[inline(always)]
    fn key(&mut self, at: usize) -> Result<usize, Invalid> {
        let bytes = self.bytes;
        let at = whitespace(bytes, at);
        if bytes.get(at) != Some(&b'"') {
            return Err(Invalid);
        }
        let mut at = self.string(at + 1, &mut false)?;
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
    pub(super) fn value(&mut self, at: usize) -> Result<usize, Invalid> {
        let bytes = self.bytes;
        let mut nesting = Nesting::new();
        // Whether the innermost open container is an object; kept beside `nesting` because
        // it is asked after every value.
        let mut in_object = false;
        let mut at = whitespace(bytes, at);
        loop {
            // One value at `at`.
            match bytes.get(at) {
                Some(b'"') => at = self.string(at + 1, &mut false)?,
                Some(b'{') => {
                    let inside = whitespace(bytes, at + 1);
                    if bytes.get(inside) == Some(&b'}') {
                        at = inside + 1;
                    } else {
                        nesting.push(true);
                        in_object = true;
                        at = self.key(inside)?;
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
                    self.nested = nesting.deepest;
                    return Ok(at);
                }
                let mut next = bytes.get(at);
                if let Some(b' ' | b'\n' | b'\t' | b'\r') = next {
                    at = whitespace(bytes, at);
                    next = bytes.get(at);
                }
                match (next, in_object) {
                    (Some(b','), true) => {
                        at = self.key(at + 1)?;
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
}

/// Whether `bytes` are one JSON value with nothing but whitespace around it.
pub(crate) fn document(bytes: &[u8]) -> bool {
    Scanner::new(bytes)
        .value(0)
        .is_ok_and(|end| whitespace(bytes, end) == bytes.len())
}
