//! Executes the runs of a plan in parallel and appends one row per finished run.
//!
//! Workers (a rayon pool of `jobs` threads, each run single-threaded) take runs in plan order
//! and send each outcome through a bounded channel to the writer, the calling thread, which
//! appends it to `results.csv` with one `write` call. At most `jobs` outcomes are in flight
//! plus `jobs` queued, whatever the size of the sweep.
//!
//! Failure handling: a run that returns `Err` or panics is recorded as `failed` with its
//! message, and the others go on. Panics are caught with `catch_unwind` (so this needs
//! `panic = "unwind"`, the default); the default panic hook's output is silenced for panics
//! inside runs only, and the message and location are kept for the `error` column.
//!
//! Resume: with `resume`, runs whose id already has an `ok` row are skipped; runs with only
//! `failed` rows are run again (failures are often transient: memory, a killed node), and
//! the new row is appended after the old one. Readers (merge, report) let an `ok` row win over
//! `failed` rows of the same id.
//!
//! Stopping: when the stop flag is set ([`RunnerConfig::stop`]; `agora sweep` sets it on
//! Ctrl-C or SIGTERM), no new run starts; runs already started finish and are written; the
//! file is synced and the manifest says `interrupted`. A later `resume` completes the sweep.

use super::expand::{RunSpec, SweepPlan};
use super::manifest::{Manifest, ShardInfo, rfc3339};
use super::shard::{Shard, ShardSource};
use super::table::{Layout, RESULTS_FILE, RowEncoder, Status, TableError, repair_tail};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// What an executor reports for a successful run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcome {
    /// Final metric values by column name; names not in the metric list are ignored.
    pub metrics: BTreeMap<String, f64>,
    /// Ticks executed (default none: the `ticks` column is left empty).
    pub ticks: Option<u64>,
    /// The world digest at the end (default none: the `digest` column is left empty).
    pub digest: Option<u64>,
}

/// When the results file is forced to disk.
///
/// Rows are written to the file as soon as a run finishes, so a crash of the process (panic,
/// kill, node preemption that leaves the OS running) loses nothing. Syncing only matters if
/// the OS itself goes down: then rows written since the last sync may be lost, and a resume
/// re-runs those runs. Rows are never torn: a partial line is cut off on the next open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `fsync` after every row.
    EveryRow,
    /// `fsync` after `rows` rows or `interval` since the last sync, whichever comes first, and
    /// at the end.
    Batched {
        /// Rows between syncs.
        rows: usize,
        /// Longest time a written row stays unsynced while the writer is idle or busy.
        interval: Duration,
    },
}

impl Default for Durability {
    /// `Batched { rows: 256, interval: 100 ms }`.
    fn default() -> Self {
        Durability::Batched {
            rows: 256,
            interval: Duration::from_millis(100),
        }
    }
}

/// What a sweep keeps of each run besides its results row (used by the caller's executor;
/// recorded for reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Only the row in `results.csv` (default).
    #[default]
    Summaries,
    /// Also each run's folder under `runs/<run_id>/` (see [`run_dir`]).
    Runs,
}

impl FromStr for Keep {
    type Err = String;
    fn from_str(s: &str) -> Result<Keep, String> {
        match s {
            "runs" => Ok(Keep::Runs),
            "summaries" => Ok(Keep::Summaries),
            other => Err(format!(
                "`{other}` is not a keep mode; expected runs or summaries"
            )),
        }
    }
}

/// The folder for a run's own outputs: `out_dir/runs/<run_id>`.
pub fn run_dir(out_dir: &Path, spec: &RunSpec) -> PathBuf {
    out_dir.join("runs").join(&spec.run_id)
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Output directory (created if needed).
    pub out_dir: PathBuf,
    /// Worker threads (default 1).
    pub jobs: usize,
    /// Continue an existing `results.csv` (default false: an existing non-empty one is an
    /// error).
    pub resume: bool,
    /// Only this shard's runs (default: all).
    pub shard: Option<(Shard, ShardSource)>,
    /// Metric columns, in order.
    pub metrics: Vec<String>,
    /// Sync policy (default [`Durability::Batched`]).
    pub durability: Durability,
    /// Set it to stop launching runs (default: a fresh unset flag).
    pub stop: Arc<AtomicBool>,
    /// Sweep file, recorded in the manifest (default none).
    pub sweep_file: Option<PathBuf>,
    /// Version string recorded in the manifest (default `unknown`).
    pub agora_version: String,
    /// Digest of the resolved base scenario (default none). Run ids hash only the overrides
    /// and the seed, so without it a resume after editing the base scenario would keep stale
    /// rows; with it, resuming a directory whose `sweep.json` has another digest is refused.
    pub base_digest: Option<String>,
}

