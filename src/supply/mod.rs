//! The rule supply: rule files in, the served rule set out. `load` reads a directory (the one
//! reader every command shares), `ruleset` merges what it read into the set serving now
//! (keeping last good versions, charging each rule's memory), and `watch` notices changes and
//! swaps the new set in.

pub mod load;
pub mod ruleset;
pub mod watch;
