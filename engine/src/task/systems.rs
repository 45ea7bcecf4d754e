//! The engine's task systems: claim resolution, travel and work, upkeep (failures, deadlines,
//! arrivals), and their installation.

use super::arrivals::{Arrivals, NewTask};
use super::board::{Award, Resolution, TaskBoard, TaskStats};
use super::{
    RejectReason, Task, TaskId, TaskIntent, TaskIntents, TaskNotice, TaskNotices, TaskState,
    TaskStatus, Worker,
};
use crate::agent::{AgentId, Position};
use crate::error::{Error, ScenarioError};
use crate::intent::{Intent, IntentSet, Outcome, Ruling, TaskClaims};
use crate::phase::{EngineSet, Phase, Tick};
use crate::rng::SimRng;
use crate::sim::SimBuilder;
use crate::space::Space;
use bevy_ecs::prelude::*;
use glam::DVec2;

/// Settings the systems need from the section.
#[derive(Resource, Debug, Clone)]
pub(crate) struct TaskConfig {
    expire: bool,
    /// Claims go through the intent machinery and the scenario's conflict policy.
    route: bool,
}

/// Distances below this count as "there" (positions are snapped exactly on arrival, so this
/// only absorbs the rounding of a torus wrap).
const ARRIVED: f64 = 1e-9;

/// Sets up tasks for a scenario with a `tasks` section: the board, the first arrivals and
/// the systems.
pub(crate) fn install(builder: &mut SimBuilder<'_>) -> Result<(), Error> {
    let scenario = builder.scenario();
    let Some(spec) = scenario.tasks.as_ref() else {
        return Ok(());
    };
    let origin = scenario
        .source
        .as_ref()
        .map_or_else(|| "scenario".to_owned(), |p| p.display().to_string());
    let dir = scenario.source.as_ref().and_then(|p| p.parent());
    let arrivals = Arrivals::build(spec, dir, scenario.world.width, scenario.world.height)
        .map_err(|e| {
            let err = match e.file {
                Some((file, line)) => ScenarioError::new(file, e.message).at(line, 1),
                None => ScenarioError::new(&origin, e.message),
            };
            Error::Scenario(err.at_field(format!("tasks.{}", e.field)))
        })?;
    let mut board = TaskBoard {
        skills: spec.skills,
        ..TaskBoard::default()
    };
    for (before, after) in arrivals.edges() {
        board.dag.add_edge(before, after, ());
    }
    board.entities = vec![None; arrivals.listed_count() as usize];
    let route = scenario.conflicts.is_some();
    if route {
        builder.use_intents();
    }
    let world = builder.world_mut();
    world.insert_resource(TaskConfig {
        expire: spec.expire,
        route,
    });
    world.insert_resource(board);
    world.insert_resource(TaskStats::default());
    world.insert_resource(arrivals);
    world.init_resource::<Scratch>();
    arrive(world, 0);
    builder
        .digest_component::<Worker>()
        .digest_resource::<TaskBoard>();
    if route {
        builder.schedule_mut().add_systems(
            route_claims
                .in_set(Phase::Resolve)
                .before(IntentSet::Detect),
        );
    }
    builder.add_engine_systems(EngineSet::TaskResolve, resolve);
    builder.add_engine_systems(EngineSet::TaskAct, act);
    builder.add_engine_systems(EngineSet::TaskUpkeep, (upkeep, arrive_next).chain());
    Ok(())
}

/// Where an eligible claim stands before places are handed out; the order is the order in
/// which places go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    /// The conflict policy granted it.
    Granted,
    /// Not routed through the policy: lowest ids first.
    Unrouted,
    /// The policy gave the place to someone else (named when known).
    Lost(Option<u32>),
}

/// Reusable buffers for the systems.
#[derive(Resource, Default)]
struct Scratch {
    order: Vec<(u32, Entity)>,
    claims: Vec<(TaskId, u32, Option<usize>, Entity, bool)>,
    present: Vec<(TaskId, u32, Entity)>,
    eligible: Vec<(u32, Entity, Option<usize>, bool, Standing)>,
    live: Vec<u32>,
}

