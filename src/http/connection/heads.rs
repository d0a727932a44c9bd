//! Where request heads end in the bytes a connection reads, so the dispatcher is handed one
//! request at a time.
//!
//! actix decodes every complete request in what it has read into a queue, a kilobyte or two
//! each once decoded: a client that pipelines thousands of small requests behind an answer
//! it does not read would have them all decoded and held. Here the bytes of a head phase are
//! scanned for empty lines (the end of a head, `\r\n\r\n` or `\n\n`); bytes that would
//! complete a second head are held back, to be handed over once the first request is
//! answered. A request's body, read with its head, is counted, so the body still to come is
//! known exactly.

/// The head-reading state of one connection.
#[derive(Debug, Default)]
pub struct Heads {
    /// Bytes read from the socket and not yet handed to the dispatcher.
    held: Vec<u8>,
    /// How much of `held` was handed over already.
    held_from: usize,
    /// The end of this phase's head has been handed over.
    head_complete: bool,
    /// Bytes that would complete another head were held back: hand nothing more over until
    /// the request has arrived.
    next_head_held: bool,
    /// Bytes handed over in this phase before its head's end.
    head_bytes: usize,
    /// Bytes handed over in this phase after its head's end: the start of its body.
    body_bytes: u64,
    /// The last two bytes handed over, for an empty line split across two reads.
    last: [u8; 2],
}

impl Heads {
    /// A new head begins: forget the last one, keep what is held back and the stream's
    /// last bytes.
    pub fn next_head(&mut self) {
        *self = Heads {
            held: std::mem::take(&mut self.held),
            held_from: self.held_from,
            last: self.last,
            ..Heads::default()
        };
    }

    /// Whether nothing more may be handed over until the request arrives.
    pub fn waiting_for_arrival(&self) -> bool {
        self.next_head_held
    }

    /// Whether this phase's head has been handed over whole.
    pub fn head_complete(&self) -> bool {
        self.head_complete
    }

    /// Bytes of this phase's head handed over so far (its end not yet among them).
    pub fn head_bytes(&self) -> usize {
        if self.head_complete {
            0
        } else {
            self.head_bytes
        }
    }

    /// Body bytes handed over with the head.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Bytes held back, to be handed over before anything is read from the socket.
    pub fn held(&self) -> &[u8] {
        &self.held[self.held_from..]
    }

    /// `n` held bytes were handed over.
    pub fn take_held(&mut self, n: usize) {
        self.held_from += n;
    }

    /// Frees what held the bytes once all are handed over.
    pub fn release_drained(&mut self) {
        if self.held_from >= self.held.len() && self.held.capacity() > 0 {
            self.held = Vec::new();
            self.held_from = 0;
        }
    }

    /// `bytes` were just handed over in a head phase: how many of them may stay handed over.
    /// The rest (from the last byte of a second head on) must be given back with
    /// [`Heads::hold_back`] or [`Heads::untake_held`].
    pub fn handed_over(&mut self, bytes: &[u8]) -> usize {
        let mut keep = bytes.len();
        let mut from = 0;
        let mut last = self.last;
        if !self.head_complete {
            match head_end(last, bytes) {
                Some(end) => {
                    self.head_complete = true;
                    self.head_bytes += end;
                    from = end;
                    last = last_two(last, &bytes[..end]);
                }
                None => self.head_bytes += bytes.len(),
            }
        }
        if self.head_complete {
            if let Some(end) = head_end(last, &bytes[from..]) {
                // Keep the second head one byte short of its end: actix cannot decode it.
                keep = from + end - 1;
                self.next_head_held = true;
            }
            self.body_bytes += (keep - from) as u64;
        }
        self.last = last_two(self.last, &bytes[..keep]);
        keep
    }

    /// Keeps `bytes`, read from the socket but not handed over, for later.
    pub fn hold_back(&mut self, bytes: &[u8]) {
        debug_assert!(self.held().is_empty(), "held bytes are handed over first");
        self.held = bytes.to_vec();
        self.held_from = 0;
    }

    /// The last `n` bytes taken from the held ones go back.
    pub fn untake_held(&mut self, n: usize) {
        self.held_from -= n;
    }
}

