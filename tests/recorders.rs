//! Recorders end to end: run folders stay in the documented format, nothing recorded is lost
//! when a run fails, event logs and change detectors reach their files and the summary,
//! binary snapshots hold exactly what the CSV holds, every metric can be recorded, and the
//! files are identical at any thread count.

use agora_engine::prelude::*;
use agora_engine::{Error, LogEvent, RunOptions, Scenario, run_scenario};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- a test behavior with an event log and a failure switch ----------------------------

/// One heartbeat per agent per tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Beat {
    agent: u32,
    phase: f64,
}

impl LogEvent for Beat {
    const KIND: &'static str = "beats";
}

/// Scenario: `(behavior: "beating", count: 3, params: (fail_at: Some(4)))`
#[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Beating {
    /// Panic in this tick (default never).
    fail_at: Option<u64>,
}

impl Behavior for Beating {
    const NAME: &'static str = "beating";
    const SUMMARY: &'static str = "Logs a heartbeat per agent per tick; can fail on purpose.";

    fn build(sim: &mut SimBuilder) {
        sim.event_log::<Beat>();
        sim.add_systems(Phase::Decide, beat);
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        agent.insert(Velocity(DVec2::new(1.0, 0.0)));
    }
}

fn beat(tick: Res<Tick>, mut log: ResMut<EventLog<Beat>>, agents: Query<(&AgentId, &Beating)>) {
    let mut mine: Vec<_> = agents.iter().map(|(id, b)| (id.0, b.fail_at)).collect();
    mine.sort_unstable_by_key(|&(id, _)| id);
    for (id, fail_at) in mine {
        log.push(
            tick.0,
            Beat {
                agent: id,
                phase: tick.0 as f64 / 2.0,
            },
        );
        assert!(
            fail_at != Some(tick.0),
            "deliberate failure in tick {}",
            tick.0
        );
    }
}

fn registry() -> Registry {
    let mut r = agora_agents::registry();
    r.behavior::<Beating>();
    r
}

fn scenario(src: &str) -> Scenario {
    Scenario::parse(src, "test.ron", &registry()).unwrap_or_else(|e| panic!("{e}"))
}

fn run_into(s: &Scenario, dir: &Path) -> Result<agora_engine::RunReport, Error> {
    let options = RunOptions {
        out_dir: Some(dir.to_path_buf()),
        ..RunOptions::default()
    };
    run_scenario(s, &registry(), &options, |_, _| {})
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&read(dir, name)).unwrap()
}

fn no_partials(dir: &Path) {
    for f in std::fs::read_dir(dir).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "{name} left behind");
    }
}

const BEATING: &str = r#"#![enable(implicit_some)]
(
    schema: 1, seed: 5, ticks: 10,
    world: (width: 20.0, height: 20.0),
    populations: [(behavior: "beating", count: 3, params: (fail_at: FAIL))],
    record: (metrics: ["polarization", "agent_count"], every: 1, snapshots: 3, events: ["beats"]),
)"#;

#[test]
fn a_failed_run_keeps_every_row_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(&BEATING.replace("FAIL", "4"));
    let err = run_into(&s, dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("deliberate failure in tick 4"),
        "{err}"
    );
    no_partials(dir.path());
    // Ticks 0..=4 completed before the failure in the fifth step.
    let metrics = read(dir.path(), "metrics.csv");
    let ticks: Vec<&str> = metrics.lines().skip(1).map(|l| &l[..1]).collect();
    assert_eq!(ticks, ["0", "1", "2", "3", "4"]);
    assert!(metrics.ends_with('\n'));
    // The failing tick's events were pushed before the panic and are kept: 5 ticks x 3.
    let beats = read(dir.path(), "events_beats.csv");
    assert_eq!(beats.lines().next(), Some("tick,agent,phase"));
    assert_eq!(beats.lines().count(), 1 + 5 * 3 - 2, "{beats}");
    let manifest = json(dir.path(), "manifest.json");
    assert_eq!(manifest["status"], "failed");
    assert_eq!(manifest["stopped_by"], "error");
    assert!(manifest["error"].as_str().unwrap().contains("tick 4"));
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        files,
        [
            "scenario.ron",
            "metrics.csv",
            "snapshots.csv",
            "events_beats.csv"
        ]
    );
    assert!(!dir.path().join("summary.json").exists());
}