impl RunnerConfig {
    /// Defaults for everything but the directory and the metric columns.
    pub fn new(out_dir: impl Into<PathBuf>, metrics: Vec<String>) -> RunnerConfig {
        RunnerConfig {
            out_dir: out_dir.into(),
            jobs: 1,
            resume: false,
            shard: None,
            metrics,
            durability: Durability::default(),
            stop: Arc::new(AtomicBool::new(false)),
            sweep_file: None,
            agora_version: "unknown".into(),
            base_digest: None,
        }
    }
}

/// Progress, reported after each finished run (and once before the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Runs finished by this invocation (ok or failed).
    pub done: usize,
    /// Of which failed.
    pub failed: usize,
    /// Runs this invocation has to do.
    pub total: usize,
    /// Runs skipped as already done.
    pub skipped: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Why a sweep could not run (failed runs are not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// A results file exists and `resume` is off.
    #[error("{0} already has results; pass --resume to continue it or choose another --out")]
    ResultsExist(PathBuf),
    /// The existing results file has other columns.
    #[error("{path} has other columns than this sweep; expected header {expected}, found {found}")]
    HeaderMismatch {
        /// The file.
        path: PathBuf,
        /// This sweep's header.
        expected: String,
        /// The file's header.
        found: String,
    },
    /// The directory was started from another base scenario.
    #[error("{dir} was started with base scenario digest {before}, now {now}; use another --out")]
    BaseChanged {
        /// The directory.
        dir: PathBuf,
        /// Digest in its `sweep.json`.
        before: String,
        /// Digest of this invocation.
        now: String,
    },
    /// Reading the existing table failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunnerError + '_ {
    move |source| RunnerError::Io {
        path: path.to_owned(),
        source,
    }
}

struct Finished {
    todo_index: usize,
    result: Result<RunOutcome, String>,
    wall_time_s: f64,
}

