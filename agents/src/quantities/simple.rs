//! Quantities read straight from one engine component.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// `speed`: `|velocity|` in world units per tick, for agents with a [`Velocity`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Speed;

impl AgentQuantity for Speed {
    const NAME: &'static str = "speed";
    const SUMMARY: &'static str = "Length of the agent's velocity (world units per tick).";

    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        let mut q = world.query::<(&AgentId, &Velocity)>();
        out.extend(q.iter(world).map(|(id, v)| (id.0, v.0.length())));
    }
}

/// `state`: the behavior's [`AgentState`] label as a number.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State;

impl AgentQuantity for State {
    const NAME: &'static str = "state";
    const SUMMARY: &'static str = "The behavior's state label (an integer).";

    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        let mut q = world.query::<(&AgentId, &AgentState)>();
        out.extend(q.iter(world).map(|(id, s)| (id.0, f64::from(s.0))));
    }
}

/// `opinion`: the agent's [`Opinion`], for agents that hold one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpinionValue;

impl AgentQuantity for OpinionValue {
    const NAME: &'static str = "opinion";
    const SUMMARY: &'static str = "The agent's opinion (behaviors with opinion dynamics).";

    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        let mut q = world.query::<(&AgentId, &Opinion)>();
        out.extend(q.iter(world).map(|(id, o)| (id.0, o.0)));
    }
}

/// `work`: total units of work in the agent's [`TaskTally`] (task subsystems).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Work;

impl AgentQuantity for Work {
    const NAME: &'static str = "work";
    const SUMMARY: &'static str = "Units of work the agent has done, all task kinds together.";

    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        let mut q = world.query::<(&AgentId, &TaskTally)>();
        out.extend(q.iter(world).map(|(id, t)| (id.0, t.total())));
    }
}