#[test]
fn event_logs_write_csv_and_count_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(&BEATING.replace("FAIL", "None"));
    let report = run_into(&s, dir.path()).unwrap();
    assert_eq!(report.summary.events["beats"], 30);
    let beats = read(dir.path(), "events_beats.csv");
    let lines: Vec<&str> = beats.lines().collect();
    assert_eq!(lines.len(), 31);
    assert_eq!(lines[1..4], ["0,0,0.0", "0,1,0.0", "0,2,0.0"]);
    assert_eq!(lines[30], "9,2,4.5");
    assert_eq!(json(dir.path(), "summary.json")["events"]["beats"], 30);

    // Not listed: nothing written, and pushing kept nothing.
    let quiet = tempfile::tempdir().unwrap();
    let off = scenario(
        &BEATING
            .replace("FAIL", "None")
            .replace(r#", events: ["beats"]"#, ""),
    );
    let report = run_into(&off, quiet.path()).unwrap();
    assert!(report.summary.events.is_empty());
    assert!(!quiet.path().join("events_beats.csv").exists());
}

#[test]
fn unknown_event_logs_name_the_valid_ones() {
    let path = std::env::temp_dir().join(format!("agora-events-{}.ron", std::process::id()));
    let src = BEATING
        .replace("FAIL", "None")
        .replace(r#"events: ["beats"]"#, r#"events: ["beets"]"#);
    std::fs::write(&path, &src).unwrap();
    let s = Scenario::load(&path, &registry()).unwrap();
    let err = Sim::new(&s, &registry(), SimOptions::default()).unwrap_err();
    let _ = std::fs::remove_file(&path);
    let msg = err.to_string();
    assert!(err.is_bad_input(), "{msg}");
    assert!(msg.contains(":6:"), "positioned at the list: {msg}");
    assert!(
        msg.contains("unknown event log `beets`; did you mean `beats`?"),
        "{msg}"
    );
}

#[test]
fn a_run_stopped_by_its_condition_records_the_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        r#"#![enable(implicit_some)]
        (schema: 1, seed: 2,
         stop: (metric: "polarization", op: Ge, value: 0.95),
         world: (width: 5.0, height: 5.0),
         populations: [(behavior: "vicsek", count: 100, params: (speed: 0.05, noise: 0.3))],
         record: (metrics: ["polarization"], every: 7, snapshots: 50))"#,
    );
    let report = run_into(&s, dir.path()).unwrap();
    let end = report.summary.ticks;
    assert_eq!(report.summary.stopped_by, StopReason::Condition);
    let metrics = read(dir.path(), "metrics.csv");
    let last = metrics.lines().last().unwrap();
    assert!(last.starts_with(&format!("{end},")), "{last}");
    assert!(last.split(',').nth(1).unwrap().parse::<f64>().unwrap() >= 0.95);
    let snaps = read(dir.path(), "snapshots.csv");
    assert!(
        snaps
            .lines()
            .last()
            .unwrap()
            .starts_with(&format!("{end},99,"))
    );
    assert_eq!(json(dir.path(), "summary.json")["stopped_by"], "condition");
}

// ---- change detectors ------------------------------------------------------------------

const VICSEK: &str = r#"#![enable(implicit_some)]
(
    schema: 1, seed: 2, ticks: 400,
    world: (width: 5.0, height: 5.0),
    populations: [(behavior: "vicsek", count: 100, params: (speed: 0.05, noise: 0.5))],
    record: (
        metrics: ["polarization", "opinion_variance"],
        every: 5,
        detect: [
            (metric: "polarization", name: "order",
             detector: Threshold((enter_above: 0.9, exit_below: 0.5))),
            (metric: "polarization", detector: PageHinkley((delta: 0.005, lambda: 0.5)), watch: Up),
            (metric: "opinion_variance", name: "consensus",
             detector: Threshold((enter_above: 0.1, exit_below: 0.05))),
        ],
    ),
)"#;

#[test]
fn detectors_log_the_tick_of_the_change_and_the_summary_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(VICSEK);
    let report = run_into(&s, dir.path()).unwrap();
    let summary = json(dir.path(), "summary.json");
    let order = &summary["detectors"]["order"];
    let first = order["first_tick"].as_u64().expect("the flock orders");
    assert!(first > 0 && first.is_multiple_of(5), "{order}");
    // The recorded polarization crosses 0.9 exactly there.
    let metrics = read(dir.path(), "metrics.csv");
    let crossing = metrics
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().parse::<u64>().unwrap(),
                f.next().unwrap().parse::<f64>().unwrap(),
            )
        })
        .find(|&(_, p)| p > 0.9)
        .unwrap();
    assert_eq!(crossing.0, first);
    assert_eq!(order["metric"], "polarization");
    let ph = &summary["detectors"]["polarization"];
    assert!(ph["first_tick"].as_u64().is_some(), "{ph}");
    assert!(
        ph["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["direction"] == "up"),
        "watch: Up keeps only rises: {ph}"
    );
    // No opinions in this world: the detector is listed, never fired.
    assert_eq!(summary["detectors"]["consensus"]["first_tick"], Value::Null);
    let changes = read(dir.path(), "events_changes.csv");
    assert_eq!(
        changes.lines().next(),
        Some("tick,name,metric,detector,direction,value,statistic")
    );
    assert!(changes.contains(&format!("{first},order,polarization,threshold,up,")));
    assert_eq!(changes.lines().count() - 1, report.summary.changes.len());
}

