//! Per-agent snapshots: every agent's position, heading, population and state label, as CSV
//! (`snapshots.csv`) or as fixed-size little-endian binary records (`snapshots.bin`).
//!
//! CSV is what analysts open without thinking; the binary form exists because formatting
//! floats dominates the cost of large snapshots (see `benches/README.md`, "Recorders": the
//! binary records are written several times faster). Its layout is a flat array of records
//! after a 16-byte header, so one line of numpy reads it:
//!
//! ```text
//! header   8 bytes  b"AGORASNP"
//!          u32      format version (1)
//!          u32      record size in bytes (42)
//! record   u64 tick, u32 agent, u16 population, f64 x, f64 y, f64 heading (NaN: none), u32 state
//! ```
//!
//! ```python
//! dtype = [("tick", "<u8"), ("agent", "<u4"), ("population", "<u2"), ("x", "<f8"),
//!          ("y", "<f8"), ("heading", "<f8"), ("state", "<u4")]
//! rows = numpy.fromfile("snapshots.bin", dtype=dtype, offset=16)
//! ```

use super::Recorder;
use super::sink::{FileId, OutputSink, Rows};
use crate::agent::{AgentId, AgentState, GridCell, Population, Position, Velocity};
use crate::error::Error;
use crate::scenario::SnapshotFormat;
use bevy_ecs::prelude::World;
use bevy_ecs::query::QueryState;
use std::io::Write as _;

/// First bytes of `snapshots.bin`.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"AGORASNP";
/// Version of the `snapshots.bin` layout.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Size of one `snapshots.bin` record in bytes.
pub const SNAPSHOT_RECORD_BYTES: usize = 42;
/// Size of the `snapshots.bin` header in bytes.
pub const SNAPSHOT_HEADER_BYTES: usize = 16;
/// The header line of `snapshots.csv`.
pub const SNAPSHOT_CSV_HEADER: &str = "tick,agent,population,x,y,heading,state\n";

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

type SnapshotQuery = (
    &'static AgentId,
    &'static Population,
    Option<&'static Position>,
    Option<&'static GridCell>,
    Option<&'static Velocity>,
    Option<&'static AgentState>,
);

fn collect_rows(q: &mut QueryState<SnapshotQuery>, world: &World, rows: &mut Vec<SnapshotRow>) {
    rows.extend(q.iter(world).map(|(id, pop, pos, cell, vel, state)| {
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
    }));
    if !rows.is_sorted_by_key(|r| r.agent) {
        rows.sort_unstable_by_key(|r| r.agent);
    }
}

/// Every agent's row, in id order.
pub fn snapshot_rows(world: &mut World) -> Vec<SnapshotRow> {
    let mut q = world.query::<SnapshotQuery>();
    let mut rows = Vec::new();
    collect_rows(&mut q, world, &mut rows);
    rows
}

/// One snapshot on its way to the writer.
struct Snapshot {
    tick: u64,
    rows: Vec<SnapshotRow>,
    format: SnapshotFormat,
}

/// Appends one snapshot's rows to `buf` in `format`: CSV lines without the header, or binary
/// records without the file header. This is what the snapshot recorder's writer thread does
/// with each snapshot; tools converting between the formats can use it too.
pub fn encode_snapshot(tick: u64, rows: &[SnapshotRow], format: SnapshotFormat, buf: &mut Vec<u8>) {
    match format {
        SnapshotFormat::Csv => {
            buf.reserve(rows.len() * 64);
            for r in rows {
                let _ = write!(buf, "{tick},{},{},{},{},", r.agent, r.population, r.x, r.y);
                if let Some(h) = r.heading {
                    let _ = write!(buf, "{h}");
                }
                let _ = writeln!(buf, ",{}", r.state);
            }
        }
        SnapshotFormat::Binary => {
            buf.reserve(rows.len() * SNAPSHOT_RECORD_BYTES);
            let tick = tick.to_le_bytes();
            for r in rows {
                buf.extend_from_slice(&tick);
                buf.extend_from_slice(&r.agent.to_le_bytes());
                buf.extend_from_slice(&r.population.to_le_bytes());
                buf.extend_from_slice(&r.x.to_le_bytes());
                buf.extend_from_slice(&r.y.to_le_bytes());
                buf.extend_from_slice(&r.heading.unwrap_or(f64::NAN).to_le_bytes());
                buf.extend_from_slice(&r.state.to_le_bytes());
            }
        }
    }
}

