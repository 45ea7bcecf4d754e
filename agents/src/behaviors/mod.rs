//! Agent behaviors, one file each.

mod flocking;
mod random_walk;
mod schelling;
mod vicsek;
mod worker;

pub use flocking::{Bird, Flocking, FlockingModel};
pub use random_walk::RandomWalk;
pub use schelling::{HAPPY, Schelling, Threshold, UNHAPPY};
pub use vicsek::Vicsek;
pub use worker::{Skills, Worker};