#[test]
fn detector_mistakes_are_positioned_and_suggest_names() {
    let registry = registry();
    let err = Scenario::parse(
        &VICSEK.replace(
            r#"(metric: "polarization", name: "order""#,
            r#"(metric: "polarisation", name: "order""#,
        ),
        "v.ron",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("v.ron:10:22: `record.detect[0].metric`"),
        "{err}"
    );
    assert!(err.contains("did you mean `polarization`?"), "{err}");
    let err = Scenario::parse(
        &VICSEK.replace(
            "enter_above: 0.9, exit_below: 0.5",
            "enter_above: 0.5, exit_below: 0.9",
        ),
        "v.ron",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("v.ron:11:"), "{err}");
    assert!(err.contains("`record.detect[0].detector`"), "{err}");
    assert!(err.contains("exit_below"), "{err}");
    let err = Scenario::parse(
        &VICSEK.replace("Threshold((enter_above: 0.9", "Treshold((enter_above: 0.9"),
        "v.ron",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("v.ron:11:") && err.contains("Treshold"),
        "{err}"
    );
    let err = Scenario::parse(
        &VICSEK.replace(r#"name: "consensus""#, r#"name: "order""#),
        "v.ron",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("two detectors are named `order`"), "{err}");
}

// ---- snapshots -------------------------------------------------------------------------

#[test]
fn binary_snapshots_hold_exactly_the_csv_values() {
    let src = |format: &str| {
        format!(
            r#"#![enable(implicit_some)]
            (schema: 1, seed: 9, ticks: 7,
             world: (width: 30.0, height: 30.0),
             populations: [
                (behavior: "flocking", count: 40),
                (behavior: "random_walk", count: 5),
             ],
             record: (metrics: ["polarization"], snapshots: 3, snapshot_format: {format}))"#
        )
    };
    let (csv_dir, bin_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_into(&scenario(&src("Csv")), csv_dir.path()).unwrap();
    run_into(&scenario(&src("Binary")), bin_dir.path()).unwrap();
    assert!(!bin_dir.path().join("snapshots.csv").exists());
    let manifest = json(bin_dir.path(), "manifest.json");
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .contains(&Value::from("snapshots.bin"))
    );
    let csv = read(csv_dir.path(), "snapshots.csv");
    assert_eq!(
        csv.lines().next(),
        Some("tick,agent,population,x,y,heading,state")
    );
    let bytes = std::fs::read(bin_dir.path().join("snapshots.bin")).unwrap();
    assert_eq!(&bytes[..8], agora_engine::SNAPSHOT_MAGIC);
    let records = &bytes[agora_engine::SNAPSHOT_HEADER_BYTES..];
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // Ticks 0, 3, 6 and the final 7, 45 agents each.
    assert_eq!(rows.len(), 4 * 45);
    assert_eq!(
        records.len(),
        rows.len() * agora_engine::SNAPSHOT_RECORD_BYTES
    );
    for (row, rec) in rows
        .iter()
        .zip(records.chunks_exact(agora_engine::SNAPSHOT_RECORD_BYTES))
    {
        let f: Vec<&str> = row.split(',').collect();
        let u64_at = |o: usize| u64::from_le_bytes(rec[o..o + 8].try_into().unwrap());
        let f64_at = |o: usize| f64::from_bits(u64_at(o));
        assert_eq!(u64_at(0).to_string(), f[0]);
        assert_eq!(
            u32::from_le_bytes(rec[8..12].try_into().unwrap()).to_string(),
            f[1]
        );
        assert_eq!(u16::from_le_bytes([rec[12], rec[13]]).to_string(), f[2]);
        // `{}` formatting of f64 round-trips exactly, so the values are bit-identical.
        assert_eq!(f64_at(14), f[3].parse::<f64>().unwrap());
        assert_eq!(f64_at(22), f[4].parse::<f64>().unwrap());
        let h = f64_at(30);
        if f[5].is_empty() {
            assert!(h.is_nan());
        } else {
            assert_eq!(h, f[5].parse::<f64>().unwrap());
        }
        assert_eq!(
            u32::from_le_bytes(rec[38..42].try_into().unwrap()).to_string(),
            f[6]
        );
    }
}

// ---- every metric, both kinds of world --------------------------------------------------

#[test]
fn every_registered_metric_records_in_continuous_and_grid_worlds() {
    let registry = agora_agents::registry();
    let names = registry.names(agora_engine::PluginKind::Metric);
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let worlds = [
        r#"world: (width: 20.0, height: 20.0),
           populations: [(behavior: "vicsek", count: 60), (behavior: "flocking", count: 30)],"#,
        r#"world: (kind: Grid, width: 12.0, height: 12.0, boundary: Walls, one_per_cell: true),
           populations: [(behavior: "schelling", count: 50), (behavior: "schelling", count: 50)],"#,
    ];
    for world in worlds {
        let src = format!(
            r#"#![enable(implicit_some)]
            (schema: 1, seed: 4, ticks: 3, {world}
             record: (metrics: [{list}],
                      metric_params: {{"gini": (of: ["speed", "neighbors", "state"]),
                                       "jain": (of: ["neighbors"])}}))"#
        );
        let s = Scenario::parse(&src, "all.ron", &registry).unwrap_or_else(|e| panic!("{e}"));
        let sink = agora_engine::MemorySink::new();
        let mut sim = Sim::new(&s, &registry, SimOptions::default()).unwrap();
        sim.set_output(Box::new(sink.clone())).unwrap();
        sim.run().unwrap();
        let summary = sim.finish().unwrap();
        let text = sink.text("metrics.csv").unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header.len(), 1 + summary.metrics.len());
        assert_eq!(text.lines().count(), 1 + 4, "ticks 0..=3");
        for line in text.lines().skip(1) {
            assert_eq!(line.split(',').count(), header.len(), "{line}");
        }
        // Defined metrics have numbers; the others say NaN rather than inventing a value.
        let value = |c: &str| summary.metrics.iter().find(|(n, _)| n == c).unwrap().1;
        assert!(value("agent_count") > 0.0);
        assert!(value("cluster_count") >= 1.0);
        assert!((0.0..=1.0).contains(&value("spatial_entropy")));
        assert!(value("gini_neighbors").is_finite());
        assert!(value("opinion_variance").is_nan());
        assert!(value("division_of_labor").is_nan());
        assert!(sink.is_finished());
    }
}

