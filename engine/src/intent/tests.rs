//! Detection against brute force on random intent sets, the one-agent-per-cell invariant after
//! Act, chains, rotations, resources, tasks and deadlocks on constructed cases.

use super::*;
use crate::prelude::*;
use crate::{Scenario, Sim, SimOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Agents whose intents a test scripts through the [`Script`] resource.
#[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Scripted {}

/// The intents to write in the next Decide, by agent id (absent: no intent at all).
#[derive(Resource, Default)]
struct Script(BTreeMap<u32, Intent>);

impl Behavior for Scripted {
    const NAME: &'static str = "scripted";
    const SUMMARY: &'static str = "Writes the intents a test scripts.";
    fn build(sim: &mut SimBuilder<'_>) {
        sim.use_intents();
        sim.init_resource::<Script>();
        sim.add_systems(Phase::Decide, play);
    }
    fn spawn(&self, agent: &mut AgentSpawn<'_>) {
        agent.insert(Intent::default());
    }
}

fn play(script: Res<'_, Script>, mut q: Query<'_, '_, (&AgentId, &mut Intent)>) {
    for (id, mut intent) in &mut q {
        *intent = script.0.get(&id.0).copied().unwrap_or_default();
    }
}

/// A policy that ranks by id descending and defers losers for 3 ticks.
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Reverse {}

impl Mechanism for Reverse {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "reverse";
    const SUMMARY: &'static str = "Highest id wins; losers back off 3 ticks.";
    fn build(sim: &mut SimBuilder<'_>) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, reverse);
    }
}

fn reverse(mut conflicts: ResMut<'_, Conflicts>) {
    let tick = conflicts.tick();
    let mut losers = Vec::new();
    for mut c in conflicts.iter_mut() {
        c.rank_by_key(|p| std::cmp::Reverse(p.agent));
        let w = c.winners() as usize;
        losers.extend(c.parties()[w..].iter().map(|p| p.agent));
    }
    for a in losers {
        conflicts.defer(a, tick + 4);
    }
    conflicts.add_messages(1);
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.behavior::<Scripted>().mechanism::<Reverse>();
    r
}

fn sim(world: &str, cells: &[(i32, i32)], extra: &str) -> Sim {
    let positions: Vec<String> = cells
        .iter()
        .map(|&(x, y)| format!("({x}.0, {y}.0)"))
        .collect();
    let text = format!(
        "(schema: 1, seed: 5, ticks: 100, world: ({world}),
          populations: [(behavior: \"scripted\", count: {}, placement: Positions([{}]))], {extra})",
        cells.len(),
        positions.join(", ")
    );
    let scenario = Scenario::parse(&text, "test", &registry()).unwrap_or_else(|e| panic!("{e}"));
    Sim::new(&scenario, &registry(), SimOptions::default()).unwrap()
}

const WALLS: &str = "kind: Grid, width: 8.0, height: 8.0, boundary: Walls, one_per_cell: true";

fn step(sim: &mut Sim, script: &[(u32, Intent)]) {
    sim.world_mut().resource_mut::<Script>().0 = script.iter().copied().collect();
    sim.step().unwrap();
}

fn go(x: i32, y: i32) -> Intent {
    Intent {
        to: Some(GridCell::new(x, y)),
        ..Intent::default()
    }
}

fn cells(sim: &mut Sim) -> BTreeMap<u32, GridCell> {
    let mut q = sim.world_mut().query::<(&AgentId, &GridCell)>();
    q.iter(sim.world()).map(|(id, c)| (id.0, *c)).collect()
}

fn outcomes(sim: &mut Sim) -> BTreeMap<u32, Outcome> {
    let mut q = sim.world_mut().query::<(&AgentId, &Outcome)>();
    q.iter(sim.world()).map(|(id, o)| (id.0, *o)).collect()
}

fn kinds(sim: &Sim) -> Vec<(ConflictKind, Contested, Vec<u32>)> {
    let mut out: Vec<_> = sim
        .world()
        .resource::<Conflicts>()
        .iter()
        .map(|(c, p)| {
            let mut parties: Vec<u32> = p.iter().map(|p| p.agent).collect();
            parties.sort_unstable();
            (c.kind(), c.thing(), parties)
        })
        .collect();
    out.sort_by_key(|a| (a.0, a.1));
    out
}

#[test]
fn single_file_follows_and_the_front_is_blocked_by_the_wall() {
    let mut s = sim(
        "kind: Grid, width: 4.0, height: 1.0, boundary: Walls, one_per_cell: true",
        &[(1, 0), (2, 0), (3, 0)],
        "",
    );
    // All step east: 2 is at the wall (a rejected move), 1 is blocked by 2, 0 by 1.
    step(&mut s, &[(0, go(2, 0)), (1, go(3, 0)), (2, go(4, 0))]);
    let o = outcomes(&mut s);
    assert_eq!(o[&2].movement, Ruling::Rejected(Rejection::OutsideGrid));
    assert_eq!(o[&1].movement, Ruling::Blocked { by: 2 });
    assert_eq!(o[&0].movement, Ruling::Blocked { by: 1 });
    assert_eq!(o[&1].blocking, 1);
    // Now the front steps west into the free cell and the others follow it.
    let mut s = sim(
        "kind: Grid, width: 4.0, height: 1.0, boundary: Walls, one_per_cell: true",
        &[(1, 0), (2, 0), (3, 0)],
        "",
    );
    step(&mut s, &[(0, go(0, 0)), (1, go(1, 0)), (2, go(2, 0))]);
    let c = cells(&mut s);
    assert_eq!((c[&0].x, c[&1].x, c[&2].x), (0, 1, 2));
}

#[test]
fn swaps_never_happen_and_the_loser_is_told() {
    let mut s = sim(WALLS, &[(1, 1), (2, 1)], "");
    step(&mut s, &[(0, go(2, 1)), (1, go(1, 1))]);
    let found = kinds(&s);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, ConflictKind::Swap);
    let o = outcomes(&mut s);
    // First come, ties to the lowest id: 0 has the right of way and waits for 1.
    assert_eq!(o[&0].movement, Ruling::Blocked { by: 1 });
    assert_eq!(
        o[&1].movement,
        Ruling::Lost {
            kind: ConflictKind::Swap,
            winner: Some(0)
        }
    );
    assert_eq!(cells(&mut s)[&0], GridCell::new(1, 1));
    // The 2-cycle is a deadlock; with patience 2 the youngest is told to back off on the
    // second tick.
    assert!(o[&1].victim.is_none());
    step(&mut s, &[(0, go(2, 1)), (1, go(1, 1))]);
    let o = outcomes(&mut s);
    let order = o[&1].victim.expect("a victim after two ticks");
    assert_eq!(
        (order.action, order.size, order.waiting_for),
        (DeadlockAction::BackOff, 2, Some(0))
    );
    let stats = s.world().resource::<ConflictStats>();
    assert_eq!(stats.total.of(ConflictKind::Swap), 2);
    assert_eq!(stats.total.deadlocks_started, 1);
    // The victim makes way to the north, marking the move; 0 follows into its cell.
    step(
        &mut s,
        &[
            (0, go(2, 1)),
            (
                1,
                Intent {
                    to: Some(GridCell::new(2, 2)),
                    give_way: true,
                    ..Intent::default()
                },
            ),
        ],
    );
    let c = cells(&mut s);
    assert_eq!((c[&0], c[&1]), (GridCell::new(2, 1), GridCell::new(2, 2)));
    let stats = s.world().resource::<ConflictStats>();
    assert_eq!(stats.deadlocks_ended(), 1);
    assert_eq!(stats.max_deadlock_duration(), 2);
}

#[test]
fn rotations_of_three_or_more_move_together() {
    // A 2x2 block turning clockwise: four agents, each into the next one's cell.
    let mut s = sim(WALLS, &[(1, 1), (2, 1), (2, 2), (1, 2)], "");
    step(
        &mut s,
        &[(0, go(2, 1)), (1, go(2, 2)), (2, go(1, 2)), (3, go(1, 1))],
    );
    let c = cells(&mut s);
    assert_eq!(
        (c[&0], c[&1], c[&2], c[&3]),
        (
            GridCell::new(2, 1),
            GridCell::new(2, 2),
            GridCell::new(1, 2),
            GridCell::new(1, 1)
        )
    );
    assert!(kinds(&s).is_empty());
}

#[test]
fn give_way_beats_the_policy_and_pushes_the_queue_back() {
    // 1 backs off east into 2's cell while 2 wants to go west: a swap. The policy ranks the
    // highest id first, but a move that makes way goes first; 0 follows 1.
    let mut s = sim(
        WALLS,
        &[(1, 1), (2, 1), (3, 1)],
        "conflicts: (policy: \"reverse\")",
    );
    let back = Intent {
        to: Some(GridCell::new(3, 1)),
        give_way: true,
        ..Intent::default()
    };
    step(&mut s, &[(0, go(2, 1)), (1, back), (2, go(2, 1))]);
    let o = outcomes(&mut s);
    // 0 and 2 also contend for 1's cell: the policy gives it to 2, who is stuck in the swap.
    assert_eq!(
        o[&2].movement,
        Ruling::Lost {
            kind: ConflictKind::Swap,
            winner: Some(1)
        }
    );
    assert_eq!(o[&1].movement, Ruling::Blocked { by: 2 });
    assert_eq!(
        o[&0].movement,
        Ruling::Lost {
            kind: ConflictKind::Vertex,
            winner: Some(2)
        }
    );
}

#[test]
fn vertex_conflicts_go_to_the_policy_and_backoff_defers() {
    let mut s = sim(
        WALLS,
        &[(1, 1), (3, 1), (2, 2)],
        "conflicts: (policy: \"reverse\")",
    );
    let all = [(0, go(2, 1)), (1, go(2, 1)), (2, go(2, 1))];
    step(&mut s, &all);
    assert_eq!(
        kinds(&s),
        vec![(
            ConflictKind::Vertex,
            Contested::Cell(GridCell::new(2, 1)),
            vec![0, 1, 2]
        )]
    );
    let o = outcomes(&mut s);
    assert_eq!(o[&2].movement, Ruling::Granted);
    assert_eq!(
        o[&0].movement,
        Ruling::Lost {
            kind: ConflictKind::Vertex,
            winner: Some(2)
        }
    );
    // Losers back off until tick 4: their wants are ignored meanwhile.
    step(&mut s, &all);
    let o = outcomes(&mut s);
    assert_eq!(o[&0].movement, Ruling::Deferred { until: 4 });
    assert!(kinds(&s).is_empty());
    let stats = s.world().resource::<ConflictStats>();
    assert_eq!(stats.total.messages, 2);
    assert_eq!(stats.agent(2).unwrap().wins, 1);
    assert_eq!(stats.agent(0).unwrap().waited, 2);
}

#[test]
fn resources_hold_queue_and_conflict_over_free_units() {
    let mut s = sim(
        WALLS,
        &[(0, 0), (1, 0), (2, 0), (3, 0), (7, 7)],
        "resources: [(name: \"dock\", cells: [(1, 1), (2, 1)], capacity: 2)]",
    );
    let dock = Intent {
        resource: Some(ResourceId(0)),
        ..Intent::default()
    };
    // Four want two units: a conflict over 2 free units; 4 is out of range.
    step(
        &mut s,
        &[(0, dock), (1, dock), (2, dock), (3, dock), (4, dock)],
    );
    assert_eq!(
        kinds(&s),
        vec![(
            ConflictKind::Resource,
            Contested::Resource(ResourceId(0)),
            vec![0, 1, 2, 3]
        )]
    );
    let o = outcomes(&mut s);
    assert_eq!(o[&4].resource, Ruling::Rejected(Rejection::OutOfRange));
    assert_eq!(
        (o[&0].resource, o[&1].resource),
        (Ruling::Granted, Ruling::Granted)
    );
    assert!(matches!(
        o[&2].resource,
        Ruling::Lost {
            winner: Some(0),
            ..
        }
    ));
    let res = s.world().resource::<Resources>();
    assert_eq!(
        (res.holders(ResourceId(0)), res.queue_len(ResourceId(0))),
        (&[0, 1][..], 2)
    );
    // Holders keep their units; the others are blocked without a new conflict.
    step(&mut s, &[(0, dock), (1, dock), (2, dock), (3, dock)]);
    assert!(kinds(&s).is_empty());
    let o = outcomes(&mut s);
    assert_eq!(o[&2].resource, Ruling::Blocked { by: 0 });
    // 0 lets go: one free unit, two requesters, a conflict; 2 came first (same tick as 3,
    // lower id).
    step(&mut s, &[(1, dock), (2, dock), (3, dock)]);
    assert_eq!(kinds(&s).len(), 1);
    let res = s.world().resource::<Resources>();
    assert_eq!(res.holders(ResourceId(0)), &[1, 2]);
    let stats = s.world().resource::<ConflictStats>();
    assert_eq!(stats.resolutions(), 1);
    assert_eq!(stats.mean_resolution_time(), 2.0);
}

#[test]
fn task_double_claims_and_capacities() {
    let mut s = sim(WALLS, &[(0, 0), (1, 0), (2, 0)], "");
    let claim = |t| Intent {
        task: Some(t),
        ..Intent::default()
    };
    step(&mut s, &[(0, claim(7)), (1, claim(7)), (2, claim(9))]);
    assert_eq!(
        kinds(&s),
        vec![(ConflictKind::Task, Contested::Task(7), vec![0, 1])]
    );
    assert_eq!(
        s.world().resource::<TaskClaims>().claims(),
        &[(7, 0), (9, 2)]
    );
    s.world_mut()
        .resource_mut::<TaskClaims>()
        .set_capacity(9, 2);
    step(&mut s, &[(0, claim(7)), (1, claim(9)), (2, claim(9))]);
    assert!(kinds(&s).is_empty());
    assert_eq!(
        s.world().resource::<TaskClaims>().claims(),
        &[(7, 0), (9, 1), (9, 2)]
    );
}

#[test]
fn hold_and_wait_cycles_are_deadlocks_and_the_victim_lets_go() {
    // 0 holds resource a and claims task 11, which 1 holds; 1 keeps task 11 and wants a.
    let mut s = sim(
        WALLS,
        &[(0, 0), (5, 5)],
        "resources: [(name: \"a\")], conflicts: (policy: \"reverse\", deadlock: (victim: LowestPriority, patience: 1))",
    );
    let a = Some(ResourceId(0));
    step(
        &mut s,
        &[
            (
                0,
                Intent {
                    resource: a,
                    ..Intent::default()
                },
            ),
            (
                1,
                Intent {
                    task: Some(11),
                    ..Intent::default()
                },
            ),
        ],
    );
    let both = Intent {
        resource: a,
        task: Some(11),
        ..Intent::default()
    };
    step(&mut s, &[(0, both), (1, both)]);
    let o = outcomes(&mut s);
    assert_eq!(o[&0].task, Ruling::Blocked { by: 1 });
    // Equal urgency: the lowest id is the victim, and it loses its hold on a at once.
    let order = o[&0].victim.expect("0 is the victim");
    assert_eq!((order.size, order.waiting_for), (2, Some(1)));
    assert!(matches!(o[&0].resource, Ruling::Lost { winner: None, .. }));
    assert_eq!(o[&1].resource, Ruling::Blocked { by: 0 });
    assert!(
        s.world()
            .resource::<Resources>()
            .holders(ResourceId(0))
            .is_empty()
    );
    // Next tick a is free: 0 and 1 contend for it and the policy gives it to 1; no cycle.
    step(&mut s, &[(0, both), (1, both)]);
    let o = outcomes(&mut s);
    assert_eq!(o[&1].resource, Ruling::Granted);
    assert!(o[&0].victim.is_none());
    let stats = s.world().resource::<ConflictStats>();
    assert_eq!((stats.total.victims, stats.deadlocks_ended()), (1, 1));
}

#[test]
fn deadlock_cycles_of_blocked_moves_get_victims_by_rule() {
    // 0 and 2 both want 1's cell (a vertex conflict), and 1 and 2 want each other's cells (a
    // swap). The reverse policy gives both to 2: 0 waits for 2, 2 for 1, 1 for 2.
    let mut s = sim(
        WALLS,
        &[(1, 1), (2, 1), (2, 2)],
        "conflicts: (policy: \"reverse\", deadlock: (victim: Youngest, action: Replan, patience: 1))",
    );
    step(&mut s, &[(0, go(2, 1)), (1, go(2, 2)), (2, go(2, 1))]);
    assert_eq!(kinds(&s).len(), 2);
    let o = outcomes(&mut s);
    let victims: Vec<u32> = o
        .iter()
        .filter(|(_, o)| o.victim.is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(victims, vec![2]);
    assert_eq!(o[&2].victim.unwrap().action, DeadlockAction::Replan);
    assert_eq!(o[&2].blocking, 2);
}

/// A tiny deterministic generator for the brute-force test (independent of the engine's).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn detection_agrees_with_brute_force_and_act_keeps_one_agent_per_cell() {
    let mut rng = Lcg(42);
    for case in 0..120 {
        let torus = case % 2 == 0;
        let moore = case % 3 != 0;
        let world = format!(
            "kind: Grid, width: 6.0, height: 5.0, boundary: {}, neighborhood: {}, one_per_cell: true, obstacles: [(0, 0), (3, 2)]",
            if torus { "Torus" } else { "Walls" },
            if moore { "Moore" } else { "VonNeumann" }
        );
        let mut free: Vec<(i32, i32)> = (0..5)
            .flat_map(|y| (0..6).map(move |x| (x, y)))
            .filter(|c| *c != (0, 0) && *c != (3, 2))
            .collect();
        let n = 4 + rng.below(20) as usize;
        for i in 0..n {
            let j = i + rng.below((free.len() - i) as u64) as usize;
            free.swap(i, j);
        }
        let start: Vec<(i32, i32)> = free[..n].to_vec();
        let mut s = sim(
            &world,
            &start,
            "resources: [(name: \"r\", capacity: 2), (name: \"s\", capacity: 1)]",
        );
        for _round in 0..4 {
            let before = cells(&mut s);
            let mut script = Vec::new();
            for (&id, c) in &before {
                let mut intent = Intent::default();
                if rng.below(5) != 0 {
                    let dx = rng.below(3) as i32 - 1;
                    let dy = rng.below(3) as i32 - 1;
                    intent.to = Some(GridCell::new(c.x + dx, c.y + dy));
                }
                match rng.below(4) {
                    0 => intent.resource = Some(ResourceId(0)),
                    1 => intent.resource = Some(ResourceId(1)),
                    _ => {}
                }
                if rng.below(3) == 0 {
                    intent.task = Some(rng.below(3) as u32);
                }
                script.push((id, intent));
            }
            let holders_before: Vec<Vec<u32>> = {
                let r = s.world().resource::<Resources>();
                r.ids().map(|id| r.holders(id).to_vec()).collect()
            };
            let tasks_before: Vec<(u32, u32)> =
                s.world().resource::<TaskClaims>().claims().to_vec();
            step(&mut s, &script);
            let after = cells(&mut s);
            let out = outcomes(&mut s);
            let detected: BTreeSet<_> = kinds(&s).into_iter().collect();

            // Brute force over the script.
            let wrap = |x: i32, y: i32| -> Option<GridCell> {
                if torus {
                    Some(GridCell::new(x.rem_euclid(6), y.rem_euclid(5)))
                } else if (0..6).contains(&x) && (0..5).contains(&y) {
                    Some(GridCell::new(x, y))
                } else {
                    None
                }
            };
            let valid_move = |id: u32, intent: &Intent| -> Option<GridCell> {
                let from = before[&id];
                let t = intent.to?;
                let t = wrap(t.x, t.y)?;
                if t == from || t == GridCell::new(0, 0) || t == GridCell::new(3, 2) {
                    return None;
                }
                let d = |a: i32, b: i32, n: i32| {
                    let d = (a - b).abs();
                    if torus { d.min(n - d) } else { d }
                };
                let (dx, dy) = (d(from.x, t.x, 6), d(from.y, t.y, 5));
                let ok = if moore {
                    dx <= 1 && dy <= 1
                } else {
                    dx + dy <= 1
                };
                ok.then_some(t)
            };
            let deferred = |id: u32| matches!(out[&id].movement, Ruling::Deferred { .. });
            let moves: BTreeMap<u32, GridCell> = script
                .iter()
                .filter(|(id, _)| !deferred(*id))
                .filter_map(|(id, i)| valid_move(*id, i).map(|t| (*id, t)))
                .collect();
            let mut expected = BTreeSet::new();
            let mut by_target: BTreeMap<GridCell, Vec<u32>> = BTreeMap::new();
            for (&id, &t) in &moves {
                by_target.entry(t).or_default().push(id);
            }
            for (t, ids) in by_target {
                if ids.len() >= 2 {
                    expected.insert((ConflictKind::Vertex, Contested::Cell(t), ids));
                }
            }
            for (&a, &ta) in &moves {
                for (&b, &tb) in &moves {
                    if a < b && ta == before[&b] && tb == before[&a] {
                        let (x, y) = (before[&a], before[&b]);
                        let edge = if x < y {
                            Contested::Edge(x, y)
                        } else {
                            Contested::Edge(y, x)
                        };
                        expected.insert((ConflictKind::Swap, edge, vec![a, b]));
                    }
                }
            }
            for (res, cap) in [(0u32, 2usize), (1, 1)] {
                let holders = &holders_before[res as usize];
                let mut renew = 0;
                let mut req = Vec::new();
                for (id, i) in &script {
                    if i.resource == Some(ResourceId(res)) {
                        if holders.contains(id) {
                            renew += 1;
                        } else if !matches!(out[id].resource, Ruling::Deferred { .. }) {
                            req.push(*id);
                        }
                    }
                }
                let free = cap - renew;
                if req.len() >= 2 && req.len() > free && free >= 1 {
                    expected.insert((
                        ConflictKind::Resource,
                        Contested::Resource(ResourceId(res)),
                        req,
                    ));
                }
            }
            for task in 0..3u32 {
                let mut renew = 0;
                let mut req = Vec::new();
                for (id, i) in &script {
                    if i.task == Some(task) {
                        if tasks_before.contains(&(task, *id)) {
                            renew += 1;
                        } else if !matches!(out[id].task, Ruling::Deferred { .. }) {
                            req.push(*id);
                        }
                    }
                }
                let free = 1usize.saturating_sub(renew);
                if req.len() >= 2 && req.len() > free && free >= 1 {
                    expected.insert((ConflictKind::Task, Contested::Task(task), req));
                }
            }
            assert_eq!(detected, expected, "case {case}");

            // After Act: one agent per cell, matching the occupancy map; only granted moves
            // happened, each to its target; nobody swapped.
            let occupied: BTreeSet<GridCell> = after.values().copied().collect();
            assert_eq!(
                occupied.len(),
                after.len(),
                "case {case}: two agents share a cell"
            );
            let occ = s.world().resource::<GridOccupancy>();
            for (&id, &c) in &after {
                assert_eq!(occ.occupant(c), Some(id), "case {case}");
                let moved = c != before[&id];
                assert_eq!(
                    moved,
                    out[&id].movement == Ruling::Granted,
                    "case {case} agent {id}"
                );
                if moved {
                    assert_eq!(Some(c), moves.get(&id).copied());
                }
            }
            for (&a, &ca) in &after {
                for (&b, &cb) in &after {
                    assert!(
                        !(a < b && ca == before[&b] && cb == before[&a] && ca != cb),
                        "case {case}: {a} and {b} swapped"
                    );
                }
            }
            // A mover whose target was empty before and who is in no conflict moves.
            for (&id, &t) in &moves {
                let in_conflict = detected.iter().any(|(_, _, p)| p.contains(&id));
                if !in_conflict && !before.values().any(|&c| c == t) {
                    assert_eq!(out[&id].movement, Ruling::Granted, "case {case} agent {id}");
                }
            }
            // Resource holders never exceed the capacity.
            let r = s.world().resource::<Resources>();
            assert!(r.holders(ResourceId(0)).len() <= 2 && r.holders(ResourceId(1)).len() <= 1);
        }
    }
}

#[test]
fn random_deadlock_victims_are_members_drawn_from_the_seed() {
    // The cycle of `deadlock_cycles_of_blocked_moves_get_victims_by_rule`: 1 and 2 wait for
    // each other, 0 waits for 2 (a tail, never a victim).
    let victim = |seed: u64| -> u32 {
        let cells = [(1, 1), (2, 1), (2, 2)];
        let positions: Vec<String> = cells
            .iter()
            .map(|&(x, y)| format!("({x}.0, {y}.0)"))
            .collect();
        let text = format!(
            "(schema: 1, seed: {seed}, ticks: 100, world: ({WALLS}),
              populations: [(behavior: \"scripted\", count: 3, placement: Positions([{}]))],
              conflicts: (policy: \"reverse\", deadlock: (victim: Random, patience: 1)))",
            positions.join(", ")
        );
        let scenario = Scenario::parse(&text, "test", &registry()).unwrap();
        let mut s = Sim::new(&scenario, &registry(), SimOptions::default()).unwrap();
        step(&mut s, &[(0, go(2, 1)), (1, go(2, 2)), (2, go(2, 1))]);
        let o = outcomes(&mut s);
        let victims: Vec<u32> = o
            .iter()
            .filter(|(_, o)| o.victim.is_some())
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(victims.len(), 1, "seed {seed}: {victims:?}");
        victims[0]
    };
    let drawn: Vec<u32> = (0..24).map(victim).collect();
    assert!(drawn.iter().all(|v| [1, 2].contains(v)), "{drawn:?}");
    assert!(drawn.contains(&1) && drawn.contains(&2), "{drawn:?}");
    assert_eq!(drawn, (0..24).map(victim).collect::<Vec<_>>());
}
