//! Reading `snapshots.csv` into frame-grouped typed columns.

use std::collections::BTreeSet;
use std::path::Path;

use csv::ByteRecord;

use super::ReplayError;
use super::csvio::CsvFile;

const EXPECTED_HEADER: &str = "tick,agent,population,x,y,heading,state";

/// Distinct labels kept for the legend; more than this and the page shows no per-label legend.
pub(super) const MAX_LABELS: usize = 64;

/// All kept snapshot frames as columns, one element per agent row.
///
/// Rows of frame `f` are `frame_starts[f]..frame_starts[f + 1]`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Snapshots {
    /// Tick of each kept frame, increasing.
    pub(super) frame_ticks: Vec<f64>,
    /// Row offset of each frame, plus the total row count at the end.
    pub(super) frame_starts: Vec<u32>,
    /// Agent id of each row; increasing within a frame.
    pub(super) agent: Vec<u32>,
    /// Population index of each row.
    pub(super) population: Vec<u32>,
    /// State label of each row.
    pub(super) state: Vec<u32>,
    /// Position x of each row.
    pub(super) x: Vec<f32>,
    /// Position y of each row.
    pub(super) y: Vec<f32>,
    /// Heading of each row in radians; NaN where the agent has none.
    pub(super) heading: Vec<f32>,
    /// Whether every frame's ids are exactly `0..count` (then the page needs no id column).
    pub(super) ids_are_indices: bool,
    /// Whether any row has a heading.
    pub(super) has_heading: bool,
    /// Distinct state labels, up to [`MAX_LABELS`] (`labels_truncated` says if more exist).
    pub(super) states: BTreeSet<u32>,
    /// Distinct population indices, up to [`MAX_LABELS`].
    pub(super) populations: BTreeSet<u32>,
    /// Whether more than [`MAX_LABELS`] distinct states or populations occur.
    pub(super) labels_truncated: bool,
    /// Bounding box `[min_x, min_y, max_x, max_y]` of all kept positions, if any.
    pub(super) bounds: Option<[f64; 4]>,
}

impl Snapshots {
    /// Number of kept frames.
    pub(super) fn frames(&self) -> usize {
        self.frame_ticks.len()
    }

    /// The largest agent count of any frame.
    pub(super) fn max_agents(&self) -> u32 {
        self.frame_starts
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }
}

fn insert_label(set: &mut BTreeSet<u32>, value: u32, truncated: &mut bool) {
    if set.len() < MAX_LABELS || set.contains(&value) {
        set.insert(value);
    } else {
        *truncated = true;
    }
}

/// One snapshot row as a reader decoded it.
struct Row {
    tick: u64,
    agent: u32,
    population: u32,
    state: u32,
    x: f64,
    y: f64,
    heading: Option<f64>,
}

/// Why [`Builder::push`] refused a row.
enum Refusal {
    /// Rows out of order or a bad value; the message says which.
    Row(String),
    /// More rows than the page's `u32` offsets address.
    TooMany,
}

/// Groups decoded rows into kept frames; both file formats feed it.
struct Builder {
    s: Snapshots,
    stride: u32,
    bounds: [f64; 4],
    current_tick: Option<u64>,
    source_frame: u64,
    keep: bool,
    prev_agent: Option<u32>,
}

impl Builder {
    fn new(stride: u32) -> Self {
        Self {
            s: Snapshots {
                frame_ticks: Vec::new(),
                frame_starts: Vec::new(),
                agent: Vec::new(),
                population: Vec::new(),
                state: Vec::new(),
                x: Vec::new(),
                y: Vec::new(),
                heading: Vec::new(),
                ids_are_indices: true,
                has_heading: false,
                states: BTreeSet::new(),
                populations: BTreeSet::new(),
                labels_truncated: false,
                bounds: None,
            },
            stride,
            bounds: [
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ],
            current_tick: None,
            source_frame: 0,
            keep: false,
            prev_agent: None,
        }
    }

    /// The index the next row gets, which must fit the page's `u32` frame offsets.
    fn row_index(&self) -> Result<u32, Refusal> {
        u32::try_from(self.s.x.len()).map_err(|_| Refusal::TooMany)
    }

