//! Planning: generic search and ordering primitives with no knowledge of any agent behavior
//! (behaviors decide *what* to plan for; these modules decide *how*), and the ECS glue that
//! gives agents a plan.
//!
//! - [`grid`]: grid maps, A* with reusable scratch, path following with replanning, and
//!   space-time A* for prioritised multi-agent path finding.
//! - [`goap`]: goal-oriented action planning over up to 64 boolean facts.
//! - [`route`]: visiting order for several targets (nearest neighbour then 2-opt).
//! - [`movingai`]: parsers for the MovingAI `.map` and `.scen` benchmark formats.
//! - [`PlanQueue`]: the per-agent plan component (a queue of steps and the goal it serves)
//!   with replanning triggers; goals with no plan are recorded in the journal.
//! - [`PathCache`]: shared A* results towards a fixed goal, so that many agents heading to
//!   the same place (a nest, a depot) reuse one another's searches.
//!
//! ```
//! use agora_engine::planning::grid::{AstarScratch, Connectivity, GridMap, astar};
//!
//! let mut map = GridMap::new(5, 5).unwrap();
//! for y in 0..4 {
//!     map.set_passable((2, y), false).unwrap();
//! }
//! let path = astar(&map, (0, 0), (4, 0), Connectivity::Four, &mut AstarScratch::new()).unwrap();
//! assert_eq!(path.cost, 12.0);
//! ```

pub mod goap;
pub mod grid;
pub mod movingai;
mod paths;
mod plan;
pub mod route;

pub use paths::{PathCache, grid_map};
pub use plan::{PlanQueue, ReplanPolicy, ReplanReason};
