//! The task life cycle through whole simulations: claims and conflicts, travel and work,
//! coalitions, precedence, skills, capacity, failures, deadlines, arrivals.

use super::*;
use crate::prelude::*;
use crate::{ConflictKind, ConflictStats, Conflicts};
use serde::{Deserialize, Serialize};

/// A worker with fixed skills, speed and capacity.
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TestWorker {
    skills: Vec<u32>,
    speed: f64,
    capacity: u32,
}

impl Default for TestWorker {
    fn default() -> Self {
        TestWorker {
            skills: vec![0],
            speed: 1.0,
            capacity: 1,
        }
    }
}

impl Behavior for TestWorker {
    const NAME: &'static str = "test_worker";
    const SUMMARY: &'static str = "Test worker.";
    fn build(_: &mut SimBuilder<'_>) {}
    fn spawn(&self, agent: &mut AgentSpawn<'_>) {
        agent.insert(Worker::new(
            SkillSet::from_skills(self.skills.iter().copied()),
            self.speed,
            self.capacity,
        ));
    }
}

/// Claims and releases at given ticks: `(tick, agent, task)`.
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Script {
    claims: Vec<(u64, u32, u32)>,
    releases: Vec<(u64, u32, u32)>,
}

impl Mechanism for Script {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "script";
    const SUMMARY: &'static str = "Scripted claims.";
    fn build(sim: &mut SimBuilder<'_>) {
        sim.add_systems(Phase::Decide, scripted);
    }
}

fn scripted(
    tick: Res<'_, Tick>,
    script: Res<'_, Script>,
    mut workers: Query<'_, '_, (&AgentId, &mut TaskIntents)>,
) {
    for (id, mut intents) in &mut workers {
        for &(t, a, task) in &script.claims {
            if t == tick.0 && a == id.0 {
                intents.claim(TaskId(task));
            }
        }
        for &(t, a, task) in &script.releases {
            if t == tick.0 && a == id.0 {
                intents.release(TaskId(task));
            }
        }
    }
}

/// A conflict policy: the highest id wins.
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Highest {}

impl Mechanism for Highest {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "highest";
    const SUMMARY: &'static str = "Highest id wins.";
    fn build(sim: &mut SimBuilder<'_>) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, highest);
    }
}

fn highest(mut conflicts: ResMut<'_, Conflicts>) {
    for mut c in conflicts.iter_mut() {
        c.rank_by_key(|p| std::cmp::Reverse(p.agent));
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.behavior::<TestWorker>()
        .mechanism::<Script>()
        .mechanism::<Highest>();
    r
}

fn sim(body: &str) -> Sim {
    let text = format!("(schema: 1, seed: 5, world: (width: 100.0, height: 100.0), {body})");
    let s = Scenario::parse(&text, "test.ron", &registry()).unwrap_or_else(|e| panic!("{e}"));
    Sim::new(&s, &registry(), SimOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn state(sim: &mut Sim, id: u32) -> TaskState {
    let e = sim
        .world()
        .resource::<TaskBoard>()
        .entity(TaskId(id))
        .unwrap();
    sim.world().get::<TaskState>(e).unwrap().clone()
}

fn notices(sim: &mut Sim, agent: u32) -> Vec<TaskNotice> {
    let mut q = sim.world_mut().query::<(&AgentId, &TaskNotices)>();
    q.iter(sim.world())
        .find(|(id, _)| id.0 == agent)
        .map(|(_, n)| n.0.clone())
        .unwrap()
}

fn worker(sim: &mut Sim, agent: u32) -> Worker {
    let mut q = sim.world_mut().query::<(&AgentId, &Worker)>();
    q.iter(sim.world())
        .find(|(id, _)| id.0 == agent)
        .map(|(_, w)| w.clone())
        .unwrap()
}

#[test]
fn contested_claim_goes_to_the_lowest_id_and_losers_are_told() {
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 3, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (15.0, 10.0), workload: 3)])]),
        allocation: (protocol: "script", params: (claims: [(0, 2, 0), (0, 1, 0), (0, 0, 0)]))"#);
    s.step().unwrap();
    assert_eq!(notices(&mut s, 0), vec![TaskNotice::Won(TaskId(0))]);
    for a in [1, 2] {
        assert_eq!(
            notices(&mut s, a),
            vec![TaskNotice::Lost {
                task: TaskId(0),
                winner: 0
            }]
        );
    }
    let st = state(&mut s, 0);
    assert_eq!(st.holders, vec![0]);
    assert_eq!(st.status, TaskStatus::Assigned);
    let last = s.world().resource::<TaskBoard>().last_resolution().clone();
    assert_eq!(last.awards.len(), 1);
    assert_eq!(last.open.len(), 1);
    assert!(last.awards[0].was_idle);
}