/// Runs the plan's runs (of the configured shard), writing `results.csv` and `sweep.json`
/// in `cfg.out_dir`. Returns the final manifest.
pub fn run_sweep<E, P>(
    plan: &SweepPlan,
    cfg: &RunnerConfig,
    executor: E,
    mut progress: P,
) -> Result<Manifest, RunnerError>
where
    E: Fn(&RunSpec) -> Result<RunOutcome, String> + Sync,
    P: FnMut(&Progress),
{
    if cfg.jobs == 0 {
        return Err(RunnerError::Config("jobs is 0; expected at least 1".into()));
    }
    let started = Instant::now();
    let out = &cfg.out_dir;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let layout = Layout::new(plan, &cfg.metrics)?;
    let results_path = out.join(RESULTS_FILE);
    let mut encoder = RowEncoder::new();

    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&results_path)
        .map_err(io_err(&results_path))?;
    let existing_len = file.metadata().map_err(io_err(&results_path))?.len();
    if existing_len > 0 && !cfg.resume {
        return Err(RunnerError::ResultsExist(results_path));
    }
    if let (Some(now), Some(before)) = (
        &cfg.base_digest,
        Manifest::read(out)
            .map_err(io_err(out))?
            .and_then(|m| m.base_digest),
    ) && *now != before
    {
        return Err(RunnerError::BaseChanged {
            dir: out.clone(),
            before,
            now: now.clone(),
        });
    }
    repair_tail(&mut file).map_err(io_err(&results_path))?;
    let done_ids = if file.metadata().map_err(io_err(&results_path))?.len() > 0 {
        ok_ids(&results_path, &layout)?
    } else {
        let header = encoder.encode_strings(&layout.header());
        file.write_all(header).map_err(io_err(&results_path))?;
        file.sync_data().map_err(io_err(&results_path))?;
        BTreeSet::new()
    };

    let shard = cfg.shard.map(|(s, _)| s);
    let in_shard: Vec<&RunSpec> = plan
        .runs
        .iter()
        .filter(|r| shard.is_none_or(|s| s.contains(r.index)))
        .collect();
    let todo: Vec<&RunSpec> = in_shard
        .iter()
        .copied()
        .filter(|r| !done_ids.contains(&r.run_id))
        .collect();
    let skipped = in_shard.len() - todo.len();

    let mut manifest = Manifest {
        schema: 1,
        agora_version: cfg.agora_version.clone(),
        sweep_file: cfg
            .sweep_file
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        plan_hash: plan.hash.clone(),
        base_digest: cfg.base_digest.clone(),
        runs_total: plan.runs.len(),
        cells: plan.cells,
        replications: plan.replications,
        shard: cfg.shard.map(|(s, src)| ShardInfo::new(s, src)),
        runs_in_shard: in_shard.len(),
        skipped_done: skipped,
        ok: 0,
        failed: 0,
        not_run: todo.len(),
        jobs: cfg.jobs,
        resume: cfg.resume,
        state: "running".into(),
        started: rfc3339(SystemTime::now()),
        finished: None,
        columns: layout.params.clone(),
        metrics: layout.metrics.clone(),
    };
    manifest.write(out).map_err(io_err(out))?;

    install_panic_hook();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.jobs)
        .thread_name(|i| format!("sweep-worker-{i}"))
        .build()
        .map_err(|e| {
            RunnerError::Config(format!("cannot start {} worker threads: {e}", cfg.jobs))
        })?;

    let (tx, rx) = crossbeam_channel::bounded::<Finished>(cfg.jobs);
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let mut report = Progress {
        done: 0,
        failed: 0,
        total: todo.len(),
        skipped,
        elapsed: started.elapsed(),
    };
    progress(&report);

    let write_result = std::thread::scope(|scope| {
        let (todo, next, abort, executor, stop) = (&todo, &next, &abort, &executor, &cfg.stop);
        let workers = scope.spawn(move || {
            pool.scope(|ps| {
                for _ in 0..cfg.jobs {
                    let tx = tx.clone();
                    ps.spawn(move |_| {
                        worker(todo, next, stop, abort, executor, &tx);
                    });
                }
                drop(tx);
            });
        });
        let result = write_loop(
            rx,
            &mut file,
            &results_path,
            cfg.durability,
            &layout,
            todo,
            &mut encoder,
            |ok| {
                report.done += 1;
                if !ok {
                    report.failed += 1;
                }
                report.elapsed = started.elapsed();
                progress(&report);
            },
        );
        if result.is_err() {
            abort.store(true, Ordering::SeqCst);
        }
        // A worker that panics outside a run would be a bug in this module; its runs are then
        // simply missing from the table, which resume and merge already handle.
        let _ = workers.join();
        result
    });

    manifest.ok = report.done - report.failed;
    manifest.failed = report.failed;
    manifest.not_run = todo.len() - report.done;
    manifest.finished = Some(rfc3339(SystemTime::now()));
    manifest.state = match (&write_result, manifest.not_run) {
        (Err(_), _) => "error",
        (Ok(()), 0) => "complete",
        (Ok(()), _) => "interrupted",
    }
    .into();
    manifest.write(out).map_err(io_err(out))?;
    write_result?;
    Ok(manifest)
}

