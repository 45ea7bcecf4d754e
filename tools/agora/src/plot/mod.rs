//! Charts: sweep summaries (a metric against a swept parameter, one line per group, with
//! confidence bands) and a run's metric time series, as SVG and PNG.

pub mod chart;
pub mod font;
pub mod metrics;
pub mod text;

pub use chart::{ChartPoint, ImageFormat, LineChart, PlotError, Series, draw_chart, draw_panels};
pub use metrics::{plot_run, read_metrics};
