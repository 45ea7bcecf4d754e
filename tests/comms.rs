//! Agents that talk, remember and plan, through the `agora` binary: results identical at any
//! thread count, message accounting in `messages.csv`, the communication graph and event
//! journal, and clear errors for bad `comms` / `events` input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agora"))
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn run(file: &Path, out: &Path, threads: usize, extra: &[&str]) -> Output {
    let output = agora()
        .arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("agora runs");
    assert!(
        output.status.success(),
        "{} failed: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn summary_metrics(dir: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    doc["metrics"]
        .as_object()
        .expect("metrics")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
        .collect()
}

#[test]
fn every_talking_scenario_loads_and_runs() {
    let registry = agora_agents::registry();
    let mut names: Vec<PathBuf> = std::fs::read_dir(scenarios())
        .expect("scenarios folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.starts_with("gossip") || name.starts_with("forager")) && name.ends_with(".ron")
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for path in names {
        let scenario = agora_engine::Scenario::load(&path, &registry)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let three = agora_engine::scenario::overrides::parse_assignment("ticks=3").expect("ok");
        let scenario = scenario
            .with_overrides(&[three], &registry)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut sim = agora_engine::Sim::new(&scenario, &registry, Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        sim.run().expect("runs");
        assert!(agora_engine::comms::counters(sim.world()).balanced());
    }
}

#[test]
fn talking_scenarios_are_byte_identical_at_1_and_4_threads() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (file, ticks) in [
        ("forager.ron", "300"),
        ("gossip_lossy.ron", "120"),
        ("gossip_failures.ron", "80"),
    ] {
        let path = scenarios().join(file);
        let one = tmp.path().join(format!("{file}-1"));
        let four = tmp.path().join(format!("{file}-4"));
        run(&path, &one, 1, &["--ticks", ticks]);
        run(&path, &four, 4, &["--ticks", ticks]);
        let mut names: Vec<String> = std::fs::read_dir(&one)
            .expect("run folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != "manifest.json")
            .collect();
        names.sort();
        assert!(
            names.contains(&"messages.csv".to_owned()),
            "{file}: {names:?}"
        );
        for name in names {
            let a = std::fs::read(one.join(&name)).expect("file at 1 thread");
            let b = std::fs::read(four.join(&name)).unwrap_or_default();
            assert!(a == b, "{file}: {name} differs between 1 and 4 threads");
        }
    }
}

/// Logged copies wait in the channel's calendar and are delivered in global delivery order;
/// unlogged ones are filed by receiver as they are sent. Which way they travel must change
/// nothing but the log itself (failures and joins included, at any thread count).
#[test]
fn logging_messages_changes_no_result() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (file, ticks) in [("gossip_failures.ron", "80"), ("forager.ron", "150")] {
        let path = scenarios().join(file);
        let logged = tmp.path().join(format!("{file}-logged"));
        let quiet = tmp.path().join(format!("{file}-quiet"));
        run(&path, &logged, 1, &["--ticks", ticks]);
        run(
            &path,
            &quiet,
            4,
            &["--ticks", ticks, "--set", "comms.record.messages=false"],
        );
        assert!(logged.join("messages.csv").exists() && !quiet.join("messages.csv").exists());
        for name in ["metrics.csv", "summary.json"] {
            let a = std::fs::read(logged.join(name)).expect("logged run");
            let b = std::fs::read(quiet.join(name)).expect("unlogged run");
            assert!(a == b, "{file}: {name} differs when messages are logged");
        }
        let digest = |dir: &Path| {
            let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
            let doc: serde_json::Value = serde_json::from_str(&text).expect("valid json");
            doc["digest"].as_str().expect("digest").to_owned()
        };
        assert_eq!(digest(&logged), digest(&quiet), "{file}");
    }
}

#[test]
fn messages_csv_accounts_for_every_copy_in_delivery_order() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("failures");
    run(
        &scenarios().join("gossip_failures.ron"),
        &out,
        1,
        &["--ticks", "80"],
    );
    let m = summary_metrics(&out);
    let mut reader = csv::Reader::from_path(out.join("messages.csv")).expect("messages.csv");
    let mut delivered = 0u64;
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("row");
        let field = |i: usize| row.get(i).expect("field").to_owned();
        let num = |i: usize| field(i).parse::<u64>().expect("number");
        match field(8).as_str() {
            "delivered" => {
                delivered += 1;
                assert_eq!(num(0) - num(1), 2, "Fixed(2) latency");
                // Each receiver gets a tick's copies in (sender, sequence) order.
                let key = (num(2), num(6));
                if let Some(prev) = last.insert((num(0), num(3)), key) {
                    assert!(prev < key, "{prev:?} then {key:?}");
                }
            }
            "dropped" => *dropped.entry(field(9)).or_default() += 1,
            other => panic!("unknown status {other}"),
        }
    }
    let total_dropped: u64 = dropped.values().sum();
    assert_eq!(delivered as f64, m["msg_delivered"]);
    assert_eq!(total_dropped as f64, m["msg_dropped"]);
    assert_eq!(
        m["msg_sent"],
        m["msg_delivered"] + m["msg_dropped"] + m["msg_in_flight"]
    );
    assert_eq!(
        dropped.get("receiver_gone").copied().unwrap_or(0) as f64,
        m["dropped_receiver_gone"]
    );
    assert!(
        m["dropped_receiver_gone"] > 0.0 && m["dropped_sender_gone"] > 0.0,
        "{m:?}"
    );

    let journal = std::fs::read_to_string(out.join("events.csv")).expect("events.csv");
    assert_eq!(
        journal.lines().filter(|l| l.contains(",killed,")).count(),
        30
    );
    assert_eq!(
        journal.lines().filter(|l| l.contains(",spawned,")).count(),
        30
    );
    assert_eq!(m["agent_count"], 120.0);
}

