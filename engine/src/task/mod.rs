//! Tasks: entities with a location, required skills, a workload, a number of workers needed,
//! a release tick, an optional deadline, a reward and precedence constraints; and the workers
//! that claim, travel to, work on and complete them.
//!
//! The life of a task, tick by tick:
//!
//! 1. **Arrival** (after Environment): tasks due at the next tick are spawned as entities
//!    from the scenario's `tasks` section (listed, CSV, Poisson, bursts). A task whose
//!    predecessors are not all done is `Blocked`; otherwise `Open`.
//! 2. **Decide**: an allocation protocol writes [`TaskIntents`] for workers: claim a task,
//!    release one.
//! 3. **Resolve** (after the Resolve phase): releases are applied, then claims, task by task
//!    in id order. A claim wins when the task is open, the worker has every skill the task
//!    needs and room in its queue (`capacity`); when more workers claim than the task has
//!    free places, the lowest agent ids win (the default rule). With a `conflicts` section,
//!    each worker's first eligible claim is instead entered as its
//!    [`Intent::task`](crate::intent::Intent::task) before the engine's conflict detection,
//!    so double claims become `Task(id)` conflicts that the scenario's policy ranks, and the
//!    settled [`Outcome`](crate::intent::Outcome)s decide who wins. Every claimant is told
//!    the outcome in its [`TaskNotices`].
//! 4. **Act** (after the Act phase): each worker travels towards the first task of its
//!    queue at its `speed`; a tick spent travelling is not spent working. A task progresses
//!    one unit per tick in which all the workers it needs are at it, and is done when its
//!    workload is complete; its successors then open.
//! 5. **Upkeep** (after Environment): tasks held by workers that no longer exist (failed
//!    agents) are reopened, overdue tasks are withdrawn when `expire` is on, and new tasks
//!    arrive.
//!
//! Everything is processed in task-id and agent-id order, so results do not depend on thread
//! count or entity order.

mod arrivals;
mod board;
mod spec;
mod systems;
#[cfg(test)]
mod tests;

pub use board::{Award, Resolution, TaskBoard, TaskStats, Tasks};
pub use spec::{
    Arrival, FloatDist, IntDist, MAX_SKILLS, SkillDraw, TaskDef, TaskSpec, TaskTemplate,
};

pub(crate) use spec::check;
pub(crate) use systems::install;

use crate::digest::{DigestState, StableHasher};
use bevy_ecs::prelude::Component;
use glam::DVec2;
use std::fmt;

/// A task's identity: assigned in order (listed and CSV tasks first, in the order written,
/// then generated tasks as they arrive), never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TaskId(pub u32);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.0)
    }
}

/// A set of skills `0..32`, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SkillSet(pub u32);

impl SkillSet {
    /// No skill.
    pub const NONE: SkillSet = SkillSet(0);

    /// The set of the listed skills (each below [`MAX_SKILLS`]; larger values are ignored).
    pub fn from_skills(skills: impl IntoIterator<Item = u32>) -> SkillSet {
        SkillSet(
            skills
                .into_iter()
                .filter(|&s| s < MAX_SKILLS)
                .fold(0, |m, s| m | (1 << s)),
        )
    }

    /// The first `n` skills, `0..n`.
    pub fn first(n: u32) -> SkillSet {
        SkillSet(if n >= 32 { u32::MAX } else { (1u32 << n) - 1 })
    }

    /// Whether every skill of `needed` is in this set.
    pub fn covers(self, needed: SkillSet) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// Whether `skill` is in the set.
    pub fn has(self, skill: u32) -> bool {
        skill < MAX_SKILLS && self.0 & (1 << skill) != 0
    }

    /// The skills, ascending.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        (0..MAX_SKILLS).filter(move |&s| self.has(s))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest skill, if any.
    pub fn lowest(self) -> Option<u32> {
        (self.0 != 0).then(|| self.0.trailing_zeros())
    }
}

/// What a task is: fixed when it arrives. Task entities carry it with a [`TaskState`].
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Where work happens.
    pub location: DVec2,
    /// Skills each worker on it needs.
    pub skills: SkillSet,
    /// Ticks of work (with all its workers present) to complete it.
    pub workload: u64,
    /// Workers needed at once (1, or a coalition).
    pub agents: u32,
    /// The tick it appears (state at tick `release` includes it).
    pub release: u64,
    /// Tick by which it should be done, if any.
    pub deadline: Option<u64>,
    /// Value of completing it.
    pub reward: f64,
    /// Its kind, for division-of-labour measures: its lowest required skill (0 if none).
    pub kind: u32,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskStatus {
    /// Released, but some predecessor is not done yet: it cannot be claimed.
    Blocked,
    /// Can be claimed: fewer holders than workers needed.
    Open,
    /// Fully staffed; no work done yet (or work paused).
    Assigned,
    /// Fully staffed and worked on.
    Active,
    /// Complete.
    Done,
    /// Withdrawn at its deadline (`tasks.expire`).
    Expired,
}

impl TaskStatus {
    /// Whether the task is finished one way or another.
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Expired)
    }
}

/// What has happened to a task so far.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct TaskState {
    /// Its status.
    pub status: TaskStatus,
    /// The workers holding it, ascending agent ids.
    pub holders: Vec<u32>,
    /// Ticks of work done.
    pub work_done: u64,
    /// Tick of its first award.
    pub first_award: Option<u64>,
    /// Tick its work started.
    pub started: Option<u64>,
    /// Tick of its last unit of work (it is done in the state after that tick).
    pub done: Option<u64>,
    /// Tick its holders were lost to agent failures, until it is awarded again.
    pub orphaned_at: Option<u64>,
    /// How many awards it has had (a task awarded after being released or orphaned counts
    /// again).
    pub awards: u32,
    /// Per worker that worked on it, ticks of work: `(agent id, ticks)`, ascending ids.
    pub worked_by: Vec<(u32, u64)>,
}

