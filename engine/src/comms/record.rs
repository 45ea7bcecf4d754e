//! Messaging outputs, written through the engine's recorders: `messages.csv` (every copy
//! delivered or dropped, tick by tick) and, at the end of the run, `comm_graph.dot` and
//! `comm_degree.csv` (who actually talked).

use super::Buses;
use super::channel::{MessageEvent, Outcome};
use super::graph::{summarize, undirected};
use crate::error::Error;
use crate::record::{Cadence, FileId, OutputSink, Recorder, Rows};
use bevy_ecs::prelude::World;
use std::io::Write as _;

/// The header of `messages.csv`.
pub const MESSAGES_CSV_HEADER: &str =
    "tick,sent,from,to,performative,conversation,seq,cast,status,reason\n";

/// One tick's message events, formatted on the sink's writer thread.
struct MessageRows(Vec<MessageEvent>);

impl Rows for MessageRows {
    fn encode(&self, buf: &mut Vec<u8>) {
        for ev in &self.0 {
            let (status, reason) = match ev.outcome {
                Outcome::Delivered => ("delivered", ""),
                Outcome::Dropped(r) => ("dropped", r.name()),
            };
            let _ = writeln!(
                buf,
                "{},{},{},{},{},{},{},{},{status},{reason}",
                ev.tick,
                ev.sent,
                ev.sender,
                ev.receiver,
                ev.performative.name(),
                ev.conversation.0,
                ev.seq,
                ev.cast.name(),
            );
        }
    }
}

/// Writes `messages.csv`: every bus's log rows of the tick, bus by bus in registration order,
/// each in the order the channel produced them.
#[derive(Default)]
pub(crate) struct MessagesRecorder {
    file: Option<FileId>,
}

impl Recorder for MessagesRecorder {
    fn name(&self) -> &str {
        "messages"
    }

    fn cadence(&self) -> Cadence {
        Cadence::Every(1)
    }

    fn begin(&mut self, _world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
        self.file = Some(out.create("messages.csv", MESSAGES_CSV_HEADER.as_bytes().to_vec())?);
        Ok(())
    }

    fn record(
        &mut self,
        world: &mut World,
        _tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let Some(buses) = world.get_resource::<Buses>().cloned() else {
            return Ok(());
        };
        let mut rows = Vec::new();
        for b in &buses.0 {
            (b.take_log)(world, &mut rows);
        }
        match self.file {
            Some(file) if !rows.is_empty() => out.write(file, Box::new(MessageRows(rows))),
            _ => Ok(()),
        }
    }

    /// After a failure the failed tick's rows are still in the channels: keep them.
    fn finish(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        self.record(world, tick, out)
    }
}

/// Writes the communication graph of who delivered to whom over the run: `comm_graph.dot`
/// (edges labelled with copies delivered) and `comm_degree.csv` (the degree distribution of
/// its undirected version).
#[derive(Default)]
pub(crate) struct TalkGraphRecorder {
    files: Option<(FileId, FileId)>,
}

impl Recorder for TalkGraphRecorder {
    fn name(&self) -> &str {
        "comm_graph"
    }

    fn cadence(&self) -> Cadence {
        Cadence::Final
    }

    fn begin(&mut self, _world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
        let dot = out.create(
            "comm_graph.dot",
            b"// Who delivered messages to whom: edge label = copies delivered over the run.\n"
                .to_vec(),
        )?;
        let degrees = out.create("comm_degree.csv", b"degree,agents\n".to_vec())?;
        self.files = Some((dot, degrees));
        Ok(())
    }

    fn record(
        &mut self,
        _world: &mut World,
        _tick: u64,
        _out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// The graph is written once, at the end (also after a failure: what was said until
    /// then).
    fn finish(
        &mut self,
        world: &mut World,
        _tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let Some((dot_file, degree_file)) = self.files.take() else {
            return Ok(());
        };
        let edges = super::talk_graph(world).unwrap_or_default();
        let mut dot = String::from("digraph talk {\n");
        for &(a, b, n) in &edges {
            dot.push_str(&format!("  {a} -> {b} [weight={n}, label={n}];\n"));
        }
        dot.push_str("}\n");
        out.write(dot_file, Box::new(dot))?;
        let pairs: Vec<(u32, u32)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
        let summary = summarize(&undirected(&[], &pairs));
        let mut csv = String::new();
        for (d, &n) in summary.degree_counts.iter().enumerate() {
            if n > 0 {
                csv.push_str(&format!("{d},{n}\n"));
            }
        }
        out.write(degree_file, Box::new(csv))
    }
}