#[test]
fn topologies_and_latencies_can_be_swept_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("swept");
    run(
        &scenarios().join("gossip.ron"),
        &out,
        1,
        &[
            "--ticks",
            "20",
            "--set",
            "comms.topology=WattsStrogatz(4, 0.2)",
            "--set",
            "comms.latency=Fixed(3)",
            "--set",
            "comms.loss=0.0",
        ],
    );
    let resolved = std::fs::read_to_string(out.join("scenario.ron")).expect("scenario.ron");
    assert!(resolved.contains("WattsStrogatz(4, 0.2)"), "{resolved}");
    let m = summary_metrics(&out);
    assert_eq!(m["msg_latency_mean"], 3.0);
    assert_eq!(m["topo_edges"], 400.0);
}

#[test]
fn the_communication_graph_is_written() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("lossy");
    run(
        &scenarios().join("gossip_lossy.ron"),
        &out,
        1,
        &["--ticks", "50"],
    );
    let dot = std::fs::read_to_string(out.join("comm_graph.dot")).expect("comm_graph.dot");
    assert!(dot.starts_with("// Who delivered"));
    assert!(dot.lines().filter(|l| l.contains(" -> ")).count() > 100);
    let degrees = std::fs::read_to_string(out.join("comm_degree.csv")).expect("degrees");
    let agents: u64 = degrees
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(1)
                .expect("count")
                .parse::<u64>()
                .expect("n")
        })
        .sum();
    let m = summary_metrics(&out);
    assert_eq!(agents as f64, m["talk_nodes"]);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).expect("manifest");
    for f in ["messages.csv", "comm_graph.dot", "comm_degree.csv"] {
        assert!(manifest.contains(f), "manifest lists {f}");
    }
}

const BASE: &str = r#"#![enable(implicit_some)]
(
    schema: 1,
    seed: 1,
    ticks: 10,
    world: (width: 20.0, height: 20.0),
    comms: (
        COMMS
    ),
    populations: [(behavior: "gossip", name: "crowd", count: 10)],
    EVENTS
)
"#;

fn bad(comms: &str, events: &str, files: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(tmp.path().join(name), text).expect("write");
    }
    let path = tmp.path().join("bad.ron");
    std::fs::write(
        &path,
        BASE.replace("COMMS", comms).replace("EVENTS", events),
    )
    .expect("write");
    let output = agora()
        .arg("validate")
        .arg(&path)
        .output()
        .expect("agora runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit code for {comms} {events}: {stderr}"
    );
    stderr.replace(&tmp.path().display().to_string(), "DIR")
}

#[test]
fn bad_comms_and_events_input_is_explained_with_its_position() {
    let e = bad("topology: Rng,", "", &[]);
    assert!(e.contains("DIR/bad.ron:8:19"), "{e}");
    assert!(
        e.contains("unknown topology variant `Rng`; did you mean `Ring`?"),
        "{e}"
    );
    assert!(e.contains("WattsStrogatz"), "{e}");

    let e = bad("latency: Fixed(0),", "", &[]);
    assert!(e.contains("DIR/bad.ron:8:18: `comms.latency`"), "{e}");
    assert!(e.contains("at least 1 tick"), "{e}");

    let e = bad("loss: 1.5,", "", &[]);
    assert!(e.contains("DIR/bad.ron:8:15: `comms.loss`"), "{e}");
    assert!(e.contains("between 0 and 1"), "{e}");

    let e = bad(
        r#"record: (messages: true, performatives: ["inform", "not-understod"]),"#,
        "",
        &[],
    );
    assert!(e.contains("`comms.record.performatives[1]`"), "{e}");
    assert!(e.contains("did you mean `not-understood`?"), "{e}");
    assert!(e.contains("bad.ron:8:"), "{e}");

    let e = bad(
        r#"topology: EdgeList("edges.txt"),"#,
        "",
        &[("edges.txt", "# ten agents: ids 0 to 9\n0 1\n1 99\n")],
    );
    assert!(
        e.contains("DIR/edges.txt:3:3: agent 99 does not exist"),
        "{e}"
    );

    let e = bad(r#"topology: EdgeList("missing.txt"),"#, "", &[]);
    assert!(e.contains("cannot read the edge list"), "{e}");

    let e = bad(
        "",
        r#"events: [(tick: 3, action: Kill(count: 2, group: "crwd"))],"#,
        &[],
    );
    assert!(e.contains("`events[0].action.group`"), "{e}");
    assert!(e.contains("did you mean `crowd`?"), "{e}");

    let e = bad("", "events: [(tick: 5, action: Kill())],", &[]);
    assert!(
        e.contains("`events[0].action`") && e.contains("needs a `count`"),
        "{e}"
    );
}

#[test]
fn a_forager_goal_with_no_plan_is_an_event_not_a_crash() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("noplan");
    run(
        &scenarios().join("forager.ron"),
        &out,
        1,
        &[
            "--ticks",
            "5",
            "--set",
            r#"populations[0].params.forage_goal={"at_food": true, "at_nest": true}"#,
        ],
    );
    let journal = std::fs::read_to_string(out.join("events.csv")).expect("events.csv");
    assert!(
        journal.lines().any(|l| l.contains(",no_plan,")),
        "{journal}"
    );
}
