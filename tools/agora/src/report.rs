//! Per-cell statistics across replications (`summary.csv`) and charts of metrics against a
//! swept parameter.
//!
//! A cell is a combination of swept values and variant. For each metric, over the cell's `ok`
//! runs with a finite value: `n`, mean, sample standard deviation and the Student-t confidence
//! interval of the mean (empty when `n < 2`). Rows of one run id are deduplicated as in
//! [`mod@agora_engine::sweep::merge`], so a resumed directory or a concatenation of shards can
//! be reported directly.
//!
//! Charts: one per metric, the metric's mean against the `x` parameter, one line per value of
//! the `group` parameter (or variant) with the confidence interval as a band. Other swept
//! parameters that vary give one chart per combination of their values (`<metric>-1`, ...),
//! except those whose value follows from x's or the group's (zipped axes), which would only
//! split each line into one-line charts.

use agora_engine::stats::Welford;
use agora_engine::sweep::merge::{MergeError, RowSet};
use agora_engine::sweep::table::{
    Layout, RESULTS_FILE, RowEncoder, Status, TableError, read_table,
};
use agora_plot::{ChartPoint, ImageFormat, LineChart, PlotError, Series, draw_chart};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the summary table.
pub const SUMMARY_FILE: &str = "summary.csv";

/// The name accepted for the variant column in `x` and `group`.
pub const VARIANT: &str = "variant";

/// What to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Metrics to plot (default empty: all). The summary always has every metric.
    pub metrics: Vec<String>,
    /// Swept path on the x axis (default: the first swept path whose values are all numbers,
    /// else the first swept path, else the variant).
    pub x: Option<String>,
    /// Swept path (or `variant`) giving one line per value (default: `variant` when the sweep
    /// has variants and it is not on the x axis, else the first other swept path that varies
    /// independently of x, else none).
    pub group: Option<String>,
    /// Confidence level of the intervals (default 0.95).
    pub level: f64,
    /// Image formats to write (default SVG and PNG).
    pub formats: Vec<ImageFormat>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            metrics: Vec::new(),
            x: None,
            group: None,
            level: 0.95,
            formats: vec![ImageFormat::Svg, ImageFormat::Png],
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading the results failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The results are inconsistent.
    #[error(transparent)]
    Rows(#[from] MergeError),
    /// Drawing failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An option names something the results do not have.
    #[error("{0}")]
    Unknown(String),
}

/// Statistics of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    /// Swept values as written in the results, in column order.
    pub params: Vec<String>,
    /// Variant label (empty without variants).
    pub variant: String,
    /// Runs with status ok.
    pub ok: usize,
    /// Runs with status failed.
    pub failed: usize,
    /// Per metric, in [`Layout::metrics`] order.
    pub stats: Vec<SampleStats>,
}

/// Statistics of all cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Columns of the results table.
    pub layout: Layout,
    /// Confidence level used.
    pub level: f64,
    /// Cells sorted by their values (numbers numerically).
    pub cells: Vec<CellSummary>,
}

