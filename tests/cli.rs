//! The `agora` binary as a user runs it: run folders, validation, listing, and bad input
//! that must give a clear error and exit code 2, never a panic.

use std::path::PathBuf;
use std::process::Output;

mod common;

use common::agora;

fn run(args: &[&str]) -> Output {
    agora()
        .args(args)
        .output()
        .expect("the agora binary starts")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes `text` as a scenario file in a fresh folder and returns both.
fn scenario_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

const GOOD: &str = r#"(
    schema: 1,
    seed: 3,
    ticks: 5,
    world: (width: 20.0, height: 20.0),
    populations: [(behavior: "random_walk", count: 10, params: (step: 0.5))],
    record: (metrics: ["agent_count", "mean_nn_distance"], snapshots: 2),
)"#;

/// Runs `agora validate` and `agora run` on `text` and checks both fail as bad input with a
/// message containing every `expected` fragment.
fn assert_bad_input(text: &str, expected: &[&str]) {
    let (_dir, path) = scenario_file(text);
    let p = path.to_str().unwrap();
    for args in [
        vec!["validate", p],
        vec!["run", p, "--out", _dir.path().join("out").to_str().unwrap()],
    ] {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?} should exit 2; stderr: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        for e in expected {
            assert!(err.contains(e), "{args:?}: expected {e:?} in: {err}");
        }
    }
}

#[test]
fn run_writes_a_complete_run_folder() {
    let (dir, path) = scenario_file(GOOD);
    let out = dir.path().join("run");
    let o = run(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("agent-steps/s"), "{}", stdout(&o));
    for f in [
        "scenario.ron",
        "manifest.json",
        "metrics.csv",
        "snapshots.csv",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
        assert!(
            !out.join(format!("{f}.partial")).exists(),
            "{f}.partial left behind"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "ok");
    assert_eq!(manifest["seed"], 3);
    assert_eq!(manifest["ticks"], 5);
    assert_eq!(manifest["digest"].as_str().unwrap().len(), 16);
    assert_eq!(manifest["world"]["kind"], "continuous");

    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = metrics.lines().collect();
    assert_eq!(rows[0], "tick,agent_count,mean_nn_distance");
    let ticks: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(ticks, ["0", "1", "2", "3", "4", "5"]);
    assert!(rows[1..].iter().all(|r| r.split(',').nth(1) == Some("10")));

    let snaps = std::fs::read_to_string(out.join("snapshots.csv")).unwrap();
    let mut lines = snaps.lines();
    assert_eq!(
        lines.next(),
        Some("tick,agent,population,x,y,heading,state")
    );
    // Snapshots every 2 ticks plus the final tick: 0, 2, 4, 5.
    assert_eq!(lines.count(), 4 * 10);

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["tick"], 5);
    assert_eq!(summary["metrics"]["agent_count"], 10.0);

    // The resolved scenario runs again as is and reproduces the run.
    let again = dir.path().join("again");
    let o = run(&[
        "run",
        out.join("scenario.ron").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out.join("metrics.csv")).unwrap(),
        std::fs::read(again.join("metrics.csv")).unwrap()
    );
}

#[test]
fn overrides_reach_the_resolved_scenario() {
    let (dir, path) = scenario_file(GOOD);
    let out = dir.path().join("run");
    let o = run(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "populations[0].count=7",
        "--set",
        "world.boundary=Walls",
        "--seed",
        "99",
        "--ticks",
        "2",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--quiet printed: {}", stdout(&o));
    let resolved = std::fs::read_to_string(out.join("scenario.ron")).unwrap();
    assert!(resolved.contains("count: 7"), "{resolved}");
    assert!(resolved.contains("boundary: Walls"), "{resolved}");
    assert!(resolved.contains("seed: 99"), "{resolved}");
    assert!(
        resolved.contains("step: 0.5"),
        "params keep their values: {resolved}"
    );
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"agent_count\": 7.0"), "{summary}");
}

#[test]
fn validate_and_list() {
    let o = run(&["validate", "scenarios/flocking.ron"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok (1 populations, 200 agents"),
        "{}",
        stdout(&o)
    );
    let o = run(&["list"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for name in [
        "random_walk",
        "flocking",
        "schelling",
        "polarization",
        "fraction_happy",
        "visual_distance: 5.0",
    ] {
        assert!(text.contains(name), "`agora list` lacks {name}: {text}");
    }
}

#[test]
fn malformed_ron_points_at_the_position() {
    assert_bad_input(
        "(\n    schema: 1,\n    seed: 3\n    ticks: 5,\n)",
        &["bad.ron:4:5", "expected"],
    );
}

#[test]
fn unknown_field_lists_the_valid_ones() {
    assert_bad_input(
        &GOOD.replace("seed: 3,", "seed: 3,\n    sead: 4,"),
        &["bad.ron:4:5", "sead", "`seed`", "`ticks`"],
    );
}

#[test]
fn unknown_params_field_points_into_the_params() {
    assert_bad_input(
        &GOOD.replace("params: (step: 0.5)", "params: (stepp: 0.5)"),
        &["bad.ron:6:65", "populations[0].params", "stepp", "`step`"],
    );
}

#[test]
fn unknown_behavior_suggests_the_nearest() {
    assert_bad_input(
        &GOOD.replace("\"random_walk\"", "\"random_wlak\""),
        &[
            "bad.ron:6:30",
            "populations[0].behavior",
            "unknown behavior `random_wlak`",
            "did you mean `random_walk`",
            "flocking",
        ],
    );
}

#[test]
fn unknown_metric_suggests_the_nearest() {
    assert_bad_input(
        &GOOD.replace("\"agent_count\"", "\"agent_cont\""),
        &["record.metrics[0]", "did you mean `agent_count`"],
    );
}

#[test]
fn negative_count_is_rejected() {
    assert_bad_input(
        &GOOD.replace("count: 10", "count: -10"),
        &["bad.ron:6:53", "populations[0].count"],
    );
}

#[test]
fn zero_size_world_is_rejected() {
    assert_bad_input(
        &GOOD.replace("width: 20.0", "width: 0.0"),
        &["bad.ron:5:20", "world.width", "positive"],
    );
}

#[test]
fn behavior_params_are_validated() {
    assert_bad_input(
        &GOOD.replace("step: 0.5", "step: -1.0"),
        &["populations[0].params", "non-negative"],
    );
}

#[test]
fn grid_behavior_in_a_continuous_world_is_rejected() {
    assert_bad_input(
        &GOOD
            .replace("\"random_walk\"", "\"schelling\"")
            .replace("(step: 0.5)", "()"),
        &["needs a grid world"],
    );
}

#[test]
fn missing_file_is_bad_input() {
    let o = run(&["run", "no/such/file.ron"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no/such/file.ron: file not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_overrides_are_bad_input() {
    for (set, expected) in [
        ("populations[0].count=-3", "populations[0].count"),
        ("populations[4].count=3", "out of range"),
        ("world.widht=3", "widht"),
        ("noequals", "has no `=`"),
        ("populations[0].params.step=\"far\"", "invalid type"),
    ] {
        let o = run(&["validate", "scenarios/random_walk.ron", "--set", set]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expected),
            "--set {set}: expected {expected:?} in {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn an_unknown_instruction_level_is_bad_input() {
    let o = agora()
        .env("AGORA_SIMD", "avx9")
        .args(["validate", "scenarios/flocking.ron"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("AGORA_SIMD") && stderr(&o).contains("auto, baseline"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_flags_exit_with_2() {
    let o = run(&["run", "scenarios/flocking.ron", "--threads", "many"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}
