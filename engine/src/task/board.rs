//! The task board (id index, precedence graph, open set, what the last Resolve did) and the
//! running statistics metrics read.

use super::{Task, TaskId, TaskState, TaskStatus};
use crate::digest::{DigestState, StableHasher};
use bevy_ecs::prelude::{Entity, Query, Res, Resource};
use bevy_ecs::system::SystemParam;
use glam::DVec2;
use petgraph::graphmap::DiGraphMap;
use std::collections::BTreeSet;

/// One award made by Resolve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Award {
    /// The worker.
    pub agent: u32,
    /// The task.
    pub task: TaskId,
    /// Whether the worker held no task before this tick's claims (an instantaneous
    /// assignment of an idle agent).
    pub was_idle: bool,
    /// The worker's position when it claimed.
    pub from: DVec2,
}

/// What the last Resolve saw and did, when there were claims: the instance an allocation
/// was made on (idle workers, open places) and the allocation. Optimality-gap monitors
/// compare the awards with the best assignment on the same instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// The tick.
    pub tick: u64,
    /// Tasks open (claimable) before the claims, ascending ids, with the location, skills
    /// and free places of each.
    pub open: Vec<(TaskId, DVec2, super::SkillSet, u32)>,
    /// Workers holding no task before the claims, ascending ids, with their positions.
    pub idle: Vec<(u32, DVec2)>,
    /// Awards, in (task id, agent id) order.
    pub awards: Vec<Award>,
}

/// The index of released tasks and the precedence graph. Protocols read it (and the task
/// components) through [`Tasks`].
#[derive(Resource, Debug, Default)]
pub struct TaskBoard {
    pub(crate) entities: Vec<Option<Entity>>,
    pub(crate) dag: DiGraphMap<u32, ()>,
    pub(crate) open: BTreeSet<TaskId>,
    pub(crate) held: BTreeSet<TaskId>,
    pub(crate) generation: u64,
    pub(crate) last: Resolution,
    pub(crate) history: StableHasher,
    pub(crate) skills: u32,
}

impl TaskBoard {
    /// The entity of a released task.
    pub fn entity(&self, id: TaskId) -> Option<Entity> {
        self.entities.get(id.0 as usize).copied().flatten()
    }

    /// Open (claimable) tasks, ascending ids.
    pub fn open(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.open.iter().copied()
    }

    /// Number of open tasks.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Tasks with at least one holder, ascending ids.
    pub fn held(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.held.iter().copied()
    }

    /// Bumped whenever something an allocator may care about changes: an arrival, an
    /// award, a release, a completion, a task reopened after a failure or withdrawn.
    /// Protocols that re-plan only on change compare it with the value they last saw.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The tasks `id` waits for (its direct predecessors), ascending.
    pub fn predecessors(&self, id: TaskId) -> Vec<TaskId> {
        let mut v: Vec<TaskId> = self
            .dag
            .neighbors_directed(id.0, petgraph::Direction::Incoming)
            .map(TaskId)
            .collect();
        v.sort_unstable();
        v
    }

    /// The tasks waiting for `id` (its direct successors), ascending.
    pub fn successors(&self, id: TaskId) -> Vec<TaskId> {
        let mut v: Vec<TaskId> = self
            .dag
            .neighbors_directed(id.0, petgraph::Direction::Outgoing)
            .map(TaskId)
            .collect();
        v.sort_unstable();
        v
    }

    /// The precedence graph: an edge `a -> b` means `b` waits for `a`.
    pub fn precedence(&self) -> &DiGraphMap<u32, ()> {
        &self.dag
    }

    /// What the last Resolve saw and did.
    pub fn last_resolution(&self) -> &Resolution {
        &self.last
    }

    /// Number of distinct skills (`tasks.skills`).
    pub fn skill_count(&self) -> u32 {
        self.skills
    }

    /// Number of ids assigned so far (released or not).
    pub fn id_count(&self) -> usize {
        self.entities.len()
    }
}

impl DigestState for TaskBoard {
    fn digest(&self, h: &mut StableHasher) {
        // Every award, release, completion and reopening is folded into `history` as it
        // happens, so the digest covers the whole allocation history, not only the end.
        h.write_u64(self.history.finish());
        h.write_u64(self.generation);
        h.write_u64(self.open.len() as u64);
    }
}

/// Running counts and samples over the run, for metrics.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct TaskStats {
    /// Tasks released so far.
    pub released: u64,
    /// Tasks completed.
    pub done: u64,
    /// Tasks withdrawn at their deadline.
    pub expired: u64,
    /// Tasks completed after their deadline.
    pub done_late: u64,
    /// Per completed task: ticks from release to first work.
    pub waits: Vec<u64>,
    /// Per completed task: ticks from release until done.
    pub latencies: Vec<u64>,
    /// Per first award: ticks from release to the award.
    pub award_times: Vec<u64>,
    /// Completion time of the last completed task (the state tick it is done in).
    pub makespan: u64,
    /// Tasks whose holders were all lost to agent failures.
    pub orphaned: u64,
    /// Orphaned tasks awarded again.
    pub reallocated: u64,
    /// Per reallocation: ticks from losing the holders to the new award.
    pub recovery_times: Vec<u64>,
    /// Releases applied (tasks given up by their holders).
    pub releases: u64,
    /// Claims refused or lost.
    pub failed_claims: u64,
}

/// Read access to the tasks, for protocols' systems: the board and every task's
/// [`Task`] and [`TaskState`].
#[derive(SystemParam)]
pub struct Tasks<'w, 's> {
    board: Res<'w, TaskBoard>,
    query: Query<'w, 's, (&'static Task, &'static TaskState)>,
}

impl<'w, 's> Tasks<'w, 's> {
    /// The board.
    pub fn board(&self) -> &TaskBoard {
        &self.board
    }

    /// A released task.
    pub fn get(&self, id: TaskId) -> Option<(&Task, &TaskState)> {
        self.board.entity(id).and_then(|e| self.query.get(e).ok())
    }

    /// Open (claimable) tasks, ascending ids.
    pub fn open(&self) -> impl Iterator<Item = (&Task, &TaskState)> + '_ {
        self.board.open().filter_map(|id| self.get(id))
    }

    /// Every released task, ascending ids.
    pub fn all(&self) -> impl Iterator<Item = (&Task, &TaskState)> + '_ {
        self.board
            .entities
            .iter()
            .filter_map(|e| e.and_then(|e| self.query.get(e).ok()))
    }

    /// See [`TaskBoard::generation`].
    pub fn generation(&self) -> u64 {
        self.board.generation
    }

    /// Whether a task is released and not final.
    pub fn is_live(&self, id: TaskId) -> bool {
        self.get(id).is_some_and(|(_, s)| !s.status.is_final())
    }

    /// Whether a task can be claimed now.
    pub fn is_open(&self, id: TaskId) -> bool {
        self.get(id)
            .is_some_and(|(_, s)| s.status == TaskStatus::Open)
    }
}
