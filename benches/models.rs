//! Throughput of the first models, run from their scenario files.
//!
//! - `flockers/<threads>t/<agents>`: one tick of MASON Flockers at density 0.1, reported as
//!   agent-steps per second (criterion's "elements").
//! - `whole_run/<model>`: a full run of the ABM frameworks comparison scenarios (build, all
//!   steps), the figure peers publish.
//!
//! bevy's compute pool is sized once per process, so the thread count comes from the
//! environment: `AGORA_BENCH_THREADS=2 cargo bench --bench models` (default 1).
//! `AGORA_BENCH_MAX_AGENTS` caps the Flockers sizes (default 1000000);
//! `AGORA_BENCH_SECS` sets each Flockers size's measurement time (default 5, 10 and 30 s by
//! size), for thread-scaling tables that must fit a short machine lease.

use agora_engine::scenario::overrides::parse_assignment;
use agora_engine::{Registry, Scenario, Sim, SimOptions, init_compute_pool};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use std::time::Duration;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load(registry: &Registry, file: &str, overrides: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    let s = Scenario::load(&path, registry).unwrap_or_else(|e| panic!("{e}"));
    let overrides: Vec<_> = overrides
        .iter()
        .map(|o| parse_assignment(o).unwrap())
        .collect();
    s.with_overrides(&overrides, registry)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn flockers(c: &mut Criterion) {
    let threads = env_usize("AGORA_BENCH_THREADS", 1);
    let pool = init_compute_pool(threads);
    let max = env_usize("AGORA_BENCH_MAX_AGENTS", 1_000_000);
    let secs = std::env::var("AGORA_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let registry = agora_agents::registry();
    let mut group = c.benchmark_group(format!("flockers/{pool}t"));
    for (file, n) in [
        ("flockers_1k.ron", 1_000u64),
        ("flockers_10k.ron", 10_000),
        ("flockers_100k.ron", 100_000),
        ("flockers_1m.ron", 1_000_000),
    ] {
        if n as usize > max {
            continue;
        }
        // No recording: this measures the model, not the disk.
        let scenario = load(
            &registry,
            file,
            &[
                "record.metrics=[]",
                "record.snapshots=None",
                "ticks=1000000",
            ],
        );
        let mut sim = Sim::new(&scenario, &registry, SimOptions { threads }).unwrap();
        // Let the flock leave its uniform start so neighbour counts are typical.
        for _ in 0..20 {
            sim.step().unwrap();
        }
        group.throughput(Throughput::Elements(n));
        let (samples, default_secs) = match n {
            1_000_000.. => (10, 30),
            100_000.. => (10, 10),
            _ => (30, 5),
        };
        group
            .sample_size(samples)
            .measurement_time(Duration::from_secs(secs.unwrap_or(default_secs)));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| sim.step().unwrap())
        });
    }
    group.finish();
}

fn whole_runs(c: &mut Criterion) {
    let threads = env_usize("AGORA_BENCH_THREADS", 1);
    init_compute_pool(threads);
    let registry = agora_agents::registry();
    let mut group = c.benchmark_group("whole_run");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (name, file) in [
        ("flocking_small", "flocking.ron"),
        ("flocking_large", "flocking_large.ron"),
        ("schelling_small", "schelling.ron"),
        ("schelling_large", "schelling_large.ron"),
    ] {
        let scenario = load(
            &registry,
            file,
            &["record.metrics=[]", "record.snapshots=None"],
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || scenario.clone(),
                |s| {
                    let mut sim = Sim::new(&s, &registry, SimOptions { threads }).unwrap();
                    sim.run().unwrap();
                    sim.tick()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, flockers, whole_runs);
criterion_main!(benches);
