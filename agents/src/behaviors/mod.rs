//! Agent behaviors, one file each.

mod charger;
mod claimer;
mod commuter;
mod flocking;
mod forager;
mod gossip;
pub mod nav;
mod random_walk;
mod schelling;
mod stream;
mod vicsek;
mod wayfarer;
mod worker;

pub use charger::{Battery, Charger, ChargerMode, StationChoice};
pub use claimer::{Claimer, Job, JobState, TaskBoard};
pub use commuter::{CellRect, Commute, Commuter, Trips, rect_cells};
pub use flocking::{Bird, Flocking, FlockingModel};
pub use forager::{Act, Ant, Colony, FoodAt, FoodPatch, Forager, WAITING, default_domain};
pub use gossip::{Consensus, Fanout, Gossip, LISTENED, OpinionModel, Said};
pub use random_walk::RandomWalk;
pub use schelling::{HAPPY, Schelling, Threshold, UNHAPPY};
pub use stream::{Lane, Stream};
pub use vicsek::Vicsek;
pub use wayfarer::{Journey, Wayfarer};
pub use worker::{Skills, Worker};
