//! Conflict-resolution scenarios as a researcher runs them: every policy on every scenario
//! through the `agora` binary, the conflict metrics in the outputs, one agent per cell at every
//! recorded tick, identical results at any thread count, and per-policy files in sync with
//! their base.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{agora_run_to, repo_root};

/// Every `scenarios/conflicts/<scenario>/<file>.ron`, sorted.
fn conflict_scenarios() -> Vec<String> {
    let root = repo_root().join("scenarios/conflicts");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "ron") {
                let rel = f.strip_prefix(repo_root()).unwrap();
                out.push(rel.to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn generated_policy_files_are_in_sync_with_their_base() {
    let o = Command::new("bash")
        .current_dir(repo_root())
        .args(["tools/conflicts/gen-policies.sh", "--check"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "per-policy scenario files are stale: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn every_policy_runs_on_every_scenario_and_the_metrics_land_in_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let files = conflict_scenarios();
    let policies: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| Path::new(f).file_stem()?.to_str())
        .collect();
    for p in [
        "priority",
        "random",
        "first_come",
        "backoff",
        "voting",
        "auction",
        "token",
        "negotiation",
    ] {
        assert!(policies.contains(p), "no scenario file for policy {p}");
    }
    for (i, file) in files.iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        agora_run_to(
            &out,
            file,
            &[
                "--ticks",
                "60",
                "--set",
                "record.snapshots=1",
                "--set",
                "record.events=[\"conflicts\"]",
            ],
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        for column in [
            "conflicts_total",
            "conflicts_vertex",
            "wait_p95",
            "starvation",
            "deadlocks_total",
            "jain_waits",
            "gini_wins",
            "messages_total",
        ] {
            assert!(
                summary["metrics"].get(column).is_some(),
                "{file}: no `{column}` in summary.json"
            );
        }
        // Every conflict is an event: kind, contested thing, ranked parties, winners.
        let events = std::fs::read_to_string(out.join("events_conflicts.csv")).unwrap();
        let mut rows = events.lines();
        assert_eq!(
            rows.next(),
            Some("tick,kind,thing,parties,winners"),
            "{file}"
        );
        let conflicts = rows.count() as f64;
        assert_eq!(
            summary["metrics"]["conflicts_total"].as_f64(),
            Some(conflicts),
            "{file}: one event per conflict"
        );
        assert!(conflicts > 0.0, "{file}: no conflict in 60 ticks");
        if file.contains("double_claim") {
            assert!(events.contains(",task,task("), "{file}: no double claim");
            assert!(summary["metrics"].get("tasks_per_tick").is_some());
        }
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        assert!(metrics.lines().next().unwrap().contains("conflicts_swap"));
        // One agent per cell at every recorded tick.
        let snaps = std::fs::read_to_string(out.join("snapshots.csv")).unwrap();
        let mut seen = BTreeSet::new();
        for line in snaps.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert!(
                seen.insert((f[0].to_owned(), f[3].to_owned(), f[4].to_owned())),
                "{file}: two agents in cell ({}, {}) at tick {}",
                f[3],
                f[4],
                f[0]
            );
        }
    }
}

fn read(run: &Path, file: &str) -> Vec<u8> {
    std::fs::read(run.join(file)).unwrap_or_else(|e| panic!("{}: {e}", run.join(file).display()))
}

fn digest(run: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    m["digest"].as_str().unwrap().to_owned()
}

/// (scenario, ticks, digest pinned after that many ticks). Re-pin after an intentional change
/// of results (`agora run <scenario> --ticks <ticks>` prints the digest) and say why in the
/// commit message; an unexpected change means results moved for the same input.
const GOLDEN: &[(&str, &str, &str)] = &[
    (
        "scenarios/conflicts/corridor/random.ron",
        "200",
        "df4d2cab46c7bb4a",
    ),
    (
        "scenarios/conflicts/intersection/voting.ron",
        "200",
        "5457a3b99df49590",
    ),
    (
        "scenarios/conflicts/charging/auction.ron",
        "300",
        "85610a03db1b8dbb",
    ),
    (
        "scenarios/conflicts/charging/backoff.ron",
        "300",
        "0672d318c5f1aa8f",
    ),
];

#[test]
fn conflict_runs_are_identical_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut pins = Vec::new();
    for (i, &(scenario, ticks, golden)) in GOLDEN.iter().enumerate() {
        let runs: Vec<PathBuf> = ["1", "4"]
            .iter()
            .map(|t| {
                let out = dir.path().join(format!("{i}-t{t}"));
                agora_run_to(
                    &out,
                    scenario,
                    &[
                        "--ticks",
                        ticks,
                        "--threads",
                        t,
                        "--set",
                        "record.snapshots=7",
                    ],
                );
                out
            })
            .collect();
        for file in ["metrics.csv", "snapshots.csv", "summary.json"] {
            assert!(
                read(&runs[0], file) == read(&runs[1], file),
                "{scenario}: {file} differs between --threads 1 and 4"
            );
        }
        let d = digest(&runs[0]);
        assert_eq!(d, digest(&runs[1]), "{scenario}: digest differs");
        pins.push(format!("{scenario} {ticks} {d}"));
        assert_eq!(
            d, golden,
            "{scenario} after {ticks} ticks: digest {d}, pinned {golden}. See GOLDEN's doc comment.\nall: {pins:?}"
        );
    }
}

#[test]
fn the_policy_comparison_sweep_runs_every_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = common::agora()
        .args([
            "sweep",
            "scenarios/sweeps/conflict_policies.ron",
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
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no `{name}` column in {header:?}"))
    };
    let (policy, throughput) = (col("conflicts.policy"), col("tasks_per_tick"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 8 * 2 * 3);
    let policies: BTreeSet<&str> = rows.iter().map(|r| r[policy].trim_matches('"')).collect();
    assert_eq!(policies.len(), 8, "{policies:?}");
    for r in &rows {
        let t: f64 = r[throughput].parse().unwrap();
        assert!(t > 0.0, "no task done: {r:?}");
    }
}

/// The policies that talk over the bus: messages are spent, negotiations end with positive
/// welfare, and results are identical at 1 and 4 threads.
#[test]
fn token_and_negotiation_talk_over_the_bus_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "scenarios/conflicts/double_claim/token.ron",
        "scenarios/conflicts/double_claim/negotiation.ron",
        "scenarios/conflicts/intersection/negotiation.ron",
        "scenarios/conflicts/charging/token.ron",
    ] {
        let runs: Vec<PathBuf> = ["1", "4"]
            .iter()
            .map(|t| {
                let out = dir.path().join(format!("{}-t{t}", file.replace('/', "_")));
                agora_run_to(&out, file, &["--ticks", "200", "--threads", t]);
                out
            })
            .collect();
        for f in ["metrics.csv", "summary.json"] {
            assert!(
                read(&runs[0], f) == read(&runs[1], f),
                "{file}: {f} differs between --threads 1 and 4"
            );
        }
        let summary: serde_json::Value =
            serde_json::from_slice(&read(&runs[0], "summary.json")).unwrap();
        let m = &summary["metrics"];
        let get = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        assert!(get("messages_total") > 0.0, "{file}: no message spent");
        if file.ends_with("negotiation.ron") {
            assert!(get("negotiations") > 0.0, "{file}: no negotiation ended");
            let failure = get("negotiation_failure_rate");
            assert!((0.0..=1.0).contains(&failure), "{file}: {failure}");
            assert!(get("negotiation_rounds_mean") >= 1.0);
            assert!(get("welfare_product_mean") > 0.0 && get("welfare_sum_mean") > 0.0);
        }
    }
}

