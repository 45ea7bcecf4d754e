//! `agora sweep`, `agora merge` and `agora report`: argument handling, progress, messages
//! and exit codes around `agora_engine::sweep` and the report module.

use crate::interrupt::stop_on_signal;
use crate::{BadInput, print_out, registry};
use agora_cli::report::{ReportError, ReportOptions, report};
use agora_engine::ENGINE_VERSION;
use agora_engine::sweep::dry_run::write_plan;
use agora_engine::sweep::shard::{process_env, resolve};
use agora_engine::sweep::table::{RESULTS_FILE, Status, read_table};
use agora_engine::sweep::{
    Keep, Manifest, MergeError, Progress, RunnerConfig, RunnerError, ShardArg, SweepExecutor,
    SweepFile, SweepPlan, expand, merge, run_sweep,
};
use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How many failed runs a summary names.
const SHOW_FAILURES: usize = 5;

#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
    /// Sweep file (RON): a base scenario, a seed, replications and axes of overrides.
    file: PathBuf,
    /// Runs executed at once, each on one thread (default: every core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Output directory (default: runs/sweeps/NAME, NAME being the sweep name or file stem).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the sweep in --out: skip runs that already have an ok row, re-run failed ones.
    #[arg(long)]
    resume: bool,
    /// Run only one shard: `i/n` (0-based) or `auto` (Slurm array, Kubernetes indexed Job or
    /// MPI launcher environment).
    #[arg(long, value_name = "i/n|auto", value_parser = parse_shard)]
    shard: Option<ShardArg>,
    /// Number of shards, for `--shard auto` with a job array (or set AGORA_SHARDS).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// What to keep of each run besides its row: `summaries` (nothing more) or `runs` (each
    /// run's folder under OUT/runs/RUN_ID/).
    #[arg(long, default_value = "summaries", value_parser = parse_keep)]
    keep: Keep,
    /// List the runs (CSV on stdout) and check that every cell's scenario resolves, without
    /// running anything.
    #[arg(long)]
    dry_run: bool,
    /// No progress bar and no summary; errors only.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    s.parse()
        .map_err(|e: agora_engine::sweep::ShardError| e.to_string())
}

fn parse_keep(s: &str) -> Result<Keep, String> {
    s.parse()
}

#[derive(clap::Args, Debug)]
pub(crate) struct MergeArgs {
    /// Sweep directories (shards, or several attempts at one) to join.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write the merged results.csv (default: ./merged).
    #[arg(long, default_value = "merged")]
    out: PathBuf,
    /// The sweep file, to order rows and list missing runs (default: the one recorded in the
    /// first directory's sweep.json).
    #[arg(long)]
    sweep: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// A sweep directory (or merged directory) with a results.csv.
    dir: PathBuf,
    /// Metric to plot (repeatable; default: every metric). summary.csv always has them all.
    #[arg(long = "metric", value_name = "M")]
    metrics: Vec<String>,
    /// Swept path on the x axis (default: the first numeric one).
    #[arg(long, value_name = "PATH")]
    x: Option<String>,
    /// Swept path (or `variant`) drawn as one line per value (default: `variant` if any).
    #[arg(long, value_name = "PATH")]
    group: Option<String>,
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// Writes a line to stderr (progress notes and warnings, never data).
fn note(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn default_out(file: &SweepFile) -> PathBuf {
    let name = file
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            file.path
                .file_stem()
                .map_or_else(|| "sweep".to_owned(), |s| s.to_string_lossy().into_owned())
        });
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Path::new("runs").join("sweeps").join(safe)
}

