//! Every scenario file in `scenarios/` loads, resolves, survives a round trip through its
//! resolved RON form, and runs a few ticks.

use agora_engine::{MemorySink, Scenario, Sim, SimOptions};
use std::path::{Path, PathBuf};

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // Sweep files have their own schema and their own tests.
            if p.file_name().is_some_and(|n| n != "sweeps") {
                scenario_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "ron") {
            out.push(p);
        }
    }
}

#[test]
fn every_scenario_loads_and_runs_a_few_ticks() {
    let registry = agora_agents::registry();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    scenario_files(&root, &mut files);
    assert!(
        files.len() >= 9,
        "expected the scenario files, found {files:?}"
    );
    for file in files {
        let scenario = Scenario::load(&file, &registry).unwrap_or_else(|e| panic!("{e}"));
        let ron = scenario.to_ron(&registry).unwrap();
        let again = Scenario::parse(&ron, "resolved", &registry)
            .unwrap_or_else(|e| panic!("{}: resolved form: {e}\n{ron}", file.display()));
        assert_eq!(
            again.to_json(),
            scenario.to_json(),
            "{}: resolved form differs",
            file.display()
        );

        let short = scenario
            .with_overrides(
                &[agora_engine::scenario::overrides::parse_assignment("ticks=3").unwrap()],
                &registry,
            )
            .unwrap();
        let mut sim = Sim::new(&short, &registry, SimOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        sim.set_output(Box::new(MemorySink::default())).unwrap();
        sim.run()
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let summary = sim.finish().unwrap();
        assert_eq!(summary.ticks, 3, "{}", file.display());
        assert_eq!(summary.metrics.len(), sim.metric_columns().len());
    }
}

#[test]
fn every_registered_plugin_is_used_by_a_scenario() {
    let registry = agora_agents::registry();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    scenario_files(&root, &mut files);
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for p in registry.plugins() {
        let quoted = format!("\"{}\"", p.name);
        assert!(
            texts.iter().any(|t| t.contains(&quoted)),
            "no scenario uses {} `{}`",
            p.kind,
            p.name
        );
    }
}
