//! `schelling`: Schelling's segregation model on a one-agent-per-cell grid.
//!
//! Each population is a group. An agent is happy when enough of its neighbours (within
//! `radius`, in the world's neighbourhood shape) belong to its own group; an unhappy agent
//! moves to a uniformly random empty cell. As in the classic model and in the ABM frameworks
//! comparison, agents are activated one at a time in a fresh random order every tick, each
//! seeing the moves made before it: this behavior opts into sequential activation inside its
//! own system, with the order drawn from the run's seeded streams.

use agora_engine::prelude::*;
use agora_engine::{GridOccupancy, Obstacles};
use serde::{Deserialize, Serialize};

/// When an agent is happy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Threshold {
    /// At least this many same-group neighbours.
    Count(u32),
    /// At least this fraction of occupied neighbour cells hold the same group (an agent with
    /// no neighbours is happy).
    Fraction(f64),
}

impl Threshold {
    /// Whether `similar` out of `occupied` neighbours makes an agent happy.
    pub fn happy(self, similar: u32, occupied: u32) -> bool {
        match self {
            Threshold::Count(k) => similar >= k,
            Threshold::Fraction(f) => {
                occupied == 0 || f64::from(similar) >= f * f64::from(occupied)
            }
        }
    }
}

/// Scenario: `(behavior: "schelling", count: 500, params: (radius: 1, threshold: Count(3)))`.
#[derive(Component, Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Schelling {
    /// Neighbourhood radius in cells (default 1).
    pub radius: u32,
    /// Happiness threshold (default `Count(3)`).
    pub threshold: Threshold,
}

impl Default for Schelling {
    fn default() -> Self {
        Schelling {
            radius: 1,
            threshold: Threshold::Count(3),
        }
    }
}

/// `AgentState` labels.
pub const UNHAPPY: u32 = 0;
/// `AgentState` label of a happy agent.
pub const HAPPY: u32 = 1;

/// Global stream channel for the activation order and destination draws.
const CHANNEL: u32 = 0x5c_e1;

/// Cell contents for the tick's working copy of the grid.
const EMPTY: u16 = u16::MAX;
const BLOCKED: u16 = u16::MAX - 1;

#[derive(Default)]
struct Scratch {
    cell_group: Vec<u16>,
    agents: Vec<(u32, Entity, u16, GridCell, Schelling)>,
    order: Vec<usize>,
    empties: Vec<u32>,
    slot_of: Vec<u32>,
    neighbors: Vec<(u32, GridNeighbors)>,
    moved: Vec<(GridCell, GridCell, u32)>,
    happy: Vec<bool>,
}

impl Behavior for Schelling {
    const NAME: &'static str = "schelling";
    const SUMMARY: &'static str =
        "Schelling segregation: unhappy agents move to a random empty cell.";

    fn build(sim: &mut SimBuilder) {
        sim.add_systems(Phase::Act, relocate);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err("schelling needs a grid world with one agent per cell (`kind: Grid, one_per_cell: true`)".into());
        }
        if self.radius == 0 {
            return Err("`radius` must be at least 1".into());
        }
        if let Threshold::Fraction(f) = self.threshold
            && !(0.0..=1.0).contains(&f)
        {
            return Err(format!(
                "`threshold: Fraction({f})` must be between 0 and 1"
            ));
        }
        Ok(())
    }
}

