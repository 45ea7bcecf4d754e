//! The plan component: steps to carry out, the goal they serve, and when to plan again.

use crate::agent::AgentId;
use crate::events::Journal;
use crate::phase::{Phase, Tick};
use crate::sim::SimBuilder;
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Why a plan should be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplanReason {
    /// There is no plan yet, or every step is done.
    Empty,
    /// The agent now pursues a different goal.
    GoalChanged,
    /// The plan is older than the policy allows.
    Expired,
    /// The behavior found a step impossible (blocked path, precondition gone).
    Invalidated,
}

/// When a [`PlanQueue`] asks for a new plan, besides explicit invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplanPolicy {
    /// Replan when every step is done (default true).
    pub on_empty: bool,
    /// Replan when the plan is this many ticks old (default `None`: never for age).
    pub max_age: Option<u64>,
}

impl Default for ReplanPolicy {
    fn default() -> Self {
        ReplanPolicy {
            on_empty: true,
            max_age: None,
        }
    }
}

/// An agent's plan: a queue of steps of type `S` serving a goal (a behavior-defined number,
/// such as an index into its goal list), with replanning triggers and a record of failures.
#[derive(Component, Debug, Clone)]
pub struct PlanQueue<S: Send + Sync + 'static> {
    steps: VecDeque<S>,
    goal: Option<u32>,
    made_at: u64,
    policy: ReplanPolicy,
    invalid: bool,
    plans: u64,
    failures: u64,
    last_failure: Option<(u64, String)>,
}

impl<S: Send + Sync + 'static> Default for PlanQueue<S> {
    fn default() -> Self {
        PlanQueue::new(ReplanPolicy::default())
    }
}

impl<S: Send + Sync + 'static> PlanQueue<S> {
    /// No plan yet.
    pub fn new(policy: ReplanPolicy) -> PlanQueue<S> {
        PlanQueue {
            steps: VecDeque::new(),
            goal: None,
            made_at: 0,
            policy,
            invalid: false,
            plans: 0,
            failures: 0,
            last_failure: None,
        }
    }

    /// Replaces the plan.
    pub fn set(&mut self, goal: u32, steps: impl IntoIterator<Item = S>, now: u64) {
        self.steps.clear();
        self.steps.extend(steps);
        self.goal = Some(goal);
        self.made_at = now;
        self.invalid = false;
        self.plans += 1;
    }

    /// The goal the plan serves.
    pub fn goal(&self) -> Option<u32> {
        self.goal
    }

    /// The step to carry out now.
    pub fn current(&self) -> Option<&S> {
        self.steps.front()
    }

    /// Remaining steps, current first.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = &S> {
        self.steps.iter()
    }

    /// Marks the current step done and returns it.
    pub fn advance(&mut self) -> Option<S> {
        self.steps.pop_front()
    }

    /// Tick the plan was made.
    pub fn made_at(&self) -> u64 {
        self.made_at
    }

    /// Plans made so far.
    pub fn plans_made(&self) -> u64 {
        self.plans
    }

    /// Marks the plan unusable; [`PlanQueue::needs_replan`] reports it until the next
    /// [`PlanQueue::set`].
    pub fn invalidate(&mut self) {
        self.invalid = true;
    }

    /// Whether (and why) to plan again at `now` for `goal`.
    pub fn needs_replan(&self, goal: u32, now: u64) -> Option<ReplanReason> {
        if self.invalid {
            return Some(ReplanReason::Invalidated);
        }
        if self.goal != Some(goal) {
            return Some(if self.goal.is_none() {
                ReplanReason::Empty
            } else {
                ReplanReason::GoalChanged
            });
        }
        if self.policy.on_empty && self.steps.is_empty() {
            return Some(ReplanReason::Empty);
        }
        if let Some(age) = self.policy.max_age
            && now.saturating_sub(self.made_at) >= age
        {
            return Some(ReplanReason::Expired);
        }
        None
    }

    /// Records that no plan reaches `goal` at `now` (the plan is emptied). The engine writes
    /// a `no_plan` journal entry for it at the end of the tick.
    pub fn fail(&mut self, goal: u32, now: u64, why: impl Into<String>) {
        self.steps.clear();
        self.goal = Some(goal);
        self.made_at = now;
        self.invalid = false;
        self.failures += 1;
        self.last_failure = Some((now, why.into()));
    }

    /// Planning failures so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The latest failure: its tick and why.
    pub fn last_failure(&self) -> Option<(u64, &str)> {
        self.last_failure.as_ref().map(|(t, s)| (*t, s.as_str()))
    }
}

/// Journals this tick's planning failures, in agent-id order.
fn journal_failures<S: Send + Sync + 'static>(
    tick: Res<'_, Tick>,
    mut journal: ResMut<'_, Journal>,
    plans: Query<'_, '_, (&AgentId, &PlanQueue<S>)>,
    mut scratch: Local<'_, Vec<(u32, String)>>,
) {
    scratch.clear();
    for (id, plan) in &plans {
        if let Some((t, why)) = plan.last_failure()
            && t == tick.0
        {
            scratch.push((id.0, why.to_owned()));
        }
    }
    scratch.sort_unstable();
    for (id, why) in scratch.drain(..) {
        journal.push(tick.0, id, "no_plan", why);
    }
}

struct PlansOf<S>(std::marker::PhantomData<S>);

impl SimBuilder<'_> {
    /// Declares that agents carry a [`PlanQueue<S>`]: planning failures recorded with
    /// [`PlanQueue::fail`] become `no_plan` entries in the journal (`events.csv`).
    pub fn planning<S: Send + Sync + 'static>(&mut self) -> &mut Self {
        if self.first_time::<PlansOf<S>>() {
            self.add_systems(Phase::Record, journal_failures::<S>);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_fire_for_empty_goal_change_age_and_invalidation() {
        let mut p = PlanQueue::<u8>::new(ReplanPolicy {
            on_empty: true,
            max_age: Some(10),
        });
        assert_eq!(p.needs_replan(0, 0), Some(ReplanReason::Empty));
        p.set(0, [1, 2], 0);
        assert_eq!(p.needs_replan(0, 5), None);
        assert_eq!(p.needs_replan(1, 5), Some(ReplanReason::GoalChanged));
        assert_eq!(p.needs_replan(0, 10), Some(ReplanReason::Expired));
        p.invalidate();
        assert_eq!(p.needs_replan(0, 5), Some(ReplanReason::Invalidated));
        p.set(0, [1, 2], 6);
        assert_eq!((p.advance(), p.current()), (Some(1), Some(&2)));
        p.advance();
        assert_eq!(p.needs_replan(0, 7), Some(ReplanReason::Empty));
        p.fail(0, 8, "no path");
        assert_eq!((p.failures(), p.last_failure()), (1, Some((8, "no path"))));
        assert_eq!(p.plans_made(), 2);
    }
}
