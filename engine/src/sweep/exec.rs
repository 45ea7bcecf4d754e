//! Real runs for the sweep runner: the base scenario is resolved once, and each run applies
//! its overrides to it, sets its seed and runs one single-threaded simulation.
//!
//! A run is exactly the simulation that `agora run BASE --set PATH=VALUE... --seed SEED`
//! would execute: the same override code ([`Scenario::with_overrides`]), the same checks,
//! the same [`run_scenario`]. Its `digest` column therefore equals that command's digest,
//! which the integration tests check.
//!
//! Each run uses the single-threaded executor, and [`SweepExecutor::new`] sizes the process's
//! compute pool to one thread, so that the behaviors' `par_iter` loops run inline:
//! parallelism comes from running several simulations at once, which costs nothing in
//! synchronisation, whereas the parallel executor costs tens of microseconds per tick and
//! would compete with the other workers for the cores. (If the pool was already sized larger
//! by an earlier simulation in the same process, results are the same, only slower.)

use super::expand::{RunSpec, SweepPlan};
use super::file::{BaseScenario, SweepFile};
use super::hash::{canonical_json, fnv1a64, hex16};
use super::overrides::{FieldPath, PathSegment};
use super::runner::RunOutcome;
use crate::error::{Error, ScenarioError};
use crate::plugin::Registry;
use crate::run::{RunOptions, run_scenario};
use crate::scenario::Scenario;
use crate::sim::{SimOptions, init_compute_pool};
use std::path::{Path, PathBuf};

/// Why a sweep could not be set up (before any run starts).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepSetupError {
    /// The base scenario is missing or invalid.
    #[error("base scenario: {0}")]
    Base(#[from] ScenarioError),
}

/// Builds and runs the simulations of a sweep.
#[derive(Debug, Clone)]
pub struct SweepExecutor<'r> {
    base: Scenario,
    registry: &'r Registry,
    runs_dir: Option<PathBuf>,
    scenario_file: Option<String>,
    git_revision: Option<String>,
}

impl<'r> SweepExecutor<'r> {
    /// Resolves the sweep's base scenario (a file relative to the sweep file, or inline) and
    /// sizes the process's compute pool to one thread (see the module docs).
    pub fn new(file: &SweepFile, registry: &'r Registry) -> Result<Self, SweepSetupError> {
        let (base, scenario_file) = match &file.base {
            BaseScenario::File(path) => (
                Scenario::load(path, registry)?,
                Some(path.display().to_string()),
            ),
            BaseScenario::Inline(text) => {
                // Padded to where it sits in the sweep file, so that error positions are the
                // sweep file's own.
                let (line, column) = file.base_at.0.unwrap_or((1, 1));
                let padded = format!(
                    "{}{}{text}",
                    "\n".repeat(line.saturating_sub(1)),
                    " ".repeat(column.saturating_sub(1))
                );
                let origin = file.path.display().to_string();
                (Scenario::parse(&padded, &origin, registry)?, None)
            }
        };
        init_compute_pool(1);
        Ok(SweepExecutor {
            base,
            registry,
            runs_dir: None,
            scenario_file,
            git_revision: None,
        })
    }

    /// Also writes each run's folder, `out_dir/runs/<run_id>/` (`--keep runs`); by default
    /// runs keep nothing but their row.
    #[must_use]
    pub fn keep_runs(mut self, out_dir: &Path) -> Self {
        self.runs_dir = Some(out_dir.join("runs"));
        self
    }

    /// Source revision recorded in kept run folders' manifests (default none).
    #[must_use]
    pub fn git_revision(mut self, revision: Option<String>) -> Self {
        self.git_revision = revision;
        self
    }

    /// The resolved base scenario.
    pub fn base(&self) -> &Scenario {
        &self.base
    }

    /// A digest of the resolved base scenario. Run ids hash only the overrides and the
    /// seed, so this is what tells two sweeps over different base scenarios apart (resume and
    /// merge refuse to mix them).
    pub fn base_digest(&self) -> String {
        hex16(fnv1a64(canonical_json(&self.base.to_json()).as_bytes()))
    }

    /// The scenario of one run: the base with the run's overrides, re-resolved and
    /// validated, and the run's seed. Errors are the run's failure message.
    pub fn scenario_for(&self, spec: &RunSpec) -> Result<Scenario, ScenarioError> {
        let overrides: Vec<(FieldPath, serde_json::Value)> = spec.overrides().cloned().collect();
        let mut scenario = self.base.with_overrides(&overrides, self.registry)?;
        scenario.seed = spec.seed;
        Ok(scenario)
    }

