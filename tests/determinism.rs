//! The determinism contract: the same scenario and seed give bit-identical outputs whatever
//! the thread count, and a pinned digest; a different seed gives different outputs.
//!
//! Each thread count runs in its own `agora run` process because bevy's compute pool is a
//! process-wide global sized once.

mod common;

use common::agora_run;
use std::path::{Path, PathBuf};

fn digest(run: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    m["digest"].as_str().unwrap().to_owned()
}

fn read(run: &Path, file: &str) -> Vec<u8> {
    std::fs::read(run.join(file)).unwrap_or_else(|e| panic!("{}: {e}", run.join(file).display()))
}

/// (scenario, ticks, pinned digest after that many ticks with the scenario's seed).
///
/// If one of these fails after an intentional change of results (a model fix, a new RNG
/// layout, a change in what the digest covers), re-pin it: run
/// `cargo run --release -- run <scenario> --ticks <ticks>` and copy the printed digest here,
/// and say in the commit message why results changed. An unintentional failure means the
/// engine's output changed for the same input: that is the bug this test exists to catch.
const GOLDEN: &[(&str, &str, &str)] = &[
    ("scenarios/flockers_1k.ron", "60", "e0ae1da616a3fd8e"),
    ("scenarios/flocking.ron", "40", "e75fb0ddef65ee18"),
    ("scenarios/schelling.ron", "10", "52f8abaf450c90d0"),
    ("scenarios/random_walk.ron", "30", "92e5d260212bf779"),
    // Large enough for the parallel paths that only run above a size threshold (the index
    // rebuild stores items from one task per thread).
    ("scenarios/flockers_100k.ron", "3", "01c7795e0f30c41e"),
];

#[test]
fn outputs_are_identical_at_any_thread_count_and_match_the_golden_digest() {
    let dir = tempfile::tempdir().unwrap();
    for (i, &(scenario, ticks, golden)) in GOLDEN.iter().enumerate() {
        let runs: Vec<PathBuf> = ["1", "2", "4"]
            .iter()
            .map(|t| {
                agora_run(
                    dir.path(),
                    &format!("{i}-t{t}"),
                    scenario,
                    &[
                        "--ticks",
                        ticks,
                        "--threads",
                        t,
                        "--set",
                        "record.snapshots=5",
                    ],
                )
            })
            .collect();
        let d1 = digest(&runs[0]);
        for (run, threads) in runs.iter().zip(["1", "2", "4"]).skip(1) {
            assert_eq!(
                digest(run),
                d1,
                "{scenario}: digest differs at --threads {threads}"
            );
            for file in ["metrics.csv", "snapshots.csv", "summary.json"] {
                assert!(
                    read(run, file) == read(&runs[0], file),
                    "{scenario}: {file} differs at --threads {threads}"
                );
            }
        }
        assert_eq!(
            d1, golden,
            "{scenario} after {ticks} ticks: digest {d1}, pinned {golden}. See GOLDEN's doc comment on how and when to re-pin."
        );
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_results() {
    let dir = tempfile::tempdir().unwrap();
    let a = agora_run(
        dir.path(),
        "a",
        "scenarios/schelling.ron",
        &["--ticks", "5"],
    );
    let b = agora_run(
        dir.path(),
        "b",
        "scenarios/schelling.ron",
        &["--ticks", "5"],
    );
    let c = agora_run(
        dir.path(),
        "c",
        "scenarios/schelling.ron",
        &["--ticks", "5", "--seed", "43"],
    );
    for file in [
        "metrics.csv",
        "snapshots.csv",
        "scenario.ron",
        "summary.json",
    ] {
        assert!(
            read(&a, file) == read(&b, file),
            "{file} differs between identical runs"
        );
    }
    assert_ne!(digest(&a), digest(&c));
    assert!(read(&a, "metrics.csv") != read(&c, "metrics.csv"));
    assert!(read(&a, "snapshots.csv") != read(&c, "snapshots.csv"));
}

/// Kernels with a wider version for CPUs that have it (`agora_engine::simd`) give the same
/// bits either way: the Flockers scenario, whose neighbourhood sums run in AVX where the CPU
/// has it, matches its golden digest with only the build's baseline instructions too.
#[test]
fn baseline_instructions_give_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, ticks, golden) = GOLDEN[0];
    let runs = ["auto", "baseline"].map(|level| {
        let out = dir.path().join(level);
        let o = common::agora()
            .env("AGORA_SIMD", level)
            .args(["run", scenario, "--ticks", ticks, "-q", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    });
    for run in &runs {
        assert_eq!(digest(run), golden, "{}", run.display());
    }
    for file in ["metrics.csv", "summary.json"] {
        assert!(
            read(&runs[0], file) == read(&runs[1], file),
            "{file} differs"
        );
    }
}
