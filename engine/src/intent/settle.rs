//! Settle (end of Resolve): turns the policy's rankings into a ruling for every intent,
//! follows chains of moves, maintains the wait-for graph and its deadlocks, and updates the
//! statistics. Apply (start of Act) then moves the agents whose moves were granted.

use super::detect::{IntentState, MoveState, NONE};
use super::{
    ConflictKind, ConflictStats, Conflicts, DeadlockTracker, IntentConfig, Outcome, ResourceId,
    Resources, Ruling, TaskClaims, TickConflicts, VictimOrder, VictimRule, WaitForGraph,
};
use crate::agent::{AgentId, GridCell};
use crate::phase::Tick;
use crate::rng::{Purpose, SimRng};
use crate::space::GridOccupancy;
use bevy_ecs::prelude::*;
use rand::Rng;

/// Draw slot of the [`Purpose::CONFLICT`] stream the engine uses for random victims; policies
/// use the slots below it.
pub(crate) const VICTIM_DRAW: u32 = 7;

/// The wait-for graph and the deadlocks seen so far.
#[derive(Resource, Debug, Default)]
pub(crate) struct DeadlockState {
    graph: WaitForGraph,
    tracker: DeadlockTracker,
    found: Vec<super::Deadlock>,
    blocking: Vec<u32>,
    touched: Vec<u32>,
    victims: Vec<(u32, VictimOrder)>,
    held_tasks: Vec<(u32, u32)>,
}

/// Everything settle touches, as one system parameter.
type Tables<'w> = (
    ResMut<'w, IntentState>,
    ResMut<'w, Resources>,
    ResMut<'w, TaskClaims>,
    ResMut<'w, ConflictStats>,
    ResMut<'w, DeadlockState>,
);