fn relocate(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    space: Res<Space>,
    obstacles: Res<Obstacles>,
    mut occupancy: ResMut<GridOccupancy>,
    mut agents: Query<(
        Entity,
        &AgentId,
        &Population,
        &mut GridCell,
        &mut AgentState,
        &Schelling,
    )>,
    mut scratch: bevy_ecs::system::Local<Scratch>,
) {
    let s = &mut *scratch;
    let width = occupancy.width();
    let cells = space.cell_count();
    let index = |c: GridCell| (c.y * width + c.x) as usize;

    s.agents.clear();
    s.agents.extend(
        agents
            .iter()
            .map(|(e, id, pop, cell, _, params)| (id.0, e, pop.0, *cell, *params)),
    );
    s.agents.sort_unstable_by_key(|a| a.0);

    // Working copy of the grid: group per cell; cells held by other behaviors' agents count
    // as occupied by a different group.
    s.cell_group.clear();
    s.cell_group.resize(cells, EMPTY);
    for i in 0..cells {
        let c = occupancy.cell_at(i);
        if obstacles.is_blocked(c) {
            s.cell_group[i] = BLOCKED;
        } else if occupancy.occupant(c).is_some() {
            s.cell_group[i] = BLOCKED - 1;
        }
    }
    for a in &s.agents {
        s.cell_group[index(a.3)] = a.2;
    }
    s.empties.clear();
    s.slot_of.clear();
    s.slot_of.resize(cells, u32::MAX);
    for i in 0..cells {
        if s.cell_group[i] == EMPTY {
            s.slot_of[i] = s.empties.len() as u32;
            s.empties.push(i as u32);
        }
    }
    // Params never change during a run, so the neighbourhoods are built on the first tick.
    for a in &s.agents {
        if !s.neighbors.iter().any(|(r, _)| *r == a.4.radius) {
            s.neighbors.push((
                a.4.radius,
                GridNeighbors::new(&space, a.4.radius, space.neighborhood),
            ));
        }
    }

    let mut r = rng.global(CHANNEL, tick.0, Purpose::ACTIVATION);
    s.order.clear();
    s.order.extend(0..s.agents.len());
    for i in (1..s.order.len()).rev() {
        let j = r.below(i as u64 + 1) as usize;
        s.order.swap(i, j);
    }

    s.moved.clear();
    s.happy.clear();
    s.happy.resize(s.agents.len(), false);
    for k in 0..s.order.len() {
        let ai = s.order[k];
        let (_, _, group, cell, params) = s.agents[ai];
        let hood = &s
            .neighbors
            .iter()
            .find(|(r, _)| *r == params.radius)
            .expect("built above")
            .1;
        let (mut similar, mut occupied) = (0u32, 0u32);
        for n in hood.of(cell) {
            let g = s.cell_group[index(n)];
            if g != EMPTY && g != BLOCKED {
                occupied += 1;
                similar += u32::from(g == group);
            }
        }
        s.happy[ai] = params.threshold.happy(similar, occupied);
        if s.happy[ai] || s.empties.is_empty() {
            continue;
        }
        let pick = r.below(s.empties.len() as u64) as usize;
        let dest = s.empties[pick] as usize;
        let from = index(cell);
        // The vacated cell takes the destination's place in the empty list.
        s.empties[pick] = from as u32;
        s.slot_of[from] = pick as u32;
        s.slot_of[dest] = u32::MAX;
        s.cell_group[dest] = group;
        s.cell_group[from] = EMPTY;
        let to = occupancy.cell_at(dest);
        s.moved.push((cell, to, s.agents[ai].0));
        s.agents[ai].3 = to;
    }
    for &(from, _, _) in &s.moved {
        occupancy.vacate(from);
    }
    for (ai, a) in s.agents.iter().enumerate() {
        if let Ok((_, _, _, mut cell, mut state, _)) = agents.get_mut(a.1) {
            if *cell != a.3 {
                *cell = a.3;
            }
            state.0 = if s.happy[ai] { HAPPY } else { UNHAPPY };
        }
    }
    for &(_, to, who) in &s.moved {
        let _ = occupancy.place(to, who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(Threshold::Count(3).happy(3, 8));
        assert!(!Threshold::Count(3).happy(2, 2));
        assert!(Threshold::Fraction(0.5).happy(2, 4));
        assert!(!Threshold::Fraction(0.5).happy(1, 4));
        assert!(
            Threshold::Fraction(0.9).happy(0, 0),
            "no neighbours: content"
        );
    }
}
