//! Task allocation: the pure algorithms (optimal assignment, greedy, insertion heuristics,
//! sequential single-item auctions, CBBA) and the protocols built on them, which scenarios
//! select by name in their `allocation` section.

pub mod cbba;
pub mod centralized;
pub mod common;
pub mod greedy;
pub mod insertion;
pub mod lap;
pub mod metrics;
pub mod protocols;
pub mod ssi;

pub use metrics::TaskAllocation;
pub use protocols::{
    AllocMsg, Cbba, ContractNet, Greedy, Optimal, ProtocolStats, RandomAssignment,
    ResponseThreshold, SsiAuction,
};