/// The Settle system.
pub(crate) fn settle(
    tick: Res<'_, Tick>,
    rng: Res<'_, SimRng>,
    config: Res<'_, IntentConfig>,
    occupancy: Option<Res<'_, GridOccupancy>>,
    mut conflicts: ResMut<'_, Conflicts>,
    (mut state, mut resources, mut tasks, mut stats, mut dl): Tables<'_>,
    mut outcomes: Query<'_, '_, (&AgentId, &mut Outcome)>,
) {
    let tick = tick.0;
    let st = &mut *state;
    let stats = &mut *stats;
    let dl = &mut *dl;
    let mut counts = TickConflicts {
        messages: conflicts.messages,
        ..TickConflicts::default()
    };

    // 1. The rankings decide the contested wants.
    for mut c in conflicts.iter_mut() {
        let kind = c.kind();
        if matches!(kind, ConflictKind::Vertex | ConflictKind::Swap) {
            // Making way goes first; the policy's order holds within each class.
            c.parties_mut().sort_by_key(|p| !p.give_way);
        }
        counts.by_kind[kind.index()] += 1;
        let w = c.winners() as usize;
        if w == 0 {
            counts.undecided += 1;
        }
        let first = (w > 0).then(|| c.parties()[0].agent);
        for (i, p) in c.parties().iter().enumerate() {
            let won = i < w;
            let a = stats.agent_mut(p.agent);
            a.conflicts += 1;
            let r = &mut st.req[p.agent as usize];
            if won {
                a.wins += 1;
                r.won = true;
            } else {
                r.lost = true;
            }
            let lost = Ruling::Lost {
                kind,
                winner: first,
            };
            match kind {
                ConflictKind::Vertex => {
                    if !won {
                        r.movement = lost;
                    }
                }
                ConflictKind::Swap => {
                    // Losing a swap says more than losing a cell: someone needs this agent's
                    // own cell, so it should make way. It is reported even over a lost vertex
                    // conflict.
                    r.move_state = MoveState::Stays;
                    if !won {
                        r.movement = lost;
                    } else if r.movement == Ruling::None {
                        r.movement = Ruling::Blocked { by: r.swap_with };
                    }
                }
                ConflictKind::Resource => r.res = if won { Ruling::Granted } else { lost },
                ConflictKind::Task => r.tsk = if won { Ruling::Granted } else { lost },
            }
        }
    }

    // 2. Moves: uncontested and winning moves happen if the target cell is, or is being,
    //    vacated; chains are followed to their end.
    st.granted_moves.clear();
    for i in 0..st.present.len() {
        let id = st.present[i];
        let r = st.req[id as usize];
        if r.to.is_none() || r.movement != Ruling::None || r.move_state != MoveState::Open {
            continue;
        }
        let Some(occ) = occupancy.as_deref() else {
            st.req[id as usize].move_state = MoveState::Moves;
            st.req[id as usize].movement = Ruling::Granted;
            continue;
        };
        st.chain.clear();
        let mut a = id;
        let result = loop {
            st.req[a as usize].move_state = MoveState::Visiting;
            st.chain.push(a);
            let to = st.req[a as usize].to.unwrap_or_default();
            let Some(b) = occ.occupant(to) else {
                break MoveState::Moves;
            };
            let Some(rb) = st.req.get(b as usize).filter(|rb| rb.present) else {
                break MoveState::Stays;
            };
            match rb.move_state {
                MoveState::Moves | MoveState::Visiting => break MoveState::Moves,
                MoveState::Stays => break MoveState::Stays,
                MoveState::Open if rb.to.is_none() || rb.movement != Ruling::None => {
                    break MoveState::Stays;
                }
                MoveState::Open => a = b,
            }
        };
        for k in 0..st.chain.len() {
            let x = st.chain[k];
            let r = &mut st.req[x as usize];
            r.move_state = result;
            r.movement = if result == MoveState::Moves {
                Ruling::Granted
            } else {
                let to = r.to.unwrap_or_default();
                Ruling::Blocked {
                    by: occ.occupant(to).unwrap_or(NONE),
                }
            };
        }
    }
    for &id in &st.present {
        let r = &st.req[id as usize];
        if r.movement == Ruling::Granted
            && let (Some(from), Some(to)) = (r.cell, r.to)
        {
            st.granted_moves.push((id, from, to));
        }
    }
    counts.moves = st.granted_moves.len() as u64;

    // 3. Resources: renewals keep their unit, uncontested requests take free units.
    resources.begin_tick();
    for res in 0..st.res_holders.len() {
        let id = ResourceId(res as u32);
        for j in 0..st.res_holders[res].len() {
            let a = st.res_holders[res][j];
            st.req[a as usize].res = Ruling::Granted;
            resources.add_holder(id, a);
        }
        let free = resources.free(id) as usize;
        let requesters = &st.res_requesters[res];
        let contested = requesters
            .iter()
            .any(|&a| st.req[a as usize].res != Ruling::None);
        let fits = requesters.len() <= free;
        for &a in requesters {
            let r = &mut st.req[a as usize];
            if !contested && fits {
                r.res = Ruling::Granted;
            }
            if r.res == Ruling::Granted {
                resources.add_holder(id, a);
            }
        }
    }
    resources.sort_holders();
    for res in 0..st.res_requesters.len() {
        let id = ResourceId(res as u32);
        let first = resources.holders(id).first().copied();
        for j in 0..st.res_requesters[res].len() {
            let a = st.res_requesters[res][j];
            let r = &mut st.req[a as usize];
            if r.res == Ruling::None {
                r.res = Ruling::Blocked {
                    by: first.unwrap_or(NONE),
                };
            }
            if r.res != Ruling::Granted {
                resources.add_waiter(id);
            }
        }
    }

    // 4. Tasks, the same way.
    dl.held_tasks.clear();
    let mut i = 0;
    while i < st.task_claims.len() {
        let task = st.task_claims[i].0;
        let mut j = i;
        while j < st.task_claims.len() && st.task_claims[j].0 == task {
            j += 1;
        }
        let holders = st.task_claims[i..j].iter().filter(|c| c.2).count();
        let free = (tasks.capacity(task) as usize).saturating_sub(holders);
        let requesters = (j - i) - holders;
        let contested = st.task_claims[i..j]
            .iter()
            .any(|&(_, a, renewal)| !renewal && st.req[a as usize].tsk != Ruling::None);
        let held_before = dl.held_tasks.len();
        for k in i..j {
            let (_, a, renewal) = st.task_claims[k];
            let r = &mut st.req[a as usize];
            if renewal || (!contested && requesters <= free) {
                r.tsk = Ruling::Granted;
            }
            if r.tsk == Ruling::Granted {
                dl.held_tasks.push((task, a));
            }
        }
        let first = dl.held_tasks[held_before..].first().map(|&(_, a)| a);
        for k in i..j {
            let a = st.task_claims[k].1;
            let r = &mut st.req[a as usize];
            if r.tsk == Ruling::None {
                r.tsk = Ruling::Blocked {
                    by: first.unwrap_or(NONE),
                };
            }
        }
        i = j;
    }
    tasks.set_held(&dl.held_tasks);

    // 5. The wait-for graph: who waits for whom.
    for &a in &dl.touched {
        dl.blocking[a as usize] = 0;
    }
    dl.touched.clear();
    if dl.blocking.len() < st.req.len() {
        dl.blocking.resize(st.req.len(), 0);
    }
    dl.graph.clear();
    {
        let DeadlockState {
            graph,
            blocking,
            touched,
            ..
        } = dl;
        let mut wait = |w: u32, h: u32| {
            if h == NONE || w == h {
                return;
            }
            graph.add_wait(w, h);
            if let Some(b) = blocking.get_mut(h as usize) {
                if *b == 0 {
                    touched.push(h);
                }
                *b += 1;
            }
        };
        for &id in &st.present {
            let r = &st.req[id as usize];
            match r.movement {
                Ruling::Lost {
                    winner: Some(w), ..
                } => wait(id, w),
                Ruling::Blocked { by } => wait(id, by),
                _ => {}
            }
            if let (Some(res), Ruling::Lost { .. } | Ruling::Blocked { .. }) = (r.resource, r.res) {
                for &h in resources.holders(res) {
                    wait(id, h);
                }
            }
            if let (Some(task), Ruling::Lost { .. } | Ruling::Blocked { .. }) = (r.task, r.tsk) {
                for h in tasks.holders(task) {
                    wait(id, h);
                }
            }
        }
    }

    // 6. Deadlocks: cycles of waits, tracked over ticks; lasting ones get a victim.
    dl.graph.deadlocks_into(&mut dl.found);
    let report = dl.tracker.update(tick, &dl.found);
    for d in &report.started {
        stats.deadlock_started(d.size() as u64);
    }
    for e in &report.ended {
        stats.deadlock_ended(e.duration());
    }
    counts.deadlocks_started = report.started.len() as u64;
    counts.deadlocks_open = dl.found.len() as u64;
    dl.victims.clear();
    let spec = config.deadlock;
    for d in &dl.found {
        let first_seen = dl.tracker.first_seen(d.members()).unwrap_or(tick);
        let age = tick - first_seen + 1;
        stats.deadlock_open_for(age);
        if age < spec.patience {
            continue;
        }
        let victim = match spec.victim {
            VictimRule::Youngest => d.youngest(),
            VictimRule::LowestPriority => d.lowest_priority(|a| st.req[a as usize].urgency),
            VictimRule::Random => {
                let key = |a: u32| {
                    let mut r = rng.agent(a, tick, Purpose::CONFLICT);
                    for _ in 0..VICTIM_DRAW {
                        r.next_u64();
                    }
                    r.next_u64()
                };
                d.members()
                    .iter()
                    .copied()
                    .min_by_key(|&a| (key(a), a))
                    .unwrap_or_else(|| d.youngest())
            }
        };
        let r = &st.req[victim as usize];
        let waiting_for = [r.movement, r.res, r.tsk]
            .iter()
            .find_map(|ruling| match *ruling {
                Ruling::Blocked { by }
                | Ruling::Lost {
                    winner: Some(by), ..
                } if d.members().binary_search(&by).is_ok() => Some(by),
                _ => None,
            });
        dl.victims.push((
            victim,
            VictimOrder {
                action: spec.action,
                size: d.size() as u32,
                waiting_for,
            },
        ));
    }
    for &(victim, _) in &dl.victims {
        counts.victims += 1;
        stats.agent_mut(victim).victim += 1;
        // Preemption breaks hold-and-wait: the victim lets go of what it holds.
        let book = &mut st.book[victim as usize];
        book.res_held = false;
        book.task_held = false;
        let r = &mut st.req[victim as usize];
        if r.res == Ruling::Granted {
            r.res = Ruling::Lost {
                kind: ConflictKind::Resource,
                winner: None,
            };
        }
        if r.tsk == Ruling::Granted {
            r.tsk = Ruling::Lost {
                kind: ConflictKind::Task,
                winner: None,
            };
        }
    }
    if !dl.victims.is_empty() {
        // Rebuild the holder lists without the victims.
        resources.begin_tick();
        dl.held_tasks.clear();
        for &id in &st.present {
            let r = &st.req[id as usize];
            match (r.resource, r.res) {
                (Some(res), Ruling::Granted) => resources.add_holder(res, id),
                (Some(res), _) => resources.add_waiter(res),
                _ => {}
            }
            if let (Some(task), Ruling::Granted) = (r.task, r.tsk) {
                dl.held_tasks.push((task, id));
            }
        }
        tasks.set_held(&dl.held_tasks);
    }
    dl.victims.sort_unstable_by_key(|v| v.0);

    // 7. Backoffs the policy asked for.
    for &(agent, until) in &conflicts.deferrals {
        if let Some(b) = st.book.get_mut(agent as usize) {
            b.deferred_until = until;
        }
    }

    // 8. Per-agent bookkeeping.
    for &id in &st.present {
        let r = st.req[id as usize];
        let b = &mut st.book[id as usize];
        b.res_held = r.res == Ruling::Granted;
        b.task_held = r.tsk == Ruling::Granted;
        if r.lost {
            b.losses = b.losses.saturating_add(1);
        } else if r.won {
            b.losses = 0;
        }
        for (k, ruling) in [r.movement, r.res, r.tsk].into_iter().enumerate() {
            match ruling {
                Ruling::Granted => {
                    if let Some(t0) = b.contested_since[k].take() {
                        stats.resolved(tick - t0);
                    }
                }
                Ruling::Lost { .. } | Ruling::Blocked { .. } | Ruling::Deferred { .. } => {
                    b.contested_since[k].get_or_insert(tick);
                }
                _ => {}
            }
        }
        let waiting = r.movement.is_wait() || r.res.is_wait() || r.tsk.is_wait();
        let deferred = matches!(r.movement, Ruling::Deferred { .. })
            || matches!(r.res, Ruling::Deferred { .. })
            || matches!(r.tsk, Ruling::Deferred { .. });
        counts.waiting += u64::from(waiting);
        counts.deferred += u64::from(deferred);
        let a = stats.agent_mut(id);
        if waiting {
            a.waited += 1;
            a.current_wait += 1;
            a.longest_wait = a.longest_wait.max(a.current_wait);
        } else {
            a.current_wait = 0;
        }
    }
    stats.close_tick(counts);

    // 9. Tell every agent.
    let (req, victims, blocking) = (&st.req, &dl.victims, &dl.blocking);
    outcomes.iter_mut().for_each(|(id, mut o)| {
        let Some(r) = req.get(id.0 as usize).filter(|r| r.present) else {
            return;
        };
        *o = Outcome {
            tick,
            movement: r.movement,
            resource: r.res,
            task: r.tsk,
            victim: victims
                .binary_search_by_key(&id.0, |v| v.0)
                .ok()
                .map(|i| victims[i].1),
            blocking: blocking.get(id.0 as usize).copied().unwrap_or(0),
        };
    });
}

/// The Apply system: granted moves change cells and the occupancy map.
pub(crate) fn apply(
    state: Res<'_, IntentState>,
    occupancy: Option<ResMut<'_, GridOccupancy>>,
    mut cells: Query<'_, '_, (&AgentId, &mut GridCell)>,
) {
    if state.granted_moves.is_empty() {
        return;
    }
    if let Some(mut occ) = occupancy {
        // All leave, then all arrive: chains and rotations need no order.
        for &(_, from, _) in &state.granted_moves {
            occ.vacate(from);
        }
        for &(a, _, to) in &state.granted_moves {
            let _placed = occ.place(to, a);
            debug_assert!(_placed.is_ok(), "settle granted two moves into one cell");
        }
    }
    let req = &state.req;
    cells.iter_mut().for_each(|(id, mut cell)| {
        if let Some(r) = req.get(id.0 as usize)
            && r.present
            && r.movement == Ruling::Granted
            && let Some(to) = r.to
        {
            *cell = to;
        }
    });
}
