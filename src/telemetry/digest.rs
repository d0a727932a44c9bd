//! Hashes as lowercase hex: SHA-256 for rule content hashes (shown in `/rules`, compared
//! across reloads) and the names of recorded requests; the digits of any hash, for ETags.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes (at most 32) of the SHA-256 of `data`, as lowercase hex.
pub(crate) fn sha256_hex(data: &[u8], bytes: usize) -> String {
    let digest = Sha256::digest(data);
    let digest = &digest[..bytes.min(digest.len())];
    let mut out = String::with_capacity(digest.len() * 2);
    push_hex(&mut out, digest);
    out
}

/// Appends `bytes` to `out` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.extend(hex_pair(b).map(char::from));
    }
}

/// The two lowercase hex digits of `byte`.
pub(crate) fn hex_pair(byte: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]
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
