//! `gossip`: opinion dynamics over the communication topology, with the channel's latency
//! and loss in the way.
//!
//! Every tick each agent (with probability `rate`) tells its current opinion to one random
//! neighbour (`fanout: One`) or to all of them (`All`), as an `inform` message. When
//! messages arrive it updates its opinion:
//!
//! * `Averaging` (DeGroot-style pairwise averaging): `x <- x + weight * (mean heard - x)`.
//!   Opinions start uniform in `[0, 1)`; consensus is reached when the spread (max - min)
//!   is at most `tolerance`.
//! * `Voter` (the voter model): adopt the opinion of one heard message chosen at random.
//!   Opinions start uniform over `0..options`; consensus is everyone agreeing.
//!
//! The tick consensus is first reached is kept in [`Consensus`] and reported by the
//! `consensus_tick` metric; `opinion_variance` and `opinion_spread` track the approach.
//! Sweeping `comms.topology` and `comms.loss` shows how network structure and unreliable
//! links slow consensus down.

use agora_engine::prelude::*;
use bevy_ecs::prelude::ResMut;
use serde::{Deserialize, Serialize};

/// How heard opinions change an agent's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OpinionModel {
    /// Move towards the mean of what was heard.
    #[default]
    Averaging,
    /// Copy one heard opinion at random.
    Voter,
}

/// Whom an agent tells each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Fanout {
    /// One neighbour chosen at random (push gossip).
    #[default]
    One,
    /// Every neighbour (a broadcast).
    All,
}

/// Scenario: `(behavior: "gossip", count: 200, params: (model: Averaging, weight: 0.5))`.
#[derive(Component, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gossip {
    /// `Averaging` (default) or `Voter`.
    pub model: OpinionModel,
    /// `One` random neighbour per tick (default) or `All` neighbours.
    pub fanout: Fanout,
    /// Probability of speaking in a tick (default 1.0).
    pub rate: f64,
    /// Averaging: how far towards the heard mean an agent moves, in `(0, 1]` (default 0.5).
    pub weight: f64,
    /// Voter: number of distinct opinions at the start (default 2).
    pub options: u32,
    /// Averaging: spread (max - min) at or below which opinions count as agreed (default
    /// 0.01).
    pub tolerance: f64,
}

impl Default for Gossip {
    fn default() -> Self {
        Gossip {
            model: OpinionModel::Averaging,
            fanout: Fanout::One,
            rate: 1.0,
            weight: 0.5,
            options: 2,
            tolerance: 0.01,
        }
    }
}

/// The payload of gossip messages: the sender's opinion when it spoke. Agents hold their
/// own view in the engine's [`Opinion`] component, which generic opinion metrics read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Said(pub f64);

/// When the gossiping agents first agreed (`None` until then), and their spread now.
#[derive(Resource, Debug, Clone, Default)]
pub struct Consensus {
    /// The first tick (as a completed-tick count, like metric rows) at which they agreed.
    pub reached_at: Option<u64>,
    /// Max minus min opinion after the latest tick.
    pub spread: f64,
}

impl DigestState for Consensus {
    fn digest(&self, h: &mut StableHasher) {
        self.reached_at.digest(h);
    }
}

/// `AgentState` label: the agent heard something this tick.
pub const LISTENED: u32 = 1;

impl Behavior for Gossip {
    const NAME: &'static str = "gossip";
    const SUMMARY: &'static str =
        "Opinion dynamics (averaging or voter model) by messages over the comms topology.";

    fn build(sim: &mut SimBuilder) {
        sim.messaging::<Said>(Self::NAME)
            .init_resource::<Consensus>()
            .digest_component::<Opinion>()
            .digest_resource::<Consensus>()
            .add_systems(Phase::Decide, talk)
            .add_systems(Phase::Environment, check_consensus);
    }

    fn validate(&self, _ctx: &ValidateCtx) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!(
                "`rate` is a probability in [0, 1], got {}",
                self.rate
            ));
        }
        if !(self.weight > 0.0 && self.weight <= 1.0) {
            return Err(format!("`weight` must be in (0, 1], got {}", self.weight));
        }
        if self.options < 2 {
            return Err(format!(
                "`options` must be at least 2, got {}",
                self.options
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(format!(
                "`tolerance` must be a non-negative number, got {}",
                self.tolerance
            ));
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let x = match self.model {
            OpinionModel::Averaging => agent.rng().unit_f64(),
            OpinionModel::Voter => agent.rng().below(u64::from(self.options)) as f64,
        };
        agent.insert(Opinion(x));
    }
}

type Talker<'a> = (
    &'a AgentId,
    &'a Gossip,
    &'a mut Opinion,
    &'a mut AgentState,
    &'a mut Mailbox<Said>,
    &'a mut Outbox<Said>,
);