/// Compares two cell values: numerically when both are numbers, else as text.
fn cmp_value(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

fn cmp_key(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_value(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(a.len().cmp(&b.len()))
}

/// Summary of one metric in one parameter cell, across seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleStats {
    /// Number of finite values.
    pub n: usize,
    /// Mean (NaN when `n == 0`).
    pub mean: f64,
    /// Sample standard deviation, `n - 1` denominator (NaN when `n < 2`).
    pub std: f64,
    /// Lower end of the confidence interval (NaN when `n < 2`).
    pub ci_lo: f64,
    /// Upper end of the confidence interval (NaN when `n < 2`).
    pub ci_hi: f64,
}

/// Mean, standard deviation and the two-sided `level` Student-t confidence interval of the
/// mean of the finite values (NaN and infinities, i.e. failed or undefined runs, are skipped).
pub fn summarize(values: &[f64], level: f64) -> SampleStats {
    let w: Welford = values.iter().copied().collect();
    let ci = w.confidence_interval(level).ok();
    SampleStats {
        n: w.count() as usize,
        mean: w.mean().unwrap_or(f64::NAN),
        std: w.std_dev().unwrap_or(f64::NAN),
        ci_lo: ci.map_or(f64::NAN, |c| c.lower()),
        ci_hi: ci.map_or(f64::NAN, |c| c.upper()),
    }
}

/// Computes per-cell statistics of a results table.
pub fn summarize_results(path: &Path, level: f64) -> Result<Summary, ReportError> {
    let table = read_table(path)?;
    let layout = table.layout.clone();
    let mut rows = RowSet::new();
    rows.add(path, table)?;
    let v = layout.variant_col();
    let status = layout.status_col();
    let m0 = layout.first_metric_col();
    // Cell key (swept values and variant) -> (ok runs, failed runs, values per metric).
    type Acc = (usize, usize, Vec<Vec<f64>>);
    let mut cells: BTreeMap<Vec<String>, Acc> = BTreeMap::new();
    for row in rows.rows() {
        let key: Vec<String> = row[1..=v].to_vec();
        let entry = cells
            .entry(key)
            .or_insert_with(|| (0, 0, vec![Vec::new(); layout.metrics.len()]));
        if row[status] == Status::Ok.as_str() {
            entry.0 += 1;
            for (k, values) in entry.2.iter_mut().enumerate() {
                if let Ok(x) = row[m0 + k].parse::<f64>() {
                    values.push(x);
                }
            }
        } else {
            entry.1 += 1;
        }
    }
    let mut out: Vec<CellSummary> = cells
        .into_iter()
        .map(|(mut key, (ok, failed, values))| {
            let variant = key.pop().unwrap_or_default();
            CellSummary {
                params: key,
                variant,
                ok,
                failed,
                stats: values.iter().map(|vs| summarize(vs, level)).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        cmp_key(&a.params, &b.params).then_with(|| cmp_value(&a.variant, &b.variant))
    });
    Ok(Summary {
        layout,
        level,
        cells: out,
    })
}

fn level_tag(level: f64) -> String {
    let pct = format!("{:.3}", level * 100.0);
    format!("ci{}", pct.trim_end_matches('0').trim_end_matches('.'))
}

fn num(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

/// Writes `summary.csv`: the swept columns, `variant`, `runs_ok`, `runs_failed`, then per
/// metric `<m>_n`, `<m>_mean`, `<m>_std`, `<m>_ci95_lo`, `<m>_ci95_hi` (the level in the name
/// follows [`Summary::level`]); undefined statistics are empty.
pub fn write_summary(summary: &Summary, path: &Path) -> Result<(), ReportError> {
    let tag = level_tag(summary.level);
    let mut header: Vec<String> = summary.layout.params.clone();
    header.extend([VARIANT, "runs_ok", "runs_failed"].map(String::from));
    for m in &summary.layout.metrics {
        for suffix in ["n", "mean", "std"] {
            header.push(format!("{m}_{suffix}"));
        }
        header.push(format!("{m}_{tag}_lo"));
        header.push(format!("{m}_{tag}_hi"));
    }
    let mut enc = RowEncoder::new();
    let mut buf = enc.encode_strings(&header).to_vec();
    let mut fields = Vec::with_capacity(header.len());
    for c in &summary.cells {
        fields.clear();
        fields.extend(c.params.iter().cloned());
        fields.push(c.variant.clone());
        fields.push(c.ok.to_string());
        fields.push(c.failed.to_string());
        for s in &c.stats {
            fields.push(s.n.to_string());
            fields.extend([s.mean, s.std, s.ci_lo, s.ci_hi].map(num));
        }
        buf.extend_from_slice(enc.encode_strings(&fields));
    }
    let io = |source| ReportError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(&buf).map_err(io)
}

/// A chart to write, with its file stem.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedChart {
    /// File name without extension.
    pub stem: String,
    /// The chart.
    pub chart: LineChart,
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Builds the charts described in the module docs. Returns no chart when the sweep has
/// nothing to put on the x axis (no swept path and no variant).
pub fn sweep_charts(
    summary: &Summary,
    opts: &ReportOptions,
) -> Result<Vec<NamedChart>, ReportError> {
    let layout = &summary.layout;
    let cells = &summary.cells;
    let has_variants = cells.iter().any(|c| !c.variant.is_empty());
    // Column k < params.len() is a swept path; k == params.len() is the variant.
    let value = |c: &CellSummary, k: usize| -> String {
        if k < c.params.len() {
            c.params[k].clone()
        } else {
            c.variant.clone()
        }
    };
    let vk = layout.params.len();
    let find = |name: &str| -> Result<usize, ReportError> {
        if name == VARIANT && has_variants {
            return Ok(vk);
        }
        layout.params.iter().position(|p| p == name).ok_or_else(|| {
            let mut names = layout.params.clone();
            if has_variants {
                names.push(VARIANT.into());
            }
            ReportError::Unknown(format!(
                "no swept parameter `{name}`; the sweep has: {}",
                names.join(", ")
            ))
        })
    };
    let numeric = |k: usize| {
        cells
            .iter()
            .all(|c| value(c, k).parse::<f64>().is_ok_and(f64::is_finite))
    };
    let varies = |k: usize| cells.iter().any(|c| value(c, k) != value(&cells[0], k));
    // Whether column k's value is a function of column j's (as for zipped axes).
    let determined_by = |k: usize, j: usize| {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        cells.iter().all(|c| {
            let vk = value(c, k);
            seen.entry(value(c, j)).or_insert_with(|| vk.clone()) == &vk
        })
    };
    let x = match &opts.x {
        Some(name) => find(name)?,
        None => match (0..vk).find(|&k| numeric(k)) {
            Some(k) => k,
            None if vk > 0 => 0,
            None if has_variants => vk,
            None => return Ok(Vec::new()),
        },
    };
    let group = match &opts.group {
        Some(name) => {
            let g = find(name)?;
            if g == x {
                return Err(ReportError::Unknown(format!(
                    "`{name}` cannot be both the x axis and the group"
                )));
            }
            Some(g)
        }
        None if has_variants && x != vk => Some(vk),
        // One line per value of the first other swept path that varies on its own (not a
        // zipped partner of x).
        None => (0..vk).find(|&k| k != x && varies(k) && !determined_by(k, x)),
    };
    for m in &opts.metrics {
        if !layout.metrics.contains(m) {
            return Err(ReportError::Unknown(format!(
                "no metric `{m}`; the results have: {}",
                layout.metrics.join(", ")
            )));
        }
    }
    let name_of = |k: usize| {
        if k == vk {
            VARIANT.to_owned()
        } else {
            layout.params[k].clone()
        }
    };
    let all_k: Vec<usize> = (0..vk).chain(has_variants.then_some(vk)).collect();
    // A zipped partner of x or of the group adds no chart of its own.
    let facet_cols: Vec<usize> = all_k
        .into_iter()
        .filter(|&k| k != x && Some(k) != group && varies(k))
        .filter(|&k| !determined_by(k, x) && !group.is_some_and(|g| determined_by(k, g)))
        .collect();
    let x_numeric = numeric(x);
    let mut categories: Vec<String> = Vec::new();
    if !x_numeric {
        for c in cells {
            let v = value(c, x);
            if !categories.contains(&v) {
                categories.push(v);
            }
        }
        categories.sort_by(|a, b| cmp_value(a, b));
    }
    let mut facets: Vec<Vec<String>> = Vec::new();
    for c in cells {
        let key: Vec<String> = facet_cols.iter().map(|&k| value(c, k)).collect();
        if !facets.contains(&key) {
            facets.push(key);
        }
    }
    facets.sort_by(|a, b| cmp_key(a, b));

    let mut charts = Vec::new();
    for (mi, metric) in layout.metrics.iter().enumerate() {
        if !opts.metrics.is_empty() && !opts.metrics.contains(metric) {
            continue;
        }
        for (fi, facet) in facets.iter().enumerate() {
            let mut groups: Vec<(String, Vec<ChartPoint>)> = Vec::new();
            for c in cells {
                let key: Vec<String> = facet_cols.iter().map(|&k| value(c, k)).collect();
                if key != *facet {
                    continue;
                }
                let xv = value(c, x);
                let xf = if x_numeric {
                    xv.parse::<f64>().unwrap_or(f64::NAN)
                } else {
                    categories
                        .iter()
                        .position(|cat| *cat == xv)
                        .map_or(f64::NAN, |i| i as f64)
                };
                let s = c.stats[mi];
                let point = ChartPoint {
                    x: xf,
                    y: s.mean,
                    band: (s.n >= 2).then_some((s.ci_lo, s.ci_hi)),
                };
                let g = group.map(|g| value(c, g)).unwrap_or_default();
                match groups.iter_mut().find(|(name, _)| *name == g) {
                    Some((_, pts)) => pts.push(point),
                    None => groups.push((g, vec![point])),
                }
            }
            groups.sort_by(|a, b| cmp_value(&a.0, &b.0));
            let fixed: Vec<String> = facet_cols
                .iter()
                .zip(facet)
                .map(|(&k, v)| format!("{} = {v}", name_of(k)))
                .collect();
            let mut title = format!("{metric} vs {}", name_of(x));
            if !fixed.is_empty() {
                title.push_str(&format!(" ({})", fixed.join(", ")));
            }
            let pct = level_tag(summary.level).trim_start_matches("ci").to_owned();
            let stem = if facets.len() > 1 {
                format!("{}-{}", file_stem(metric), fi + 1)
            } else {
                file_stem(metric)
            };
            charts.push(NamedChart {
                stem,
                chart: LineChart {
                    title,
                    x_label: name_of(x),
                    y_label: format!("{metric} (mean, {pct}% CI)"),
                    legend_title: group.map(name_of).unwrap_or_default(),
                    series: groups
                        .into_iter()
                        .map(|(label, points)| Series { label, points })
                        .collect(),
                    categories: categories.clone(),
                },
            });
        }
    }
    Ok(charts)
}

/// What [`report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutput {
    /// `dir/summary.csv`.
    pub summary: PathBuf,
    /// Chart files under `dir/plots/`.
    pub plots: Vec<PathBuf>,
}

/// Reads `dir/results.csv`, writes `dir/summary.csv` and the charts under `dir/plots/`.
pub fn report(dir: &Path, opts: &ReportOptions) -> Result<ReportOutput, ReportError> {
    let summary = summarize_results(&dir.join(RESULTS_FILE), opts.level)?;
    let summary_path = dir.join(SUMMARY_FILE);
    write_summary(&summary, &summary_path)?;
    let charts = sweep_charts(&summary, opts)?;
    let plot_dir = dir.join("plots");
    let mut plots = Vec::new();
    if !charts.is_empty() {
        std::fs::create_dir_all(&plot_dir).map_err(|source| ReportError::Io {
            path: plot_dir.clone(),
            source,
        })?;
    }
    for c in &charts {
        for f in &opts.formats {
            let path = plot_dir.join(format!("{}.{}", c.stem, f.extension()));
            draw_chart(&c.chart, &path)?;
            plots.push(path);
        }
    }
    Ok(ReportOutput {
        summary: summary_path,
        plots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str =
        "run_id,n,proto,variant,seed,replication,status,ticks,digest,wall_time_s,error,m,k\n";

    fn write(dir: &Path, body: &str) {
        std::fs::write(dir.join(RESULTS_FILE), format!("{H}{body}")).unwrap();
    }

    #[test]
    fn summary_groups_by_cell_and_matches_hand_computation() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a,10,p,,1,0,ok,10,aa,0.1,,1,5\n\
             b,10,p,,2,1,ok,10,aa,0.1,,2,\n\
             c,10,p,,3,2,ok,10,aa,0.1,,6,5\n\
             d,2,p,,1,0,failed,,,0.1,boom,,\n\
             e,2,p,,2,1,ok,10,aa,0.1,,4,NaN\n\
             a,10,p,,1,0,ok,10,aa,0.2,,1,5\n",
        );
        let s = summarize_results(&dir.path().join(RESULTS_FILE), 0.95).unwrap();
        assert_eq!(s.cells.len(), 2);
        // Numeric order: 2 before 10.
        assert_eq!(s.cells[0].params, ["2", "p"]);
        assert_eq!((s.cells[0].ok, s.cells[0].failed), (1, 1));
        let c = &s.cells[1];
        assert_eq!((c.ok, c.failed), (3, 0));
        assert_eq!(c.stats[0].n, 3);
        assert!((c.stats[0].mean - 3.0).abs() < 1e-12);
        // std of 1, 2, 6 = sqrt(7); t(0.975, 2) = 4.302652729749464.
        assert!((c.stats[0].std - 7f64.sqrt()).abs() < 1e-12);
        let half = 4.302_652_729_749_464 * 7f64.sqrt() / 3f64.sqrt();
        assert!((c.stats[0].ci_hi - (3.0 + half)).abs() < 1e-9);
        assert_eq!(c.stats[1].n, 2);
        assert_eq!(s.cells[0].stats[1].n, 0);

        write_summary(&s, &dir.path().join(SUMMARY_FILE)).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "n,proto,variant,runs_ok,runs_failed,m_n,m_mean,m_std,m_ci95_lo,m_ci95_hi,k_n,k_mean,k_std,k_ci95_lo,k_ci95_hi"
        );
        assert_eq!(lines.next().unwrap(), "2,p,,1,1,1,4,,,,0,,,,");
    }

    #[test]
    fn charts_pick_axes_groups_and_facets() {
        let dir = tempfile::tempdir().unwrap();
        let mut body = String::new();
        for (i, n) in [10, 20, 40].iter().enumerate() {
            for proto in ["gossip", "flood"] {
                for v in ["a", "b"] {
                    for r in 0..3 {
                        let m =
                            f64::from(*n) * if proto == "flood" { 2.0 } else { 1.0 } + f64::from(r);
                        body.push_str(&format!(
                            "{i}{proto}{v}{r},{n},{proto},{v},{r},{r},ok,10,aa,0.1,,{m},1\n"
                        ));
                    }
                }
            }
        }
        write(dir.path(), &body);
        let s = summarize_results(&dir.path().join(RESULTS_FILE), 0.95).unwrap();
        let opts = ReportOptions {
            metrics: vec!["m".into()],
            group: Some("proto".into()),
            ..ReportOptions::default()
        };
        let charts = sweep_charts(&s, &opts).unwrap();
        // x defaults to n; variant varies too, so one chart per variant.
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].stem, "m-1");
        assert_eq!(charts[0].chart.title, "m vs n (variant = a)");
        let labels: Vec<&str> = charts[0]
            .chart
            .series
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(labels, ["flood", "gossip"]);
        let flood: Vec<(f64, f64)> = charts[0].chart.series[0]
            .points
            .iter()
            .map(|p| (p.x, p.y))
            .collect();
        assert_eq!(flood, [(10.0, 21.0), (20.0, 41.0), (40.0, 81.0)]);
        assert!(charts[0].chart.series[0].points[0].band.is_some());

        let by_variant = ReportOptions {
            x: Some("proto".into()),
            ..ReportOptions::default()
        };
        let err = sweep_charts(
            &s,
            &ReportOptions {
                x: Some("nope".into()),
                ..ReportOptions::default()
            },
        );
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("the sweep has: n, proto, variant")
        );
        let charts = sweep_charts(&s, &by_variant).unwrap();
        // Categorical x (proto), grouped by variant, faceted by n; both metrics.
        assert_eq!(charts.len(), 6);
        assert_eq!(charts[0].chart.categories, ["flood", "gossip"]);

        let out = report(dir.path(), &opts).unwrap();
        assert_eq!(out.plots.len(), 4);
        assert!(out.plots.iter().all(|p| p.exists()));
    }
}
