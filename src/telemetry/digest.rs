//! SHA-256 as lowercase hex: rule content hashes (shown in `/rules`, compared across reloads)
//! and response ETags.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes (at most 32) of the SHA-256 of `data`, as lowercase hex.
pub(crate) fn sha256_hex(data: &[u8], bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    push_sha256_hex(&mut out, data, bytes);
    out
}

/// As [`sha256_hex`], appended to `out`: an ETag is built in one allocation on every answer.
pub(crate) fn push_sha256_hex(out: &mut String, data: &[u8], bytes: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    for b in digest.iter().take(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_digest_of_abc() {
        assert_eq!(
            sha256_hex(b"abc", 32),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"abc", 4), "ba7816bf");
    }
}