fn fold(board: &mut TaskBoard, tag: u64, a: u64, b: u64) {
    board.history.write_u64(tag);
    board.history.write_u64(a);
    board.history.write_u64(b);
    board.generation += 1;
}

fn sorted_workers<'a>(
    order: &mut Vec<(u32, Entity)>,
    ids: impl Iterator<Item = (Entity, &'a AgentId)>,
) {
    order.clear();
    order.extend(ids.map(|(e, id)| (id.0, e)));
    order.sort_unstable_by_key(|&(id, _)| id);
}

/// With a conflict policy: each worker's first eligible claim (lowest task id) becomes its
/// `Intent::task`, and each claimed task's capacity its free places, so that the engine's
/// Detect and Settle (and the policy between them) decide contested places.
fn route_claims(
    board: Res<'_, TaskBoard>,
    mut claims: ResMut<'_, TaskClaims>,
    mut workers: Query<'_, '_, (&AgentId, &Worker, &TaskIntents, &mut Intent)>,
    tasks: Query<'_, '_, (&Task, &TaskState)>,
) {
    for (id, worker, intents, mut intent) in &mut workers {
        let mut first: Option<TaskId> = None;
        let mut releasing = false;
        for i in &intents.0 {
            match *i {
                TaskIntent::Release(_) => releasing = true,
                TaskIntent::Claim { task, .. } => {
                    let eligible = board
                        .entity(task)
                        .and_then(|e| tasks.get(e).ok())
                        .is_some_and(|(def, s)| {
                            s.status == TaskStatus::Open
                                && !s.holders.contains(&id.0)
                                && worker.can_do(def)
                        });
                    if eligible && first.is_none_or(|f| task < f) {
                        first = Some(task);
                    }
                }
            }
        }
        // A release this tick may make room; the resolver checks capacity again.
        let room = worker.has_room() || releasing;
        let want = first.filter(|_| room).map(|t| t.0);
        if intent.task != want {
            intent.task = want;
        }
        if let Some(task) = first
            && let Some((def, s)) = board.entity(task).and_then(|e| tasks.get(e).ok())
        {
            claims.set_capacity(task.0, s.free_places(def));
        }
    }
}

/// The workers as Resolve sees them.
type ResolveWorkers<'w, 's> = Query<
    'w,
    's,
    (
        &'static AgentId,
        &'static mut Worker,
        &'static mut TaskIntents,
        &'static mut TaskNotices,
        Option<&'static Position>,
        &'static mut Intent,
        &'static Outcome,
    ),
>;

