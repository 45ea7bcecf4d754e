//! Time-series charts of one run's `metrics.csv` (header `tick,<metric>,...`).

use crate::chart::{ChartPoint, ImageFormat, LineChart, PlotError, Series, draw_panels};
use std::path::{Path, PathBuf};

/// A run's metric time series.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsTable {
    /// The `tick` column.
    pub ticks: Vec<f64>,
    /// `(name, values)` per metric column, in file order; empty or unparsable cells are NaN.
    pub columns: Vec<(String, Vec<f64>)>,
}

/// Reads a `metrics.csv`.
pub fn read_metrics(path: &Path) -> Result<MetricsTable, PlotError> {
    let input = |message: String| PlotError::Input {
        path: path.to_owned(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| input(e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| input(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.first().map(String::as_str) != Some("tick") {
        return Err(input(
            "the first column is not `tick`; expected a metrics.csv".into(),
        ));
    }
    let mut table = MetricsTable {
        ticks: Vec::new(),
        columns: header[1..]
            .iter()
            .map(|h| (h.clone(), Vec::new()))
            .collect(),
    };
    for record in reader.records() {
        let record = record.map_err(|e| input(e.to_string()))?;
        let num = |i: usize| {
            record
                .get(i)
                .and_then(|t| t.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        table.ticks.push(num(0));
        for (c, (_, values)) in table.columns.iter_mut().enumerate() {
            values.push(num(c + 1));
        }
    }
    Ok(table)
}

/// One chart per metric column (all of them when `metrics` is empty) against the tick.
pub fn metric_charts(table: &MetricsTable, metrics: &[String]) -> Result<Vec<LineChart>, String> {
    for m in metrics {
        if !table.columns.iter().any(|(name, _)| name == m) {
            let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!("no metric `{m}`; the run has {}", names.join(", ")));
        }
    }
    Ok(table
        .columns
        .iter()
        .filter(|(name, _)| metrics.is_empty() || metrics.contains(name))
        .map(|(name, values)| LineChart {
            title: name.clone(),
            x_label: "tick".into(),
            y_label: name.clone(),
            series: vec![Series {
                label: String::new(),
                points: table
                    .ticks
                    .iter()
                    .zip(values)
                    .map(|(&x, &y)| ChartPoint { x, y, band: None })
                    .collect(),
            }],
            ..LineChart::default()
        })
        .collect())
}

/// Plots `run_dir/metrics.csv` into `out_dir/metrics.<ext>` for each format: one panel per
/// metric (all when `metrics` is empty), two panels per row. Returns the files written.
pub fn plot_run(
    run_dir: &Path,
    out_dir: &Path,
    metrics: &[String],
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>, PlotError> {
    let source = run_dir.join("metrics.csv");
    let table = read_metrics(&source)?;
    let charts = metric_charts(&table, metrics).map_err(|message| PlotError::Input {
        path: source.clone(),
        message,
    })?;
    if charts.is_empty() {
        return Err(PlotError::Input {
            path: source,
            message: "no metric columns to plot".into(),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|e| PlotError::Draw {
        path: out_dir.to_owned(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for f in formats {
        let path = out_dir.join(format!("metrics.{}", f.extension()));
        draw_panels(&charts, 2, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metrics_and_plots_panels() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("tick,alignment,mean_speed,collisions\n");
        for t in 0..=100 {
            let tf = f64::from(t);
            let coll = if t == 50 {
                "NaN".to_owned()
            } else {
                ((t * 7) % 13).to_string()
            };
            text.push_str(&format!(
                "{t},{},{},{coll}\n",
                1.0 - (-tf / 20.0).exp(),
                1.0 + (tf / 10.0).sin() * 0.1
            ));
        }
        std::fs::write(dir.path().join("metrics.csv"), text).unwrap();
        let t = read_metrics(&dir.path().join("metrics.csv")).unwrap();
        assert_eq!(t.ticks.len(), 101);
        assert_eq!(t.columns.len(), 3);
        assert!(t.columns[2].1[50].is_nan());
        assert!(
            metric_charts(&t, &["nope".into()])
                .unwrap_err()
                .contains("alignment, mean_speed, collisions")
        );
        let out = dir.path().join("plots");
        let files = plot_run(dir.path(), &out, &[], &[ImageFormat::Svg, ImageFormat::Png]).unwrap();
        assert_eq!(files, [out.join("metrics.svg"), out.join("metrics.png")]);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.contains("mean_speed") && svg.contains("collisions"));
    }
}
