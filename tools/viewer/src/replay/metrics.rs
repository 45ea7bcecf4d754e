//! Reading `metrics.csv` into one column per metric.

use std::path::Path;

use csv::ByteRecord;

use super::ReplayError;
use super::csvio::CsvFile;

const EXPECTED_HEADER: &str = "tick,<metric>,...";

/// The metric time series of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Metrics {
    /// Metric column names in file order (the `tick` column excluded).
    pub(super) names: Vec<String>,
    /// The tick of each row, non-decreasing.
    pub(super) ticks: Vec<f64>,
    /// One value vector per name, each as long as `ticks`; empty fields read as NaN.
    pub(super) values: Vec<Vec<f64>>,
}

/// Reads `path` (required in every run folder).
pub(super) fn read(path: &Path) -> Result<Metrics, ReplayError> {
    let mut csv = CsvFile::open(path, "every run folder has a metrics.csv")?;
    let tick_col = csv.column("tick", EXPECTED_HEADER)?;
    let metric_cols: Vec<usize> = (0..csv.headers.len()).filter(|&c| c != tick_col).collect();
    let mut metrics = Metrics {
        names: metric_cols
            .iter()
            .map(|&c| csv.headers[c].clone())
            .collect(),
        ticks: Vec::new(),
        values: vec![Vec::new(); metric_cols.len()],
    };
    let mut record = ByteRecord::new();
    while csv.next(&mut record)? {
        let tick: u64 = csv.uint(&record, tick_col, "a non-negative integer tick")?;
        let tick = tick as f64;
        if metrics.ticks.last().is_some_and(|&last| tick < last) {
            return Err(csv.error_at(
                &record,
                format!("tick {tick} is smaller than the row before"),
            ));
        }
        metrics.ticks.push(tick);
        for (values, &c) in metrics.values.iter_mut().zip(&metric_cols) {
            values.push(
                csv.float(&record, c, "a number or NaN")?
                    .unwrap_or(f64::NAN),
            );
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn read_text(text: &str) -> Result<Metrics, ReplayError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn columns_values_and_nan() {
        let m = read_text("tick,order,mean speed\n0,0.5,1\n1,NaN,2.5\n2,,-3e-2\n").unwrap();
        assert_eq!(m.names, ["order", "mean speed"]);
        assert_eq!(m.ticks, [0.0, 1.0, 2.0]);
        assert_eq!(m.values[0][0], 0.5);
        assert!(m.values[0][1].is_nan() && m.values[0][2].is_nan());
        assert_eq!(m.values[1], [1.0, 2.5, -0.03]);
    }

    #[test]
    fn header_only_file_has_no_rows() {
        let m = read_text("tick,a\n").unwrap();
        assert_eq!(m.names, ["a"]);
        assert!(m.ticks.is_empty() && m.values[0].is_empty());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        for (text, needles) in [
            ("order\n1\n", &["metrics.csv", "`tick`"][..]),
            (
                "tick,a\n0,1\n1,x\n",
                &["metrics.csv", "line 3", "`a`", "`x`"],
            ),
            ("tick,a\n-1,1\n", &["line 2", "`tick`"]),
            ("tick,a\n0,1\n1\n", &["line 3", "expected 2 fields"]),
            ("tick,a\n5,1\n4,1\n", &["line 3", "tick 4"]),
        ] {
            let msg = read_text(text).unwrap_err().to_string();
            for n in needles {
                assert!(msg.contains(n), "{text:?}: {msg} lacks {n}");
            }
        }
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&dir.path().join("metrics.csv")).unwrap_err();
        assert!(matches!(err, ReplayError::MissingFile { .. }));
        assert!(err.to_string().contains("metrics.csv"));
    }
}
