//! Schelling segregation metrics, computed from the current configuration.

use crate::behaviors::Schelling;
use agora_engine::GridOccupancy;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// For every Schelling agent: (same-group neighbours, occupied neighbour cells, its params).
fn neighbour_counts(world: &mut World) -> Option<Vec<(u32, u32, u32, Schelling)>> {
    let mut q = world.query::<(&AgentId, &Population, &GridCell, &Schelling)>();
    let world = &*world;
    let space = world.resource::<Space>();
    let occupancy = world.get_resource::<GridOccupancy>()?;
    let mut agents: Vec<_> = q
        .iter(world)
        .map(|(id, pop, cell, params)| (id.0, pop.0, *cell, *params))
        .collect();
    if agents.is_empty() {
        return None;
    }
    agents.sort_unstable_by_key(|a| a.0);
    // Ids are dense (spawn order), so a table indexed by id beats a map: the lookup runs
    // once per neighbouring cell of every agent.
    let max_id = agents.last().map_or(0, |a| a.0 as usize);
    let mut group_of = vec![None; max_id + 1];
    for a in &agents {
        group_of[a.0 as usize] = Some(a.1);
    }
    let mut hoods: Vec<(u32, GridNeighbors)> = Vec::new();
    let mut rows = Vec::with_capacity(agents.len());
    for (id, group, cell, params) in agents {
        if !hoods.iter().any(|(r, _)| *r == params.radius) {
            hoods.push((
                params.radius,
                GridNeighbors::new(space, params.radius, space.neighborhood),
            ));
        }
        let hood = &hoods.iter().find(|(r, _)| *r == params.radius)?.1;
        let (mut similar, mut occupied) = (0, 0);
        for n in hood.of(cell) {
            if let Some(other) = occupancy.occupant(n) {
                occupied += 1;
                similar += u32::from(group_of.get(other as usize) == Some(&Some(group)));
            }
        }
        rows.push((id, similar, occupied, params));
    }
    Some(rows)
}

/// Fraction of Schelling agents that are happy where they stand now. NaN without Schelling
/// agents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FractionHappy {}

impl Metric for FractionHappy {
    const NAME: &'static str = "fraction_happy";
    const SUMMARY: &'static str = "Schelling: fraction of agents whose threshold is met now.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        out.push(neighbour_counts(world).map_or(f64::NAN, |rows| {
            let happy = rows
                .iter()
                .filter(|(_, s, o, p)| p.threshold.happy(*s, *o))
                .count();
            happy as f64 / rows.len() as f64
        }));
    }
}

/// Mean over Schelling agents with at least one neighbour of (same-group neighbours /
/// occupied neighbour cells): the usual "percent similar" segregation index.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanSimilarFraction {}

impl Metric for MeanSimilarFraction {
    const NAME: &'static str = "mean_similar_fraction";
    const SUMMARY: &'static str =
        "Schelling: mean fraction of an agent's neighbours in its own group.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        out.push(neighbour_counts(world).map_or(f64::NAN, |rows| {
            let fractions: Vec<f64> = rows
                .iter()
                .filter(|(_, _, o, _)| *o > 0)
                .map(|(_, s, o, _)| f64::from(*s) / f64::from(*o))
                .collect();
            if fractions.is_empty() {
                f64::NAN
            } else {
                fractions.iter().sum::<f64>() / fractions.len() as f64
            }
        }));
    }
}
