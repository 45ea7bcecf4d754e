//! `agora view` and `agora plot`: pictures of a finished run folder.

use crate::{BadInput, Verbosity};
use agora_engine::RunSummary;
use agora_plot::{ImageFormat, PlotError};
use agora_viewer::{ColorBy, ReplayError, ReplayOptions};
use std::path::{Path, PathBuf};

/// How agents are coloured when the replay opens.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub(crate) enum ColorChoice {
    /// By the behavior's state label.
    State,
    /// By population.
    Population,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ViewArgs {
    /// The run folder (what `agora run` wrote).
    run_dir: PathBuf,
    /// Where to write the page: a file, or a folder to get `replay.html` in it (default:
    /// RUN_DIR/replay.html).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep every Nth snapshot frame, to bound the page size of long runs.
    #[arg(long, default_value_t = 1)]
    stride: u32,
    /// Frames per second at 1x speed.
    #[arg(long, default_value_t = 12.0)]
    fps: f64,
    /// Trail length in frames when the page opens (0: off).
    #[arg(long, default_value_t = 8)]
    trail: u32,
    /// Colouring when the page opens (the page has a toggle).
    #[arg(long, value_enum, default_value_t = ColorChoice::State)]
    color_by: ColorChoice,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PlotArgs {
    /// The run folder (what `agora run` wrote).
    run_dir: PathBuf,
    /// Metric columns to plot, comma separated (default: all).
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
    /// Output folder (default: RUN_DIR); the charts are `metrics.png` and `metrics.svg`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Image formats, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "png,svg")]
    format: Vec<FormatChoice>,
}

/// An image format for `agora plot`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatChoice {
    /// Raster, for a quick look.
    Png,
    /// Vector, for papers.
    Svg,
}

/// Missing or malformed input is the user's to fix (exit code 2); failing to write is not.
fn replay_error(e: ReplayError) -> anyhow::Error {
    match e {
        ReplayError::Write { .. } | ReplayError::Read { .. } => anyhow::Error::new(e),
        other => anyhow::Error::new(BadInput(other.to_string())),
    }
}

#[expect(clippy::print_stdout, reason = "the CLI reports to the terminal")]
pub(crate) fn view(args: &ViewArgs, verbosity: Verbosity) -> anyhow::Result<()> {
    let options = ReplayOptions::default()
        .with_frame_stride(args.stride)
        .with_fps(args.fps)
        .with_trail_length(args.trail)
        .with_color_by(match args.color_by {
            ColorChoice::State => ColorBy::State,
            ColorChoice::Population => ColorBy::Population,
        });
    let page = agora_viewer::write_replay(&args.run_dir, args.out.as_deref(), &options)
        .map_err(replay_error)?;
    if verbosity > Verbosity::Quiet {
        let size = std::fs::metadata(&page).map_or(0, |m| m.len());
        println!(
            "{} ({:.1} MB; opens offline in any browser)",
            page.display(),
            size as f64 / 1e6
        );
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the CLI reports to the terminal")]
pub(crate) fn plot(args: &PlotArgs, verbosity: Verbosity) -> anyhow::Result<()> {
    if !args.run_dir.is_dir() {
        return Err(BadInput(format!(
            "run folder {} does not exist or is not a directory",
            args.run_dir.display()
        ))
        .into());
    }
    let out = args.out.clone().unwrap_or_else(|| args.run_dir.clone());
    let mut formats = Vec::new();
    for f in &args.format {
        let f = match f {
            FormatChoice::Png => ImageFormat::Png,
            FormatChoice::Svg => ImageFormat::Svg,
        };
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    let files = agora_plot::plot_run(&args.run_dir, &out, &args.metrics, &formats).map_err(
        |e| match e {
            PlotError::Input { .. } => anyhow::Error::new(BadInput(e.to_string())),
            other => anyhow::Error::new(other),
        },
    )?;
    if verbosity > Verbosity::Quiet {
        for f in files {
            println!("{}", f.display());
        }
    }
    Ok(())
}

/// `agora run -v`: the files written, regime changes and event counts.
#[expect(clippy::print_stdout, reason = "the CLI reports to the terminal")]
pub(crate) fn print_run_details(out: &Path, summary: &RunSummary) {
    let manifest = std::fs::read_to_string(out.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let Some(files) = manifest
        .as_ref()
        .and_then(|m| m.get("files"))
        .and_then(|f| f.as_array())
    {
        println!("  files:");
        for f in files.iter().filter_map(|f| f.as_str()) {
            let size = std::fs::metadata(out.join(f)).map_or(0, |m| m.len());
            println!("    {f:<28} {size:>12} bytes");
        }
    }
    if !summary.changes.is_empty() {
        println!("  regime changes:");
        for c in &summary.changes {
            println!(
                "    tick {:<8} {:<20} {} {:?} ({} = {})",
                c.tick,
                c.name,
                match c.direction {
                    agora_engine::stats::Direction::Up => "up  ",
                    agora_engine::stats::Direction::Down => "down",
                },
                c.detector,
                c.metric,
                c.value
            );
        }
    }
    for (kind, n) in &summary.events {
        println!("  events_{kind}.csv: {n} events");
    }
}
