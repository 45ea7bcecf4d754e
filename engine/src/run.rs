//! One run, start to finish, into a run folder (the format is documented in the README's
//! "Outputs" section): the resolved scenario, a manifest, metrics, snapshots, a summary.

use crate::error::Error;
use crate::plugin::Registry;
use crate::record::{DirSink, NullSink, OutputSink, write_atomic};
use crate::scenario::Scenario;
use crate::sim::{RunSummary, Sim, SimOptions, StopReason};
use crate::space::{Boundary, SpaceKind};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The engine's version, written into every manifest.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a run is executed and where it goes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Executor and pool threads.
    pub sim: SimOptions,
    /// The run folder; `None` keeps nothing but the returned summary.
    pub out_dir: Option<PathBuf>,
    /// Source revision to record in the manifest, when known.
    pub git_revision: Option<String>,
    /// The scenario file's path as the user gave it, for the manifest.
    pub scenario_file: Option<String>,
}

/// What a finished (or failed) run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The summary, when the run completed.
    pub summary: RunSummary,
    /// Seconds of wall time.
    pub wall_time_s: f64,
    /// The run folder, if one was written.
    pub out_dir: Option<PathBuf>,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// Builds and runs `scenario`. With an output folder, every file is complete on return, also
/// when the run fails (the manifest then says `"status": "failed"` and why); a panic inside a
/// plug-in is caught and reported as a failure at the tick it happened.
pub fn run_scenario(
    scenario: &Scenario,
    registry: &Registry,
    options: &RunOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<RunReport, Error> {
    let started = Instant::now();
    let mut sim = Sim::new(scenario, registry, options.sim)?;
    if let Some(dir) = &options.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let ron = scenario.to_ron(registry)?;
        write_atomic(&dir.join("scenario.ron"), ron.as_bytes())?;
    }
    let sink: Box<dyn OutputSink> = match &options.out_dir {
        Some(dir) => Box::new(DirSink::create(dir)?),
        None => Box::new(NullSink),
    };
    sim.set_output(sink)?;
    let limit = sim.tick_limit();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sim.run_with(|t| progress(t, limit))?;
        sim.finish()
    }));
    let result = match outcome {
        Ok(r) => r,
        Err(panic) => Err(Error::Run {
            tick: sim.tick(),
            message: format!("a plug-in panicked: {}", panic_message(panic.as_ref())),
        }),
    };
    let wall_time_s = started.elapsed().as_secs_f64();
    match result {
        Ok(summary) => {
            if let Some(dir) = &options.out_dir {
                let files = sim.output_files();
                write_summary(dir, scenario, &summary)?;
                write_manifest(
                    dir,
                    scenario,
                    options,
                    &files,
                    Some(&summary),
                    None,
                    wall_time_s,
                )?;
            }
            Ok(RunReport {
                summary,
                wall_time_s,
                out_dir: options.out_dir.clone(),
            })
        }
        Err(err) => {
            // Keep what was recorded before the failure, and say the run failed.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.abandon()));
            if let Some(dir) = &options.out_dir {
                let files = sim.output_files();
                let _ = write_manifest(
                    dir,
                    scenario,
                    options,
                    &files,
                    None,
                    Some((&err, sim.tick())),
                    wall_time_s,
                );
            }
            Err(err)
        }
    }
}

