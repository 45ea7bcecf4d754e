//! The metrics time series (`metrics.csv`) and the change detectors that watch it
//! (`events_changes.csv`, and the `detectors` section of `summary.json`).

use super::sink::{FileId, OutputSink, Rows};
use super::{Cadence, Recorder};
use crate::error::Error;
use crate::plugin::DynMetric;
use crate::scenario::DetectSpec;
use crate::sim::RunSummary;
use crate::stats::{ChangeDetector, ChangeKind, Detector, Direction, Watch};
use bevy_ecs::prelude::{Resource, World};
use serde::Serialize;
use std::io::Write as _;

/// The recorded metrics of a run.
#[derive(Resource)]
pub(crate) struct MetricSet {
    pub(crate) metrics: Vec<Box<dyn DynMetric>>,
    pub(crate) columns: Vec<String>,
    pub(crate) scratch: Vec<f64>,
    one: Vec<f64>,
    widths: Vec<usize>,
}

impl MetricSet {
    pub(crate) fn new(metrics: Vec<Box<dyn DynMetric>>) -> MetricSet {
        let widths: Vec<usize> = metrics.iter().map(|m| m.columns().len()).collect();
        let columns = metrics.iter().flat_map(|m| m.columns()).collect();
        MetricSet {
            metrics,
            columns,
            scratch: Vec::new(),
            one: Vec::new(),
            widths,
        }
    }

    /// Computes every metric into `scratch`; a metric that pushes the wrong number of values
    /// is padded or cut so that columns stay aligned.
    pub(crate) fn compute(&mut self, world: &mut World) {
        self.scratch.clear();
        for (m, &want) in self.metrics.iter_mut().zip(&self.widths) {
            self.one.clear();
            m.compute(world, &mut self.one);
            self.one.resize(want, f64::NAN);
            self.scratch.extend_from_slice(&self.one);
        }
    }
}

/// A regime change found by a detector of `record.detect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedChange {
    /// The detector's name (`record.detect[i].name`, by default the metric column).
    pub name: String,
    /// The metric column it watches.
    pub metric: String,
    /// The recorded tick whose value triggered it (the state after `tick` steps).
    pub tick: u64,
    /// Which detector fired.
    pub detector: ChangeKind,
    /// Which way the metric moved.
    pub direction: Direction,
    /// The metric's value at `tick`.
    pub value: f64,
    /// The detector's statistic when it fired (see [`crate::stats::ChangeEvent`]).
    pub statistic: f64,
}

/// The header of `events_changes.csv`.
const CHANGES_HEADER: &str = "tick,name,metric,detector,direction,value,statistic\n";

fn kind_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::PageHinkley => "page_hinkley",
        ChangeKind::Cusum => "cusum",
        ChangeKind::Threshold => "threshold",
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

struct MetricRow {
    tick: u64,
    values: Vec<f64>,
}

impl Rows for MetricRow {
    fn encode(&self, buf: &mut Vec<u8>) {
        let _ = write!(buf, "{}", self.tick);
        for v in &self.values {
            let _ = write!(buf, ",{v}");
        }
        buf.push(b'\n');
    }
}

struct ChangeRows(Vec<DetectedChange>);