impl Rows for Snapshot {
    fn encode(&self, buf: &mut Vec<u8>) {
        encode_snapshot(self.tick, &self.rows, self.format, buf);
    }
}

/// Writes `snapshots.csv` or `snapshots.bin` every `every` ticks.
pub(crate) struct SnapshotRecorder {
    every: u64,
    format: SnapshotFormat,
    file: Option<FileId>,
    query: Option<QueryState<SnapshotQuery>>,
    /// Rows of the last snapshot, to size the next one's buffer in one allocation.
    last_len: usize,
}

impl SnapshotRecorder {
    pub(crate) fn new(every: u64, format: SnapshotFormat) -> SnapshotRecorder {
        SnapshotRecorder {
            every,
            format,
            file: None,
            query: None,
            last_len: 0,
        }
    }
}

impl Recorder for SnapshotRecorder {
    fn name(&self) -> &str {
        "snapshots"
    }

    fn cadence(&self) -> super::Cadence {
        super::Cadence::Every(self.every)
    }

    fn begin(&mut self, world: &mut World, out: &mut dyn OutputSink) -> Result<(), Error> {
        self.query = Some(world.query::<SnapshotQuery>());
        let (name, header) = match self.format {
            SnapshotFormat::Csv => ("snapshots.csv", SNAPSHOT_CSV_HEADER.as_bytes().to_vec()),
            SnapshotFormat::Binary => {
                let mut h = SNAPSHOT_MAGIC.to_vec();
                h.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
                h.extend_from_slice(&(SNAPSHOT_RECORD_BYTES as u32).to_le_bytes());
                ("snapshots.bin", h)
            }
        };
        self.file = Some(out.create(name, header)?);
        Ok(())
    }

    fn record(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let (Some(file), Some(query)) = (self.file, self.query.as_mut()) else {
            return Ok(());
        };
        let mut rows = Vec::with_capacity(self.last_len);
        collect_rows(query, world, &mut rows);
        self.last_len = rows.len();
        out.write(
            file,
            Box::new(Snapshot {
                tick,
                rows,
                format: self.format,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<SnapshotRow> {
        vec![
            SnapshotRow {
                agent: 0,
                population: 1,
                x: 1.5,
                y: -2.0,
                heading: Some(0.25),
                state: 3,
            },
            SnapshotRow {
                agent: 1,
                population: 0,
                x: 0.1,
                y: 7.0,
                heading: None,
                state: 0,
            },
        ]
    }

    #[test]
    fn csv_rows_match_the_documented_format() {
        let mut buf = Vec::new();
        Snapshot {
            tick: 4,
            rows: rows(),
            format: SnapshotFormat::Csv,
        }
        .encode(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "4,0,1,1.5,-2,0.25,3\n4,1,0,0.1,7,,0\n"
        );
    }

    #[test]
    fn binary_records_decode_field_by_field() {
        let mut buf = Vec::new();
        Snapshot {
            tick: 9,
            rows: rows(),
            format: SnapshotFormat::Binary,
        }
        .encode(&mut buf);
        assert_eq!(buf.len(), 2 * SNAPSHOT_RECORD_BYTES);
        let r = &buf[SNAPSHOT_RECORD_BYTES..];
        let f64_at = |o: usize| f64::from_le_bytes(r[o..o + 8].try_into().unwrap());
        assert_eq!(u64::from_le_bytes(r[0..8].try_into().unwrap()), 9);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 1);
        assert_eq!(u16::from_le_bytes(r[12..14].try_into().unwrap()), 0);
        assert_eq!((f64_at(14), f64_at(22)), (0.1, 7.0));
        assert!(f64_at(30).is_nan());
        assert_eq!(u32::from_le_bytes(r[38..42].try_into().unwrap()), 0);
    }
}
