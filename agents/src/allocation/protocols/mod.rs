//! The allocation protocols, one file each; scenarios name them in `allocation`.

mod greedy;
mod optimal;
mod random;
mod response_threshold;

pub use greedy::Greedy;
pub use optimal::Optimal;
pub use random::RandomAssignment;
pub use response_threshold::{Learning, ResponseThreshold, ThresholdState};
