//! Task allocation: the optimal-assignment solver per solve, and every protocol's ticks per
//! second at 200 workers and 1000 tasks.
//!
//! - `optimal_solve/<n>`: one n x n minimum-cost assignment (Jonker-Volgenant shortest
//!   augmenting paths) on integer costs uniform in 1..=100, the OR-Library dense range.
//! - `protocol_ticks/<protocol>`: the first 100 ticks of `scenarios/task_allocation/backlog.ron`
//!   (200 workers, 1000 tasks released at tick 0) under each protocol, recording off;
//!   throughput is ticks per second (criterion's "elements"), building the world excluded.

use agora_agents::allocation::lap::{CostMatrix, LapSolver, Objective};
use agora_engine::scenario::overrides::parse_assignment;
use agora_engine::{Registry, Scenario, Sim, SimOptions, SimRng, init_compute_pool};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn random_matrix(n: usize, seed: u64) -> CostMatrix {
    let rng = SimRng::new(seed);
    let mut r = rng.global(0, 0, agora_engine::Purpose::DECIDE);
    CostMatrix::from_fn(n, n, |_, _| (1 + r.below(100)) as f64)
}

fn optimal_solve(c: &mut Criterion) {
    let mut group = c.benchmark_group("optimal_solve");
    for n in [100usize, 500, 1000, 2000] {
        let m = random_matrix(n, 42 + n as u64);
        if n >= 1000 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(15));
        } else {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(5));
        }
        let mut solver = LapSolver::new();
        group.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| solver.solve(black_box(m), Objective::Minimize).unwrap())
        });
    }
    group.finish();
}

fn load(registry: &Registry, overrides: &[&str]) -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/task_allocation/backlog.ron");
    let s = Scenario::load(&path, registry).unwrap_or_else(|e| panic!("{e}"));
    let overrides: Vec<_> = overrides
        .iter()
        .map(|o| parse_assignment(o).unwrap())
        .collect();
    s.with_overrides(&overrides, registry)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The protocols benchmarked, with any overrides they need on the backlog world.
const PROTOCOLS: &[(&str, &[&str])] = &[
    ("optimal", &[]),
    ("greedy", &[]),
    ("random", &[]),
    ("response_threshold", &[]),
    ("contract_net", &[]),
    ("ssi_auction", &[]),
    ("cbba", &[]),
];

fn protocol_ticks(c: &mut Criterion) {
    init_compute_pool(1);
    let registry = agora_agents::registry();
    let mut group = c.benchmark_group("protocol_ticks");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(100));
    for &(protocol, extra) in PROTOCOLS {
        let mut overrides = vec![format!("allocation.protocol={protocol}")];
        overrides.extend(extra.iter().map(|s| (*s).to_owned()));
        overrides.push("record.metrics=[]".into());
        let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
        let scenario = load(&registry, &refs);
        group.bench_function(protocol, |b| {
            b.iter_batched(
                || Sim::new(&scenario, &registry, SimOptions::default()).unwrap(),
                |mut sim| {
                    for _ in 0..100 {
                        sim.step().unwrap();
                    }
                    sim
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, optimal_solve, protocol_ticks);
criterion_main!(benches);
