//! Task allocation, end to end: the task invariants under every protocol, the optimal
//! protocol against brute force, the OR-Library optimum, the 50% profit bound, optimality
//! gaps on the static instance, emergent division of labour, and determinism through the CLI.

use agora_agents::allocation::common::GapMonitor;
use agora_agents::allocation::greedy::greedy_assignment;
use agora_agents::allocation::lap::{self, CostMatrix, Objective};
use agora_engine::task::{Task, TaskBoard, TaskState, TaskStatus, Worker};
use agora_engine::{AgentId, MemorySink, Scenario, Sim, SimOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(file: &str, overrides: &[&str]) -> Scenario {
    let registry = agora_agents::registry();
    let s = Scenario::load(&repo_root().join(file), &registry).unwrap_or_else(|e| panic!("{e}"));
    let o: Vec<_> = overrides
        .iter()
        .map(|o| agora_engine::scenario::overrides::parse_assignment(o).unwrap())
        .collect();
    s.with_overrides(&o, &registry)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sim(s: &Scenario) -> Sim {
    let mut sim = Sim::new(s, &agora_agents::registry(), SimOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    sim.set_output(Box::new(MemorySink::default())).unwrap();
    sim
}

/// The protocol files that share the base world.
const PROTOCOLS: &[&str] = &["optimal", "greedy", "random", "response_threshold"];

/// Checks the task invariants on the current state: a task has at most as many holders as
/// it needs, every holder holds it in its queue and nobody else does, queues respect
/// capacity, a completed task was worked for exactly its workload by every worker it needed
/// and only by workers with the required skills, and it started only after every
/// predecessor was done.
fn check_invariants(sim: &mut Sim, what: &str) {
    let world = sim.world_mut();
    let mut wq = world.query::<(&AgentId, &Worker)>();
    let workers: Vec<(u32, Worker)> = wq.iter(world).map(|(id, w)| (id.0, w.clone())).collect();
    let mut tq = world.query::<(&Task, &TaskState)>();
    let tasks: Vec<(Task, TaskState)> = tq
        .iter(world)
        .map(|(t, s)| (t.clone(), s.clone()))
        .collect();
    let board = world.resource::<TaskBoard>();
    let find = |id: u32| workers.iter().find(|(a, _)| *a == id).map(|(_, w)| w);
    for (t, s) in &tasks {
        assert!(
            s.holders.len() <= t.agents as usize,
            "{what}: {} held by {:?}, needs {}",
            t.id,
            s.holders,
            t.agents
        );
        if !s.status.is_final() {
            for h in &s.holders {
                if let Some(w) = find(*h) {
                    assert!(
                        w.queue().contains(&t.id),
                        "{what}: holder {h} lost {}",
                        t.id
                    );
                }
            }
        }
        if s.status == TaskStatus::Done {
            let total: u64 = s.worked_by.iter().map(|&(_, n)| n).sum();
            assert_eq!(
                total,
                t.workload * u64::from(t.agents),
                "{what}: {} worked {total}",
                t.id
            );
            for &(a, n) in &s.worked_by {
                assert_eq!(n, t.workload, "{what}: worker {a} on {}", t.id);
                if let Some(w) = find(a) {
                    assert!(
                        w.skills.covers(t.skills),
                        "{what}: worker {a} lacks skills for {}",
                        t.id
                    );
                }
            }
            for p in board.predecessors(t.id) {
                let (_, ps) = tasks.iter().find(|(pt, _)| pt.id == p).unwrap();
                assert!(
                    ps.done.is_some_and(|d| d < s.started.unwrap()),
                    "{what}: {} started before predecessor {p} was done",
                    t.id
                );
            }
        }
        if s.status == TaskStatus::Blocked {
            assert!(s.holders.is_empty());
        }
    }
    for (id, w) in &workers {
        assert!(
            w.queue().len() <= w.capacity as usize,
            "{what}: worker {id} over capacity"
        );
        for q in w.queue() {
            let (_, s) = tasks.iter().find(|(t, _)| t.id == *q).unwrap();
            assert!(
                s.holders.contains(id),
                "{what}: worker {id} queues {q} without holding it"
            );
        }
    }
}

#[test]
fn every_protocol_keeps_the_task_invariants() {
    let mut cases: Vec<(String, Scenario)> = PROTOCOLS
        .iter()
        .map(|p| {
            let f = format!("scenarios/task_allocation/{p}.ron");
            (f.clone(), load(&f, &["ticks=300"]))
        })
        .collect();
    for p in ["greedy", "optimal", "random", "response_threshold"] {
        cases.push((
            format!("jobs.ron with {p}"),
            load(
                "scenarios/task_allocation/jobs.ron",
                &[&format!("allocation.protocol={p}")],
            ),
        ));
    }
    for (what, s) in cases {
        let mut sim = sim(&s);
        for _ in 0..s.tick_limit() {
            sim.step().unwrap();
            check_invariants(&mut sim, &what);
        }
        let done = sim.world().resource::<agora_engine::task::TaskStats>().done;
        assert!(done > 0, "{what}: nothing done");
    }
}

/// Centralised protocols staff coalitions at once; `response_threshold` fills places one
/// worker at a time as stimulus allows, so it is only held to the invariants above.
#[test]
fn jobs_with_precedence_and_coalitions_all_complete() {
    for p in ["greedy", "optimal", "random"] {
        let s = load(
            "scenarios/task_allocation/jobs.ron",
            &[&format!("allocation.protocol={p}")],
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let stats = sim.world().resource::<agora_engine::task::TaskStats>();
        assert_eq!((stats.released, stats.done), (10, 10), "{p}");
    }
}

fn brute_force_min(costs: &[Vec<f64>]) -> f64 {
    // Rows <= columns: every row takes a distinct column.
    fn rec(costs: &[Vec<f64>], r: usize, used: &mut Vec<bool>) -> f64 {
        if r == costs.len() {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for c in 0..used.len() {
            if !used[c] && costs[r][c].is_finite() {
                used[c] = true;
                best = best.min(costs[r][c] + rec(costs, r + 1, used));
                used[c] = false;
            }
        }
        best
    }
    let cols = costs.first().map_or(0, Vec::len);
    rec(costs, 0, &mut vec![false; cols])
}

#[test]
fn optimal_protocol_equals_brute_force_on_small_instances() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let registry = agora_agents::registry();
    for case in 0..60 {
        let agents = rng.random_range(1..=5usize);
        let tasks = rng.random_range(agents..=6usize);
        let pt = |rng: &mut ChaCha8Rng| {
            (
                rng.random_range(0.0..50.0f64),
                rng.random_range(0.0..50.0f64),
            )
        };
        let apos: Vec<(f64, f64)> = (0..agents).map(|_| pt(&mut rng)).collect();
        let tdefs: Vec<((f64, f64), u32)> = (0..tasks)
            .map(|_| (pt(&mut rng), rng.random_range(0..2u32)))
            .collect();
        let askills: Vec<Vec<u32>> = (0..agents)
            .map(|_| match rng.random_range(0..3u32) {
                0 => vec![0],
                1 => vec![1],
                _ => vec![0, 1],
            })
            .collect();
        let populations: Vec<String> = apos
            .iter()
            .zip(&askills)
            .map(|(p, s)| {
                format!(
                    "(behavior: \"worker\", count: 1, params: (skills: Fixed({s:?})), placement: Point({}, {}))",
                    p.0, p.1
                )
            })
            .collect();
        let list: Vec<String> = tdefs
            .iter()
            .map(|(p, s)| format!("(at: ({}, {}), skills: [{s}], workload: 100)", p.0, p.1))
            .collect();
        let text = format!(
            "(schema: 1, seed: 1, ticks: 1, world: (width: 50.0, height: 50.0, boundary: Walls),
              populations: [{}], tasks: (skills: 2, arrivals: [List([{}])]),
              allocation: (protocol: \"optimal\"))",
            populations.join(","),
            list.join(",")
        );
        let s = Scenario::parse(&text, "case", &registry).unwrap_or_else(|e| panic!("{e}"));
        let mut sim = sim(&s);
        sim.step().unwrap();
        let awards = sim
            .world()
            .resource::<TaskBoard>()
            .last_resolution()
            .awards
            .clone();
        let dist = |a: usize, t: usize| {
            let (p, q) = (apos[a], tdefs[t].0);
            ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
        };
        let got: f64 = awards
            .iter()
            .map(|a| dist(a.agent as usize, a.task.0 as usize))
            .sum();
        // Brute force: the most agents that can be assigned, at least cost.
        let feasible = |a: usize, t: usize| askills[a].contains(&tdefs[t].1);
        let costs: Vec<Vec<f64>> = (0..agents)
            .map(|a| {
                (0..tasks)
                    .map(|t| {
                        if feasible(a, t) {
                            dist(a, t)
                        } else {
                            f64::INFINITY
                        }
                    })
                    .collect()
            })
            .collect();
        let mut best: Option<(usize, f64)> = None;
        for mask in 0u32..(1 << agents) {
            let rows: Vec<Vec<f64>> = (0..agents)
                .filter(|a| mask & (1 << a) != 0)
                .map(|a| costs[a].clone())
                .collect();
            let c = brute_force_min(&rows);
            let k = rows.len();
            if c.is_finite() && best.is_none_or(|(bk, bc)| k > bk || (k == bk && c < bc)) {
                best = Some((k, c));
            }
        }
        let (k, c) = best.unwrap();
        assert_eq!(
            awards.len(),
            k,
            "case {case}: assigned {} of {k}",
            awards.len()
        );
        assert!(
            (got - c).abs() < 1e-9,
            "case {case}: {got} vs brute force {c}"
        );
    }
}

fn assign100() -> CostMatrix {
    let text = std::fs::read_to_string(repo_root().join("tests/data/orlib/assign100.txt")).unwrap();
    lap::parse_orlib(&text).unwrap()
}

#[test]
fn or_library_assign100_optimum_and_greedy_profit_bound() {
    let m = assign100();
    assert_eq!(lap::minimize(&m).unwrap().total_cost, 305.0);
    // Greedy on the costs: no constant bound, so only reported (and sane).
    let g = greedy_assignment(&m, Objective::Minimize).unwrap();
    assert!(g.total_cost >= 305.0);
    // Profits C_max - c: greedy reaches at least half of the optimal profit.
    let cmax = m.data.iter().copied().fold(0.0, f64::max);
    let profits = CostMatrix {
        data: m.data.iter().map(|c| cmax - c).collect(),
        ..m.clone()
    };
    let opt = lap::maximize(&profits).unwrap().total_cost;
    let greedy = greedy_assignment(&profits, Objective::Maximize)
        .unwrap()
        .total_cost;
    assert_eq!(opt, 100.0 * cmax - 305.0);
    assert!(2.0 * greedy >= opt, "greedy {greedy} < half of {opt}");
}

#[test]
fn static_instance_gaps_order_the_protocols() {
    let gap = |p: &str| {
        let s = load(
            "scenarios/task_allocation/static_gap.ron",
            &[&format!("allocation.protocol={p}"), "ticks=2"],
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let m = sim.world().resource::<GapMonitor>();
        (m.gap(), m.instances)
    };
    let (optimal, n) = gap("optimal");
    assert_eq!((optimal, n), (0.0, 1));
    let (greedy, _) = gap("greedy");
    let (random, _) = gap("random");
    assert!(
        greedy > 0.0 && greedy < random,
        "greedy {greedy}, random {random}"
    );
}

#[test]
fn reinforced_thresholds_specialise_workers() {
    let dol = |learning: &str| {
        let s = load(
            "scenarios/task_allocation/response_threshold.ron",
            &[
                &format!("allocation.params.learning={learning}"),
                "ticks=600",
            ],
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let summary = sim.finish().unwrap();
        summary
            .metrics
            .iter()
            .find(|(c, _)| c == "dol_index")
            .unwrap()
            .1
    };
    let fixed = dol("Fixed");
    let learned = dol("Reinforced");
    assert!(
        learned > fixed + 0.2,
        "reinforced {learned} vs fixed {fixed}"
    );
}

fn agora_run(dir: &Path, name: &str, scenario: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = Command::new(env!("CARGO_BIN_EXE_agora"))
        .current_dir(repo_root())
        .args(["run", scenario, "--out", out.to_str().unwrap(), "-q"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{scenario}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn protocols_are_deterministic_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = PROTOCOLS
        .iter()
        .map(|p| format!("scenarios/task_allocation/{p}.ron"))
        .collect();
    files.push("scenarios/task_allocation/jobs.ron".into());
    for (i, f) in files.iter().enumerate() {
        let runs: Vec<PathBuf> = ["1", "4"]
            .iter()
            .map(|t| {
                agora_run(
                    dir.path(),
                    &format!("{i}-{t}"),
                    f,
                    &["--ticks", "200", "--threads", t, "--set", "record.every=1"],
                )
            })
            .collect();
        for file in ["metrics.csv", "summary.json"] {
            let a = std::fs::read(runs[0].join(file)).unwrap();
            let b = std::fs::read(runs[1].join(file)).unwrap();
            assert!(a == b, "{f}: {file} differs between 1 and 4 threads");
        }
    }
}