    fn push(&mut self, row: Row) -> Result<(), Refusal> {
        let tick = row.tick;
        if self.current_tick != Some(tick) {
            if let Some(last) = self.current_tick {
                if tick < last {
                    return Err(Refusal::Row(format!(
                        "tick {tick} comes after tick {last}; expected rows grouped by increasing tick"
                    )));
                }
                self.source_frame += 1;
            }
            self.current_tick = Some(tick);
            self.prev_agent = None;
            self.keep = self.source_frame.is_multiple_of(u64::from(self.stride));
            if self.keep {
                self.s.frame_ticks.push(tick as f64);
                let start = self.row_index()?;
                self.s.frame_starts.push(start);
            }
        }
        if !self.keep {
            return Ok(());
        }
        let agent = row.agent;
        if let Some(prev) = self.prev_agent.filter(|&p| agent <= p) {
            return Err(Refusal::Row(format!(
                "agent {agent} follows agent {prev} in tick {tick}; expected agent-id order"
            )));
        }
        self.prev_agent = Some(agent);
        let frame_start = self.s.frame_starts.last().copied().unwrap_or(0);
        self.s.ids_are_indices &= agent == self.row_index()? - frame_start;
        let (x, y) = (row.x, row.y);
        for (name, v) in [("x", x), ("y", y)] {
            if !v.is_finite() {
                return Err(Refusal::Row(format!(
                    "column `{name}` must be a finite number"
                )));
            }
        }
        let b = &mut self.bounds;
        *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        let s = &mut self.s;
        s.agent.push(agent);
        s.population.push(row.population);
        s.state.push(row.state);
        s.x.push(x as f32);
        s.y.push(y as f32);
        let heading = row.heading.map_or(f32::NAN, |h| h as f32);
        s.has_heading |= heading.is_finite();
        s.heading.push(heading);
        insert_label(&mut s.states, row.state, &mut s.labels_truncated);
        insert_label(&mut s.populations, row.population, &mut s.labels_truncated);
        Ok(())
    }

    fn finish(mut self) -> Result<Snapshots, Refusal> {
        let end = self.row_index()?;
        self.s.frame_starts.push(end);
        if self.bounds[0].is_finite() {
            self.s.bounds = Some(self.bounds);
        }
        Ok(self.s)
    }
}

/// Reads `path`, keeping every `stride`-th frame (`stride >= 1`) starting with the first.
pub(super) fn read(path: &Path, stride: u32) -> Result<Snapshots, ReplayError> {
    let mut csv = CsvFile::open(path, "the run wrote snapshots")?;
    let col = |name| csv.column(name, EXPECTED_HEADER);
    let [c_tick, c_agent, c_pop, c_x, c_y, c_heading, c_state] = [
        col("tick")?,
        col("agent")?,
        col("population")?,
        col("x")?,
        col("y")?,
        col("heading")?,
        col("state")?,
    ];
    let too_many = |csv: &CsvFile| ReplayError::TooManyRows {
        path: csv.path.clone(),
        max: u64::from(u32::MAX),
    };
    let mut builder = Builder::new(stride);
    let mut record = ByteRecord::new();
    while csv.next(&mut record)? {
        let tick: u64 = csv.uint(&record, c_tick, "a non-negative integer tick")?;
        let agent: u32 = csv.uint(&record, c_agent, "a non-negative integer agent id")?;
        let population: u32 =
            csv.uint(&record, c_pop, "a non-negative integer population index")?;
        let state: u32 = csv.uint(&record, c_state, "a non-negative integer state label")?;
        let position = |c| -> Result<f64, ReplayError> {
            match csv.float(&record, c, "a finite number")? {
                Some(v) if v.is_finite() => Ok(v),
                _ => Err(csv.error_at(
                    &record,
                    format!("column `{}` must be a finite number", csv.headers[c]),
                )),
            }
        };
        let (x, y) = (position(c_x)?, position(c_y)?);
        let heading = csv.float(&record, c_heading, "radians or an empty field")?;
        let row = Row {
            tick,
            agent,
            population,
            state,
            x,
            y,
            heading,
        };
        match builder.push(row) {
            Ok(()) => {}
            Err(Refusal::Row(message)) => return Err(csv.error_at(&record, message)),
            Err(Refusal::TooMany) => return Err(too_many(&csv)),
        }
    }
    builder.finish().map_err(|_| too_many(&csv))
}

/// Layout of `snapshots.bin` (the engine's binary snapshot format, version 1): a 16-byte
/// header (`AGORASNP`, u32 version, u32 record size) and 42-byte little-endian records
/// `u64 tick, u32 agent, u16 population, f64 x, f64 y, f64 heading (NaN: none), u32 state`.
const BIN_MAGIC: &[u8; 8] = b"AGORASNP";
const BIN_VERSION: u32 = 1;
const BIN_RECORD: usize = 42;

