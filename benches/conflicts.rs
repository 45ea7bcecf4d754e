//! Conflict resolution at scale.
//!
//! - `resolve/100k_10pct`: the Resolve phase alone (detection, the policy, settling, the
//!   wait-for graph) for 100,000 agents on a 500x400 grid of which 10% are in a conflict: on
//!   even ticks every agent steps into the free cell beside it, except that every tenth pair
//!   of neighbours steps towards the same cell (a vertex conflict); on odd ticks everyone
//!   steps back, so the world is the same every other tick. The time measured is the engine's
//!   [`ResolveClock`] of the even ticks only. One group per policy.
//! - `corridor/10k`: one tick of `scenarios/conflicts/corridor_10k.ron` (10,000 commuters,
//!   ten one-cell corridors, the default policy) after 30 warm-up ticks, recording off.
//!
//! `AGORA_BENCH_THREADS=2 cargo bench --bench conflicts` sizes the compute pool (default 1).

use agora_engine::prelude::*;
use agora_engine::scenario::overrides::parse_assignment;
use agora_engine::{ConflictStats, ResolveClock, init_compute_pool};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Steps east (or west, for the second agent of every tenth pair) on even ticks and back on odd
/// ticks.
#[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Oscillator {}

#[derive(Component, Clone, Copy)]
struct Home(GridCell, i32);

impl Behavior for Oscillator {
    const NAME: &'static str = "oscillator";
    const SUMMARY: &'static str = "Benchmark load for the Resolve phase.";
    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Decide, oscillate);
    }
    fn spawn(&self, agent: &mut AgentSpawn) {
        let cell = agent.cell().unwrap_or_default();
        // Agents stand on even columns; column pair k = x / 2. Every tenth pair of
        // neighbours (k % 20 == 0 and k + 1) both step into the odd column between them.
        let k = cell.x / 2;
        let dx = if k % 20 == 1 { -1 } else { 1 };
        agent.insert((Intent::default(), Home(cell, dx)));
    }
}

fn oscillate(tick: Res<Tick>, mut q: Query<(&Home, &mut Intent)>) {
    let even = tick.0.is_multiple_of(2);
    q.iter_mut().for_each(|(home, mut intent)| {
        intent.to = Some(if even {
            GridCell::new(home.0.x + home.1, home.0.y)
        } else {
            home.0
        });
    });
}

fn resolve(c: &mut Criterion) {
    let threads = env_usize("AGORA_BENCH_THREADS", 1);
    init_compute_pool(threads);
    let mut registry = agora_agents::registry();
    registry.behavior::<Oscillator>();
    let (w, h) = (500, 400);
    let positions: Vec<String> = (0..h)
        .flat_map(|y| (0..w / 2).map(move |k| format!("({}.0, {y}.0)", 2 * k)))
        .collect();
    let mut group = c.benchmark_group(format!("resolve/{threads}t"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(100_000));
    for (policy, params) in [
        ("first_come", "()"),
        ("priority", "()"),
        ("random", "()"),
        ("voting", "()"),
        ("auction", "()"),
    ] {
        let text = format!(
            "(schema: 1, seed: 1, ticks: 1000000,
              world: (kind: Grid, width: {w}.0, height: {h}.0, boundary: Walls,
                      neighborhood: VonNeumann, one_per_cell: true),
              populations: [(behavior: \"oscillator\", count: {}, placement: Positions([{}]))],
              conflicts: (policy: \"{policy}\", params: {params}))",
            positions.len(),
            positions.join(", ")
        );
        let scenario = Scenario::parse(&text, "bench", &registry).unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions { threads }).unwrap();
        for _ in 0..4 {
            sim.step().unwrap();
        }
        group.bench_function(BenchmarkId::new("100k_10pct", policy), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Even tick: the conflicts; odd tick: everyone back home.
                    sim.step().unwrap();
                    total += sim.world().resource::<ResolveClock>().last;
                    sim.step().unwrap();
                }
                total
            })
        });
        let stats = sim.world().resource::<ConflictStats>();
        assert_eq!(stats.last.by_kind[0], 0, "odd ticks have no conflict");
    }
    group.finish();
}

fn corridor(c: &mut Criterion) {
    let threads = env_usize("AGORA_BENCH_THREADS", 1);
    init_compute_pool(threads);
    let registry = agora_agents::registry();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/conflicts/corridor_10k.ron");
    let scenario = Scenario::load(&path, &registry).unwrap_or_else(|e| panic!("{e}"));
    let overrides: Vec<_> = ["record.metrics=[]", "ticks=1000000"]
        .iter()
        .map(|o| parse_assignment(o).unwrap())
        .collect();
    let scenario = scenario.with_overrides(&overrides, &registry).unwrap();
    let mut sim = Sim::new(&scenario, &registry, SimOptions { threads }).unwrap();
    for _ in 0..30 {
        sim.step().unwrap();
    }
    let mut group = c.benchmark_group(format!("corridor/{threads}t"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(10_000));
    group.bench_function("10k", |b| b.iter(|| sim.step().unwrap()));
    group.finish();
}

criterion_group!(benches, resolve, corridor);
criterion_main!(benches);