// ---- thread counts ---------------------------------------------------------------------

fn agora(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .output()
        .expect("the agora binary runs")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn recorded_files_are_identical_at_one_and_four_threads() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = repo("scenarios/vicsek.ron");
    for threads in ["1", "4"] {
        let out = dir.path().join(threads);
        let o = agora(&[
            "run",
            scenario.to_str().unwrap(),
            "--ticks",
            "300",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
            "--set",
            "record.snapshots=50",
            "--set",
            "record.metrics=[\"polarization\",\"clusters\",\"milling\",\"mean_nn_distance\"]",
            "-q",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stdout.is_empty() && o.stderr.is_empty(),
            "-q prints nothing"
        );
    }
    for f in [
        "metrics.csv",
        "snapshots.csv",
        "events_changes.csv",
        "summary.json",
        "scenario.ron",
    ] {
        let one = std::fs::read(dir.path().join("1").join(f)).unwrap();
        let four = std::fs::read(dir.path().join("4").join(f)).unwrap();
        assert!(one == four, "{f} differs between 1 and 4 threads");
    }
}

// ---- agora plot and agora view on the command line ----------------------------------------

#[test]
fn plot_writes_png_and_svg_and_bad_input_exits_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = agora(&[
        "run",
        repo("scenarios/vicsek.ron").to_str().unwrap(),
        "--ticks",
        "200",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("polarization"));
    let plots = dir.path().join("plots");
    let o = agora(&[
        "plot",
        run.to_str().unwrap(),
        "--metrics",
        "polarization,cluster_count",
        "--out",
        plots.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = read(&plots, "metrics.svg");
    assert!(svg.contains("polarization") && svg.contains("cluster_count"));
    assert!(
        !svg.contains("mean_cluster_size"),
        "only the chosen metrics"
    );
    let decoder = png::Decoder::new(std::fs::File::open(plots.join("metrics.png")).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let inked = px
        .chunks_exact(step)
        .filter(|p| p[..3].iter().any(|&c| c < 200))
        .count();
    assert!(
        inked * 100 > px.len() / step,
        "the chart is nearly blank: {inked} inked pixels"
    );

    let bad = agora(&["plot", run.to_str().unwrap(), "--metrics", "polarisation"]);
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("polarisation") && msg.contains("polarization"),
        "{msg}"
    );
    for cmd in ["plot", "view"] {
        let missing = agora(&[cmd, dir.path().join("nope").to_str().unwrap()]);
        assert_eq!(missing.status.code(), Some(2), "{cmd}");
        assert!(String::from_utf8_lossy(&missing.stderr).contains("nope"));
    }
}
