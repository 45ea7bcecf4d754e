//! Task allocation, end to end: the task invariants under every protocol, the optimal
//! protocol against brute force, the OR-Library optimum, the 50% profit bound, optimality
//! gaps on the static instance, emergent division of labour, and determinism through the CLI.

use agora_agents::allocation::common::GapMonitor;
use agora_agents::allocation::greedy::greedy_assignment;
use agora_agents::allocation::lap::{self, CostMatrix, Objective};
use agora_agents::allocation::protocols::ProtocolStats;
use agora_engine::comms::Performative;
use agora_engine::task::{Task, TaskBoard, TaskState, TaskStatus, Worker};
use agora_engine::{AgentId, MemorySink, Scenario, Sim, SimOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

mod common;

use common::{agora, agora_run, repo_root};

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
const PROTOCOLS: &[&str] = &[
    "optimal",
    "greedy",
    "random",
    "response_threshold",
    "contract_net",
    "ssi_auction",
    "cbba",
];

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
                // A task handed over after a failure is finished by its new holders.
                if s.awards <= t.agents {
                    assert_eq!(n, t.workload, "{what}: worker {a} on {}", t.id);
                }
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
    for p in PROTOCOLS {
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

#[test]
fn protocols_are_deterministic_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = PROTOCOLS
        .iter()
        .map(|p| format!("scenarios/task_allocation/{p}.ron"))
        .collect();
    files.push("scenarios/task_allocation/jobs.ron".into());
    files.push("scenarios/task_allocation/lossy.ron".into());
    files.push("scenarios/task_allocation/failure.ron".into());
    for (i, f) in files.iter().enumerate() {
        let runs: Vec<PathBuf> = ["1", "4"]
            .iter()
            .map(|t| {
                agora_run(
                    dir.path(),
                    &format!("{i}-{t}"),
                    f,
                    &["--ticks", "350", "--threads", t, "--set", "record.every=1"],
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

/// Workers at `positions` (each its own population: `(x, y, capacity)`), tasks written out.
fn static_instance(
    protocol: &str,
    params: &str,
    comms: &str,
    workers: &[(f64, f64, u32)],
    tasks: &[(f64, f64, f64)],
    speed: f64,
    ticks: u64,
) -> Scenario {
    let registry = agora_agents::registry();
    let pops: Vec<String> = workers
        .iter()
        .map(|&(x, y, c)| {
            format!(
                "(behavior: \"worker\", count: 1, params: (speed: {speed}, capacity: {c}), placement: Point({x}, {y}))"
            )
        })
        .collect();
    let list: Vec<String> = tasks
        .iter()
        .map(|&(x, y, r)| format!("(at: ({x}, {y}), workload: 1, reward: {r})"))
        .collect();
    let text = format!(
        "(schema: 1, seed: 5, ticks: {ticks}, world: (width: 100.0, height: 100.0, boundary: Walls),
          populations: [{}], tasks: (arrivals: [List([{}])]),
          allocation: (protocol: \"{protocol}\", params: ({params})), comms: ({comms}))",
        pops.join(","),
        list.join(",")
    );
    Scenario::parse(&text, "static", &registry).unwrap_or_else(|e| panic!("{e}"))
}

fn sent(sim: &Sim, p: Performative) -> u64 {
    agora_engine::comms::counters(sim.world()).sent_with(p)
}

fn random_points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (
                rng.random_range(0.0..100.0f64),
                rng.random_range(0.0..100.0f64),
            )
        })
        .collect()
}

#[test]
fn contract_net_message_counts_match_the_analytic_counts() {
    // One dispatcher and m = 9 contractors with room for every task, T = 5 tasks at once:
    // per task m cfp, m propose, 1 accept, m - 1 reject and 1 inform-done: T (3m + 1).
    let (m, t) = (9u64, 5u64);
    let workers: Vec<(f64, f64, u32)> = random_points(m as usize + 1, 1)
        .into_iter()
        .map(|(x, y)| (x, y, 5))
        .collect();
    let tasks: Vec<(f64, f64, f64)> = random_points(t as usize, 2)
        .into_iter()
        .map(|(x, y)| (x, y, 1.0))
        .collect();
    let s = static_instance("contract_net", "", "", &workers, &tasks, 5.0, 200);
    let mut sim = sim(&s);
    sim.run().unwrap();
    let stats = sim.world().resource::<agora_engine::task::TaskStats>();
    assert_eq!(stats.done, t, "every task done");
    assert_eq!(sent(&sim, Performative::Cfp), t * m);
    assert_eq!(sent(&sim, Performative::Propose), t * m);
    assert_eq!(sent(&sim, Performative::Refuse), 0);
    assert_eq!(sent(&sim, Performative::AcceptProposal), t);
    assert_eq!(sent(&sim, Performative::RejectProposal), t * (m - 1));
    assert_eq!(sent(&sim, Performative::Inform), t);
    let c = agora_engine::comms::counters(sim.world());
    assert_eq!(c.sent, t * (3 * m + 1));
    let p = sim.world().resource::<ProtocolStats>();
    assert_eq!((p.invited, p.answered, p.timed_out), (t * m, t * m, 0));
    assert_eq!(p.rounds, vec![1; t as usize]);
}

#[test]
fn every_contract_net_call_is_answered_or_times_out() {
    for (iterated, managers) in [("false", "Dispatcher"), ("true", "Announcer")] {
        let s = load(
            "scenarios/task_allocation/lossy.ron",
            &[
                &format!(
                    "allocation=(protocol: \"contract_net\", params: (iterated: {iterated}, managers: \"{managers}\"))"
                ),
                "tasks.arrivals[0].Poisson.end=200",
                "ticks=500",
            ],
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let p = sim.world().resource::<ProtocolStats>().clone();
        let done = sim.world().resource::<agora_engine::task::TaskStats>().done;
        assert!(done > 50, "{managers}: only {done} done");
        assert!(p.timed_out > 0 && p.answered > 0, "{managers}: {p:?}");
        assert_eq!(
            p.answered + p.timed_out,
            p.invited,
            "{managers}: every awaited answer came or timed out: {p:?}"
        );
        assert!(p.reannounced > 0, "lost awards are announced again: {p:?}");
    }
}

#[test]
fn contract_net_never_awards_after_a_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let out = agora_run(
        dir.path(),
        "cancel",
        "scenarios/task_allocation/lossy.ron",
        &[
            "--ticks",
            "300",
            "--set",
            "allocation=(protocol: \"contract_net\", params: (iterated: true))",
            "--set",
            "tasks.expire=true",
            "--set",
            "tasks.arrivals[0].Poisson.template.deadline=Uniform(5, 30)",
            "--set",
            "comms.record.messages=true",
        ],
    );
    let text = std::fs::read_to_string(out.join("messages.csv")).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (sent_c, perf_c, conv_c) = (col("sent"), col("performative"), col("conversation"));
    let mut cancelled: std::collections::BTreeMap<String, u64> = Default::default();
    let mut accepts: Vec<(String, u64)> = Vec::new();
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        let sent: u64 = f[sent_c].parse().unwrap();
        match f[perf_c] {
            "cancel" => {
                let e = cancelled.entry(f[conv_c].to_owned()).or_insert(sent);
                *e = (*e).min(sent);
            }
            "accept-proposal" => accepts.push((f[conv_c].to_owned(), sent)),
            _ => {}
        }
    }
    assert!(
        !cancelled.is_empty(),
        "the scenario should cancel some calls"
    );
    for (conv, at) in accepts {
        if let Some(&c) = cancelled.get(&conv) {
            assert!(
                at < c,
                "conversation {conv}: accept at {at} after cancel at {c}"
            );
        }
    }
}

#[test]
fn ssi_auction_equals_the_sequential_auction_on_a_static_instance() {
    use agora_agents::allocation::insertion::Point;
    use agora_agents::allocation::ssi::{SsiObjective, sequential_single_item};
    for (rule, objective) in [
        ("MiniSum", SsiObjective::MiniSum),
        ("MiniMax", SsiObjective::MiniMax),
    ] {
        // Agent 0 is the auctioneer; 4 bidders with room for every task; they barely move,
        // so every bid is made from the start position, as in the pure auction.
        let pts = random_points(5, 3);
        let workers: Vec<(f64, f64, u32)> = pts.iter().map(|&(x, y)| (x, y, 8)).collect();
        let tasks: Vec<(f64, f64, f64)> = random_points(8, 4)
            .into_iter()
            .map(|(x, y)| (x, y, 1.0))
            .collect();
        let s = static_instance(
            "ssi_auction",
            &format!("rule: {rule}"),
            "",
            &workers,
            &tasks,
            1e-9,
            60,
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let starts: Vec<Point> = pts[1..].iter().map(|&(x, y)| Point::new(x, y)).collect();
        let targets: Vec<Point> = tasks.iter().map(|&(x, y, _)| Point::new(x, y)).collect();
        let want = sequential_single_item(&starts, &targets, objective).unwrap();
        let world = sim.world_mut();
        let mut q = world.query::<(&AgentId, &Worker)>();
        let mut got: Vec<(u32, Vec<u32>)> = q
            .iter(world)
            .map(|(id, w)| (id.0, w.queue().iter().map(|t| t.0).collect()))
            .collect();
        got.sort_unstable();
        assert!(got[0].1.is_empty(), "the auctioneer does not bid");
        for (a, path) in want.paths.iter().enumerate() {
            let path: Vec<u32> = path.iter().map(|&t| t as u32).collect();
            assert_eq!(got[a + 1].1, path, "{rule}: bidder {} path", a + 1);
        }
        // m rounds of: an announcement to each of the n bidders, n bids, one award.
        let (m, n) = (tasks.len() as u64, 4u64);
        assert_eq!(sent(&sim, Performative::Cfp), m * n);
        assert_eq!(sent(&sim, Performative::Propose), m * n);
        assert_eq!(sent(&sim, Performative::AcceptProposal), m);
        assert_eq!(sim.world().resource::<ProtocolStats>().rounds, vec![m]);
    }
}

#[test]
fn cbba_converges_conflict_free_to_sequential_greedy_within_the_bound() {
    use agora_agents::allocation::greedy::sequential_greedy;
    use agora_agents::allocation::protocols::{CbbaLog, Insertion};
    let (nu, nt, lt) = (6usize, 9usize, 2usize);
    // Complete graph (D = 1) and a ring of 6 (D = 3).
    for (topology, diameter, seed) in [("Complete", 1, 7), ("Ring", 3, 8), ("Ring", 3, 9)] {
        let workers: Vec<(f64, f64, u32)> = random_points(nu, seed)
            .into_iter()
            .map(|(x, y)| (x, y, lt as u32))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let tasks: Vec<(f64, f64, f64)> = random_points(nt, seed + 50)
            .into_iter()
            .map(|(x, y)| (x, y, rng.random_range(1.0..10.0f64)))
            .collect();
        let s = static_instance(
            "cbba",
            &format!("bundle: {lt}, settle: 20, lambda: 0.97"),
            &format!("topology: {topology}"),
            &workers,
            &tasks,
            1.0,
            40,
        );
        let mut sim = sim(&s);
        sim.run().unwrap();
        let log = sim.world().resource::<CbbaLog>().clone();
        let epoch = &log.epochs[0];
        assert_eq!(epoch.team.len(), nu);
        let rounds = epoch.rounds.expect("converged") as usize;
        let bound = nt.min(lt * nu) * diameter;
        assert!(rounds <= bound, "{topology}: {rounds} rounds > {bound}");
        assert!(epoch.conflict_free, "{topology}");
        let mut scorer = epoch.scorer(0.97, Insertion::Append).unwrap();
        let sga = sequential_greedy(nu, nt, lt, &mut scorer).unwrap();
        assert_eq!(
            epoch.winners, sga.winners,
            "{topology}: CBBA differs from SGA"
        );
        // The agreed winners claimed their tasks.
        let board = sim.world().resource::<TaskBoard>();
        let _ = board;
        let world = sim.world_mut();
        let mut q = world.query::<(&Task, &TaskState)>();
        for (t, st) in q.iter(world) {
            let j = epoch.tasks.iter().position(|&x| x == t.id.0).unwrap();
            let w = sga.winners[j].map(|a| epoch.team[a]);
            if let Some(w) = w {
                assert!(
                    st.holders.contains(&w) || st.worked_by.iter().any(|x| x.0 == w),
                    "{topology}: task {} not done by its winner {w}",
                    t.id.0
                );
            }
        }
    }
}

#[test]
fn cbaa_reaches_half_the_optimal_profit_on_assign100() {
    use agora_agents::allocation::cbba::{CbbaAgent, run_synchronous};
    use agora_agents::allocation::greedy::Marginal;
    let m = assign100();
    let cmax = m.data.iter().copied().fold(0.0, f64::max);
    let n = m.rows;
    let profit = |a: usize, j: usize| cmax - m.data[a * m.cols + j];
    let opt = 100.0 * cmax - 305.0;
    let mut agents: Vec<CbbaAgent> = (0..n)
        .map(|i| CbbaAgent::new(i, n, n, 1).unwrap())
        .collect();
    let adjacency: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).filter(|&k| k != i).collect())
        .collect();
    let mut scorer = |a: usize, path: &[usize], j: usize| {
        path.is_empty().then(|| Marginal {
            gain: profit(a, j),
            position: 0,
        })
    };
    let out = run_synchronous(&mut agents, &adjacency, &mut scorer, 10 * n).unwrap();
    let total: f64 = out
        .winners
        .iter()
        .enumerate()
        .filter_map(|(j, w)| w.map(|a| profit(a, j)))
        .sum();
    assert!(out.rounds <= n, "CBAA took {} rounds", out.rounds);
    assert!(2.0 * total >= opt, "CBAA {total} < half of {opt}");
}

#[test]
fn failed_workers_tasks_are_reallocated_under_every_message_protocol() {
    for p in ["contract_net", "ssi_auction", "cbba"] {
        let s = load(
            "scenarios/task_allocation/failure.ron",
            &[&format!("allocation=(protocol: \"{p}\")"), "ticks=600"],
        );
        let mut sim = sim(&s);
        let mut live_before = 0;
        for tick in 0..s.tick_limit() {
            if tick == 300 {
                let world = sim.world_mut();
                live_before = world.query::<&Worker>().iter(world).count();
            }
            sim.step().unwrap();
            check_invariants(&mut sim, p);
        }
        let world = sim.world_mut();
        let live = world.query::<&Worker>().iter(world).count();
        assert_eq!(
            (live_before, live),
            (50, 40),
            "{p}: 20% of the workers fail"
        );
        let stats = sim
            .world()
            .resource::<agora_engine::task::TaskStats>()
            .clone();
        assert!(stats.orphaned > 0, "{p}: the failure orphaned no task");
        assert_eq!(
            stats.reallocated, stats.orphaned,
            "{p}: every orphaned task was awarded again"
        );
        assert!(
            stats.recovery_times.iter().all(|&t| t < 100),
            "{p}: {stats:?}"
        );
    }
}

#[test]
fn the_protocol_sweep_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_root().join("scenarios/sweeps/task_allocation_protocols.ron");
    let text = std::fs::read_to_string(&file).unwrap();
    // The same sweep, shorter: a 150-tick copy of the base, one seed, the smallest team.
    let base_text =
        std::fs::read_to_string(repo_root().join("scenarios/task_allocation/base.ron")).unwrap();
    let short = base_text.replace("ticks: 500,", "ticks: 150,");
    assert_ne!(short, base_text);
    let base = dir.path().join("base.ron");
    std::fs::write(&base, short).unwrap();
    let small = text
        .replace(
            "\"../task_allocation/base.ron\"",
            &format!("{:?}", base.to_str().unwrap()),
        )
        .replace("seeds: [1, 2, 3]", "seeds: [1]")
        .replace("values: [0.0, 0.1, 0.3]", "values: [0.0, 0.3]")
        .replace("values: [25, 50, 100]", "values: [25]");
    assert_ne!(small, text);
    let sweep = dir.path().join("small.ron");
    std::fs::write(&sweep, small).unwrap();
    let out = dir.path().join("out");
    let o = agora()
        .args([
            "sweep",
            sweep.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = results.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("no column {n} in {header:?}"))
    };
    let (proto, status, done) = (col("allocation.protocol"), col("status"), col("done"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), PROTOCOLS.len() * 2, "protocols x loss");
    for r in &rows {
        assert_eq!(r[status], "ok", "{r:?}");
        assert!(r[done].parse::<f64>().unwrap() > 0.0, "{r:?}");
    }
    for p in PROTOCOLS {
        assert!(rows.iter().any(|r| r[proto] == *p), "{p} missing");
    }
    let o = agora()
        .args([
            "report",
            out.to_str().unwrap(),
            "--group",
            "allocation.protocol",
            "--metric",
            "completion_rate",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("summary.csv").exists());
}
