//! Sweep throughput: 10,000 runs of a tiny scenario (one random walker for one tick) through
//! the real engine, exactly as `agora sweep` runs them (overrides applied and re-resolved,
//! a simulation built, run and summarised, a row appended to `results.csv`), at 1 and 2
//! worker threads. Divide the time by 10,000 for the cost per run; the throughput line is
//! runs per second.
//!
//! `runner_only` runs the same plan with an executor that does no work: the share of the
//! runner and its results writer (channel, CSV encoding, batched fsync).
//!
//! `AGORA_BENCH_JOBS=1,4,8,16` measures other worker counts (on a machine with the cores).

use agora_engine::sweep::{RunOutcome, RunnerConfig, SweepExecutor, SweepFile, expand, run_sweep};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 10_000;

const SWEEP: &str = r#"(
    schema: 1,
    base: (
        schema: 1,
        seed: 1,
        ticks: 1,
        world: (width: 10.0, height: 10.0),
        populations: [(behavior: "random_walk", count: 1, params: (step: 0.5))],
        record: (metrics: ["agent_count"]),
    ),
    seed: 1,
    replications: 100,
    axes: [Range(path: "populations[0].params.step", start: 0.01, stop: 1.0, step: 0.01)],
)"#;

fn jobs_list() -> Vec<usize> {
    std::env::var("AGORA_BENCH_JOBS")
        .ok()
        .map(|v| v.split(',').filter_map(|j| j.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 2])
}

fn bench(c: &mut Criterion) {
    let file = SweepFile::parse(SWEEP, Path::new("bench-sweep.ron")).expect("valid sweep");
    let plan = expand(&file).expect("expands");
    assert_eq!(plan.runs.len(), RUNS);
    let registry = agora_agents::registry();
    let executor = SweepExecutor::new(&file, &registry).expect("base scenario resolves");
    let metrics = executor.metric_columns(&plan);

    let mut group = c.benchmark_group("sweep_10k_tiny_runs");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(RUNS as u64));
    for jobs in jobs_list() {
        for engine in [true, false] {
            let name = if engine { "engine" } else { "runner_only" };
            group.bench_function(format!("{name}/jobs_{jobs}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dir = tempfile::tempdir().expect("temp dir");
                        let mut cfg = RunnerConfig::new(dir.path(), metrics.clone());
                        cfg.jobs = jobs;
                        let start = Instant::now();
                        let m = if engine {
                            run_sweep(&plan, &cfg, |s| executor.run(s), |_| {})
                        } else {
                            run_sweep(&plan, &cfg, |_| Ok(RunOutcome::default()), |_| {})
                        }
                        .expect("sweep runs");
                        total += start.elapsed();
                        assert_eq!(m.ok, RUNS);
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
