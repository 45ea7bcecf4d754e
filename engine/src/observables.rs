//! Components through which subsystems make their state observable to generic metrics.
//!
//! The engine defines them so that a metric and the behavior it measures need not know each
//! other: an opinion-dynamics behavior (gossip, voter, bounded confidence) keeps each agent's
//! view in an [`Opinion`], and `opinion_variance` or a consensus detector works on it; a task
//! subsystem counts each agent's work per task kind in a [`TaskTally`], and the
//! division-of-labour metric reads it. A metric reports NaN while no agent carries the
//! component.

use bevy_ecs::prelude::Component;

/// An agent's opinion on one issue, a real number (usually in `[0, 1]`, or `-1`/`1` for
/// binary votes). Agents with opinions on several issues carry one per issue population, or
/// the behavior exposes each issue as an [`crate::AgentQuantity`].
///
/// Contract for behaviors: insert it at spawn for every agent that holds an opinion, update
/// it in `Act` (opinions read in `Decide` are the previous tick's), never remove it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Default)]
pub struct Opinion(pub f64);

/// Work an agent has done, per task kind: `counts[k]` units of kind `k` (completed tasks,
/// ticks spent, or effort; one unit per subsystem, documented there). Kinds are small
/// integers `0..K` chosen by the task subsystem.
///
/// Contract for task subsystems: insert it at spawn (or on first work), increase counts in
/// `Act` with [`TaskTally::add`]; metrics read the totals since the start of the run.
#[derive(Component, Debug, Clone, PartialEq, Default)]
pub struct TaskTally {
    /// Units of work done, indexed by task kind.
    pub counts: Vec<f64>,
}

impl TaskTally {
    /// Adds `amount` units of work of kind `kind`.
    pub fn add(&mut self, kind: usize, amount: f64) {
        if self.counts.len() <= kind {
            self.counts.resize(kind + 1, 0.0);
        }
        self.counts[kind] += amount;
    }

    /// Total units of work.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }
}

impl crate::DigestState for Opinion {
    fn digest(&self, h: &mut crate::StableHasher) {
        h.write_f64(self.0);
    }
}