fn worker<E>(
    todo: &[&RunSpec],
    next: &AtomicUsize,
    stop: &AtomicBool,
    abort: &AtomicBool,
    executor: &E,
    tx: &crossbeam_channel::Sender<Finished>,
) where
    E: Fn(&RunSpec) -> Result<RunOutcome, String> + Sync,
{
    loop {
        if stop.load(Ordering::SeqCst) || abort.load(Ordering::SeqCst) {
            return;
        }
        let k = next.fetch_add(1, Ordering::SeqCst);
        let Some(spec) = todo.get(k) else { return };
        let t0 = Instant::now();
        let result = run_caught(executor, spec);
        let wall_time_s = t0.elapsed().as_secs_f64();
        let msg = Finished {
            todo_index: k,
            result,
            wall_time_s,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "private helper; a struct would only rename them"
)]
fn write_loop(
    rx: crossbeam_channel::Receiver<Finished>,
    file: &mut File,
    path: &Path,
    durability: Durability,
    layout: &Layout,
    todo: &[&RunSpec],
    encoder: &mut RowEncoder,
    mut on_row: impl FnMut(bool),
) -> Result<(), RunnerError> {
    let (batch_rows, interval) = match durability {
        Durability::EveryRow => (1, Duration::ZERO),
        Durability::Batched { rows, interval } => (rows.max(1), interval),
    };
    let mut unsynced = 0usize;
    let mut last_sync = Instant::now();
    loop {
        let msg = if unsynced > 0 {
            let wait = interval.saturating_sub(last_sync.elapsed());
            match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            }
        };
        if let Some(m) = msg {
            let spec = todo[m.todo_index];
            let row = encoder.encode_run(
                layout,
                spec,
                m.result.as_ref().map_err(String::as_str),
                m.wall_time_s,
            );
            // One write call per row: see the table module on why rows are never torn.
            file.write_all(row).map_err(io_err(path))?;
            unsynced += 1;
            on_row(m.result.is_ok());
        }
        if unsynced > 0 && (unsynced >= batch_rows || last_sync.elapsed() >= interval) {
            file.sync_data().map_err(io_err(path))?;
            unsynced = 0;
            last_sync = Instant::now();
        }
    }
    if unsynced > 0 {
        file.sync_data().map_err(io_err(path))?;
    }
    Ok(())
}