    /// The metric columns of the results table: the columns of the base scenario's recorded
    /// metrics, followed by any other column that some cell records (when an axis or variant
    /// changes `record`). A cell whose scenario does not resolve adds nothing: its runs fail
    /// with that message.
    pub fn metric_columns(&self, plan: &SweepPlan) -> Vec<String> {
        let mut columns = self.columns_of(&self.base);
        let record = PathSegment::Field("record".into());
        let touches_record = plan
            .runs
            .iter()
            .filter(|r| r.replication == 0)
            .any(|r| r.overrides().any(|(p, _)| p.0.first() == Some(&record)));
        if touches_record {
            for spec in plan.runs.iter().filter(|r| r.replication == 0) {
                let Ok(s) = self.scenario_for(spec) else {
                    continue;
                };
                for c in self.columns_of(&s) {
                    if !columns.contains(&c) {
                        columns.push(c);
                    }
                }
            }
        }
        columns
    }

    fn columns_of(&self, scenario: &Scenario) -> Vec<String> {
        let mut columns = Vec::new();
        for name in &scenario.record.metrics {
            let Some(entry) = self.registry.find_metric(name) else {
                continue;
            };
            let params = scenario.record.metric_params.get(name).map_or_else(
                || serde_json::Value::Object(Default::default()),
                |p| p.0.clone(),
            );
            if let Ok(metric) = (entry.make)(&params) {
                columns.extend(metric.columns());
            }
        }
        columns
    }

