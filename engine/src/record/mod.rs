//! Recording: recorders observe the world at the end of a tick, at their own cadence, and hand
//! rows to an [`OutputSink`] (by default a background writer thread, so the simulation never
//! waits on the disk and never holds a run in memory).
//!
//! The design follows ripgrep's `Sink`: the simulation drives, recorders are told what
//! happened (`begin`, `record` at each due tick, `finish`) and decide what to write. The
//! built-in recorders are the metrics time series (with the change detectors of
//! `record.detect`), per-agent snapshots, and one event log per [`LogEvent`] type that the
//! scenario enables; plug-ins add their own with [`crate::SimBuilder::add_recorder`].

mod events;
mod metrics;
mod sink;
mod snapshots;
mod writer;

pub use events::{EventLog, LogEvent};
pub use metrics::DetectedChange;
pub use sink::{FileId, MemorySink, NullSink, OutputSink, Rows};
pub use snapshots::{
    SNAPSHOT_CSV_HEADER, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_RECORD_BYTES,
    SNAPSHOT_VERSION, SnapshotRow, encode_snapshot, snapshot_rows,
};
pub use writer::{DirSink, write_atomic};

pub(crate) use metrics::{MetricSet, MetricsRecorder};
pub(crate) use snapshots::SnapshotRecorder;

use crate::error::Error;
use crate::phase::Tick;
use crate::sim::RunSummary;
use bevy_ecs::prelude::{Resource, World};

/// When a recorder observes the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cadence {
    /// The initial state (tick 0), every `n`th tick, and the final state. Event logs use
    /// `Every(1)` and write only when something happened, so an idle log costs one check.
    Every(u64),
    /// Only the final state.
    Final,
}

/// Something that observes the world and writes files: a metrics table, snapshots, an event
/// log, a plug-in's own trace.
///
/// Recorders run in the engine's output step after the Record phase, one after another, on
/// the simulation thread. They must only read the simulation state (the `&mut World` is there
/// because bevy's `World::query` registers component types; recording-only resources such as
/// an [`EventLog`] buffer may be drained). They keep no more than they need between calls and
/// hand rows to the sink, whose writer thread does the formatting.
///
/// ```
/// use agora_engine::prelude::*;
/// use agora_engine::{Cadence, Error, FileId, OutputSink, Recorder};
///
/// /// Writes the number of agents every 5 ticks to `population.csv`.
/// struct Census(Option<FileId>);
///
/// impl Recorder for Census {
///     fn name(&self) -> &str { "census" }
///     fn cadence(&self) -> Cadence { Cadence::Every(5) }
///     fn begin(&mut self, _: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
///         self.0 = Some(out.create("population.csv", b"tick,agents\n".to_vec())?);
///         Ok(())
///     }
///     fn record(&mut self, world: &mut World, tick: u64, out: &mut dyn OutputSink)
///         -> Result<(), Error> {
///         let n = world.query::<&AgentId>().iter(world).count();
///         out.write(self.0.unwrap(), Box::new(format!("{tick},{n}\n")))
///     }
/// }
/// // In a behavior's `build`: `sim.add_recorder(Census(None));`
/// ```
pub trait Recorder: Send + Sync + 'static {
    /// A short name for errors (`metrics`, `snapshots`, an event kind).
    fn name(&self) -> &str;

    /// When [`Recorder::record`] is called.
    fn cadence(&self) -> Cadence;

    /// Called once before the initial state is recorded: create files here.
    fn begin(&mut self, world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error>;

    /// Observes the state after `tick` steps (tick 0 is the initial state).
    fn record(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error>;

    /// Called once after the final state was recorded, and after a failure (then the world
    /// may be mid-tick): write what is still buffered.
    fn finish(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let _ = (world, tick, out);
        Ok(())
    }

    /// Adds this recorder's results to the run summary (`summary.json`).
    fn summarize(&self, world: &World, summary: &mut RunSummary) {
        let _ = (world, summary);
    }
}

struct Slot {
    recorder: Box<dyn Recorder>,
    last: Option<u64>,
}

/// The recorders of a run, their sink, and the first error any of them returned.
#[derive(Resource)]
pub(crate) struct Recording {
    pub(crate) sink: Box<dyn OutputSink>,
    slots: Vec<Slot>,
    pub(crate) error: Option<Error>,
    begun: bool,
    finished: bool,
}

impl Recording {
    pub(crate) fn new(recorders: Vec<Box<dyn Recorder>>) -> Recording {
        Recording {
            sink: Box::new(NullSink),
            slots: recorders
                .into_iter()
                .map(|recorder| Slot {
                    recorder,
                    last: None,
                })
                .collect(),
            error: None,
            begun: false,
            finished: false,
        }
    }

    pub(crate) fn has_begun(&self) -> bool {
        self.begun
    }
}

fn with_recording(world: &mut World, f: impl FnOnce(&mut World, &mut Recording)) {
    if world.contains_resource::<Recording>() {
        world.resource_scope(|world, mut rec: bevy_ecs::world::Mut<'_, Recording>| {
            f(world, &mut rec);
        });
    }
}

/// Lets every recorder create its files.
pub(crate) fn begin(world: &mut World) {
    with_recording(world, |world, rec| {
        if rec.begun || rec.error.is_some() {
            return;
        }
        rec.begun = true;
        for slot in &mut rec.slots {
            if let Err(e) = slot.recorder.begin(world, rec.sink.as_mut()) {
                rec.error = Some(e);
                return;
            }
        }
    });
}

/// Records whatever is due at `tick` (completed ticks); `force` records every recorder
/// regardless of cadence, unless it already recorded this tick.
pub(crate) fn record_at(world: &mut World, tick: u64, force: bool) {
    with_recording(world, |world, rec| {
        if rec.error.is_some() {
            return;
        }
        for slot in &mut rec.slots {
            if slot.last == Some(tick) {
                continue;
            }
            let due = force
                || match slot.recorder.cadence() {
                    Cadence::Every(n) => tick.is_multiple_of(n.max(1)),
                    Cadence::Final => false,
                };
            if !due {
                continue;
            }
            slot.last = Some(tick);
            if let Err(e) = slot.recorder.record(world, tick, rec.sink.as_mut()) {
                rec.error = Some(e);
                return;
            }
        }
    });
}

/// Lets every recorder write what it still holds, then completes the sink's files. Runs
/// every step even after an error, so that a failed run keeps what it recorded; returns the
/// first error. Only the first call does anything.
pub(crate) fn finish(world: &mut World, tick: u64) -> Result<(), Error> {
    let mut result = Ok(());
    with_recording(world, |world, rec| {
        if rec.finished {
            return;
        }
        rec.finished = true;
        let mut first = rec.error.take();
        for slot in &mut rec.slots {
            if let Err(e) = slot.recorder.finish(world, tick, rec.sink.as_mut()) {
                first.get_or_insert(e);
            }
        }
        if let Err(e) = rec.sink.finish() {
            first.get_or_insert(e);
        }
        if let Some(e) = first {
            result = Err(e);
        }
    });
    result
}

/// Lets every recorder add to the summary.
pub(crate) fn summarize(world: &mut World, summary: &mut RunSummary) {
    with_recording(world, |world, rec| {
        for slot in &rec.slots {
            slot.recorder.summarize(world, summary);
        }
    });
}

/// The Output step: what is due after the tick that just ran.
pub(crate) fn record_output(world: &mut World) {
    let completed = world.resource::<Tick>().0 + 1;
    record_at(world, completed, false);
}