pub(crate) fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    let file = SweepFile::load(&args.file).map_err(bad)?;
    let plan = expand(&file).map_err(|e| bad(format!("{}: {e}", args.file.display())))?;
    let shard = args
        .shard
        .map(|a| resolve(a, args.shards, &process_env))
        .transpose()
        .map_err(bad)?;
    if args.shards.is_some() && args.shard.is_none() {
        return Err(bad("--shards needs --shard auto (or --shard i/n)"));
    }
    let registry = registry();
    let executor = SweepExecutor::new(&file, &registry).map_err(|e| bad(e.to_string()))?;
    if args.dry_run {
        return dry_run(&plan, shard.map(|s| s.0), &executor);
    }

    let out = args.out.clone().unwrap_or_else(|| default_out(&file));
    let jobs = match args.jobs {
        Some(0) => return Err(bad("--jobs 0: expected at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut executor = executor.git_revision(option_env!("AGORA_GIT_REV").map(str::to_owned));
    if args.keep == Keep::Runs {
        executor = executor.keep_runs(&out);
    }
    let mut cfg = RunnerConfig::new(&out, executor.metric_columns(&plan));
    cfg.jobs = jobs;
    cfg.resume = args.resume;
    cfg.shard = shard;
    cfg.sweep_file = Some(args.file.clone());
    cfg.agora_version = ENGINE_VERSION.to_owned();
    cfg.base_digest = Some(executor.base_digest());
    stop_on_signal(cfg.stop.clone()).map_err(|e| anyhow!(e.to_string()))?;

    let bar = progress_bar(args.quiet);
    let started = Instant::now();
    let manifest = run_sweep(
        &plan,
        &cfg,
        |spec| executor.run(spec),
        |p: &Progress| {
            if bar.length() != Some(p.total as u64) {
                bar.set_length(p.total as u64);
            }
            bar.set_position(p.done as u64);
            bar.set_message(format!("{} failed", p.failed));
        },
    )
    .map_err(|e| match e {
        RunnerError::Io { .. } => anyhow!(e.to_string()),
        other => bad(other),
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();

    if !args.quiet {
        let done = manifest.ok + manifest.failed;
        let mut text = format!(
            "{}: {} runs{}: {} ok, {} failed",
            out.display(),
            manifest.runs_in_shard,
            manifest
                .shard
                .as_ref()
                .map_or_else(String::new, |s| format!(
                    " in shard {}/{}",
                    s.index, s.count
                )),
            manifest.ok,
            manifest.failed,
        );
        if manifest.skipped_done > 0 {
            let _ = write!(text, ", {} already done", manifest.skipped_done);
        }
        if manifest.not_run > 0 {
            let _ = write!(text, ", {} not run", manifest.not_run);
        }
        let _ = writeln!(
            text,
            " ({:.2} s, {:.1} runs/s, {jobs} jobs)",
            secs,
            done as f64 / secs.max(1e-9)
        );
        let _ = writeln!(text, "  results {}", out.join(RESULTS_FILE).display());
        print_out(&text);
    }
    if manifest.failed > 0 {
        let examples = failure_examples(&out.join(RESULTS_FILE), &plan);
        return Err(anyhow!(
            "{} of {} runs failed (their rows say why; --resume re-runs them){examples}",
            manifest.failed,
            manifest.ok + manifest.failed
        ));
    }
    if manifest.not_run > 0 {
        return Err(anyhow!(
            "interrupted with {} runs not run; finished runs are saved, continue with --resume",
            manifest.not_run
        ));
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} runs, {msg}, ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The first few failed runs of this sweep in `results` (this invocation's or earlier ones
/// still failed), as lines for the error message.
fn failure_examples(results: &Path, plan: &SweepPlan) -> String {
    let Ok(table) = read_table(results) else {
        return String::new();
    };
    let (status, error) = (table.layout.status_col(), table.layout.error_col());
    let mut ok = std::collections::BTreeSet::new();
    for row in &table.rows {
        if row[status] == Status::Ok.as_str() {
            ok.insert(row[0].as_str());
        }
    }
    let in_plan: std::collections::BTreeSet<&str> =
        plan.runs.iter().map(|r| r.run_id.as_str()).collect();
    let mut out = String::new();
    let mut shown = std::collections::BTreeSet::new();
    for row in table.rows.iter().rev() {
        let id = row[0].as_str();
        if row[status] == Status::Failed.as_str()
            && !ok.contains(id)
            && in_plan.contains(id)
            && shown.insert(id)
        {
            let _ = write!(out, "\n  run {id}: {}", row[error]);
            if shown.len() == SHOW_FAILURES {
                break;
            }
        }
    }
    out
}

/// Lists the runs, then resolves one scenario per cell: a cell that does not resolve would
/// fail every one of its runs, which is worth knowing before a long sweep starts.
fn dry_run(
    plan: &SweepPlan,
    shard: Option<agora_engine::sweep::Shard>,
    executor: &SweepExecutor<'_>,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = write_plan(plan, shard, &mut stdout)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(anyhow!("writing the run list: {e}"));
    }
    drop(stdout);
    let mut problems = Vec::new();
    let mut cells = 0usize;
    for spec in plan.runs.iter().filter(|r| r.replication == 0) {
        cells += 1;
        if let Err(e) = executor.scenario_for(spec) {
            problems.push(format!("  cell {} (run {}): {e}", spec.cell, spec.run_id));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    problems.truncate(SHOW_FAILURES);
    Err(bad(format!(
        "{n} of {cells} cells do not resolve, so their runs would fail:\n{}",
        problems.join("\n")
    )))
}

pub(crate) fn merge_cmd(args: MergeArgs) -> anyhow::Result<()> {
    let sweep_file = match &args.sweep {
        Some(f) => Some(f.clone()),
        None => Manifest::read(&args.dirs[0])
            .map_err(bad)?
            .and_then(|m| m.sweep_file),
    };
    let plan = match &sweep_file {
        Some(f) if f.exists() || args.sweep.is_some() => {
            let file = SweepFile::load(f).map_err(bad)?;
            Some(expand(&file).map_err(|e| bad(format!("{}: {e}", f.display())))?)
        }
        Some(f) => {
            note(&format!(
                "warning: the sweep file {} is not here; merging without it, so missing runs \
                 cannot be listed (pass --sweep FILE)\n",
                f.display()
            ));
            None
        }
        None => None,
    };
    let rep = merge(&args.dirs, &args.out, plan.as_ref()).map_err(|e| match e {
        MergeError::Conflict { .. } => anyhow!(e.to_string()),
        other => bad(other),
    })?;
    print_out(&format!(
        "merged {} rows ({} read, {} duplicates, {} superseded) into {}: {} failed, {} missing\n",
        rep.rows,
        rep.rows_read,
        rep.duplicates,
        rep.superseded,
        rep.output.display(),
        rep.failed.len(),
        rep.missing.len()
    ));
    if !rep.missing.is_empty() {
        let mut text = String::new();
        for m in rep.missing.iter().take(20) {
            let _ = write!(text, "\n  run {} (index {})", m.run_id, m.index);
        }
        if rep.missing.len() > 20 {
            let _ = write!(text, "\n  ... and {} more", rep.missing.len() - 20);
        }
        let count = shard_count(&args.dirs);
        if let (Some(plan), Some(n)) = (&plan, count) {
            let shards: Vec<String> = rep
                .shards_to_rerun(plan, n)
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = write!(
                text,
                "\n  shards (of {n}) to resubmit: {} (with --resume)",
                shards.join(",")
            );
        }
        return Err(anyhow!("{} runs have no row:{text}", rep.missing.len()));
    }
    if !rep.failed.is_empty() {
        let ids: Vec<&str> = rep
            .failed
            .iter()
            .take(SHOW_FAILURES)
            .map(String::as_str)
            .collect();
        return Err(anyhow!(
            "{} runs failed (e.g. {}); their rows say why",
            rep.failed.len(),
            ids.join(", ")
        ));
    }
    Ok(())
}

/// The shard count recorded in the inputs' manifests, when they agree.
fn shard_count(dirs: &[PathBuf]) -> Option<usize> {
    let mut count = None;
    for d in dirs {
        let n = Manifest::read(d).ok()??.shard?.count;
        if count.is_some_and(|c| c != n) {
            return None;
        }
        count = Some(n);
    }
    count
}

pub(crate) fn report_cmd(args: ReportArgs) -> anyhow::Result<()> {
    let opts = ReportOptions {
        metrics: args.metrics,
        x: args.x,
        group: args.group,
        ..ReportOptions::default()
    };
    let out = report(&args.dir, &opts).map_err(|e| match e {
        ReportError::Plot(_) | ReportError::Io { .. } => anyhow!(e.to_string()),
        other => bad(other),
    })?;
    let mut text = format!("wrote {}\n", out.summary.display());
    for p in &out.plots {
        let _ = writeln!(text, "wrote {}", p.display());
    }
    print_out(&text);
    Ok(())
}
