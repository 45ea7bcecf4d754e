//! `stream`: keep stepping in one direction along a lane of a torus grid (traffic through a
//! crossroads), through intents.
//!
//! Every tick the agent wants the next cell in its direction; the engine decides who enters a
//! contested cell. A full lap (the grid's width or height in moves) counts a trip
//! ([`Trips`]), so trips per tick is the stream's throughput. A deadlock victim holds still
//! for `backoff` ticks. Its [`Urgency`] is the number of ticks it has been waiting.

use super::Trips;
use agora_engine::prelude::*;
use agora_engine::{DigestState, StableHasher};
use serde::{Deserialize, Serialize};

/// Scenario: `(behavior: "stream", count: 10, params: (direction: (1, 0)))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stream {
    /// The step taken each tick, one of the four unit vectors (default `(1, 0)`: east).
    pub direction: (i32, i32),
    /// Ticks a deadlock victim holds still (default 2).
    pub backoff: u32,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            direction: (1, 0),
            backoff: 2,
        }
    }
}

/// A stream agent's state.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Lane {
    /// Moves made.
    pub moves: u64,
    /// Ticks waited in a row.
    pub waited: u32,
    /// Ticks of holding still left.
    pub holding: u32,
}

impl DigestState for Lane {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(self.moves);
        h.write_u64(u64::from(self.waited));
        h.write_u64(u64::from(self.holding));
    }
}

impl Behavior for Stream {
    const NAME: &'static str = "stream";
    const SUMMARY: &'static str = "Step in one direction along a torus lane; laps count as trips.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.digest_component::<Lane>()
            .digest_component::<Trips>()
            .add_systems(Phase::Decide, flow);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err("stream needs a grid world with one agent per cell".into());
        }
        if !matches!(self.direction, (1, 0) | (-1, 0) | (0, 1) | (0, -1)) {
            return Err(format!(
                "`direction` must be one of (1, 0), (-1, 0), (0, 1), (0, -1), got {:?}",
                self.direction
            ));
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        agent.insert((
            Intent::default(),
            Urgency::default(),
            Trips::default(),
            Lane::default(),
        ));
    }
}

fn flow(
    tick: Res<Tick>,
    space: Res<Space>,
    mut agents: Query<(
        &Stream,
        &mut Lane,
        &GridCell,
        &Outcome,
        &mut Intent,
        &mut Trips,
        &mut Urgency,
    )>,
) {
    let (w, h) = (space.width as u64, space.height as u64);
    agents.par_iter_mut().for_each(
        |(params, mut lane, cell, outcome, mut intent, mut trips, mut urgency)| {
            let lap = if params.direction.0 != 0 { w } else { h };
            match outcome.movement {
                Ruling::Granted => {
                    lane.moves += 1;
                    lane.waited = 0;
                    if lane.moves.is_multiple_of(lap) {
                        trips.count(tick.0);
                    }
                }
                Ruling::Lost { .. } | Ruling::Blocked { .. } => lane.waited += 1,
                _ => {}
            }
            if outcome.victim.is_some() {
                lane.holding = params.backoff;
            }
            urgency.0 = f64::from(lane.waited);
            let to = if lane.holding > 0 {
                lane.holding -= 1;
                None
            } else {
                Some(GridCell::new(
                    cell.x + params.direction.0,
                    cell.y + params.direction.1,
                ))
            };
            if intent.to != to {
                intent.to = to;
            }
        },
    );
}
