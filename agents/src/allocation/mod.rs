//! Task allocation: the pure algorithms (optimal assignment, greedy, insertion heuristics,
//! sequential single-item auctions, CBBA) and the protocols built on them, which scenarios
//! select by name in their `allocation` section.

pub mod cbba;
pub mod greedy;
pub mod insertion;
pub mod lap;
pub mod ssi;
