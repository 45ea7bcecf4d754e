//! `worker`: an agent that does tasks. It carries the engine's [`Worker`] component (skills,
//! speed, capacity) and nothing else: the scenario's allocation protocol decides what it
//! claims, and the engine moves it to its tasks and works them.

use agora_engine::prelude::*;
use agora_engine::task::{SkillSet, TaskBoard, Worker as TaskWorker};
use serde::{Deserialize, Serialize};

/// Which skills each worker of the population has, out of the scenario's `tasks.skills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Skills {
    /// Every skill.
    #[default]
    All,
    /// Exactly these.
    Fixed(Vec<u32>),
    /// `k` consecutive skills starting at `id mod skills` (wrapping), so skills are spread
    /// evenly over the population.
    Cycle(u32),
    /// `k` distinct skills drawn at random per agent.
    Random(u32),
}

/// Scenario: `(behavior: "worker", count: 50, params: (skills: Cycle(1), speed: 1.0))`.
#[derive(Component, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Worker {
    /// Skills (default `All`).
    pub skills: Skills,
    /// Distance travelled per tick (default 1.0).
    pub speed: f64,
    /// Tasks held at once: 1 does one task at a time; more queues tasks for time-extended
    /// assignment (default 1).
    pub capacity: u32,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            skills: Skills::All,
            speed: 1.0,
            capacity: 1,
        }
    }
}

impl Behavior for Worker {
    const NAME: &'static str = "worker";
    const SUMMARY: &'static str =
        "Does tasks: skills, speed and capacity; the allocation protocol decides which.";

    fn build(_: &mut SimBuilder) {}

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Continuous {
            return Err("worker needs a continuous world (`kind: Continuous`)".into());
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(format!(
                "`speed` must be a positive number, got {}",
                self.speed
            ));
        }
        if self.capacity == 0 {
            return Err("`capacity` must be at least 1".into());
        }
        match &self.skills {
            Skills::Fixed(list) if list.iter().any(|&s| s >= 32) => {
                Err("`skills`: skills are numbered 0 to 31".into())
            }
            Skills::Cycle(0) | Skills::Random(0) => {
                Err("`skills`: a worker needs at least one skill".into())
            }
            _ => Ok(()),
        }
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let n = agent
            .world_mut()
            .get_resource::<TaskBoard>()
            .map_or(1, TaskBoard::skill_count)
            .max(1);
        let id = agent.id();
        let skills = match &self.skills {
            Skills::All => SkillSet::first(n),
            Skills::Fixed(list) => SkillSet::from_skills(list.iter().copied()),
            Skills::Cycle(k) => SkillSet::from_skills((0..(*k).min(n)).map(|j| (id + j) % n)),
            Skills::Random(k) => {
                let mut all: Vec<u32> = (0..n).collect();
                let k = (*k).min(n) as usize;
                for i in 0..k {
                    let j = i + agent.rng().below((all.len() - i) as u64) as usize;
                    all.swap(i, j);
                }
                SkillSet::from_skills(all[..k].iter().copied())
            }
        };
        agent.insert(TaskWorker::new(skills, self.speed, self.capacity));
    }
}