/// Resolve: releases, then claims task by task; lowest agent ids win contested places, or
/// the conflict policy's winners when claims are routed through it.
#[expect(clippy::too_many_arguments, reason = "a system's parameters")]
fn resolve(
    tick: Res<'_, Tick>,
    mut board: ResMut<'_, TaskBoard>,
    mut stats: ResMut<'_, TaskStats>,
    mut scratch: ResMut<'_, Scratch>,
    config: Res<'_, TaskConfig>,
    mut workers: ResolveWorkers<'_, '_>,
    ids: Query<'_, '_, (Entity, &AgentId), With<Worker>>,
    mut tasks: Query<'_, '_, (&Task, &mut TaskState)>,
) {
    let t = tick.0;
    let scratch = &mut *scratch;
    sorted_workers(&mut scratch.order, ids.iter());
    scratch.claims.clear();
    for &(agent, e) in &scratch.order {
        let Ok((_, mut worker, mut intents, mut notices, ..)) = workers.get_mut(e) else {
            continue;
        };
        notices.0.clear();
        if intents.0.is_empty() {
            continue;
        }
        for intent in std::mem::take(&mut intents.0) {
            match intent {
                TaskIntent::Release(task) => {
                    let Some(at) = worker.queue.iter().position(|&q| q == task) else {
                        continue;
                    };
                    worker.queue.remove(at);
                    if let Some((_, mut state)) =
                        board.entity(task).and_then(|te| tasks.get_mut(te).ok())
                    {
                        state.holders.retain(|&h| h != agent);
                        if matches!(state.status, TaskStatus::Assigned | TaskStatus::Active) {
                            state.status = TaskStatus::Open;
                        }
                        if state.status == TaskStatus::Open {
                            board.open.insert(task);
                        }
                        if state.holders.is_empty() {
                            board.held.remove(&task);
                        }
                    }
                    notices.0.push(TaskNotice::Released(task));
                    stats.releases += 1;
                    fold(&mut board, 1, u64::from(agent), u64::from(task.0));
                }
                TaskIntent::Claim { task, at } => {
                    scratch.claims.push((task, agent, at, e, false));
                }
            }
        }
    }
    if scratch.claims.is_empty() {
        board.last = Resolution {
            tick: t,
            ..Resolution::default()
        };
        return;
    }
    // The instance the claims were made on, for optimality monitors.
    let mut last = Resolution {
        tick: t,
        open: Vec::with_capacity(board.open.len()),
        idle: Vec::new(),
        awards: Vec::new(),
    };
    for &(agent, e) in &scratch.order {
        if let Ok((_, w, _, _, pos, ..)) = workers.get(e)
            && w.queue.is_empty()
        {
            last.idle.push((agent, pos.map_or(DVec2::ZERO, |p| p.0)));
        }
    }
    for id in board.open.iter().copied() {
        if let Some((def, state)) = board.entity(id).and_then(|te| tasks.get(te).ok()) {
            last.open
                .push((id, def.location, def.skills, state.free_places(def)));
        }
    }
    for claim in &mut scratch.claims {
        if let Ok((_, w, ..)) = workers.get(claim.3) {
            claim.4 = w.queue.is_empty();
        }
    }
    scratch
        .claims
        .sort_unstable_by_key(|&(task, agent, ..)| (task, agent));
    scratch.claims.dedup_by_key(|c| (c.0, c.1));
    let mut i = 0;
    while i < scratch.claims.len() {
        let task = scratch.claims[i].0;
        let mut j = i;
        while j < scratch.claims.len() && scratch.claims[j].0 == task {
            j += 1;
        }
        let group = i..j;
        i = j;
        let Some(te) = board.entity(task) else {
            for k in group {
                let (_, _, _, e, _) = scratch.claims[k];
                reject(&mut workers, e, task, RejectReason::Unknown, &mut stats);
            }
            continue;
        };
        let Ok((def, mut state)) = tasks.get_mut(te) else {
            continue;
        };
        scratch.eligible.clear();
        for k in group {
            let (_, agent, at, e, was_idle) = scratch.claims[k];
            let Ok((_, worker, _, _, _, intent, outcome)) = workers.get(e) else {
                continue;
            };
            let reason = if state.holders.contains(&agent) {
                Some(RejectReason::AlreadyHeld)
            } else if state.status != TaskStatus::Open {
                Some(RejectReason::Unavailable)
            } else if !worker.can_do(def) {
                Some(RejectReason::Skills)
            } else if !worker.has_room() {
                Some(RejectReason::Capacity)
            } else {
                None
            };
            // The policy's ruling, when this claim was routed through the conflict machinery.
            let ruling = (config.route && intent.task == Some(task.0) && outcome.tick == t)
                .then_some(outcome.task);
            let standing = match ruling {
                None => Standing::Unrouted,
                Some(Ruling::Granted) => Standing::Granted,
                Some(Ruling::Lost { winner, .. }) => Standing::Lost(winner),
                Some(Ruling::Deferred { .. }) => {
                    reject(&mut workers, e, task, RejectReason::Deferred, &mut stats);
                    continue;
                }
                Some(_) => Standing::Lost(None),
            };
            match reason {
                Some(r) => reject(&mut workers, e, task, r, &mut stats),
                None => scratch.eligible.push((agent, e, at, was_idle, standing)),
            }
        }
        // Routed winners first, then unrouted claims by id; routed losers never win.
        scratch.eligible.sort_by_key(|c| (c.4, c.0));
        let free = state.free_places(def) as usize;
        let winner = scratch
            .eligible
            .first()
            .filter(|c| !matches!(c.4, Standing::Lost(_)))
            .map(|w| w.0);
        for (rank, &(agent, e, at, was_idle, standing)) in scratch.eligible.iter().enumerate() {
            let Ok((_, mut worker, _, mut notices, pos, ..)) = workers.get_mut(e) else {
                continue;
            };
            let named = match standing {
                Standing::Lost(w) => Some(w),
                _ => None,
            };
            if rank >= free || named.is_some() {
                notices.0.push(TaskNotice::Lost {
                    task,
                    winner: named.flatten().or(winner).unwrap_or(agent),
                });
                stats.failed_claims += 1;
                continue;
            }
            let index = at.map_or(worker.queue.len(), |a| a.min(worker.queue.len()));
            worker.queue.insert(index, task);
            notices.0.push(TaskNotice::Won(task));
            let slot = state.holders.partition_point(|&h| h < agent);
            state.holders.insert(slot, agent);
            if state.first_award.is_none() {
                state.first_award = Some(t);
                stats.award_times.push(t.saturating_sub(def.release));
            }
            if let Some(o) = state.orphaned_at.take() {
                stats.reallocated += 1;
                stats.recovery_times.push(t.saturating_sub(o));
            }
            state.awards += 1;
            last.awards.push(Award {
                agent,
                task,
                was_idle,
                from: pos.map_or(DVec2::ZERO, |p| p.0),
            });
            board.held.insert(task);
            fold(&mut board, 2, u64::from(agent), u64::from(task.0));
        }
        if state.status == TaskStatus::Open && state.holders.len() >= def.agents as usize {
            state.status = TaskStatus::Assigned;
            board.open.remove(&task);
        }
    }
    board.last = last;
    if config.route {
        // A claim is a one-tick want: the engine's task board, not the intent, keeps holds.
        for &(_, e) in &scratch.order {
            if let Ok((.., mut intent, _)) = workers.get_mut(e)
                && intent.task.is_some()
            {
                intent.task = None;
            }
        }
    }
}