#[test]
fn with_a_conflict_policy_double_claims_are_its_task_conflicts() {
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 4, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (15.0, 10.0)), (at: (15.0, 10.0), agents: 2), (at: (1.0, 1.0))])]),
        conflicts: (policy: "highest"),
        allocation: (protocol: "script", params: (claims: [
            (0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 1), (0, 0, 1), (0, 3, 2),
        ]))"#);
    s.step().unwrap();
    // Each worker's lowest eligible claim is routed: 0 and 1 contend for task 0 and the
    // policy ranks 1 first; 2 and 3 take task 1's two places without a contest.
    assert_eq!(state(&mut s, 0).holders, vec![1]);
    assert_eq!(state(&mut s, 1).holders, vec![2, 3]);
    // Agent 0's second claim (task 1) was not routed: routed winners go first, so no place
    // is left for it. Agent 3's second claim finds its queue full.
    assert_eq!(
        notices(&mut s, 0),
        vec![
            TaskNotice::Lost {
                task: TaskId(0),
                winner: 1
            },
            TaskNotice::Lost {
                task: TaskId(1),
                winner: 2
            },
        ]
    );
    assert_eq!(
        notices(&mut s, 3),
        vec![
            TaskNotice::Won(TaskId(1)),
            TaskNotice::Rejected {
                task: TaskId(2),
                reason: RejectReason::Capacity
            }
        ]
    );
    assert_eq!(
        s.world()
            .resource::<ConflictStats>()
            .total
            .of(ConflictKind::Task),
        1
    );
    // Without the policy, the same claims go to the lowest ids.
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 4, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (15.0, 10.0)), (at: (15.0, 10.0), agents: 2), (at: (1.0, 1.0))])]),
        allocation: (protocol: "script", params: (claims: [
            (0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 1), (0, 0, 1), (0, 3, 2),
        ]))"#);
    s.step().unwrap();
    assert_eq!(state(&mut s, 0).holders, vec![0]);
    assert_eq!(state(&mut s, 1).holders, vec![2, 3]);
}

#[test]
fn travel_then_work_then_done_with_the_expected_timings() {
    // 5 units away at speed 1: ticks 0-4 travel, 5-7 work (workload 3), done in state 8.
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 1, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (15.0, 10.0), workload: 3, deadline: Some(7))])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0)]))"#);
    for _ in 0..8 {
        s.step().unwrap();
    }
    let st = state(&mut s, 0);
    assert_eq!(st.status, TaskStatus::Done);
    assert_eq!(
        (st.first_award, st.started, st.done),
        (Some(0), Some(5), Some(7))
    );
    assert_eq!(st.worked_by, vec![(0, 3)]);
    let w = worker(&mut s, 0);
    assert!(w.is_idle());
    assert_eq!((w.travelled(), w.worked(), w.completed()), (5.0, 3, 1));
    let stats = s.world().resource::<TaskStats>().clone();
    assert_eq!(stats.waits, vec![5]);
    assert_eq!(stats.latencies, vec![8]);
    assert_eq!(stats.award_times, vec![0]);
    assert_eq!(stats.makespan, 8);
    assert_eq!(stats.done_late, 1, "done in state 8, deadline 7");
    assert_eq!(notices(&mut s, 0), vec![TaskNotice::Completed(TaskId(0))]);
}

#[test]
fn coalition_tasks_progress_only_when_every_needed_worker_is_there() {
    let mut s = sim(r#"ticks: 30,
        populations: [
            (behavior: "test_worker", count: 1, placement: Point(10.0, 10.0)),
            (behavior: "test_worker", count: 1, placement: Point(30.0, 10.0)),
        ],
        tasks: (arrivals: [List([(at: (12.0, 10.0), workload: 2, agents: 2)])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0), (3, 1, 0)]))"#);
    s.step().unwrap();
    assert_eq!(
        state(&mut s, 0).status,
        TaskStatus::Open,
        "one of two places taken"
    );
    for _ in 0..10 {
        s.step().unwrap();
    }
    // Agent 0 arrived at tick 1 and waits; agent 1 claims at 3, travels 18 units (3..=20).
    assert_eq!(state(&mut s, 0).work_done, 0);
    for _ in 0..13 {
        s.step().unwrap();
    }
    let st = state(&mut s, 0);
    assert_eq!(st.status, TaskStatus::Done);
    assert_eq!((st.started, st.done), (Some(21), Some(22)));
    assert_eq!(st.worked_by, vec![(0, 2), (1, 2)]);
}