/// Listen, update, speak: each agent touches only its own state, mailbox and outbox, and
/// draws from its own stream, so the result is the same at any thread count.
fn talk(tick: Res<Tick>, rng: Res<SimRng>, bus: Res<Bus<Said>>, mut agents: Query<Talker<'_>>) {
    agents
        .par_iter_mut()
        .for_each(|(id, p, mut opinion, mut state, mut inbox, mut outbox)| {
            let mut r = rng.agent(id.0, tick.0, Purpose::DECIDE);
            let heard = inbox.len();
            if heard > 0 {
                match p.model {
                    OpinionModel::Averaging => {
                        let mean = inbox.iter().map(|m| m.payload.0).sum::<f64>() / heard as f64;
                        opinion.0 += p.weight * (mean - opinion.0);
                    }
                    OpinionModel::Voter => {
                        let pick = r.below(heard as u64) as usize;
                        if let Some(m) = inbox.iter().nth(pick) {
                            opinion.0 = m.payload.0;
                        }
                    }
                }
                inbox.clear();
            }
            let listened = if heard > 0 { LISTENED } else { 0 };
            if state.0 != listened {
                state.0 = listened;
            }
            if p.rate < 1.0 && r.unit_f64() >= p.rate {
                return;
            }
            match p.fanout {
                Fanout::One => {
                    if let Some(to) = bus.random_neighbor(id.0, &mut r) {
                        outbox.tell(to, Performative::Inform, Said(opinion.0));
                    }
                }
                Fanout::All => {
                    outbox.broadcast(Performative::Inform, Said(opinion.0));
                }
            }
        });
}

fn check_consensus(
    tick: Res<Tick>,
    mut consensus: ResMut<Consensus>,
    agents: Query<(&Gossip, &Opinion)>,
) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut tolerance = 0.0f64;
    let mut voter = false;
    for (p, o) in &agents {
        lo = lo.min(o.0);
        hi = hi.max(o.0);
        tolerance = tolerance.max(p.tolerance);
        voter |= p.model == OpinionModel::Voter;
    }
    let spread = if lo <= hi { hi - lo } else { 0.0 };
    consensus.spread = spread;
    let agreed = if voter {
        spread == 0.0
    } else {
        spread <= tolerance
    };
    if agreed && consensus.reached_at.is_none() {
        consensus.reached_at = Some(tick.0 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> (Sim, RunSummary) {
        let registry = crate::registry();
        let scenario = Scenario::parse(src, "test", &registry).unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
        sim.run().unwrap();
        let summary = sim.finish().unwrap();
        (sim, summary)
    }

    use agora_engine::RunSummary;

    #[test]
    fn averaging_on_a_complete_graph_reaches_consensus_and_keeps_opinions_in_range() {
        let (sim, _) = run(r#"#![enable(implicit_some)]
(schema: 1, seed: 3, ticks: 200, world: (width: 10.0, height: 10.0),
                populations: [(behavior: "gossip", count: 50)])"#);
        let c = sim.world().resource::<Consensus>();
        assert!(c.reached_at.is_some(), "spread {}", c.spread);
        let counters = agora_engine::comms::counters(sim.world());
        assert!(counters.balanced());
        assert_eq!(counters.dropped_total(), 0);
    }

    #[test]
    fn the_voter_model_on_a_ring_ends_in_one_opinion() {
        let (sim, _) = run(r#"#![enable(implicit_some)]
(schema: 1, seed: 5, ticks: 3000, world: (width: 10.0, height: 10.0),
                comms: (topology: Ring),
                stop: (metric: "opinion_spread", op: Le, value: 0.0),
                populations: [(behavior: "gossip", count: 12, params: (model: Voter))])"#);
        let c = sim.world().resource::<Consensus>();
        assert_eq!(c.spread, 0.0);
        assert!(c.reached_at.is_some());
    }
}