fn reject(
    workers: &mut ResolveWorkers<'_, '_>,
    e: Entity,
    task: TaskId,
    reason: RejectReason,
    stats: &mut TaskStats,
) {
    if let Ok((_, _, _, mut notices, ..)) = workers.get_mut(e) {
        notices.0.push(TaskNotice::Rejected { task, reason });
    }
    stats.failed_claims += 1;
}

/// Act: travel towards the current task, then work where every needed worker is present.
#[expect(clippy::too_many_arguments, reason = "a system's parameters")]
fn act(
    tick: Res<'_, Tick>,
    space: Res<'_, Space>,
    mut board: ResMut<'_, TaskBoard>,
    mut stats: ResMut<'_, TaskStats>,
    mut scratch: ResMut<'_, Scratch>,
    mut workers: Query<
        '_,
        '_,
        (
            &mut Worker,
            &mut Position,
            &mut TaskNotices,
            &mut crate::TaskTally,
        ),
    >,
    ids: Query<'_, '_, (Entity, &AgentId), With<Worker>>,
    mut tasks: Query<'_, '_, (&Task, &mut TaskState)>,
) {
    let t = tick.0;
    let scratch = &mut *scratch;
    sorted_workers(&mut scratch.order, ids.iter());
    scratch.present.clear();
    for &(agent, e) in &scratch.order {
        let Ok((mut worker, mut pos, ..)) = workers.get_mut(e) else {
            continue;
        };
        let Some(current) = worker.current() else {
            continue;
        };
        let Some(location) = board
            .entity(current)
            .and_then(|te| tasks.get(te).ok())
            .map(|(def, _)| def.location)
        else {
            continue;
        };
        let d = space.delta(pos.0, location);
        let dist = d.length();
        if dist <= ARRIVED {
            scratch.present.push((current, agent, e));
            continue;
        }
        let step = worker.speed.min(dist);
        if step <= 0.0 {
            continue;
        }
        pos.0 = if step >= dist {
            location
        } else {
            space.wrap(pos.0 + d * (step / dist))
        };
        worker.travelled += step;
    }
    // `present` is in agent order; group it by task.
    scratch
        .present
        .sort_unstable_by_key(|&(task, agent, _)| (task, agent));
    let mut i = 0;
    while i < scratch.present.len() {
        let task = scratch.present[i].0;
        let mut j = i;
        while j < scratch.present.len() && scratch.present[j].0 == task {
            j += 1;
        }
        let group = i..j;
        i = j;
        let Some(te) = board.entity(task) else {
            continue;
        };
        let Ok((def, mut state)) = tasks.get_mut(te) else {
            continue;
        };
        let staffed = matches!(state.status, TaskStatus::Assigned | TaskStatus::Active);
        if !staffed || group.len() < def.agents as usize {
            continue;
        }
        state.work_done += 1;
        state.status = TaskStatus::Active;
        state.started.get_or_insert(t);
        let kind = def.kind as usize;
        for k in group.clone() {
            let (_, agent, e) = scratch.present[k];
            let slot = state.worked_by.partition_point(|&(a, _)| a < agent);
            match state.worked_by.get_mut(slot) {
                Some((a, n)) if *a == agent => *n += 1,
                _ => state.worked_by.insert(slot, (agent, 1)),
            }
            if let Ok((mut worker, _, _, mut tally)) = workers.get_mut(e) {
                worker.worked += 1;
                tally.add(kind, 1.0);
            }
        }
        if state.work_done < def.workload {
            continue;
        }
        state.status = TaskStatus::Done;
        state.done = Some(t);
        let done_at = t + 1;
        stats.done += 1;
        stats.waits.push(state.started.unwrap_or(t) - def.release);
        stats.latencies.push(done_at - def.release);
        stats.makespan = stats.makespan.max(done_at);
        if def.deadline.is_some_and(|d| done_at > d) {
            stats.done_late += 1;
        }
        for k in group {
            let (_, _, e) = scratch.present[k];
            if let Ok((mut worker, _, mut notices, _)) = workers.get_mut(e) {
                worker.queue.retain(|&q| q != task);
                worker.completed += 1;
                notices.0.push(TaskNotice::Completed(task));
            }
        }
        board.held.remove(&task);
        fold(&mut board, 3, u64::from(task.0), t);
        for next in board.successors(task) {
            unblock(&mut board, &mut tasks, next);
        }
    }
}

