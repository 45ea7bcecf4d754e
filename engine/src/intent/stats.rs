//! What the Resolve phase counts: conflicts by kind, waits, wins, resolution times,
//! deadlocks, messages. Metrics in `agora-agents` turn these into columns.

use super::ConflictKind;
use bevy_ecs::prelude::Resource;

/// Counts of one tick (or, summed, of the whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickConflicts {
    /// Conflicts by kind, indexed by [`ConflictKind::index`].
    pub by_kind: [u64; 4],
    /// Conflicts left undecided by the policy (nobody won this tick).
    pub undecided: u64,
    /// Agents with at least one waiting intent (lost, blocked or deferred).
    pub waiting: u64,
    /// Agents backing off (deferred).
    pub deferred: u64,
    /// Moves granted.
    pub moves: u64,
    /// Messages policies spent on resolution.
    pub messages: u64,
    /// Deadlocks observed (open) at the end of the tick; in totals, the sum over ticks.
    pub deadlocks_open: u64,
    /// Deadlocks observed for the first time.
    pub deadlocks_started: u64,
    /// Victims chosen.
    pub victims: u64,
}

impl TickConflicts {
    /// Conflicts of every kind.
    pub fn conflicts(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Conflicts of one kind.
    pub fn of(&self, kind: ConflictKind) -> u64 {
        self.by_kind[kind.index()]
    }

    fn add(&mut self, o: &TickConflicts) {
        for (a, b) in self.by_kind.iter_mut().zip(o.by_kind) {
            *a += b;
        }
        self.undecided += o.undecided;
        self.waiting += o.waiting;
        self.deferred += o.deferred;
        self.moves += o.moves;
        self.messages += o.messages;
        self.deadlocks_open += o.deadlocks_open;
        self.deadlocks_started += o.deadlocks_started;
        self.victims += o.victims;
    }
}

/// One agent's record since the start of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentConflictStats {
    /// Ticks with at least one waiting intent.
    pub waited: u64,
    /// Ticks of the current uninterrupted wait (0 when not waiting).
    pub current_wait: u64,
    /// Longest uninterrupted wait.
    pub longest_wait: u64,
    /// Conflicts taken part in.
    pub conflicts: u64,
    /// Conflicts won.
    pub wins: u64,
    /// Times chosen as a deadlock victim.
    pub victim: u64,
}

/// The Resolve phase's statistics, updated at the end of every Resolve.
#[derive(Resource, Debug, Clone, Default)]
pub struct ConflictStats {
    /// The last tick's counts.
    pub last: TickConflicts,
    /// Counts summed over the run.
    pub total: TickConflicts,
    agents: Vec<AgentConflictStats>,
    tracked: Vec<bool>,
    resolutions: u64,
    resolution_sum: u64,
    resolution_max: u64,
    deadlock_size_sum: u64,
    deadlock_size_max: u64,
    ended: u64,
    ended_duration_sum: u64,
    duration_max: u64,
}

impl ConflictStats {
    /// Each agent that has had an intent, with its record, in id order.
    pub fn agents(&self) -> impl Iterator<Item = (u32, &AgentConflictStats)> + '_ {
        self.agents
            .iter()
            .zip(&self.tracked)
            .enumerate()
            .filter(|(_, (_, t))| **t)
            .map(|(i, (a, _))| (i as u32, a))
    }

    /// One agent's record.
    pub fn agent(&self, id: u32) -> Option<&AgentConflictStats> {
        self.agents
            .get(id as usize)
            .filter(|_| self.tracked[id as usize])
    }

    /// Requests granted after a conflict or a wait.
    pub fn resolutions(&self) -> u64 {
        self.resolutions
    }

    /// Mean ticks from a request's first conflict or wait until it was granted (NaN before
    /// the first).
    pub fn mean_resolution_time(&self) -> f64 {
        if self.resolutions == 0 {
            f64::NAN
        } else {
            self.resolution_sum as f64 / self.resolutions as f64
        }
    }

    /// Longest resolution time.
    pub fn max_resolution_time(&self) -> u64 {
        self.resolution_max
    }

    /// Mean members of the deadlocks observed (NaN before the first).
    pub fn mean_deadlock_size(&self) -> f64 {
        let n = self.total.deadlocks_started;
        if n == 0 {
            f64::NAN
        } else {
            self.deadlock_size_sum as f64 / n as f64
        }
    }

    /// Largest deadlock observed.
    pub fn max_deadlock_size(&self) -> u64 {
        self.deadlock_size_max
    }

    /// Deadlocks that ended.
    pub fn deadlocks_ended(&self) -> u64 {
        self.ended
    }

    /// Mean ticks the ended deadlocks lasted (NaN before the first ended).
    pub fn mean_deadlock_duration(&self) -> f64 {
        if self.ended == 0 {
            f64::NAN
        } else {
            self.ended_duration_sum as f64 / self.ended as f64
        }
    }

    /// Longest deadlock so far, ended or still open.
    pub fn max_deadlock_duration(&self) -> u64 {
        self.duration_max
    }

    pub(crate) fn agent_mut(&mut self, id: u32) -> &mut AgentConflictStats {
        let n = id as usize + 1;
        if self.agents.len() < n {
            self.agents.resize(n, AgentConflictStats::default());
            self.tracked.resize(n, false);
        }
        self.tracked[id as usize] = true;
        &mut self.agents[id as usize]
    }

    pub(crate) fn resolved(&mut self, ticks: u64) {
        self.resolutions += 1;
        self.resolution_sum += ticks;
        self.resolution_max = self.resolution_max.max(ticks);
    }

    pub(crate) fn deadlock_started(&mut self, size: u64) {
        self.deadlock_size_sum += size;
        self.deadlock_size_max = self.deadlock_size_max.max(size);
    }

    pub(crate) fn deadlock_ended(&mut self, duration: u64) {
        self.ended += 1;
        self.ended_duration_sum += duration;
        self.duration_max = self.duration_max.max(duration);
    }

    pub(crate) fn deadlock_open_for(&mut self, duration: u64) {
        self.duration_max = self.duration_max.max(duration);
    }

    pub(crate) fn close_tick(&mut self, counts: TickConflicts) {
        self.last = counts;
        self.total.add(&counts);
    }
}