/// Every policy gets agents through the corridor over the whole scenario. Token and
/// negotiation once livelocked there: a conflict left undecided while a token travelled or a
/// negotiation ran made both sides of a head-on meeting back off, so it dissolved before it
/// was decided; negotiations keyed on the contested cell were abandoned as the pair moved on to
/// the next cell; and a token stayed with a holder that kept winning but could not move. The
/// messaging policies also give identical results at 1 and 4 threads there.
#[test]
fn every_policy_completes_trips_in_the_corridor() {
    let dir = tempfile::tempdir().unwrap();
    let trips = |out: &Path| -> f64 {
        let summary: serde_json::Value =
            serde_json::from_slice(&read(out, "summary.json")).unwrap();
        summary["metrics"]["trips_total"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let mut by_policy = Vec::new();
    for policy in [
        "priority",
        "random",
        "first_come",
        "backoff",
        "voting",
        "auction",
        "token",
        "negotiation",
    ] {
        let file = format!("scenarios/conflicts/corridor/{policy}.ron");
        let out = dir.path().join(format!("{policy}-t4"));
        agora_run_to(&out, &file, &["--threads", "4"]);
        if policy == "token" || policy == "negotiation" {
            let one = dir.path().join(format!("{policy}-t1"));
            agora_run_to(&one, &file, &["--threads", "1"]);
            for f in ["metrics.csv", "summary.json"] {
                assert!(
                    read(&one, f) == read(&out, f),
                    "{file}: {f} differs between --threads 1 and 4"
                );
            }
        }
        by_policy.push((policy, trips(&out)));
    }
    for &(policy, t) in &by_policy {
        assert!(t > 0.0, "{policy}: no trip in the corridor: {by_policy:?}");
    }
    let get = |p: &str| by_policy.iter().find(|x| x.0 == p).unwrap().1;
    assert!(
        get("token") * 4.0 >= get("first_come"),
        "token far behind first_come: {by_policy:?}"
    );
}