impl Rows for ChangeRows {
    fn encode(&self, buf: &mut Vec<u8>) {
        for c in &self.0 {
            // Names are snake_case metric columns or scenario labels; quote them anyway so
            // that a label with a comma cannot shift the columns.
            let _ = writeln!(
                buf,
                "{},{},{},{},{},{},{}",
                c.tick,
                csv_field(&c.name),
                csv_field(&c.metric),
                kind_name(c.detector),
                direction_name(c.direction),
                c.value,
                c.statistic
            );
        }
    }
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

struct Watcher {
    name: String,
    metric: String,
    column: usize,
    watch: Watch,
    detector: Detector,
}

/// Writes `metrics.csv` every `every` ticks and feeds the detectors.
pub(crate) struct MetricsRecorder {
    every: u64,
    file: Option<FileId>,
    changes_file: Option<FileId>,
    watchers: Vec<Watcher>,
    changes: Vec<DetectedChange>,
}

impl MetricsRecorder {
    /// `columns` are the metric columns; each spec's metric must be one of them (the scenario
    /// loader checks this with positioned errors; here it is a build error).
    pub(crate) fn new(
        every: u64,
        columns: &[String],
        detect: &[DetectSpec],
    ) -> Result<MetricsRecorder, String> {
        let mut watchers = Vec::with_capacity(detect.len());
        for (i, spec) in detect.iter().enumerate() {
            let column = columns
                .iter()
                .position(|c| *c == spec.metric)
                .ok_or_else(|| format!("record.detect[{i}]: no metric column `{}`", spec.metric))?;
            let detector =
                Detector::new(&spec.detector).map_err(|e| format!("record.detect[{i}]: {e}"))?;
            watchers.push(Watcher {
                name: spec.label().to_owned(),
                metric: spec.metric.clone(),
                column,
                watch: spec.watch,
                detector,
            });
        }
        Ok(MetricsRecorder {
            every,
            file: None,
            changes_file: None,
            watchers,
            changes: Vec::new(),
        })
    }
}

impl Recorder for MetricsRecorder {
    fn name(&self) -> &str {
        "metrics"
    }

    fn cadence(&self) -> Cadence {
        Cadence::Every(self.every)
    }

    fn begin(&mut self, world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
        let mut header = String::from("tick");
        for c in &world.resource::<MetricSet>().columns {
            header.push(',');
            header.push_str(c);
        }
        header.push('\n');
        self.file = Some(out.create("metrics.csv", header.into_bytes())?);
        if !self.watchers.is_empty() {
            self.changes_file =
                Some(out.create("events_changes.csv", CHANGES_HEADER.as_bytes().to_vec())?);
        }
        Ok(())
    }

    fn record(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let values = world.resource_scope(|world, mut set: bevy_ecs::world::Mut<'_, MetricSet>| {
            set.compute(world);
            set.scratch.clone()
        });
        let mut found = Vec::new();
        for w in &mut self.watchers {
            let Some(ev) = w.detector.update(tick, values[w.column]) else {
                continue;
            };
            let wanted = matches!(
                (w.watch, ev.direction),
                (Watch::Both, _) | (Watch::Up, Direction::Up) | (Watch::Down, Direction::Down)
            );
            if wanted {
                found.push(DetectedChange {
                    name: w.name.clone(),
                    metric: w.metric.clone(),
                    tick: ev.tick,
                    detector: ev.kind,
                    direction: ev.direction,
                    value: ev.value,
                    statistic: ev.statistic,
                });
            }
        }
        if let Some(file) = self.file {
            out.write(file, Box::new(MetricRow { tick, values }))?;
        }
        if !found.is_empty() {
            self.changes.extend_from_slice(&found);
            if let Some(file) = self.changes_file {
                out.write(file, Box::new(ChangeRows(found)))?;
            }
        }
        Ok(())
    }

    fn summarize(&self, _world: &World, summary: &mut RunSummary) {
        summary.changes.extend_from_slice(&self.changes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_use_plain_decimal_and_nan() {
        let mut buf = Vec::new();
        MetricRow {
            tick: 3,
            values: vec![0.5, f64::NAN, 1e-7, 2.0],
        }
        .encode(&mut buf);
        assert_eq!(String::from_utf8(buf).unwrap(), "3,0.5,NaN,0.0000001,2\n");
    }

    #[test]
    fn change_rows_quote_odd_labels() {
        let mut buf = Vec::new();
        ChangeRows(vec![DetectedChange {
            name: "a,b".into(),
            metric: "polarization".into(),
            tick: 12,
            detector: ChangeKind::Threshold,
            direction: Direction::Up,
            value: 0.9,
            statistic: 0.9,
        }])
        .encode(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "12,\"a,b\",polarization,threshold,up,0.9,0.9\n"
        );
    }
}
