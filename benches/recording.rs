//! What recording costs on the Flockers 100k scenario (MASON Flockers, 100,000 agents).
//!
//! * `flockers_100k_parts`: one tick without recording, and one evaluation of the recorded
//!   metrics (what the metrics recorder does every `every` ticks). The recording overhead of
//!   "metrics every 10 ticks" is `metrics / (10 * tick)`; measured this way it does not drown
//!   in the run-to-run noise of a shared machine.
//! * `flockers_100k_runs`: whole 20-tick runs without recording and with metrics every 10
//!   ticks written to a run folder (end to end, writer thread included).
//! * `snapshot_100k`: per-agent snapshots in rows per second: collecting the rows on the
//!   simulation thread, and encoding them as CSV or binary on the writer thread.
//!
//! `cargo bench --bench recording`. Figures in benches/README.md, "Recorders".

use agora_engine::scenario::SnapshotFormat;
use agora_engine::scenario::overrides::parse_assignment;
use agora_engine::{
    DirSink, NullSink, OutputSink, Scenario, Sim, SimOptions, encode_snapshot, snapshot_rows,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const AGENTS: u64 = 100_000;
const RUN_TICKS: u64 = 20;
const FIVE_METRICS: &str =
    r#"record.metrics=["polarization","milling","mean_nn_distance","clusters","spatial_entropy"]"#;

fn flockers_100k(overrides: &[&str]) -> Scenario {
    let registry = agora_agents::registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/flockers_100k.ron");
    let base = Scenario::load(&path, &registry).expect("scenarios/flockers_100k.ron loads");
    let parsed: Vec<_> = overrides
        .iter()
        .map(|s| parse_assignment(s).unwrap())
        .collect();
    base.with_overrides(&parsed, &registry).unwrap()
}

/// Builds the simulation (never timed) with its output going to `dir`, or nowhere.
fn setup(scenario: &Scenario, dir: Option<&Path>) -> Sim {
    let registry = agora_agents::registry();
    let mut sim = Sim::new(scenario, &registry, SimOptions::default()).unwrap();
    let sink: Box<dyn OutputSink> = match dir {
        Some(d) => Box::new(DirSink::create(d).unwrap()),
        None => Box::new(NullSink),
    };
    sim.set_output(sink).unwrap();
    sim
}

/// A simulation 10 ticks in, past the start-up transient.
fn warmed(overrides: &[&str]) -> Sim {
    let mut sim = setup(&flockers_100k(overrides), None);
    for _ in 0..10 {
        sim.step().unwrap();
    }
    sim
}

fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("flockers_100k_parts");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    let mut sim = warmed(&["ticks=100000", "record.metrics=[]"]);
    g.bench_function("tick", |b| b.iter(|| sim.step().unwrap()));
    drop(sim);
    let one = |m: &str| format!(r#"record.metrics=["{m}"]"#);
    let mut cases: Vec<(String, String)> = [
        "polarization",
        "milling",
        "mean_nn_distance",
        "clusters",
        "spatial_entropy",
    ]
    .into_iter()
    .map(|m| (format!("metrics_{m}"), one(m)))
    .collect();
    cases.push(("metrics_all_five".to_owned(), FIVE_METRICS.to_owned()));
    for (name, metrics) in &cases {
        let mut sim = warmed(&["ticks=100000", metrics]);
        g.bench_function(name.as_str(), |b| b.iter(|| black_box(sim.metrics_now())));
    }
    g.finish();
}

fn runs(c: &mut Criterion) {
    let out = tempfile::tempdir().unwrap();
    let ticks = format!("ticks={RUN_TICKS}");
    let mut g = c.benchmark_group("flockers_100k_runs");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(AGENTS * RUN_TICKS));
    let cases = [
        ("none", vec![ticks.as_str(), "record.metrics=[]"], false),
        (
            "polarization_every_10",
            vec![
                ticks.as_str(),
                r#"record.metrics=["polarization"]"#,
                "record.every=10",
            ],
            true,
        ),
        (
            "five_metrics_every_10",
            vec![ticks.as_str(), FIVE_METRICS, "record.every=10"],
            true,
        ),
    ];
    for (name, overrides, to_disk) in cases {
        let scenario = flockers_100k(&overrides);
        let dir = out.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || setup(&scenario, to_disk.then_some(dir.as_path())),
                |mut sim| {
                    sim.run().unwrap();
                    sim.finish().unwrap();
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_100k");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(15))
        .warm_up_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(AGENTS));
    let mut sim = warmed(&["ticks=100000", "record.metrics=[]"]);
    g.bench_function("collect_rows", |b| {
        b.iter(|| black_box(snapshot_rows(sim.world_mut())));
    });
    let rows = snapshot_rows(sim.world_mut());
    let mut buf = Vec::new();
    for (name, format) in [
        ("encode_csv", SnapshotFormat::Csv),
        ("encode_binary", SnapshotFormat::Binary),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                encode_snapshot(10, &rows, format, &mut buf);
                black_box(buf.len())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, parts, snapshots, runs);
criterion_main!(benches);