#[test]
fn precedence_blocks_claims_until_predecessors_are_done() {
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 2, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([
            (at: (10.0, 10.0), workload: 2),
            (at: (10.0, 10.0), workload: 1, after: [0]),
        ])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0), (0, 1, 1), (2, 1, 1)]))"#);
    s.step().unwrap();
    assert_eq!(
        notices(&mut s, 1),
        vec![TaskNotice::Rejected {
            task: TaskId(1),
            reason: RejectReason::Unavailable
        }]
    );
    assert_eq!(state(&mut s, 1).status, TaskStatus::Blocked);
    s.step().unwrap();
    // Task 0 worked at ticks 0 and 1: done, so task 1 opens for tick 2.
    assert_eq!(state(&mut s, 0).status, TaskStatus::Done);
    assert_eq!(state(&mut s, 1).status, TaskStatus::Open);
    s.step().unwrap();
    // Already on the spot: won and worked (workload 1) in the same tick.
    assert_eq!(
        notices(&mut s, 1),
        vec![TaskNotice::Won(TaskId(1)), TaskNotice::Completed(TaskId(1))]
    );
    let st = state(&mut s, 1);
    assert_eq!(st.status, TaskStatus::Done);
    assert!(st.started.unwrap() > state(&mut s, 0).done.unwrap());
}

#[test]
fn skills_and_capacity_are_enforced() {
    let mut s = sim(r#"ticks: 5,
        populations: [(behavior: "test_worker", count: 1, params: (skills: [1], capacity: 1))],
        tasks: (skills: 2, arrivals: [List([
            (at: (1.0, 1.0), skills: [0]),
            (at: (1.0, 1.0), skills: [1]),
            (at: (1.0, 1.0), skills: [1]),
        ])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0), (0, 0, 1), (0, 0, 2)]))"#);
    s.step().unwrap();
    assert_eq!(
        notices(&mut s, 0),
        vec![
            TaskNotice::Rejected {
                task: TaskId(0),
                reason: RejectReason::Skills
            },
            TaskNotice::Won(TaskId(1)),
            TaskNotice::Rejected {
                task: TaskId(2),
                reason: RejectReason::Capacity
            },
        ]
    );
}

#[test]
fn releases_reopen_and_failed_workers_lose_their_tasks() {
    let mut s = sim(r#"ticks: 40,
        populations: [(behavior: "test_worker", count: 2, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (20.0, 10.0), workload: 5), (at: (20.0, 10.0), workload: 5)])]),
        allocation: (protocol: "script", params: (
            claims: [(0, 0, 0), (0, 1, 1), (2, 1, 1), (6, 1, 0)],
            releases: [(1, 1, 1)],
        ))"#);
    s.step().unwrap();
    s.step().unwrap();
    assert_eq!(notices(&mut s, 1), vec![TaskNotice::Released(TaskId(1))]);
    assert_eq!(state(&mut s, 1).status, TaskStatus::Open);
    s.step().unwrap();
    assert_eq!(state(&mut s, 1).holders, vec![1]);
    for _ in 0..2 {
        s.step().unwrap();
    }
    // Agent 0 fails while holding task 0: despawned, as scenario events do.
    let e = {
        let mut q = s.world_mut().query::<(Entity, &AgentId)>();
        q.iter(s.world()).find(|(_, id)| id.0 == 0).unwrap().0
    };
    s.world_mut().despawn(e);
    s.step().unwrap();
    let st = state(&mut s, 0);
    assert_eq!(st.status, TaskStatus::Open);
    assert!(st.holders.is_empty());
    assert_eq!(st.orphaned_at, Some(6));
    // Agent 1 (still on task 1, capacity 1) is refused; it is told why.
    s.step().unwrap();
    assert_eq!(
        notices(&mut s, 1),
        vec![TaskNotice::Rejected {
            task: TaskId(0),
            reason: RejectReason::Capacity
        }]
    );
    let stats = s.world().resource::<TaskStats>().clone();
    assert_eq!((stats.orphaned, stats.releases), (1, 1));
}

