//! `agora`: run, validate and list scenarios; view and plot run folders; run, merge and report sweeps.
//!
//! The only crate that prints or parses arguments. Exit codes: 0 success, 1 failure while
//! running, 2 bad input (scenario errors, bad flags, missing files).

use agora_engine::scenario::overrides::parse_assignment;
use agora_engine::{Error, PluginKind, Registry, RunOptions, Scenario, SimOptions, run_scenario};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod interrupt;
mod progress;
mod sweep_cli;
mod view;

#[derive(Parser, Debug)]
#[command(
    name = "agora",
    version,
    about = "Headless multi-agent simulation engine",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Say more: `-v` lists the files written, detected regime changes and event counts.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// How much the CLI prints, from `--quiet` and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verbosity {
    /// Errors only.
    Quiet,
    /// The summary.
    Normal,
    /// The summary and the details.
    Verbose,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario and write its run folder.
    Run(RunArgs),
    /// Check a scenario file without running it.
    Validate {
        /// Scenario file (RON).
        file: PathBuf,
        /// Override a field, e.g. `--set populations[0].count=500` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// List behaviors, protocols, policies, metrics and per-agent quantities with their
    /// summaries and default params.
    List,
    /// Write a self-contained replay page (RUN_DIR/replay.html) of a run folder.
    View(view::ViewArgs),
    /// Plot a run's metrics over ticks as PNG and SVG line charts.
    Plot(view::PlotArgs),
    /// Run a sweep file: many runs in parallel, one row each in results.csv; resumable.
    Sweep(sweep_cli::SweepArgs),
    /// Join the results of sweep shards (or of several attempts) and list missing runs.
    Merge(sweep_cli::MergeArgs),
    /// Summarize a sweep: summary.csv (mean, std, 95% CI per cell) and plots.
    Report(sweep_cli::ReportArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario file (RON).
    file: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the number of ticks.
    #[arg(long)]
    ticks: Option<u64>,
    /// Threads: 1 runs the single-threaded executor; N > 1 the parallel one; 0 uses every core.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Run folder (default: `runs/<scenario name>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override a field, e.g. `--set world.width=200` (repeatable, applied in order).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
}

/// An error that is the user's input rather than a failure: exit code 2.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn engine_error(e: Error) -> anyhow::Error {
    if e.is_bad_input() {
        anyhow::Error::new(BadInput(e.to_string()))
    } else {
        anyhow::Error::new(e)
    }
}

fn registry() -> Registry {
    agora_agents::registry()
}

fn load(
    file: &Path,
    set: &[String],
    extra: &[(&str, Option<String>)],
    registry: &Registry,
) -> anyhow::Result<Scenario> {
    let scenario = Scenario::load(file, registry).map_err(|e| BadInput(e.to_string()))?;
    let mut overrides = Vec::new();
    for s in set {
        overrides.push(parse_assignment(s).map_err(|e| BadInput(format!("--set {s}: {e}")))?);
    }
    for (path, value) in extra {
        if let Some(v) = value {
            overrides.push(
                parse_assignment(&format!("{path}={v}")).map_err(|e| BadInput(e.to_string()))?,
            );
        }
    }
    scenario
        .with_overrides(&overrides, registry)
        .map_err(|e| BadInput(e.to_string()).into())
}

fn default_out(scenario: &Scenario, file: &Path) -> PathBuf {
    let name = if scenario.name.is_empty() {
        file.file_stem()
            .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned())
    } else {
        scenario.name.clone()
    };
    PathBuf::from("runs").join(name)
}

