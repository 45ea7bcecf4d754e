//! Agent behaviors, one file each.

mod flocking;
mod forager;
mod gossip;
mod random_walk;
mod schelling;
mod vicsek;
mod worker;

pub use flocking::{Bird, Flocking, FlockingModel};
pub use forager::{Act, Ant, Colony, FoodAt, FoodPatch, Forager, WAITING, default_domain};
pub use gossip::{Consensus, Fanout, Gossip, LISTENED, OpinionModel, Said};
pub use random_walk::RandomWalk;
pub use schelling::{HAPPY, Schelling, Threshold, UNHAPPY};
pub use vicsek::Vicsek;
pub use worker::{Skills, Worker};
