//! What the server tells the outside: Prometheus metrics, log lines (formatted so request
//! data cannot forge them, and written off the request path), the requests `--record` keeps,
//! and the digests that name answers and files.

pub(crate) mod digest;
pub mod failures;
pub mod log_format;
pub mod log_writer;
pub(crate) mod metrics;
pub mod record;