/// Run ids with an `ok` row in an existing results file, after checking its columns. Streams
/// the file (one reused record) so that resuming a large sweep holds only the ids.
fn ok_ids(path: &Path, layout: &Layout) -> Result<BTreeSet<String>, RunnerError> {
    let csv_err = |e: csv::Error| {
        RunnerError::Table(TableError::Csv {
            path: path.to_owned(),
            message: e.to_string(),
        })
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_owned)
        .collect();
    let found = Layout::from_header(path, &header)?;
    if found != *layout {
        return Err(RunnerError::HeaderMismatch {
            path: path.to_owned(),
            expected: layout.header().join(","),
            found: header.join(","),
        });
    }
    let status = layout.status_col();
    let mut ids = BTreeSet::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_err)? {
        if record.get(status) == Some(Status::Ok.as_str())
            && let Some(id) = record.get(0)
        {
            ids.insert(id.to_owned());
        }
    }
    Ok(ids)
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Installs (once per process) a panic hook that stays silent for panics inside runs on
/// this thread and records their message; other panics go to the previous hook.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.try_with(Cell::get).unwrap_or(false) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let text = format!("panicked{location}: {}", payload_text(info.payload()));
                let _ = CAPTURED.try_with(|c| *c.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn run_caught<E>(executor: &E, spec: &RunSpec) -> Result<RunOutcome, String>
where
    E: Fn(&RunSpec) -> Result<RunOutcome, String>,
{
    CAPTURING.with(|c| c.set(true));
    CAPTURED.with(|c| c.borrow_mut().take());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| executor(spec)));
    CAPTURING.with(|c| c.set(false));
    match result {
        Ok(r) => r,
        Err(payload) => Err(CAPTURED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| format!("panicked: {}", payload_text(payload.as_ref())))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::expand::expand;
    use super::super::file::SweepFile;
    use super::super::table::read_table;
    use super::*;

    pub(crate) fn small_plan(values: usize, reps: u32) -> SweepPlan {
        let vals: Vec<String> = (0..values).map(|v| v.to_string()).collect();
        let text = format!(
            "(schema: 1, base: \"b.ron\", seed: 5, replications: {reps}, axes: [Values(path: \"x\", values: [{}]), Variants([(name: \"a\"), (name: \"b\", set: {{\"y\": 1}})])])",
            vals.join(", ")
        );
        expand(&SweepFile::parse(&text, Path::new("s.ron")).unwrap()).unwrap()
    }

    fn toy(spec: &RunSpec) -> Result<RunOutcome, String> {
        let x = spec.params[0].1.as_f64().unwrap();
        let mut metrics = BTreeMap::new();
        metrics.insert("score".to_owned(), x * 10.0 + (spec.seed % 7) as f64);
        if spec.variant.as_deref() == Some("b") {
            metrics.insert("extra".to_owned(), x);
        }
        Ok(RunOutcome {
            metrics,
            ..RunOutcome::default()
        })
    }

    fn sorted_rows(dir: &Path) -> Vec<Vec<String>> {
        let t = read_table(&dir.join(RESULTS_FILE)).unwrap();
        let wall = t.layout.wall_col();
        let mut rows: Vec<Vec<String>> = t
            .rows
            .into_iter()
            .map(|mut r| {
                r[wall].clear();
                r
            })
            .collect();
        rows.sort();
        rows
    }

    fn cfg(dir: &Path, jobs: usize) -> RunnerConfig {
        let mut c = RunnerConfig::new(dir, vec!["score".into(), "extra".into()]);
        c.jobs = jobs;
        c
    }

    #[test]
    fn every_run_gets_one_row_with_missing_metrics_empty() {
        let plan = small_plan(5, 3);
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        let m = run_sweep(&plan, &cfg(dir.path(), 2), toy, |p| {
            seen.push((p.done, p.total))
        })
        .unwrap();
        assert_eq!(
            (m.ok, m.failed, m.not_run, m.state.as_str()),
            (30, 0, 0, "complete")
        );
        assert_eq!(seen.first(), Some(&(0, 30)));
        assert_eq!(seen.last(), Some(&(30, 30)));
        let rows = sorted_rows(dir.path());
        assert_eq!(rows.len(), 30);
        let mut ids: Vec<&String> = rows.iter().map(|r| &r[0]).collect();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        for r in &rows {
            // run_id,x,variant,seed,replication,status,ticks,digest,wall,error,score,extra
            assert_eq!(r[5], "ok");
            assert_eq!(r[11].is_empty(), r[2] == "a", "{r:?}");
        }
        // A second run into the same folder without resume is refused.
        let again = run_sweep(&plan, &cfg(dir.path(), 1), toy, |_| {});
        assert!(matches!(again, Err(RunnerError::ResultsExist(_))));
    }

    #[test]
    fn panicking_and_failing_runs_are_recorded_and_the_rest_complete() {
        let plan = small_plan(4, 2);
        let dir = tempfile::tempdir().unwrap();
        let exec = |spec: &RunSpec| {
            let x = spec.params[0].1.as_i64().unwrap();
            match (x, spec.replication) {
                (1, 0) => panic!("deliberate panic for x=1"),
                (2, _) => Err("bad\nparameters".to_owned()),
                _ => toy(spec),
            }
        };
        let m = run_sweep(&plan, &cfg(dir.path(), 2), exec, |_| {}).unwrap();
        assert_eq!((m.ok, m.failed), (16 - 2 - 4, 6));
        let rows = sorted_rows(dir.path());
        assert_eq!(rows.len(), 16);
        let failed: Vec<&Vec<String>> = rows.iter().filter(|r| r[5] == "failed").collect();
        assert_eq!(failed.len(), 6);
        for r in failed {
            if r[1] == "1" {
                assert!(
                    r[9].starts_with("panicked at ") && r[9].ends_with("deliberate panic for x=1"),
                    "{}",
                    r[9]
                );
                assert!(r[9].contains("runner.rs"), "{}", r[9]);
            } else {
                assert_eq!(r[9], "bad\\nparameters");
            }
            assert!(r[10].is_empty() && r[11].is_empty());
        }
    }

    #[test]
    fn stopping_midway_then_resuming_gives_the_uninterrupted_table() {
        let plan = small_plan(10, 4);
        let full = tempfile::tempdir().unwrap();
        run_sweep(&plan, &cfg(full.path(), 2), toy, |_| {}).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 2);
        let stop = c.stop.clone();
        let m = run_sweep(&plan, &c, toy, |p| {
            if p.done == 17 {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
        assert_eq!(m.state, "interrupted");
        assert!(m.ok >= 17 && m.ok < 80 && m.not_run == 80 - m.ok, "{m:?}");
        assert_eq!(sorted_rows(dir.path()).len(), m.ok);
        // Simulate a crash mid-row on top of the interruption.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(RESULTS_FILE))
            .unwrap();
        f.write_all(b"deadbeefdeadbeef,3,a,12").unwrap();
        drop(f);

        c.stop = Arc::new(AtomicBool::new(false));
        c.resume = true;
        let m2 = run_sweep(&plan, &c, toy, |_| {}).unwrap();
        assert_eq!(m2.skipped_done, m.ok);
        assert_eq!(m2.ok, 80 - m.ok);
        assert_eq!(m2.state, "complete");
        assert_eq!(sorted_rows(dir.path()), sorted_rows(full.path()));
        // Resuming a complete sweep runs nothing.
        let m3 = run_sweep(&plan, &c, toy, |_| {}).unwrap();
        assert_eq!((m3.skipped_done, m3.ok, m3.failed), (80, 0, 0));
    }

    #[test]
    fn resume_reruns_failed_runs_only() {
        let plan = small_plan(3, 1);
        let dir = tempfile::tempdir().unwrap();
        let flaky = |spec: &RunSpec| {
            if spec.params[0].1 == serde_json::json!(1) {
                Err("transient".to_owned())
            } else {
                toy(spec)
            }
        };
        let m = run_sweep(&plan, &cfg(dir.path(), 1), flaky, |_| {}).unwrap();
        assert_eq!((m.ok, m.failed), (4, 2));
        let mut c = cfg(dir.path(), 1);
        c.resume = true;
        let calls = AtomicUsize::new(0);
        let m = run_sweep(
            &plan,
            &c,
            |s: &RunSpec| {
                calls.fetch_add(1, Ordering::SeqCst);
                toy(s)
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(
            (m.skipped_done, m.ok, calls.load(Ordering::SeqCst)),
            (4, 2, 2)
        );
        // The failed rows stay, followed by the ok rows.
        let t = read_table(&dir.path().join(RESULTS_FILE)).unwrap();
        assert_eq!(t.rows.len(), 8);
    }

    #[test]
    fn resume_refuses_a_table_with_other_columns() {
        let plan = small_plan(2, 1);
        let dir = tempfile::tempdir().unwrap();
        run_sweep(&plan, &cfg(dir.path(), 1), toy, |_| {}).unwrap();
        let mut c = RunnerConfig::new(dir.path(), vec!["score".into()]);
        c.resume = true;
        let r = run_sweep(&plan, &c, toy, |_| {});
        assert!(
            matches!(r, Err(RunnerError::HeaderMismatch { .. })),
            "{r:?}"
        );
    }

    #[test]
    fn shards_write_only_their_runs() {
        let plan = small_plan(5, 2);
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1);
        c.shard = Some((Shard::new(1, 3).unwrap(), ShardSource::Explicit));
        c.durability = Durability::EveryRow;
        let m = run_sweep(&plan, &c, toy, |_| {}).unwrap();
        let expect: BTreeSet<&str> = plan
            .runs
            .iter()
            .filter(|r| r.index % 3 == 1)
            .map(|r| r.run_id.as_str())
            .collect();
        assert_eq!(m.runs_in_shard, expect.len());
        let rows = sorted_rows(dir.path());
        let got: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(got, expect);
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.shard.unwrap().count, 3);
    }

    #[test]
    fn resume_refuses_another_base_scenario() {
        let plan = small_plan(2, 1);
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1);
        c.base_digest = Some("aaaa".into());
        run_sweep(&plan, &c, toy, |_| {}).unwrap();
        c.resume = true;
        c.base_digest = Some("bbbb".into());
        let r = run_sweep(&plan, &c, toy, |_| {});
        assert!(matches!(r, Err(RunnerError::BaseChanged { .. })), "{r:?}");
        c.base_digest = Some("aaaa".into());
        assert_eq!(run_sweep(&plan, &c, toy, |_| {}).unwrap().skipped_done, 4);
    }
}