fn run(args: RunArgs, verbosity: Verbosity) -> anyhow::Result<()> {
    let registry = registry();
    let extra = [
        ("seed", args.seed.map(|s| s.to_string())),
        ("ticks", args.ticks.map(|t| t.to_string())),
    ];
    let scenario = load(&args.file, &args.set, &extra, &registry)?;
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario, &args.file));
    let options = RunOptions {
        sim: SimOptions { threads },
        out_dir: Some(out.clone()),
        git_revision: option_env!("AGORA_GIT_REV").map(str::to_owned),
        scenario_file: Some(args.file.display().to_string()),
    };
    let bar = progress::Progress::new(scenario.ticks.unwrap_or(0), verbosity > Verbosity::Quiet);
    let report = run_scenario(&scenario, &registry, &options, |t, _| bar.set(t));
    bar.finish();
    let report = report.map_err(engine_error)?;
    if verbosity > Verbosity::Quiet {
        let s = &report.summary;
        let agent_steps = scenario.agent_count() as f64 * s.ticks as f64;
        let mut text = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "{}: {} ticks ({}), {} agents, {:.3} s, {:.3e} agent-steps/s",
            args.file.display(),
            s.ticks,
            s.stopped_by.as_str(),
            scenario.agent_count(),
            report.wall_time_s,
            agent_steps / report.wall_time_s.max(1e-9)
        );
        for (name, value) in &s.metrics {
            let _ = writeln!(text, "  {name:<24} {value}");
        }
        let _ = writeln!(text, "  digest {:016x}", s.digest);
        let _ = writeln!(text, "  output {}", out.display());
        print_out(&text);
    }
    if verbosity >= Verbosity::Verbose {
        view::print_run_details(&out, &report.summary);
    }
    Ok(())
}

fn validate(file: &Path, set: &[String], verbosity: Verbosity) -> anyhow::Result<()> {
    let registry = registry();
    let scenario = load(file, set, &[], &registry)?;
    // Building catches what only assembly can: plug-ins whose systems conflict, placements
    // that do not fit.
    agora_engine::Sim::new(&scenario, &registry, SimOptions::default()).map_err(engine_error)?;
    if verbosity == Verbosity::Quiet {
        return Ok(());
    }
    print_out(&format!(
        "{}: ok ({} populations, {} agents, {} ticks{})\n",
        file.display(),
        scenario.populations.len(),
        scenario.agent_count(),
        scenario.tick_limit(),
        if scenario.stop.is_some() {
            " or until the stop condition"
        } else {
            ""
        }
    ));
    Ok(())
}

fn list() {
    use std::fmt::Write as _;
    let registry = registry();
    let mut text = String::new();
    let kinds = [
        (PluginKind::Behavior, "Behaviors"),
        (
            PluginKind::Protocol,
            "Task-allocation protocols (allocation:)",
        ),
        (
            PluginKind::Policy,
            "Conflict-resolution policies (conflicts:)",
        ),
        (PluginKind::Metric, "Metrics"),
        (
            PluginKind::Quantity,
            "Per-agent quantities (for gini, jain)",
        ),
    ];
    for (kind, title) in kinds {
        if registry.names(kind).is_empty() {
            continue;
        }
        let _ = writeln!(text, "{title}:");
        for p in registry.plugins().filter(|p| p.kind == kind) {
            let _ = writeln!(text, "  {:<24} {}", p.name, p.summary);
            let params = p.default_params();
            if params != "()" {
                for line in params.lines() {
                    let _ = writeln!(text, "  {:<24}   {line}", "");
                }
            }
        }
        text.push('\n');
    }
    print_out(&text);
}

/// Writes to stdout; a closed pipe (`agora list | head`) is not an error worth a panic.
fn print_out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[expect(
    clippy::print_stderr,
    reason = "the CLI reports errors to the terminal"
)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let result = match agora_engine::simd::check_env() {
        Err(e) => Err(BadInput(e).into()),
        Ok(()) => match cli.command {
            Command::Run(args) => run(args, verbosity),
            Command::Validate { file, set } => validate(&file, &set, verbosity),
            Command::List => {
                list();
                Ok(())
            }
            Command::View(args) => view::view(&args, verbosity),
            Command::Plot(args) => view::plot(&args, verbosity),
            Command::Sweep(args) => sweep_cli::sweep(args),
            Command::Merge(args) => sweep_cli::merge_cmd(args),
            Command::Report(args) => sweep_cli::report_cmd(args),
        },
    };
    match result.context("agora") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad_input = e.chain().any(|c| c.is::<BadInput>());
            eprintln!("error: {}", e.root_cause());
            if bad_input {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
