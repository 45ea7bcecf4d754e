//! Agent behaviors, one file each.

mod flocking;
mod forager;
mod gossip;
mod random_walk;
mod schelling;

pub use flocking::{Flocking, FlockingModel};
pub use forager::{Act, Ant, Colony, FoodAt, FoodPatch, Forager, WAITING, default_domain};
pub use gossip::{Consensus, Fanout, Gossip, LISTENED, Opinion, OpinionModel};
pub use random_walk::RandomWalk;
pub use schelling::{HAPPY, Schelling, Threshold, UNHAPPY};