/// Opens `id` if it is blocked and every predecessor is done.
fn unblock(board: &mut TaskBoard, tasks: &mut Query<'_, '_, (&Task, &mut TaskState)>, id: TaskId) {
    let ready = board.predecessors(id).into_iter().all(|p| {
        board
            .entity(p)
            .and_then(|e| tasks.get(e).ok())
            .is_some_and(|(_, s)| s.status == TaskStatus::Done)
    });
    let Some(e) = board.entity(id) else {
        return;
    };
    if let Ok((_, mut state)) = tasks.get_mut(e)
        && state.status == TaskStatus::Blocked
        && ready
    {
        state.status = TaskStatus::Open;
        board.open.insert(id);
        board.generation += 1;
    }
}

/// Upkeep: reopen tasks of failed workers, withdraw overdue tasks, spawn arrivals.
fn upkeep(
    tick: Res<'_, Tick>,
    config: Res<'_, TaskConfig>,
    mut board: ResMut<'_, TaskBoard>,
    mut stats: ResMut<'_, TaskStats>,
    mut scratch: ResMut<'_, Scratch>,
    mut workers: Query<'_, '_, (&AgentId, &mut Worker, &mut TaskNotices)>,
    mut tasks: Query<'_, '_, (&Task, &mut TaskState)>,
) {
    let next = tick.0 + 1;
    let scratch = &mut *scratch;
    // Holders that no longer exist (agents removed by failures) give their tasks back.
    if !board.held.is_empty() {
        scratch.live.clear();
        scratch.live.extend(workers.iter().map(|(id, _, _)| id.0));
        scratch.live.sort_unstable();
        let held: Vec<TaskId> = board.held.iter().copied().collect();
        for id in held {
            let Some(e) = board.entity(id) else { continue };
            let Ok((_, mut state)) = tasks.get_mut(e) else {
                continue;
            };
            let before = state.holders.len();
            let live = &scratch.live;
            state.holders.retain(|h| live.binary_search(h).is_ok());
            if state.holders.len() == before {
                continue;
            }
            stats.orphaned += 1;
            state.orphaned_at = Some(next);
            if matches!(state.status, TaskStatus::Assigned | TaskStatus::Active) {
                state.status = TaskStatus::Open;
            }
            if state.status == TaskStatus::Open {
                board.open.insert(id);
            }
            if state.holders.is_empty() {
                board.held.remove(&id);
            }
            fold(&mut board, 4, u64::from(id.0), next);
        }
    }
    if config.expire {
        let overdue: Vec<TaskId> = board
            .open
            .iter()
            .chain(board.held.iter())
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|&id| {
                board
                    .entity(id)
                    .and_then(|e| tasks.get(e).ok())
                    .is_some_and(|(def, s)| {
                        !s.status.is_final() && def.deadline.is_some_and(|d| d < next)
                    })
            })
            .collect();
        for id in overdue {
            let Some(e) = board.entity(id) else { continue };
            let Ok((_, mut state)) = tasks.get_mut(e) else {
                continue;
            };
            state.status = TaskStatus::Expired;
            let holders = std::mem::take(&mut state.holders);
            board.open.remove(&id);
            board.held.remove(&id);
            stats.expired += 1;
            for (agent, mut worker, mut notices) in &mut workers {
                if holders.binary_search(&agent.0).is_ok() {
                    worker.queue.retain(|&q| q != id);
                    notices.0.push(TaskNotice::Expired(id));
                }
            }
            state.holders = holders;
            fold(&mut board, 5, u64::from(id.0), next);
        }
    }
}

