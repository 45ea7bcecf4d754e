//! The allocation protocols, one file each; scenarios name them in `allocation`.

mod cbba;
mod contract_net;
mod greedy;
mod messages;
mod optimal;
mod random;
mod response_threshold;
mod ssi_auction;

pub use cbba::{Cbba, CbbaEpoch, CbbaLog, CbbaMode, Insertion};
pub use contract_net::{ContractNet, Managers};
pub use greedy::Greedy;
pub use messages::{AllocMsg, ProtocolStats};
pub use optimal::Optimal;
pub use random::RandomAssignment;
pub use response_threshold::{Learning, ResponseThreshold, ThresholdState};
pub use ssi_auction::{SsiAuction, SsiRule};