/// Just past the first empty line's `\n` in `bytes`, the two bytes before them being `last`:
/// the first `\n` followed by `\n` or `\r\n`, or an empty line begun in the previous read.
/// One pass over the line ends, which a compact JSON body has none of.
fn head_end(last: [u8; 2], bytes: &[u8]) -> Option<usize> {
    let split = match bytes {
        [b'\n', ..] if last[1] == b'\n' || last == [b'\n', b'\r'] => Some(1),
        [b'\r', b'\n', ..] if last[1] == b'\n' => Some(2),
        _ => None,
    };
    if split.is_some() {
        return split;
    }
    memchr::memchr_iter(b'\n', bytes).find_map(|i| match &bytes[i + 1..] {
        [b'\n', ..] => Some(i + 2),
        [b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

fn last_two(before: [u8; 2], bytes: &[u8]) -> [u8; 2] {
    match bytes {
        [] => before,
        [one] => [before[1], *one],
        [.., a, b] => [*a, *b],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_and_its_body_are_handed_over_and_the_body_is_counted() {
        let mut heads = Heads::default();
        let request = b"POST /a/sync HTTP/1.1\r\nContent-Length: 4\r\n\r\n{\n\n}";
        // "\n\n" inside the body looks like the end of a second head: held back from its
        // last byte on, harmlessly (it follows once the request has arrived).
        assert_eq!(heads.handed_over(&request[..]), request.len() - 2);
        assert!(heads.waiting_for_arrival());
        assert_eq!(heads.body_bytes(), 2);
        let mut heads = Heads::default();
        let request = b"POST /a/sync HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(heads.handed_over(request), request.len());
        assert!(!heads.waiting_for_arrival());
        assert_eq!((heads.head_bytes(), heads.body_bytes()), (0, 2));
    }

    #[test]
    fn pipelined_heads_are_handed_over_one_at_a_time() {
        let one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let three = [&one[..], one, one].concat();
        let mut heads = Heads::default();
        let keep = heads.handed_over(&three);
        assert_eq!(
            keep,
            2 * one.len() - 1,
            "the second head, short of its last byte"
        );
        assert!(heads.waiting_for_arrival());
        heads.hold_back(&three[keep..]);
        assert_eq!(heads.body_bytes(), one.len() as u64 - 1);
        heads.next_head();
        assert!(!heads.waiting_for_arrival());
        let held = heads.held().to_vec();
        assert_eq!(held.len(), one.len() + 1);
        // The byte completing the second head, then the third, one byte short again.
        heads.take_held(held.len());
        let keep = heads.handed_over(&held);
        assert_eq!(keep, one.len());
        assert!(heads.waiting_for_arrival());
        heads.untake_held(held.len() - keep);
        assert_eq!(heads.held(), b"\n");
    }

    #[test]
    fn the_first_empty_line_ends_the_head_whichever_its_form() {
        assert_eq!(head_end([0, 0], b"a\r\nb\r\n\r\nc\n\nd"), Some(8));
        assert_eq!(head_end([0, 0], b"a\nb\n\nc\r\n\r\nd"), Some(5));
        assert_eq!(head_end([0, 0], b"a\r\nb\r\nc\n"), None);
        assert_eq!(head_end([0, 0], b"{\"a\":1}"), None);
        assert_eq!(head_end([b'\r', b'\n'], b"\r\nx"), Some(2));
    }

    #[test]
    fn an_empty_line_split_across_reads_ends_the_head() {
        let mut heads = Heads::default();
        assert_eq!(heads.handed_over(b"GET / HTTP/1.1\r\nHost: x\r"), 24);
        assert_eq!(heads.head_bytes(), 24);
        assert_eq!(heads.handed_over(b"\n\r"), 2);
        assert_eq!(heads.handed_over(b"\nGET"), 4);
        assert_eq!((heads.head_bytes(), heads.body_bytes()), (0, 3));
        let mut bare = Heads::default();
        assert_eq!(bare.handed_over(b"GET / HTTP/1.1\n"), 15);
        assert_eq!(bare.handed_over(b"\n"), 1);
        assert_eq!(bare.head_bytes(), 0, "a bare \\n\\n ends a head too");
    }
}