/// Reads a binary `snapshots.bin` at `path`, like [`read`]; it is streamed in blocks.
pub(super) fn read_binary(path: &Path, stride: u32) -> Result<Snapshots, ReplayError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ReplayError::MissingFile {
            path: path.to_path_buf(),
            expected: "the run wrote binary snapshots",
        },
        _ => ReplayError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let bad = |offset: u64, message: String| ReplayError::Binary {
        path: path.to_path_buf(),
        offset,
        message,
    };
    let read_err = |source| ReplayError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut header = [0u8; 16];
    r.read_exact(&mut header)
        .map_err(|_| bad(0, "shorter than its 16-byte header".to_owned()))?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if &header[..8] != BIN_MAGIC || word(8) != BIN_VERSION || word(12) as usize != BIN_RECORD {
        return Err(bad(
            0,
            format!(
                "not an Agora snapshot file of version {BIN_VERSION} (expected the header `AGORASNP`, {BIN_VERSION}, {BIN_RECORD})"
            ),
        ));
    }
    let mut builder = Builder::new(stride);
    let mut rec = [0u8; BIN_RECORD];
    let mut offset = 16u64;
    loop {
        match r.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // A clean end reads nothing; a torn record is an error.
                break;
            }
            Err(e) => return Err(read_err(e)),
        }
        let u64_at = |o: usize| u64::from_le_bytes(rec[o..o + 8].try_into().unwrap_or([0; 8]));
        let f64_at = |o: usize| f64::from_bits(u64_at(o));
        let u32_at = |o: usize| u32::from_le_bytes(rec[o..o + 4].try_into().unwrap_or([0; 4]));
        let heading = f64_at(30);
        let row = Row {
            tick: u64_at(0),
            agent: u32_at(8),
            population: u32::from(u16::from_le_bytes([rec[12], rec[13]])),
            x: f64_at(14),
            y: f64_at(22),
            heading: heading.is_finite().then_some(heading),
            state: u32_at(38),
        };
        match builder.push(row) {
            Ok(()) => {}
            Err(Refusal::Row(message)) => {
                return Err(bad(offset, message));
            }
            Err(Refusal::TooMany) => {
                return Err(ReplayError::TooManyRows {
                    path: path.to_path_buf(),
                    max: u64::from(u32::MAX),
                });
            }
        }
        offset += BIN_RECORD as u64;
    }
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if (len - 16) % BIN_RECORD as u64 != 0 {
        return Err(bad(
            offset,
            format!("ends inside a record: {len} bytes is not 16 + a multiple of {BIN_RECORD}"),
        ));
    }
    builder.finish().map_err(|_| ReplayError::TooManyRows {
        path: path.to_path_buf(),
        max: u64::from(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HEADER: &str = "tick,agent,population,x,y,heading,state\n";

    fn read_text(body: &str, stride: u32) -> Result<Snapshots, ReplayError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots.csv");
        fs::write(&path, format!("{HEADER}{body}")).unwrap();
        read(&path, stride)
    }

    #[test]
    fn rows_group_into_frames() {
        let s = read_text(
            "0,0,0,1.5,2,0.5,1\n0,1,1,3,4,,0\n5,0,0,1.6,2.1,0.6,2\n5,1,1,3.1,4.1,,0\n",
            1,
        )
        .unwrap();
        assert_eq!(s.frame_ticks, [0.0, 5.0]);
        assert_eq!(s.frame_starts, [0, 2, 4]);
        assert_eq!(s.x, [1.5, 3.0, 1.6, 3.1]);
        assert_eq!(s.y, [2.0, 4.0, 2.1, 4.1]);
        assert_eq!(s.state, [1, 0, 2, 0]);
        assert_eq!(s.population, [0, 1, 0, 1]);
        assert!(s.heading[0] == 0.5 && s.heading[1].is_nan());
        assert!(s.has_heading && s.ids_are_indices);
        assert_eq!(s.states.iter().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(s.bounds, Some([1.5, 2.0, 3.1, 4.1]));
        assert_eq!((s.frames(), s.max_agents()), (2, 2));
    }

    fn bin_record(tick: u64, agent: u32, pop: u16, x: f64, y: f64, h: f64, state: u32) -> Vec<u8> {
        let mut r = tick.to_le_bytes().to_vec();
        r.extend(agent.to_le_bytes());
        r.extend(pop.to_le_bytes());
        r.extend(x.to_le_bytes());
        r.extend(y.to_le_bytes());
        r.extend(h.to_le_bytes());
        r.extend(state.to_le_bytes());
        r
    }

    #[test]
    fn binary_records_read_like_csv_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots.bin");
        let mut bytes = b"AGORASNP".to_vec();
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(42u32.to_le_bytes());
        for (t, x) in [(0u64, 1.5), (5, 1.6)] {
            bytes.extend(bin_record(t, 0, 0, x, 2.0, 0.5, 1));
            bytes.extend(bin_record(t, 1, 1, 3.0, 4.0, f64::NAN, 0));
        }
        fs::write(&path, &bytes).unwrap();
        let s = read_binary(&path, 1).unwrap();
        assert_eq!(s.frame_ticks, [0.0, 5.0]);
        assert_eq!(s.frame_starts, [0, 2, 4]);
        assert_eq!(s.x, [1.5, 3.0, 1.6, 3.0]);
        assert_eq!(s.population, [0, 1, 0, 1]);
        assert!(s.heading[0] == 0.5 && s.heading[1].is_nan() && s.has_heading);

        bytes.truncate(bytes.len() - 3);
        fs::write(&path, &bytes).unwrap();
        let msg = read_binary(&path, 1).unwrap_err().to_string();
        assert!(msg.contains("ends inside a record"), "{msg}");
        fs::write(&path, b"AGORASNP\x02\0\0\0*\0\0\0").unwrap();
        let msg = read_binary(&path, 1).unwrap_err().to_string();
        assert!(msg.contains("snapshots.bin at byte 0"), "{msg}");
    }

    #[test]
    fn stride_keeps_every_kth_frame_from_the_first() {
        let body: String = (0..7)
            .map(|t| format!("{t},0,0,{t},0,,0\n{t},3,0,0,0,,0\n"))
            .collect();
        let s = read_text(&body, 3).unwrap();
        assert_eq!(s.frame_ticks, [0.0, 3.0, 6.0]);
        assert_eq!(s.x, [0.0, 0.0, 3.0, 0.0, 6.0, 0.0]);
        assert_eq!(s.frame_starts, [0, 2, 4, 6]);
        assert!(!s.ids_are_indices && !s.has_heading);
    }

    #[test]
    fn varying_agent_counts_and_ids() {
        let s = read_text(
            "0,0,0,0,0,,0\n0,1,0,0,0,,0\n1,0,0,0,0,,0\n1,2,0,0,0,,0\n1,7,0,0,0,,0\n",
            1,
        )
        .unwrap();
        assert_eq!(s.frame_starts, [0, 2, 5]);
        assert_eq!(s.agent, [0, 1, 0, 2, 7]);
        assert!(!s.ids_are_indices);
        assert_eq!(s.max_agents(), 3);
    }

    #[test]
    fn empty_snapshots_have_no_frames() {
        let s = read_text("", 1).unwrap();
        assert_eq!((s.frames(), s.max_agents()), (0, 0));
        assert_eq!(s.frame_starts, [0]);
        assert_eq!(s.bounds, None);
    }

    #[test]
    fn label_sets_are_capped() {
        let body: String = (0..100).map(|a| format!("0,{a},0,0,0,,{a}\n")).collect();
        let s = read_text(&body, 1).unwrap();
        assert_eq!(s.states.len(), MAX_LABELS);
        assert!(s.labels_truncated);
        assert_eq!(s.state.len(), 100);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        for (body, needles) in [
            (
                "0,0,0,x,0,,0\n",
                &["snapshots.csv", "line 2", "`x`", "found `x`"][..],
            ),
            ("0,0,0,NaN,0,,0\n", &["line 2", "finite"]),
            ("0,0,0,0,0,,-1\n", &["line 2", "`state`"]),
            ("0,0,0,0,0,up,0\n", &["line 2", "`heading`"]),
            (
                "1,0,0,0,0,,0\n0,0,0,0,0,,0\n",
                &["line 3", "tick 0 comes after tick 1"],
            ),
            (
                "0,1,0,0,0,,0\n0,1,0,0,0,,0\n",
                &["line 3", "agent-id order"],
            ),
            ("0,1,0,0,0\n", &["line 2", "expected 7 fields"]),
        ] {
            let msg = read_text(body, 1).unwrap_err().to_string();
            for n in needles {
                assert!(msg.contains(n), "{body:?}: {msg} lacks {n}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots.csv");
        fs::write(&path, "tick,agent,x,y\n").unwrap();
        let msg = read(&path, 1).unwrap_err().to_string();
        assert!(
            msg.contains("`population`") && msg.contains(EXPECTED_HEADER),
            "{msg}"
        );
    }
}