impl TaskState {
    fn new(blocked: bool) -> TaskState {
        TaskState {
            status: if blocked {
                TaskStatus::Blocked
            } else {
                TaskStatus::Open
            },
            holders: Vec::new(),
            work_done: 0,
            first_award: None,
            started: None,
            done: None,
            orphaned_at: None,
            awards: 0,
            worked_by: Vec::new(),
        }
    }

    /// Free places: workers needed minus holders (0 unless open).
    pub fn free_places(&self, task: &Task) -> u32 {
        if self.status == TaskStatus::Open {
            task.agents.saturating_sub(self.holders.len() as u32)
        } else {
            0
        }
    }
}

/// An agent that can do tasks: its skills, speed and capacity, and the tasks it holds.
/// Insert it at spawn (the `worker` behavior does); the engine adds [`TaskIntents`],
/// [`TaskNotices`], an [`Intent`](crate::intent::Intent) (the engine writes the intent's
/// `task` when claims go through a conflict policy) and a [`TaskTally`](crate::TaskTally)
/// with it: each tick of work adds 1 to the tally at the task's `kind`, which is what the
/// `division_of_labor` metric and the `work` quantity read.
#[derive(Component, Debug, Clone, PartialEq)]
#[require(TaskIntents, TaskNotices, crate::intent::Intent, crate::TaskTally)]
pub struct Worker {
    /// Its skills.
    pub skills: SkillSet,
    /// Distance travelled per tick.
    pub speed: f64,
    /// How many tasks it may hold at once (1: one task at a time; more: a queue worked in
    /// order, for time-extended assignment).
    pub capacity: u32,
    queue: Vec<TaskId>,
    travelled: f64,
    worked: u64,
    completed: u32,
}

impl Worker {
    /// A worker with nothing to do.
    pub fn new(skills: SkillSet, speed: f64, capacity: u32) -> Worker {
        Worker {
            skills,
            speed,
            capacity,
            queue: Vec::new(),
            travelled: 0.0,
            worked: 0,
            completed: 0,
        }
    }

    /// The tasks it holds, in the order it will do them.
    pub fn queue(&self) -> &[TaskId] {
        &self.queue
    }

    /// The task it is travelling to or working on.
    pub fn current(&self) -> Option<TaskId> {
        self.queue.first().copied()
    }

    /// Whether it holds no task.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether it may claim another task.
    pub fn has_room(&self) -> bool {
        (self.queue.len() as u64) < u64::from(self.capacity)
    }

    /// Whether it has every skill in `needed`.
    pub fn can_do(&self, task: &Task) -> bool {
        self.skills.covers(task.skills)
    }

    /// Distance travelled so far.
    pub fn travelled(&self) -> f64 {
        self.travelled
    }

    /// Ticks of work done so far.
    pub fn worked(&self) -> u64 {
        self.worked
    }

    /// Tasks it helped complete.
    pub fn completed(&self) -> u32 {
        self.completed
    }
}

impl DigestState for Worker {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(self.skills.0));
        h.write_f64(self.speed);
        h.write_u64(u64::from(self.capacity));
        h.write_u64(self.queue.len() as u64);
        for t in &self.queue {
            h.write_u64(u64::from(t.0));
        }
        h.write_f64(self.travelled);
        h.write_u64(self.worked);
        h.write_u64(u64::from(self.completed));
    }
}

/// One thing a worker intends to do about tasks this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskIntent {
    /// Take a task, appended to the queue (`at: None`) or inserted at a queue index
    /// (clamped to the queue's length).
    Claim {
        /// The task.
        task: TaskId,
        /// Where in the queue.
        at: Option<usize>,
    },
    /// Give a task up (work done so far stays with the task).
    Release(TaskId),
}

/// The worker's intents for this tick, written in Decide and consumed in Resolve.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct TaskIntents(pub Vec<TaskIntent>);

impl TaskIntents {
    /// Claims `task`, appended to the queue.
    pub fn claim(&mut self, task: TaskId) {
        self.0.push(TaskIntent::Claim { task, at: None });
    }

    /// Claims `task`, inserted at queue index `at`.
    pub fn claim_at(&mut self, task: TaskId, at: usize) {
        self.0.push(TaskIntent::Claim { task, at: Some(at) });
    }

    /// Gives `task` up.
    pub fn release(&mut self, task: TaskId) {
        self.0.push(TaskIntent::Release(task));
    }
}

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// No such task (never released).
    Unknown,
    /// The task is blocked by predecessors, fully staffed, done or withdrawn.
    Unavailable,
    /// The worker lacks a required skill.
    Skills,
    /// The worker's queue is full.
    Capacity,
    /// The worker already holds it.
    AlreadyHeld,
    /// The conflict policy told the worker to back off for now.
    Deferred,
}

/// Something the engine tells a worker about its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskNotice {
    /// Its claim won.
    Won(TaskId),
    /// Another worker won the last free place; `winner` is the lowest winning id.
    Lost {
        /// The task.
        task: TaskId,
        /// Who won.
        winner: u32,
    },
    /// Its claim was refused.
    Rejected {
        /// The task.
        task: TaskId,
        /// Why.
        reason: RejectReason,
    },
    /// Its release was applied.
    Released(TaskId),
    /// A task it held was completed.
    Completed(TaskId),
    /// A task it held was withdrawn at its deadline.
    Expired(TaskId),
}

/// What happened to the worker's claims and tasks since the last Resolve (written by
/// Resolve, Act and Upkeep; read by protocols in the next Decide).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct TaskNotices(pub Vec<TaskNotice>);
