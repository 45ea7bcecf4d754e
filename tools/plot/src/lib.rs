//! # agora-plot
//!
//! Line charts for Agora's outputs, as SVG (for papers) and PNG (for a quick look): a run's
//! metric time series (`agora plot RUN_DIR`, [`plot_run`]) and sweep summaries (a metric
//! against a swept parameter, one line per group, with confidence bands; [`draw_chart`]).
//!
//! Text is drawn with an embedded DejaVu Sans (`assets/DejaVuSans.ttf`, the file Debian ships
//! in `fonts-dejavu-core`; license in `assets/DejaVuSans-LICENSE.txt`), so charts look the
//! same on machines without fontconfig or system fonts. Colors are the Okabe-Ito palette.

#![warn(missing_docs)]

pub mod chart;
pub mod font;
pub mod metrics;
pub mod text;

pub use chart::{ChartPoint, ImageFormat, LineChart, PlotError, Series, draw_chart, draw_panels};
pub use metrics::{MetricsTable, metric_charts, plot_run, read_metrics};
