//! Agent behaviors, one file each.

mod flocking;
mod random_walk;
mod schelling;

pub use flocking::{Bird, Flocking, FlockingModel};
pub use random_walk::RandomWalk;
pub use schelling::{HAPPY, Schelling, Threshold, UNHAPPY};