fn write_manifest(
    dir: &Path,
    s: &Scenario,
    options: &RunOptions,
    recorded: &[String],
    summary: Option<&RunSummary>,
    failure: Option<(&Error, u64)>,
    wall_time_s: f64,
) -> Result<(), Error> {
    // What this run wrote and completed (a file left `.partial` by an I/O error is not
    // listed), never what an earlier run left in the folder.
    let mut files: Vec<&str> = vec!["scenario.ron"];
    files.extend(
        recorded
            .iter()
            .map(String::as_str)
            .filter(|f| dir.join(f).exists()),
    );
    if summary.is_some() {
        files.push("summary.json");
    }
    let populations: Vec<Value> = s
        .populations
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"index": i, "behavior": p.behavior, "name": s.population_label(i), "count": p.count}))
        .collect();
    let manifest = json!({
        "agora_version": ENGINE_VERSION,
        "git_revision": options.git_revision,
        "scenario_name": s.name,
        "scenario_file": options.scenario_file,
        "seed": s.seed,
        "threads": options.sim.threads,
        "ticks": summary.map_or_else(|| failure.map_or(0, |f| f.1), |r| r.ticks),
        "stopped_by": summary.map_or("error", |r| r.stopped_by.as_str()),
        "status": if summary.is_some() { "ok" } else { "failed" },
        "error": failure.map(|(e, _)| e.to_string()),
        "wall_time_s": wall_time_s,
        "digest": summary.map(|r| format!("{:016x}", r.digest)),
        "world": {
            "kind": match s.world.kind { SpaceKind::Continuous => "continuous", SpaceKind::Grid => "grid" },
            "width": s.world.width,
            "height": s.world.height,
            "boundary": match s.world.boundary { Boundary::Torus => "torus", Boundary::Walls => "walls" },
            "obstacles": s.world.obstacles.iter().map(|&(x, y)| json!([x, y])).collect::<Vec<_>>(),
        },
        "populations": populations,
        "metric_columns": summary.map(|r| r.metrics.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()),
        "files": files,
    });
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    write_atomic(&dir.join("manifest.json"), text.as_bytes())
}

/// JSON has no NaN or infinity; they are written as null.
fn finite_or_null(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn write_summary(dir: &Path, s: &Scenario, summary: &RunSummary) -> Result<(), Error> {
    let metrics: serde_json::Map<String, Value> = summary
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), finite_or_null(*v)))
        .collect();
    let mut doc = json!({
        "tick": summary.ticks,
        "stopped_by": summary.stopped_by,
        "digest": format!("{:016x}", summary.digest),
        "metrics": metrics,
    });
    if !s.record.detect.is_empty() {
        doc["detectors"] = detectors_json(s, summary);
    }
    if !summary.events.is_empty() {
        doc["events"] = json!(summary.events);
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write_atomic(&dir.join("summary.json"), text.as_bytes())
}

/// One entry per configured detector, detections or not, so that a sweep table has the
/// column in every row: `first_tick` is the time to the change (null when it never came).
fn detectors_json(s: &Scenario, summary: &RunSummary) -> Value {
    let mut out = serde_json::Map::new();
    for d in &s.record.detect {
        let mine: Vec<_> = summary
            .changes
            .iter()
            .filter(|c| c.name == d.label())
            .collect();
        let events: Vec<Value> = mine
            .iter()
            .map(|c| {
                json!({
                    "tick": c.tick,
                    "direction": c.direction,
                    "value": finite_or_null(c.value),
                    "statistic": finite_or_null(c.statistic),
                })
            })
            .collect();
        out.insert(
            d.label().to_owned(),
            json!({
                "metric": d.metric,
                "first_tick": mine.first().map(|c| c.tick),
                "ticks": mine.iter().map(|c| c.tick).collect::<Vec<_>>(),
                "events": events,
            }),
        );
    }
    Value::Object(out)
}

impl StopReason {
    /// Parses `ticks` / `condition`.
    pub fn parse(s: &str) -> Option<StopReason> {
        match s {
            "ticks" => Some(StopReason::Ticks),
            "condition" => Some(StopReason::Condition),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use serde::{Deserialize, Serialize};

    /// Counts ticks into a resource; panics at tick `panic_at` when set.
    #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Probe {
        panic_at: Option<u64>,
    }

    #[derive(Resource, Default)]
    struct Seen(u64);

    impl Behavior for Probe {
        const NAME: &'static str = "probe";
        const SUMMARY: &'static str = "Test behavior.";
        fn build(sim: &mut SimBuilder<'_>) {
            sim.init_resource::<Seen>();
            sim.add_systems(Phase::Act, probe);
        }
    }

    fn probe(tick: Res<Tick>, mut seen: ResMut<Seen>, agents: Query<&Probe>) {
        seen.0 += 1;
        if agents.iter().any(|p| p.panic_at == Some(tick.0)) {
            panic!("probe exploded at tick {}", tick.0);
        }
    }

    /// A mechanism that records its params in a resource.
    #[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Auctioneer {
        rounds: u32,
    }