/// Upkeep, second half: the tasks released at the next tick arrive.
fn arrive_next(world: &mut World) {
    let next = world.resource::<Tick>().0 + 1;
    arrive(world, next);
}

/// Spawns the tasks released at `tick` (used at build time for tick 0 and by Upkeep).
fn arrive(world: &mut World, tick: u64) {
    let mut new = Vec::new();
    world.resource_scope(|world, mut arrivals: Mut<'_, Arrivals>| {
        let rng = world.resource::<SimRng>().clone();
        let space = world.resource::<Space>().clone();
        arrivals.due(tick, &rng, &space, &mut new);
    });
    spawn_tasks(world, new);
}

fn spawn_tasks(world: &mut World, new: Vec<NewTask>) {
    if new.is_empty() {
        return;
    }
    let n = new.len() as u64;
    for t in new {
        let id = t.task.id;
        let blocked = {
            let board = world.resource::<TaskBoard>();
            board.predecessors(id).into_iter().any(|p| {
                board
                    .entity(p)
                    .and_then(|e| world.get::<TaskState>(e))
                    .is_none_or(|s| s.status != TaskStatus::Done)
            })
        };
        let e = world.spawn((t.task, TaskState::new(blocked))).id();
        let mut board = world.resource_mut::<TaskBoard>();
        let slot = id.0 as usize;
        if board.entities.len() <= slot {
            board.entities.resize(slot + 1, None);
        }
        board.entities[slot] = Some(e);
        if !blocked {
            board.open.insert(id);
        }
        fold(&mut board, 6, u64::from(id.0), 0);
    }
    world.resource_mut::<TaskStats>().released += n;
}
