//! Strong ETags for answers, and `If-None-Match`: a client that already holds an answer
//! gets 304 instead of its bytes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// A strong ETag: a 128-bit hash of the exact body bytes, the same in every replica and
/// across restarts.
///
/// XXH3 rather than SHA-256: the tag only has to tell one answer from the next for the same
/// parent, and at 10–20 times the speed it is no longer a visible part of a render. A client
/// that forged a collision would only be told its own unchanged answer is current.
///
/// Written into a buffer on the stack, the exact bytes of the header: an ETag is made for
/// every answer.
pub fn etag(body: &[u8]) -> [u8; 34] {
    let mut tag = [b'"'; 34];
    let hash = xxhash_rust::xxh3::xxh3_128(body).to_be_bytes();
    for (digits, b) in tag[1..33].chunks_exact_mut(2).zip(hash) {
        digits.copy_from_slice(&crate::telemetry::digest::hex_pair(b));
    }
    tag
}

/// [`etag`] as a header value.
pub(super) fn header(body: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(&etag(body)).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether the client already holds the answer tagged `tag` (`If-None-Match`).
pub(super) fn client_holds(request: &HttpRequest, tag: &HeaderValue) -> bool {
    let mut held = request.headers().get_all(header::IF_NONE_MATCH).peekable();
    if held.peek().is_none() {
        return false;
    }
    let tag = tag.to_str().unwrap_or_default();
    held.filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

pub(super) fn not_modified(tag: HeaderValue) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, tag))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_the_published_xxh3_128_of_the_body() {
        // Any replica, any version, any restart tags the same answer the same way.
        assert_eq!(&etag(b""), b"\"99aa06d3014798d86001c324468d497f\"");
        assert_ne!(etag(b"{\"a\":1}"), etag(b"{\"a\":2}"));
    }
}
