//! Recording: metrics time series and per-agent snapshots, computed in the Record phase and
//! handed to an [`OutputSink`] (by default a background writer thread, so the simulation
//! never waits on the disk).

mod writer;

pub use writer::{DirSink, write_atomic};

use crate::agent::{AgentId, AgentState, GridCell, Population, Position, Velocity};
use crate::error::Error;
use crate::phase::Tick;
use crate::plugin::DynMetric;
use bevy_ecs::prelude::{Resource, World};

/// One agent in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapshotRow {
    /// Agent id.
    pub agent: u32,
    /// Population index.
    pub population: u16,
    /// x (world units, or the cell column in a grid).
    pub x: f64,
    /// y (world units, or the cell row in a grid).
    pub y: f64,
    /// Heading in radians from the velocity, if the agent has one.
    pub heading: Option<f64>,
    /// The behavior's state label.
    pub state: u32,
}

/// Where recorded rows go. Implementations must not block for long: the simulation thread
/// calls them.
pub trait OutputSink: Send + Sync + 'static {
    /// Called once before any row, with the metric column names (without `tick`).
    fn begin(&mut self, metric_columns: &[String]) -> Result<(), Error>;
    /// One metrics row.
    fn metrics(&mut self, tick: u64, values: &[f64]) -> Result<(), Error>;
    /// One snapshot, rows in agent-id order.
    fn snapshot(&mut self, tick: u64, rows: Vec<SnapshotRow>) -> Result<(), Error>;
    /// Flushes and completes every file. Called once, also after a failed run, so that what
    /// was recorded is kept.
    fn finish(&mut self) -> Result<(), Error>;
}

/// Keeps metric rows in memory (tests, library use); snapshots are counted, not kept.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    /// Metric column names.
    pub columns: Vec<String>,
    /// `(tick, values)` rows.
    pub rows: Vec<(u64, Vec<f64>)>,
    /// Number of snapshot rows seen.
    pub snapshot_rows: usize,
}

impl OutputSink for MemorySink {
    fn begin(&mut self, metric_columns: &[String]) -> Result<(), Error> {
        self.columns = metric_columns.to_vec();
        Ok(())
    }
    fn metrics(&mut self, tick: u64, values: &[f64]) -> Result<(), Error> {
        self.rows.push((tick, values.to_vec()));
        Ok(())
    }
    fn snapshot(&mut self, _tick: u64, rows: Vec<SnapshotRow>) -> Result<(), Error> {
        self.snapshot_rows += rows.len();
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// Discards everything (runs where only the summary matters, such as sweeps without
/// `--keep runs`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl OutputSink for NullSink {
    fn begin(&mut self, _: &[String]) -> Result<(), Error> {
        Ok(())
    }
    fn metrics(&mut self, _: u64, _: &[f64]) -> Result<(), Error> {
        Ok(())
    }
    fn snapshot(&mut self, _: u64, _: Vec<SnapshotRow>) -> Result<(), Error> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// The recorded metrics of a run.
#[derive(Resource)]
pub(crate) struct MetricSet {
    pub(crate) metrics: Vec<Box<dyn DynMetric>>,
    pub(crate) columns: Vec<String>,
    pub(crate) scratch: Vec<f64>,
}

impl MetricSet {
    pub(crate) fn new(metrics: Vec<Box<dyn DynMetric>>) -> MetricSet {
        let columns = metrics.iter().flat_map(|m| m.columns()).collect();
        MetricSet {
            metrics,
            columns,
            scratch: Vec::new(),
        }
    }

    /// Computes every metric into `scratch`; a metric that pushes the wrong number of values
    /// is padded or cut so that columns stay aligned.
    pub(crate) fn compute(&mut self, world: &mut World) {
        self.scratch.clear();
        let mut one = Vec::new();
        for m in &mut self.metrics {
            let want = m.columns().len();
            one.clear();
            m.compute(world, &mut one);
            one.resize(want, f64::NAN);
            self.scratch.extend_from_slice(&one);
        }
    }
}

/// The sink plus the cadence bookkeeping.
#[derive(Resource)]
pub(crate) struct Output {
    pub(crate) sink: Box<dyn OutputSink>,
    pub(crate) every: u64,
    pub(crate) snapshots: Option<u64>,
    pub(crate) last_metrics: Option<u64>,
    pub(crate) last_snapshot: Option<u64>,
    pub(crate) error: Option<Error>,
}

/// Records whatever is due at `tick` (completed ticks); `force` records both metrics and
/// (when enabled) a snapshot regardless of cadence, unless already recorded at this tick.
pub(crate) fn record_at(world: &mut World, tick: u64, force: bool) {
    let Some(out) = world.get_resource::<Output>() else {
        return;
    };
    if out.error.is_some() {
        return;
    }
    let metrics_due = out.last_metrics != Some(tick) && (force || tick.is_multiple_of(out.every));
    let snapshot_due = out.snapshots.is_some_and(|every| {
        out.last_snapshot != Some(tick) && (force || tick.is_multiple_of(every))
    });
    if metrics_due {
        let values = world.resource_scope(|world, mut set: bevy_ecs::world::Mut<'_, MetricSet>| {
            set.compute(world);
            set.scratch.clone()
        });
        let mut out = world.resource_mut::<Output>();
        out.last_metrics = Some(tick);
        if let Err(e) = out.sink.metrics(tick, &values) {
            out.error = Some(e);
            return;
        }
    }
    if snapshot_due {
        let rows = snapshot_rows(world);
        let mut out = world.resource_mut::<Output>();
        out.last_snapshot = Some(tick);
        if let Err(e) = out.sink.snapshot(tick, rows) {
            out.error = Some(e);
        }
    }
}

/// Every agent's row, in id order.
pub fn snapshot_rows(world: &mut World) -> Vec<SnapshotRow> {
    let mut q = world.query::<(
        &AgentId,
        &Population,
        Option<&Position>,
        Option<&GridCell>,
        Option<&Velocity>,
        Option<&AgentState>,
    )>();
    let mut rows: Vec<SnapshotRow> = q
        .iter(world)
        .map(|(id, pop, pos, cell, vel, state)| {
            let (x, y) = match (pos, cell) {
                (_, Some(c)) => (f64::from(c.x), f64::from(c.y)),
                (Some(p), None) => (p.0.x, p.0.y),
                (None, None) => (f64::NAN, f64::NAN),
            };
            SnapshotRow {
                agent: id.0,
                population: pop.0,
                x,
                y,
                heading: vel
                    .filter(|v| v.0 != glam::DVec2::ZERO)
                    .map(|v| v.0.y.atan2(v.0.x)),
                state: state.map_or(0, |s| s.0),
            }
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.agent);
    rows
}

/// The Record-phase output system: what is due after the tick that just ran.
pub(crate) fn record_output(world: &mut World) {
    let completed = world.resource::<Tick>().0 + 1;
    record_at(world, completed, false);
}
