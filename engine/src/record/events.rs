//! Event logs: subsystems (conflict resolution, allocation, messaging) push typed events into
//! an [`EventLog`] resource during the tick; a recorder drains it at the end of the tick into
//! `events_<kind>.csv`. A log that the scenario does not ask for (`record: (events: [...])`)
//! is disabled: pushing costs one branch and keeps nothing.

use super::sink::{FileId, OutputSink, Rows};
use super::{Cadence, Recorder};
use crate::error::Error;
use crate::sim::{RunSummary, SimBuilder};
use bevy_ecs::prelude::{Resource, World};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserializer, Serialize};
use std::marker::PhantomData;

/// An event type that can be logged: a flat struct (numbers, strings, booleans, options of
/// those) whose fields become the CSV columns after `tick`.
///
/// ```
/// use agora_engine::LogEvent;
/// use serde::{Deserialize, Serialize};
///
/// /// One conflict: who wanted what, who won.
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Conflict {
///     resource: u32,
///     winner: u32,
///     losers: u32,
/// }
///
/// impl LogEvent for Conflict {
///     const KIND: &'static str = "conflicts";
/// }
/// // In a behavior's `build`: `sim.event_log::<Conflict>();`
/// // in a system: `log.push(tick.0, Conflict { .. })` with `mut log: ResMut<EventLog<Conflict>>`.
/// ```
///
/// `Deserialize` is required only so that the column names can be read from the type before
/// any event exists (the header of a log with no events is still complete).
pub trait LogEvent: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The log's name: scenarios enable it with `record: (events: ["<KIND>"])`, and it is
    /// written to `events_<KIND>.csv`. Stable, unique, snake_case.
    const KIND: &'static str;
}

/// The events of one kind pushed since the last Record phase.
///
/// Push in a deterministic order (for example by agent id): the file keeps the push order.
#[derive(Resource, Debug)]
pub struct EventLog<E: LogEvent> {
    enabled: bool,
    pending: Vec<(u64, E)>,
    total: u64,
}

impl<E: LogEvent> EventLog<E> {
    fn new(enabled: bool) -> EventLog<E> {
        EventLog {
            enabled,
            pending: Vec::new(),
            total: 0,
        }
    }

    /// Records `event` as happening during tick `tick` (the executing [`crate::Tick`]'s
    /// value: an event of the first step has tick 0, and its effect shows in the state
    /// recorded as tick 1). Does nothing when the log is disabled.
    #[inline]
    pub fn push(&mut self, tick: u64, event: E) {
        if self.enabled {
            self.pending.push((tick, event));
            self.total += 1;
        }
    }

    /// Whether the scenario records this log; building costly events can be skipped when it
    /// does not.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Events pushed so far in this run.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl SimBuilder<'_> {
    /// Declares the event log of `E`: inserts the [`EventLog<E>`] resource and, when the
    /// scenario lists `E::KIND` in `record.events`, the recorder that writes
    /// `events_<KIND>.csv`. Safe to call from several plug-ins; the first call wins.
    pub fn event_log<E: LogEvent>(&mut self) -> &mut Self {
        if self.world().contains_resource::<EventLog<E>>() {
            return self;
        }
        let enabled = self.scenario().record.events.iter().any(|k| k == E::KIND);
        self.event_kinds.push(E::KIND);
        self.insert_resource(EventLog::<E>::new(enabled));
        if enabled {
            self.add_recorder(EventLogRecorder::<E> {
                file: None,
                _event: PhantomData,
            });
        }
        self
    }
}

struct Batch<E>(Vec<(u64, E)>);

impl<E: LogEvent> Rows for Batch<E> {
    fn encode(&self, buf: &mut Vec<u8>) {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(buf);
        for (tick, e) in &self.0 {
            // A field the CSV serializer cannot flatten (a nested struct) leaves the row
            // short; the header, checked at `begin`, already rules such types out.
            let _ = w.write_field(tick.to_string());
            let _ = w.serialize(e);
        }
        let _ = w.flush();
    }
}

struct EventLogRecorder<E> {
    file: Option<FileId>,
    _event: PhantomData<fn() -> E>,
}

impl<E: LogEvent> Recorder for EventLogRecorder<E> {
    fn name(&self) -> &str {
        E::KIND
    }

    fn cadence(&self) -> Cadence {
        Cadence::Every(1)
    }

    fn begin(&mut self, _world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
        let fields = field_names::<E>().ok_or_else(|| {
            Error::Build(format!(
                "event log `{}`: the event type must be a struct with named fields",
                E::KIND
            ))
        })?;
        let mut header = String::from("tick");
        for f in fields {
            header.push(',');
            header.push_str(f);
        }
        header.push('\n');
        self.file = Some(out.create(&format!("events_{}.csv", E::KIND), header.into_bytes())?);
        Ok(())
    }

    fn record(
        &mut self,
        world: &mut World,
        _tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let Some(file) = self.file else {
            return Ok(());
        };
        let mut log = world.resource_mut::<EventLog<E>>();
        if log.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut log.pending);
        out.write(file, Box::new(Batch(batch)))
    }

    /// After a failure the events of the failed tick are still pending: keep them.
    fn finish(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        self.record(world, tick, out)
    }

    fn summarize(&self, world: &World, summary: &mut RunSummary) {
        let total = world.get_resource::<EventLog<E>>().map_or(0, |l| l.total);
        summary.events.insert(E::KIND.to_owned(), total);
    }
}

/// The serialized field names of struct `E`, read from its `Deserialize` impl (which names
/// them to the deserializer before reading anything); `None` if `E` is not a struct.
pub(crate) fn field_names<E: DeserializeOwned>() -> Option<&'static [&'static str]> {
    struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(fields);
            Err(de::Error::custom("fields read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields = None;
    let _ = E::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Claim {
        agent: u32,
        #[serde(rename = "task_id")]
        task: u64,
        note: String,
        weight: Option<f64>,
    }

    impl LogEvent for Claim {
        const KIND: &'static str = "claims";
    }

    #[test]
    fn field_names_follow_serde_renames() {
        assert_eq!(
            field_names::<Claim>().unwrap(),
            ["agent", "task_id", "note", "weight"]
        );
        assert!(field_names::<u32>().is_none());
        assert!(field_names::<(u32, u32)>().is_none());
    }

    #[test]
    fn rows_are_csv_with_the_tick_first() {
        let batch = Batch(vec![
            (
                3,
                Claim {
                    agent: 1,
                    task: 9,
                    note: "a, b".into(),
                    weight: None,
                },
            ),
            (
                4,
                Claim {
                    agent: 2,
                    task: 10,
                    note: "x".into(),
                    weight: Some(0.5),
                },
            ),
        ]);
        let mut buf = Vec::new();
        batch.encode(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "3,1,9,\"a, b\",\n4,2,10,x,0.5\n"
        );
    }

    #[test]
    fn a_disabled_log_keeps_nothing() {
        let mut log = EventLog::<Claim>::new(false);
        log.push(
            0,
            Claim {
                agent: 0,
                task: 0,
                note: String::new(),
                weight: None,
            },
        );
        assert!(log.pending.is_empty() && log.total() == 0 && !log.is_enabled());
    }
}
