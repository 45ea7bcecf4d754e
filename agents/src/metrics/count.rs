//! `agent_count`.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Number of agents alive.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCount {}

impl Metric for AgentCount {
    const NAME: &'static str = "agent_count";
    const SUMMARY: &'static str = "Number of agents alive.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<&AgentId>();
        out.push(q.iter(world).count() as f64);
    }
}
