//! The parts of the `record` section that configure recorders beyond the metric list:
//! the snapshot format, event logs, and change detectors.

use super::Scenario;
use super::load::ErrCtx;
use crate::error::ScenarioError;
use crate::plugin::{Registry, unknown_name_message};
use crate::stats::{Detector, DetectorConfig, Watch};
use serde::{Deserialize, Serialize};

/// How per-agent snapshots are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SnapshotFormat {
    /// `snapshots.csv` (default): what every tool opens.
    #[default]
    Csv,
    /// `snapshots.bin`: fixed-size little-endian records, several times faster to write for
    /// 100k+ agents (layout in the README's "Outputs" section).
    Binary,
}

/// A change detector over one metric column: when it fires, the tick goes to
/// `events_changes.csv` and to `summary.json` (`detectors.<name>.first_tick` is the "time to
/// order" or "time to consensus" a sweep tabulates).
///
/// ```ron
/// detect: [
///     (metric: "polarization", name: "order",
///      detector: Threshold((enter_above: 0.9, exit_below: 0.7))),
///     (metric: "mean_nn_distance", detector: PageHinkley((delta: 0.01, lambda: 2.0))),
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSpec {
    /// A column of a recorded metric. The detector sees the metric stream as recorded (every
    /// `record.every` ticks, plus the final tick).
    pub metric: String,
    /// `PageHinkley((...))`, `Cusum((...))` or `Threshold((enter_above: a, exit_below: b))`;
    /// parameters and their defaults are those of [`crate::stats`].
    pub detector: DetectorConfig,
    /// Label in events and the summary (default: empty, meaning the metric column name).
    #[serde(default)]
    pub name: String,
    /// Which changes are reported: `Up`, `Down` or `Both` (default `Both`).
    #[serde(default)]
    pub watch: Watch,
}

impl DetectSpec {
    /// The label: `name`, or the metric column when `name` is empty.
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.metric
        } else {
            &self.name
        }
    }
}

/// The metric columns a scenario records, in order.
pub(crate) fn metric_columns(s: &Scenario, registry: &Registry) -> Vec<String> {
    s.record
        .metrics
        .iter()
        .filter_map(|name| {
            let entry = registry.find_metric(name)?;
            let params = s.record.metric_params.get(name).map_or_else(
                || serde_json::Value::Object(Default::default()),
                |p| p.0.clone(),
            );
            (entry.make)(&params).ok().map(|m| m.columns())
        })
        .flatten()
        .collect()
}

/// Checks `record.detect` and `record.events` spelling.
pub(super) fn validate(
    s: &Scenario,
    registry: &Registry,
    ctx: &ErrCtx<'_>,
) -> Result<(), ScenarioError> {
    let r = &s.record;
    let columns = metric_columns(s, registry);
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut labels = std::collections::BTreeSet::new();
    for (i, d) in r.detect.iter().enumerate() {
        let path = format!("record.detect[{i}]");
        if !columns.contains(&d.metric) {
            let mut msg = unknown_name_message("metric column", &d.metric, &names);
            msg.push_str("; a detector watches a column of a metric listed in `record.metrics`");
            return Err(ctx.at(&format!("{path}.metric"), msg));
        }
        Detector::new(&d.detector)
            .map_err(|e| ctx.at(&format!("{path}.detector"), e.to_string()))?;
        if !labels.insert(d.label()) {
            return Err(ctx.at(
                &format!("{path}.name"),
                format!(
                    "two detectors are named `{}`; give each a distinct `name`",
                    d.label()
                ),
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, kind) in r.events.iter().enumerate() {
        let path = format!("record.events[{i}]");
        if !crate::plugin::is_snake_case(kind) {
            return Err(ctx.at(
                &path,
                format!("event log names are snake_case (like `conflicts`), got `{kind}`"),
            ));
        }
        if !seen.insert(kind) {
            return Err(ctx.at(&path, format!("event log `{kind}` is listed twice")));
        }
    }
    Ok(())
}
