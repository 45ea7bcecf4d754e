//! `opinion_spread` and `consensus_tick`: the approach to consensus (with
//! `opinion_variance`).

use crate::behaviors::Consensus;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

fn opinions(world: &mut World) -> Vec<(u32, f64)> {
    let mut q = world.query::<(&AgentId, &Opinion)>();
    q.iter(world).map(|(id, o)| (id.0, o.0)).collect()
}

/// Largest minus smallest gossip opinion (NaN without gossiping agents).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpinionSpread {}

impl Metric for OpinionSpread {
    const NAME: &'static str = "opinion_spread";
    const SUMMARY: &'static str = "Max minus min gossip opinion.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let v = opinions(world);
        let lo = v.iter().map(|o| o.1).fold(f64::INFINITY, f64::min);
        let hi = v.iter().map(|o| o.1).fold(f64::NEG_INFINITY, f64::max);
        out.push(if v.is_empty() { f64::NAN } else { hi - lo });
    }
}

/// The tick gossiping agents first reached consensus (NaN until then).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusTick {}

impl Metric for ConsensusTick {
    const NAME: &'static str = "consensus_tick";
    const SUMMARY: &'static str = "Tick of first gossip consensus (NaN until reached).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let at = world.get_resource::<Consensus>().and_then(|c| c.reached_at);
        out.push(at.map_or(f64::NAN, |t| t as f64));
    }
}
