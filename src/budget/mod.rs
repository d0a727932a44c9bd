//! What a request, and the rules, may take from the process: the memory budget every share
//! derives from, the render threads heavy renders run on, the cache of answers to repeated
//! requests, and the allocator that counts what a rule's compile keeps.

pub mod allocation;
pub(crate) mod answer_cache;
pub mod memory;
pub(crate) mod render_pool;