#[test]
fn a_reallocated_orphan_records_its_recovery_time() {
    let mut s = sim(r#"ticks: 40,
        populations: [(behavior: "test_worker", count: 2, placement: Point(10.0, 10.0))],
        tasks: (arrivals: [List([(at: (20.0, 10.0), workload: 50)])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0), (7, 1, 0)]))"#);
    for _ in 0..3 {
        s.step().unwrap();
    }
    let e = {
        let mut q = s.world_mut().query::<(Entity, &AgentId)>();
        q.iter(s.world()).find(|(_, id)| id.0 == 0).unwrap().0
    };
    s.world_mut().despawn(e);
    for _ in 0..5 {
        s.step().unwrap();
    }
    let stats = s.world().resource::<TaskStats>().clone();
    assert_eq!((stats.orphaned, stats.reallocated), (1, 1));
    // Despawned after tick 2; reopened for tick 4 by tick 3's upkeep; awarded at tick 7.
    assert_eq!(stats.recovery_times, vec![7 - 4]);
    assert_eq!(state(&mut s, 0).holders, vec![1]);
}

#[test]
fn overdue_tasks_expire_when_asked() {
    let mut s = sim(r#"ticks: 20,
        populations: [(behavior: "test_worker", count: 1, placement: Point(10.0, 10.0))],
        tasks: (expire: true, arrivals: [List([
            (at: (90.0, 10.0), workload: 1, deadline: Some(4)),
            (at: (10.0, 10.0), workload: 1, deadline: Some(4)),
        ])]),
        allocation: (protocol: "script", params: (claims: [(0, 0, 0)]))"#);
    for _ in 0..5 {
        s.step().unwrap();
    }
    assert_eq!(state(&mut s, 0).status, TaskStatus::Expired);
    assert_eq!(state(&mut s, 1).status, TaskStatus::Expired);
    assert!(worker(&mut s, 0).is_idle());
    assert_eq!(notices(&mut s, 0), vec![TaskNotice::Expired(TaskId(0))]);
    assert_eq!(s.world().resource::<TaskStats>().expired, 2);
}

#[test]
fn generated_arrivals_appear_at_their_release_tick() {
    let mut s = sim(r#"ticks: 50,
        populations: [(behavior: "test_worker", count: 1)],
        tasks: (skills: 3, arrivals: [
            Poisson(rate: 0.5, start: 5, template: (skills: Random(1))),
            Bursts(count: 4, at: [10]),
        ])"#);
    assert_eq!(s.world().resource::<TaskStats>().released, 0);
    s.run().unwrap();
    let board = s.world().resource::<TaskBoard>();
    let n = board.id_count();
    assert!(n > 4 + 10, "{n} tasks");
    let mut q = s.world_mut().query::<&Task>();
    let mut tasks: Vec<Task> = q.iter(s.world()).cloned().collect();
    tasks.sort_by_key(|t| t.id);
    assert!(tasks.iter().all(|t| t.release >= 5 && t.release <= 50));
    assert_eq!(tasks.iter().filter(|t| t.skills.is_empty()).count(), 4);
    assert!(
        tasks
            .iter()
            .filter(|t| !t.skills.is_empty())
            .all(|t| t.skills.0.count_ones() == 1)
    );
}

#[test]
fn bad_task_sections_point_at_the_field() {
    let registry = registry();
    let parse = |body: &str| {
        Scenario::parse(
            &format!(
                "(schema: 1, seed: 1, ticks: 5, world: (width: 10.0, height: 10.0),
                  populations: [(behavior: \"test_worker\", count: 1)],
                  {body})"
            ),
            "bad.ron",
            &registry,
        )
        .unwrap_err()
    };
    let e = parse("tasks: (arrivals: [Poisson(rate: -1.0)])");
    assert_eq!(e.field.as_deref(), Some("tasks.arrivals[0].rate"));
    assert!(e.line.is_some(), "{e}");
    let e = parse("tasks: (skills: 2, arrivals: [List([(at: (1.0, 1.0), skills: [3])])])");
    assert_eq!(e.field.as_deref(), Some("tasks.arrivals[0][0][0].skills"));
    assert!(e.line.is_some(), "{e}");
    let e = parse("tasks: (arrivals: [List([(at: (1.0, 1.0), after: [4])])])");
    assert!(e.message.contains("not in this list"), "{e}");
    let e = parse("tasks: (arrivals: [Poison(rate: 1.0)])");
    assert!(e.to_string().contains("Poisson"), "{e}");
    let e = parse(
        "tasks: (arrivals: [List([(at: (1.0, 1.0), after: [1]), (at: (1.0, 1.0), after: [0])])])",
    );
    assert!(e.message.contains("cycle"), "{e}");
}
