//! `agora sweep`, `merge` and `report` as a user runs them: every sweep file in
//! `scenarios/sweeps/` expands and dry-runs; a sweep killed mid-way and resumed equals an
//! uninterrupted one; failed runs are recorded while the rest complete; shards merged equal
//! the unsharded sweep; merge finds duplicates, conflicts and missing runs; a run inside a
//! sweep is bit-identical to `agora run` of the same scenario and seed.

use agora_engine::sweep::table::{RESULTS_FILE, read_table};
use agora_engine::sweep::{SweepFile, expand};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::repo_root;

fn agora() -> Command {
    let mut cmd = common::agora();
    // A stray launcher environment must not turn a test into a shard.
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "JOB_COMPLETION_INDEX",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "PMI_RANK",
        "PMI_SIZE",
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "AGORA_SHARDS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(args: &[&str]) -> Output {
    agora()
        .args(args)
        .output()
        .expect("the agora binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `agora ARGS` and checks its exit code, showing its output when it differs.
fn run_expect(args: &[&str], code: i32) -> Output {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "agora {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A random-walk base scenario: `count` agents for `ticks` ticks.
fn base(count: u32, ticks: u64) -> String {
    format!(
        "(schema: 1, name: \"walk\", seed: 1, ticks: {ticks},
          world: (width: 30.0, height: 30.0),
          populations: [(behavior: \"random_walk\", count: {count}, params: (step: 0.5))],
          record: (metrics: [\"mean_nn_distance\", \"agent_count\"], every: 5))"
    )
}

/// Writes a sweep file (and `base.ron` beside it) into a fresh folder.
fn sweep_dir(base_text: &str, sweep_text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.ron"), base_text).unwrap();
    let path = dir.path().join("sweep.ron");
    std::fs::write(&path, sweep_text).unwrap();
    (dir, path)
}

/// The rows of a results table, sorted, without the wall time (the only column allowed to
/// differ between two executions of the same runs).
fn rows(dir: &Path) -> Vec<Vec<String>> {
    let t = read_table(&dir.join(RESULTS_FILE)).unwrap();
    let wall = t.layout.wall_col();
    let mut rows: Vec<Vec<String>> = t
        .rows
        .into_iter()
        .map(|mut r| {
            r.remove(wall);
            r
        })
        .collect();
    rows.sort();
    rows
}

fn data_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

fn sweep_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("scenarios/sweeps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_sweep_file_expands_and_dry_runs() {
    let files = sweep_files();
    assert!(!files.is_empty(), "no sweep files in scenarios/sweeps");
    for file in files {
        let plan = expand(&SweepFile::load(&file).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let o = run_expect(&["sweep", s(&file), "--dry-run"], 0);
        let listing = text(&o.stdout);
        assert_eq!(
            listing.lines().count(),
            1 + plan.runs.len(),
            "{}",
            file.display()
        );
        let ids: Vec<&str> = listing
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        let want: Vec<&str> = plan.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, want, "{}", file.display());
        // The listing is a pure function of the file.
        assert_eq!(
            text(&run_expect(&["sweep", s(&file), "--dry-run"], 0).stdout),
            listing
        );
    }
}

#[test]
fn the_readme_sweep_example_expands_and_every_cell_resolves() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Sweep files")
        .expect("README has the section")..];
    let start = section.find("```ron\n").unwrap() + "```ron\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    // As if the file sat in scenarios/sweeps/, where its relative base path points.
    let path = repo_root().join("scenarios/sweeps/readme-example.ron");
    let file = SweepFile::parse(example, &path).unwrap_or_else(|e| panic!("{e}"));
    let plan = expand(&file).unwrap();
    assert_eq!(
        (plan.cells, plan.runs.len()),
        (3 * 4 * 2 * 2 * 8, 3 * 4 * 2 * 2 * 8 * 5)
    );
    let registry = agora_agents::registry();
    let exec = agora_engine::sweep::SweepExecutor::new(&file, &registry).unwrap();
    for spec in plan.runs.iter().filter(|r| r.replication == 0) {
        exec.scenario_for(spec)
            .unwrap_or_else(|e| panic!("cell {}: {e}", spec.cell));
    }
}

#[test]
fn the_flockers_sweep_has_the_documented_shape() {
    let file = repo_root().join("scenarios/sweeps/flockers_noise_density.ron");
    let plan = expand(&SweepFile::load(&file).unwrap()).unwrap();
    assert_eq!(
        (plan.cells, plan.replications, plan.runs.len()),
        (15, 4, 60)
    );
    let o = run_expect(&["sweep", s(&file), "--dry-run", "--shard", "1/4"], 0);
    assert_eq!(text(&o.stdout).lines().count(), 1 + 15);
}

/// Spawns a sweep, waits until it has written `rows` rows, then signals it.
fn interrupt_after(sweep: &Path, out: &Path, rows: usize, signal: Option<&str>) -> Output {
    let mut child = agora()
        .args(["sweep", s(sweep), "--out", s(out), "--jobs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let results = out.join(RESULTS_FILE);
    let start = Instant::now();
    while data_lines(&results) < rows && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    match signal {
        None => child.kill().unwrap(),
        Some(sig) => {
            let status = Command::new("sh")
                .args(["-c", &format!("kill -{sig} {}", child.id())])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_killed_or_interrupted_sweep_resumes_to_the_uninterrupted_table() {
    let sweep = "(schema: 1, base: \"base.ron\", seed: 5, replications: 4, axes: [
        Values(path: \"populations[0].params.step\", values: [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]),
        Values(path: \"populations[0].count\", values: [150, 300]),
    ])";
    let (dir, file) = sweep_dir(&base(300, 200), sweep);
    let total = 64;
    let full = dir.path().join("full");
    run_expect(&["sweep", s(&file), "--out", s(&full), "--jobs", "2"], 0);
    assert_eq!(rows(&full).len(), total);

    for (name, signal) in [("killed", None), ("interrupted", Some("INT"))] {
        let out = dir.path().join(name);
        let o = interrupt_after(&file, &out, 4, signal);
        let done = data_lines(&out.join(RESULTS_FILE));
        assert!(
            (1..total).contains(&done),
            "{name}: the sweep had {done} of {total} rows when stopped; it must be stopped \
             mid-way for this test to mean anything (stderr: {})",
            text(&o.stderr)
        );
        let written = std::fs::read(out.join(RESULTS_FILE)).unwrap();
        assert_eq!(written.last(), Some(&b'\n'), "{name}: a torn last row");
        if signal.is_some() {
            // Ctrl-C: the running run finishes, its row is written, the exit code says so.
            assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
            assert!(text(&o.stderr).contains("--resume"), "{}", text(&o.stderr));
            let manifest = std::fs::read_to_string(out.join("sweep.json")).unwrap();
            assert!(
                manifest.contains("\"state\": \"interrupted\""),
                "{manifest}"
            );
        }
        // Without --resume the folder is refused rather than mixed.
        let o = run_expect(&["sweep", s(&file), "--out", s(&out)], 2);
        assert!(text(&o.stderr).contains("--resume"), "{}", text(&o.stderr));
        let o = run_expect(
            &[
                "sweep",
                s(&file),
                "--out",
                s(&out),
                "--resume",
                "--jobs",
                "2",
            ],
            0,
        );
        let done_now = data_lines(&out.join(RESULTS_FILE));
        assert!(
            text(&o.stdout).contains(&format!("{} already done", done)),
            "{}",
            text(&o.stdout)
        );
        assert_eq!(done_now, total, "{name}: resume redid finished runs");
        assert_eq!(rows(&out), rows(&full), "{name}");
    }
}

#[test]
fn failed_runs_are_recorded_and_the_others_complete() {
    let sweep = "(schema: 1, base: \"base.ron\", seed: 5, replications: 2, axes: [
        Values(path: \"populations[0].params.step\", values: [0.5, -1.0, 1.0]),
    ])";
    let (dir, file) = sweep_dir(&base(20, 5), sweep);
    let out = dir.path().join("out");
    let o = run_expect(&["sweep", s(&file), "--out", s(&out), "-j", "2"], 1);
    let err = text(&o.stderr);
    assert!(err.contains("2 of 6 runs failed"), "{err}");
    assert!(
        err.contains("`step` must be a non-negative number"),
        "{err}"
    );
    let t = read_table(&out.join(RESULTS_FILE)).unwrap();
    let l = &t.layout;
    assert_eq!(t.rows.len(), 6);
    for r in &t.rows {
        let failed = r[1] == "-1.0";
        assert_eq!(r[l.status_col()], if failed { "failed" } else { "ok" });
        assert_eq!(r[l.error_col()].is_empty(), !failed);
        assert_eq!(r[l.first_metric_col()].is_empty(), failed);
    }
    // Resume re-runs the failed runs only (they fail again); the dry run names the cell.
    let o = run_expect(&["sweep", s(&file), "--out", s(&out), "--resume"], 1);
    assert!(
        text(&o.stdout).contains("4 already done"),
        "{}",
        text(&o.stdout)
    );
    let o = run_expect(&["sweep", s(&file), "--dry-run"], 2);
    assert!(
        text(&o.stderr).contains("1 of 3 cells do not resolve"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn shards_merge_into_the_unsharded_sweep_and_merge_finds_gaps_and_conflicts() {
    let sweep = "(schema: 1, base: \"base.ron\", seed: 11, replications: 2, axes: [
        Values(path: \"populations[0].count\", values: [5, 10, 20]),
        Variants([(name: \"slow\"), (name: \"fast\", set: {\"populations[0].params.step\": 2.0})]),
    ])";
    let (dir, file) = sweep_dir(&base(10, 10), sweep);
    let d = |n: &str| dir.path().join(n);
    run_expect(&["sweep", s(&file), "--out", s(&d("whole")), "-j", "3"], 0);
    assert_eq!(rows(&d("whole")).len(), 12);
    // The same runs at one job: the table does not depend on the number of workers.
    run_expect(&["sweep", s(&file), "--out", s(&d("one")), "-j", "1"], 0);
    assert_eq!(rows(&d("one")), rows(&d("whole")));

    run_expect(
        &["sweep", s(&file), "--out", s(&d("s0")), "--shard", "0/3"],
        0,
    );
    run_expect(
        &["sweep", s(&file), "--out", s(&d("s2")), "--shard", "2/3"],
        0,
    );
    // Shard 1 as a Slurm array task sees it: the index from the array, the count given.
    let o = agora()
        .args(["sweep", s(&file), "--out", s(&d("s1")), "--shard", "auto"])
        .args(["--shards", "3"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let manifest = std::fs::read_to_string(d("s1").join("sweep.json")).unwrap();
    assert!(
        manifest.contains("\"source\": \"slurm-array\""),
        "{manifest}"
    );
    for i in 0..3 {
        assert_eq!(rows(&d(&format!("s{i}"))).len(), 4);
    }

    let merged = d("merged");
    let o = run_expect(
        &[
            "merge",
            s(&d("s0")),
            s(&d("s1")),
            s(&d("s2")),
            "--out",
            s(&merged),
        ],
        0,
    );
    assert!(
        text(&o.stdout).contains("merged 12 rows"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(rows(&merged), rows(&d("whole")));
    // Rows come out in plan order.
    let plan = expand(&SweepFile::load(&file).unwrap()).unwrap();
    let ids: Vec<String> = read_table(&merged.join(RESULTS_FILE))
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let want: Vec<String> = plan.runs.iter().map(|r| r.run_id.clone()).collect();
    assert_eq!(ids, want);

    // A shard merged twice: duplicates, same table.
    let o = run_expect(
        &[
            "merge",
            s(&d("s0")),
            s(&d("s1")),
            s(&d("s2")),
            s(&d("s1")),
            "--out",
            s(&d("twice")),
        ],
        0,
    );
    assert!(
        text(&o.stdout).contains("4 duplicates"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(rows(&d("twice")), rows(&d("whole")));

    // A shard missing: the runs are listed with the shard to resubmit.
    let o = run_expect(
        &["merge", s(&d("s0")), s(&d("s2")), "--out", s(&d("gap"))],
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("4 runs have no row"), "{err}");
    assert!(err.contains("shards (of 3) to resubmit: 1"), "{err}");
    for r in plan.runs.iter().filter(|r| r.index % 3 == 1) {
        assert!(err.contains(&r.run_id), "{err}");
    }

    // Two different ok results for one run: refused, naming the run and the column.
    let tampered = d("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let original = std::fs::read_to_string(d("s1").join(RESULTS_FILE)).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let id = lines[1].split(',').next().unwrap().to_owned();
    let mut fields: Vec<&str> = lines[1].split(',').collect();
    let last = fields.len() - 1;
    fields[last] = "12345";
    lines[1] = fields.join(",");
    std::fs::write(tampered.join(RESULTS_FILE), lines.join("\n") + "\n").unwrap();
    let o = run_expect(
        &[
            "merge",
            s(&d("s1")),
            s(&tampered),
            "--sweep",
            s(&file),
            "--out",
            s(&d("conflict")),
        ],
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains(&id) && err.contains("two different ok results"),
        "{err}"
    );
}

#[test]
fn a_run_in_a_sweep_is_the_run_agora_run_makes() {
    let sweep = "(schema: 1, base: \"base.ron\", seed: 3, replications: 2, axes: [
        Values(path: \"populations[0].params.step\", values: [0.25, 1.5]),
    ])";
    let (dir, file) = sweep_dir(&base(30, 20), sweep);
    let out = dir.path().join("out");
    run_expect(
        &[
            "sweep",
            s(&file),
            "--out",
            s(&out),
            "--keep",
            "runs",
            "-j",
            "2",
        ],
        0,
    );
    let t = read_table(&out.join(RESULTS_FILE)).unwrap();
    let l = &t.layout;
    assert_eq!(t.rows.len(), 4);
    for row in &t.rows {
        let (id, step, seed, digest) = (
            &row[0],
            &row[1],
            &row[l.variant_col() + 1],
            &row[l.digest_col()],
        );
        let alone = dir.path().join(format!("alone-{id}"));
        let o = run_expect(
            &[
                "run",
                s(&dir.path().join("base.ron")),
                "--seed",
                seed,
                "--set",
                &format!("populations[0].params.step={step}"),
                "--out",
                s(&alone),
                "--quiet",
            ],
            0,
        );
        drop(o);
        let manifest = std::fs::read_to_string(alone.join("manifest.json")).unwrap();
        assert!(
            manifest.contains(&format!("\"digest\": \"{digest}\"")),
            "run {id}: sweep digest {digest}, agora run:\n{manifest}"
        );
        // --keep runs wrote the same run's folder.
        let kept =
            std::fs::read_to_string(out.join("runs").join(id).join("manifest.json")).unwrap();
        assert!(
            kept.contains(&format!("\"digest\": \"{digest}\"")),
            "{kept}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("runs").join(id).join("metrics.csv")).unwrap(),
            std::fs::read_to_string(alone.join("metrics.csv")).unwrap()
        );
    }
}

#[test]
fn report_writes_a_summary_and_plots() {
    let sweep = "(schema: 1, base: \"base.ron\", seed: 3, replications: 3, axes: [
        Values(path: \"populations[0].params.step\", values: [0.25, 0.5, 1.0]),
        Zip([Values(path: \"world.width\", values: [20.0, 40.0]),
             Values(path: \"world.height\", values: [20.0, 40.0])]),
    ])";
    let (dir, file) = sweep_dir(&base(20, 10), sweep);
    let out = dir.path().join("out");
    run_expect(&["sweep", s(&file), "--out", s(&out)], 0);
    let o = run_expect(&["report", s(&out), "--metric", "mean_nn_distance"], 0);
    assert!(
        text(&o.stdout).contains("mean_nn_distance.png"),
        "{}",
        text(&o.stdout)
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("populations[0].params.step,world.width,world.height,variant,runs_ok,runs_failed,mean_nn_distance_n,mean_nn_distance_mean,mean_nn_distance_std,mean_nn_distance_ci95_lo,mean_nn_distance_ci95_hi"),
        "{header}"
    );
    assert_eq!(lines.count(), 6);
    // One chart: step on x, one line per world size (the zipped height adds no chart).
    let png = std::fs::read(out.join("plots/mean_nn_distance.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out.join("plots/mean_nn_distance.svg")).unwrap();
    assert!(
        svg.contains("world.width") && svg.contains("40.0"),
        "svg legend"
    );
    assert!(!out.join("plots/mean_nn_distance-1.svg").exists());
    assert!(!out.join("plots/agent_count.svg").exists());

    let o = run_expect(&["report", s(&out), "--x", "nope"], 2);
    assert!(
        text(&o.stderr).contains("the sweep has: populations[0].params.step, world.width"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn bad_sweep_files_are_bad_input_with_positions() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "(schema: 1, base: \"base.ron\", seed: 1,\n axes: [Valuez(path: \"ticks\", values: [1])])",
            &["sweep.ron:2:", "Valuez"],
        ),
        (
            "(schema: 1, base: \"base.ron\", seed: 1, axes: [\n  Values(path: \"ticks\", values: [1]),\n  Range(path: \"world.width\", start: 1.0, stop: 2.0, step: 0.0),\n])",
            &[
                "sweep.ron:3:3:",
                "axis 2 (range of `world.width`)",
                "step is 0",
            ],
        ),
        (
            "(schema: 1, base: \"base.ron\", seed: 1, axes: [Values(path: \"seed\", values: [1, 2])])",
            &["sets `seed`", "seeds: [..]"],
        ),
        (
            "(schema: 1, base: \"nope.ron\", seed: 1)",
            &["base scenario", "nope.ron", "file not found"],
        ),
    ];
    for (sweep, expected) in cases {
        let (_dir, file) = sweep_dir(&base(5, 2), sweep);
        for args in [
            vec!["sweep", s(&file), "--dry-run"],
            vec!["sweep", s(&file), "--out", s(&_dir.path().join("o"))],
        ] {
            let o = run_expect(&args, 2);
            let err = text(&o.stderr);
            for e in expected {
                assert!(err.contains(e), "expected `{e}` in: {err}");
            }
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // Resuming a folder after the base scenario changed is refused.
    let sweep = "(schema: 1, base: \"base.ron\", seed: 1)";
    let (dir, file) = sweep_dir(&base(5, 2), sweep);
    let out = dir.path().join("out");
    run_expect(&["sweep", s(&file), "--out", s(&out)], 0);
    std::fs::write(dir.path().join("base.ron"), base(6, 2)).unwrap();
    let o = run_expect(&["sweep", s(&file), "--out", s(&out), "--resume"], 2);
    assert!(
        text(&o.stderr).contains("base scenario digest"),
        "{}",
        text(&o.stderr)
    );
    let o = run_expect(&["sweep", s(&file), "--shard", "3/3", "--dry-run"], 2);
    assert!(
        text(&o.stderr).contains("not below the shard count"),
        "{}",
        text(&o.stderr)
    );
}
