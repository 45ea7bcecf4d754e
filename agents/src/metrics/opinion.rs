//! Opinion dynamics metrics for `gossip`.

use super::sum_by_id;
use crate::behaviors::{Consensus, Opinion};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

fn opinions(world: &mut World) -> Vec<(u32, f64)> {
    let mut q = world.query::<(&AgentId, &Opinion)>();
    q.iter(world).map(|(id, o)| (id.0, o.0)).collect()
}

/// Population variance of the gossiping agents' opinions (NaN without them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpinionVariance {}

impl Metric for OpinionVariance {
    const NAME: &'static str = "opinion_variance";
    const SUMMARY: &'static str = "Variance of gossip opinions (0 at consensus).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut v = opinions(world);
        let n = v.len() as f64;
        if v.is_empty() {
            out.push(f64::NAN);
            return;
        }
        let mean = sum_by_id(&mut v) / n;
        let mut sq: Vec<(u32, f64)> = v.iter().map(|&(id, x)| (id, (x - mean).powi(2))).collect();
        out.push(sum_by_id(&mut sq) / n);
    }
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