    impl Mechanism for Auctioneer {
        const SECTION: Section = Section::Allocation;
        const NAME: &'static str = "auctioneer";
        const SUMMARY: &'static str = "Test protocol.";
        fn build(sim: &mut SimBuilder<'_>) {
            sim.add_systems(Phase::Decide, |mut a: ResMut<Auctioneer>| a.rounds += 1);
        }
        fn validate(&self, _: &ValidateCtx<'_>) -> Result<(), String> {
            if self.rounds > 100 {
                Err("`rounds` must be at most 100".into())
            } else {
                Ok(())
            }
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.behavior::<Probe>().mechanism::<Auctioneer>();
        r
    }

    fn scenario(extra: &str, probe: &str) -> Result<Scenario, crate::ScenarioError> {
        Scenario::parse(
            &format!(
                "(schema: 1, seed: 1, ticks: 5, world: (width: 10.0, height: 10.0),
                  populations: [(behavior: \"probe\", count: 3, params: ({probe}))], {extra})"
            ),
            "test.ron",
            &registry(),
        )
    }

    #[test]
    fn a_panicking_plugin_fails_the_run_and_keeps_its_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let s = scenario("record: (snapshots: 1)", "panic_at: 2").unwrap();
        let options = RunOptions {
            out_dir: Some(dir.path().to_path_buf()),
            ..RunOptions::default()
        };
        let err = run_scenario(&s, &registry(), &options, |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::Run { tick: 2, .. }), "{err}");
        assert!(
            err.to_string().contains("probe exploded at tick 2"),
            "{err}"
        );
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["status"], "failed");
        assert!(
            manifest["error"]
                .as_str()
                .unwrap()
                .contains("probe exploded")
        );
        // The states after 0, 1 and 2 steps were recorded before tick 2 panicked; the files
        // are complete, not partial.
        let snaps = std::fs::read_to_string(dir.path().join("snapshots.csv")).unwrap();
        assert_eq!(snaps.lines().count(), 1 + 3 * 3);
        assert!(!dir.path().join("snapshots.csv.partial").exists());
    }

    #[test]
    fn mechanisms_are_selected_by_name_validated_and_installed() {
        let s = scenario(
            "allocation: (protocol: \"auctioneer\", params: (rounds: 7))",
            "",
        )
        .unwrap();
        let ron = s.to_ron(&registry()).unwrap();
        assert!(ron.contains("protocol: \"auctioneer\""), "{ron}");
        assert_eq!(
            Scenario::parse(&ron, "again", &registry())
                .unwrap()
                .to_json(),
            s.to_json()
        );
        let mut sim = Sim::new(&s, &registry(), SimOptions::default()).unwrap();
        sim.run().unwrap();
        assert_eq!(sim.world().resource::<Auctioneer>().rounds, 7 + 5);

        let err = scenario("allocation: (protocol: \"auctioner\")", "").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `auctioneer`"),
            "{err}"
        );
        assert_eq!(err.field.as_deref(), Some("allocation.protocol"));
        let err = scenario(
            "allocation: (protocol: \"auctioneer\", params: (rounds: 500))",
            "",
        )
        .unwrap_err();
        assert!(err.to_string().contains("at most 100"), "{err}");
        let err = scenario(
            "allocation: (protocol: \"auctioneer\", params: (round: 5))",
            "",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`rounds`"), "{err}");
        assert!(err.line.is_some());
    }

    #[test]
    fn every_phase_runs_once_per_tick() {
        let s = scenario("", "").unwrap();
        let mut sim = Sim::new(&s, &registry(), SimOptions::default()).unwrap();
        sim.run().unwrap();
        assert_eq!(sim.world().resource::<Seen>().0, 5);
        assert_eq!(sim.tick(), 5);
    }
}
