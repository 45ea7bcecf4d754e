//! Messaging outputs in the run folder: `messages.csv` (streamed by a background thread),
//! `comm_graph.dot` and `comm_degree.csv` (who actually talked), and `events.csv` (the
//! journal). Opened and closed by the run; the simulation never waits on the disk unless
//! the writer falls far behind.

use super::bus::LogLink;
use super::channel::{MessageEvent, Outcome};
use super::graph::{summarize, undirected};
use super::{Buses, CommsSettings};
use crate::error::Error;
use crate::events::Journal;
use crate::record::write_atomic;
use bevy_ecs::prelude::{Resource, World};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;

/// Files these recorders may write, for the manifest.
pub(crate) const RECORDED_FILES: [&str; 4] = [
    "messages.csv",
    "comm_graph.dot",
    "comm_degree.csv",
    "events.csv",
];

/// Batches in flight to the writer (one per bus per tick).
const BATCHES: usize = 64;

#[derive(Resource)]
struct MessageWriter {
    handle: JoinHandle<Result<(), Error>>,
}

/// Starts the outputs the scenario asks for. Called once the run folder exists.
pub(crate) fn open_outputs(world: &mut World, dir: &Path) -> Result<(), Error> {
    let wants_log = world
        .get_resource::<CommsSettings>()
        .is_some_and(|s| s.0.record.messages);
    let Some(buses) = world.get_resource::<Buses>().cloned() else {
        return Ok(());
    };
    if !wants_log || buses.0.is_empty() {
        return Ok(());
    }
    let partial = dir.join("messages.csv.partial");
    let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
    let (tx, rx) = bounded::<Vec<MessageEvent>>(BATCHES);
    let (back_tx, back_rx) = unbounded::<Vec<MessageEvent>>();
    let done = dir.join("messages.csv");
    let handle = std::thread::Builder::new()
        .name("agora-messages".into())
        .spawn(move || write_messages(file, &partial, &done, &rx, &back_tx))
        .map_err(|e| Error::io("message writer thread", e))?;
    let link = LogLink {
        rows: tx,
        recycled: back_rx,
    };
    for b in &buses.0 {
        (b.attach_log)(world, Some(link.clone()));
    }
    world.insert_resource(MessageWriter { handle });
    Ok(())
}

fn write_messages(
    file: File,
    partial: &Path,
    done: &Path,
    rx: &Receiver<Vec<MessageEvent>>,
    back: &Sender<Vec<MessageEvent>>,
) -> Result<(), Error> {
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let io = |e| Error::io(partial, e);
    w.write_all(b"tick,sent,from,to,performative,conversation,seq,cast,status,reason\n")
        .map_err(io)?;
    let mut line = String::with_capacity(128);
    for mut batch in rx.iter() {
        for ev in &batch {
            line.clear();
            let (status, reason) = match ev.outcome {
                Outcome::Delivered => ("delivered", ""),
                Outcome::Dropped(r) => ("dropped", r.name()),
            };
            let _ = writeln!(
                line,
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
            w.write_all(line.as_bytes()).map_err(io)?;
        }
        batch.clear();
        let _ = back.send(batch);
    }
    w.flush().map_err(io)?;
    drop(w);
    std::fs::rename(partial, done).map_err(|e| Error::io(done, e))
}

/// Completes every messaging output: stops the message writer (after the last batch) and
/// writes the communication graph and the journal.
pub(crate) fn close_outputs(world: &mut World, dir: &Path) -> Result<(), Error> {
    let mut result = Ok(());
    if let Some(buses) = world.get_resource::<Buses>().cloned() {
        for b in &buses.0 {
            (b.attach_log)(world, None);
        }
    }
    if let Some(writer) = world.remove_resource::<MessageWriter>() {
        result = writer.handle.join().unwrap_or_else(|_| {
            Err(Error::Run {
                tick: 0,
                message: "the message writer panicked".into(),
            })
        });
    }
    if let Some(edges) = super::talk_graph(world) {
        write_graph(dir, &edges)?;
    }
    if let Some(journal) = world.get_resource::<Journal>()
        && !journal.entries().is_empty()
    {
        {
            let mut text = String::from("tick,agent,event,detail\n");
            for e in journal.entries() {
                let detail = e.detail.replace('"', "\"\"");
                let _ = writeln!(text, "{},{},{},\"{detail}\"", e.tick, e.agent, e.kind);
            }
            write_atomic(&dir.join("events.csv"), text.as_bytes())?;
        }
    }
    result
}

fn write_graph(dir: &Path, edges: &[(u32, u32, u64)]) -> Result<(), Error> {
    let mut dot = String::from(
        "// Who delivered messages to whom: edge label = copies delivered over the run.\ndigraph talk {\n",
    );
    for &(a, b, n) in edges {
        let _ = writeln!(dot, "  {a} -> {b} [weight={n}, label={n}];");
    }
    dot.push_str("}\n");
    write_atomic(&dir.join("comm_graph.dot"), dot.as_bytes())?;
    let pairs: Vec<(u32, u32)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
    let summary = summarize(&undirected(&[], &pairs));
    let mut csv = String::from("degree,agents\n");
    for (d, &n) in summary.degree_counts.iter().enumerate() {
        if n > 0 {
            let _ = writeln!(csv, "{d},{n}");
        }
    }
    write_atomic(&dir.join("comm_degree.csv"), csv.as_bytes())
}