    /// Runs one run to the end. A scenario error (an override value that fails validation),
    /// a build error or a plug-in panic is returned as the run's message.
    pub fn run(&self, spec: &RunSpec) -> Result<RunOutcome, String> {
        let scenario = self.scenario_for(spec).map_err(|e| e.to_string())?;
        let options = RunOptions {
            sim: SimOptions { threads: 1 },
            out_dir: self.runs_dir.as_ref().map(|d| d.join(&spec.run_id)),
            git_revision: self.git_revision.clone(),
            scenario_file: self.scenario_file.clone(),
        };
        let report = run_scenario(&scenario, self.registry, &options, |_, _| {})
            .map_err(|e: Error| e.to_string())?;
        let summary = report.summary;
        Ok(RunOutcome {
            metrics: summary.metrics.into_iter().collect(),
            ticks: Some(summary.ticks),
            digest: Some(summary.digest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::sweep::runner::{RunnerConfig, run_sweep};
    use crate::sweep::table::{RESULTS_FILE, read_table};
    use crate::sweep::{SweepFile, expand};
    use serde::{Deserialize, Serialize};

    /// Panics at tick `panic_at` when set.
    #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Probe {
        panic_at: Option<u64>,
    }

    impl Behavior for Probe {
        const NAME: &'static str = "probe";
        const SUMMARY: &'static str = "Test behavior.";
        fn build(sim: &mut SimBuilder<'_>) {
            sim.add_systems(Phase::Act, probe);
        }
    }

    fn probe(tick: Res<Tick>, agents: Query<&Probe>) {
        if agents.iter().any(|p| p.panic_at == Some(tick.0)) {
            panic!("probe exploded at tick {}", tick.0);
        }
    }

    /// Sum of x coordinates (id order), and optionally their count as a second column.
    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct SumX {
        with_count: bool,
    }

    impl Metric for SumX {
        const NAME: &'static str = "sum_x";
        const SUMMARY: &'static str = "Test metric.";
        fn columns(&self) -> Vec<String> {
            let mut c = vec!["sum_x".to_owned()];
            if self.with_count {
                c.push("n".to_owned());
            }
            c
        }
        fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
            let mut q = world.query::<(&AgentId, &Position)>();
            let mut xs: Vec<(u32, f64)> = q.iter(world).map(|(id, p)| (id.0, p.0.x)).collect();
            xs.sort_by_key(|&(id, _)| id);
            out.push(xs.iter().map(|&(_, x)| x).sum());
            if self.with_count {
                out.push(xs.len() as f64);
            }
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.behavior::<Probe>().metric::<SumX>();
        r
    }

    const BASE: &str = "(schema: 1, seed: 1, ticks: 5, world: (width: 10.0, height: 10.0),
        populations: [(behavior: \"probe\", count: 3)], record: (metrics: [\"sum_x\"]))";

    fn sweep_file(axes: &str) -> SweepFile {
        let text = format!("(schema: 1, base: {BASE}, seed: 9, replications: 2, axes: [{axes}])");
        SweepFile::parse(&text, Path::new("test-sweep.ron")).unwrap()
    }

    #[test]
    fn a_panicking_plugin_and_an_invalid_override_fail_only_their_runs() {
        let file = sweep_file(
            "Values(path: \"populations[0].count\", values: [3, -1, 4]), \
             Values(path: \"populations[0].params.panic_at\", values: [None, 2])",
        );
        let plan = expand(&file).unwrap();
        let registry = registry();
        let exec = SweepExecutor::new(&file, &registry).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RunnerConfig::new(dir.path(), exec.metric_columns(&plan));
        cfg.jobs = 2;
        let m = run_sweep(&plan, &cfg, |s| exec.run(s), |_| {}).unwrap();
        // 3 counts x 2 panic settings x 2 replications; count -1 fails all 4 of its runs,
        // panic_at 2 fails the 4 others with a valid count.
        assert_eq!((m.ok, m.failed), (4, 8));
        let t = read_table(&dir.path().join(RESULTS_FILE)).unwrap();
        let l = &t.layout;
        assert_eq!(l.metrics, ["sum_x"]);
        for row in &t.rows {
            let (count, panic_at) = (&row[1], &row[2]);
            let (status, error) = (&row[l.status_col()], &row[l.error_col()]);
            if count == "-1" {
                assert_eq!(status, "failed");
                assert!(
                    error.contains("populations[0].count") && error.contains("-1"),
                    "{error}"
                );
            } else if panic_at == "2" {
                assert_eq!(status, "failed");
                assert!(
                    error.contains("tick 2: a plug-in panicked: probe exploded at tick 2"),
                    "{error}"
                );
            } else {
                assert_eq!(status, "ok", "{row:?}");
                assert_eq!(row[l.digest_col() - 1], "5");
                assert_eq!(row[l.digest_col()].len(), 16);
                assert!(row[l.first_metric_col()].parse::<f64>().is_ok());
            }
        }
    }

    #[test]
    fn a_run_is_the_standalone_run_of_its_scenario_and_seed() {
        let file = sweep_file("Values(path: \"populations[0].count\", values: [2, 7])");
        let plan = expand(&file).unwrap();
        let registry = registry();
        let exec = SweepExecutor::new(&file, &registry).unwrap();
        for spec in &plan.runs {
            let got = exec.run(spec).unwrap();
            let mut alone = Scenario::parse(BASE, "base", &registry)
                .unwrap()
                .with_overrides(&[spec.params[0].clone()], &registry)
                .unwrap();
            alone.seed = spec.seed;
            let mut sim = Sim::new(&alone, &registry, SimOptions::default()).unwrap();
            sim.run().unwrap();
            let want = sim.finish().unwrap();
            assert_eq!(got.digest, Some(want.digest));
            assert_eq!(got.ticks, Some(5));
            assert_eq!(got.metrics["sum_x"], want.metrics[0].1);
        }
        // Different seeds place the agents differently.
        let a = exec.run(&plan.runs[0]).unwrap();
        let b = exec.run(&plan.runs[1]).unwrap();
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn metric_columns_follow_overrides_of_the_record_section() {
        let registry = registry();
        let file = sweep_file("Values(path: \"populations[0].count\", values: [2, 3])");
        let exec = SweepExecutor::new(&file, &registry).unwrap();
        assert_eq!(exec.metric_columns(&expand(&file).unwrap()), ["sum_x"]);
        let file = sweep_file(
            "Variants([(name: \"plain\"), (name: \"counted\", \
             set: {\"record.metric_params.sum_x.with_count\": true})])",
        );
        let exec = SweepExecutor::new(&file, &registry).unwrap();
        assert_eq!(exec.metric_columns(&expand(&file).unwrap()), ["sum_x", "n"]);
    }

    #[test]
    fn kept_runs_get_their_own_folders() {
        let registry = registry();
        let file = sweep_file("");
        let plan = expand(&file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let exec = SweepExecutor::new(&file, &registry)
            .unwrap()
            .keep_runs(dir.path());
        exec.run(&plan.runs[1]).unwrap();
        let run = dir.path().join("runs").join(&plan.runs[1].run_id);
        for f in [
            "scenario.ron",
            "manifest.json",
            "metrics.csv",
            "summary.json",
        ] {
            assert!(run.join(f).is_file(), "{f}");
        }
        let kept = Scenario::load(&run.join("scenario.ron"), &registry).unwrap();
        assert_eq!(kept.seed, plan.runs[1].seed);
    }

    #[test]
    fn a_bad_base_scenario_is_a_setup_error() {
        let text = "(schema: 1, seed: 1,\n  base: (schema: 1, seed: 1, ticks: 5,\n    \
                    world: (width: 10.0, height: 10.0),\n    \
                    populations: [(behavior: \"prob\", count: 3)]))";
        let file = SweepFile::parse(text, Path::new("s.ron")).unwrap();
        let err = SweepExecutor::new(&file, &registry()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("base scenario: s.ron:4:30: `populations[0].behavior`")
                && msg.contains("did you mean `probe`"),
            "{msg}"
        );
        let file = SweepFile::parse(
            "(schema: 1, base: \"missing.ron\", seed: 1)",
            Path::new("dir/s.ron"),
        )
        .unwrap();
        let msg = SweepExecutor::new(&file, &registry())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("dir/missing.ron"), "{msg}");
    }
}
