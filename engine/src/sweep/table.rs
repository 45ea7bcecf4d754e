//! The `results.csv` format: one row per finished run.
//!
//! Columns: `run_id`, one per swept path (named by the path), `variant`, `seed`,
//! `replication`, `status` (`ok`/`failed`), `ticks` (ticks executed), `digest` (the world
//! digest at the end, 16 hex digits, as `agora run` prints it), `wall_time_s`, `error`, then
//! one per metric (its final value). `ticks`, `digest` and the metrics are empty for a failed
//! run.
//!
//! Every row is exactly one physical line: line breaks inside values (panic messages, error
//! chains) are written as the two characters `\n` / `\r`. That is what makes crash recovery
//! simple and exact: a row is appended with a single `write` call, so after a crash the file
//! can only end in a partial last line, which [`repair_tail`] cuts off.

use super::expand::{RunSpec, SweepPlan};
use super::hash::{canonical_json, hex16};
use super::runner::RunOutcome;
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// File name of the results table in a sweep directory.
pub const RESULTS_FILE: &str = "results.csv";

/// The columns between the swept parameters and the metrics.
pub const FIXED_COLUMNS: [&str; 8] = [
    "variant",
    "seed",
    "replication",
    "status",
    "ticks",
    "digest",
    "wall_time_s",
    "error",
];

/// Index of `status` within [`FIXED_COLUMNS`].
const STATUS_OFFSET: usize = 3;
/// Index of `digest` within [`FIXED_COLUMNS`].
const DIGEST_OFFSET: usize = 5;
/// Index of `wall_time_s` within [`FIXED_COLUMNS`].
const WALL_OFFSET: usize = 6;
/// Index of `error` within [`FIXED_COLUMNS`].
const ERROR_OFFSET: usize = 7;

/// Why a results table could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// I/O on the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The CSV is malformed.
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// The header is not a results header.
    #[error("{path}: not a results table: {message}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// Two columns would have the same name.
    #[error("column `{0}` would appear twice in results.csv; rename the metric or path")]
    ColumnClash(String),
}

/// Run status as written in the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The executor returned metrics.
    Ok,
    /// The executor returned an error or panicked.
    Failed,
}

impl Status {
    /// The column text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
        }
    }
}

/// Column layout of a results table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Swept paths, as written in the header.
    pub params: Vec<String>,
    /// Metric columns.
    pub metrics: Vec<String>,
}

impl Layout {
    /// The layout for a plan and the caller's metric list; rejects names that would collide.
    pub fn new(plan: &SweepPlan, metrics: &[String]) -> Result<Layout, TableError> {
        let layout = Layout {
            params: plan.columns.iter().map(ToString::to_string).collect(),
            metrics: metrics.to_vec(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for name in layout.header() {
            if name.is_empty() || name.contains(['\n', '\r']) {
                return Err(TableError::ColumnClash(name));
            }
            if !seen.insert(name.clone()) {
                return Err(TableError::ColumnClash(name));
            }
        }
        Ok(layout)
    }

    /// Recovers the layout from a header row.
    pub fn from_header(path: &Path, header: &[String]) -> Result<Layout, TableError> {
        let bad = |message: &str| TableError::BadHeader {
            path: path.to_owned(),
            message: message.to_owned(),
        };
        if header.first().map(String::as_str) != Some("run_id") {
            return Err(bad("the first column is not run_id"));
        }
        let v = header
            .iter()
            .position(|h| h == "variant")
            .ok_or_else(|| bad("no variant column"))?;
        let fixed: Vec<&str> = header
            .iter()
            .skip(v)
            .take(FIXED_COLUMNS.len())
            .map(String::as_str)
            .collect();
        if fixed != FIXED_COLUMNS {
            return Err(bad(
                "expected variant,seed,replication,status,ticks,digest,wall_time_s,error after the \
                 parameters",
            ));
        }
        Ok(Layout {
            params: header[1..v].to_vec(),
            metrics: header[v + FIXED_COLUMNS.len()..].to_vec(),
        })
    }

    /// The full header.
    pub fn header(&self) -> Vec<String> {
        let mut h =
            Vec::with_capacity(1 + self.params.len() + FIXED_COLUMNS.len() + self.metrics.len());
        h.push("run_id".to_owned());
        h.extend(self.params.iter().cloned());
        h.extend(FIXED_COLUMNS.iter().map(|s| (*s).to_owned()));
        h.extend(self.metrics.iter().cloned());
        h
    }

    /// Column index of `variant`.
    pub fn variant_col(&self) -> usize {
        1 + self.params.len()
    }

    /// Column index of `status`.
    pub fn status_col(&self) -> usize {
        self.variant_col() + STATUS_OFFSET
    }

    /// Column index of `digest`.
    pub fn digest_col(&self) -> usize {
        self.variant_col() + DIGEST_OFFSET
    }

    /// Column index of `wall_time_s`.
    pub fn wall_col(&self) -> usize {
        self.variant_col() + WALL_OFFSET
    }

    /// Column index of `error`.
    pub fn error_col(&self) -> usize {
        self.variant_col() + ERROR_OFFSET
    }

    /// Column index of the first metric.
    pub fn first_metric_col(&self) -> usize {
        self.variant_col() + FIXED_COLUMNS.len()
    }
}

/// Text of a swept value in a cell: strings as they are, anything else as canonical JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => canonical_json(other),
    }
}

fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        text.replace('\r', "\\r").replace('\n', "\\n").into()
    } else {
        text.into()
    }
}

/// Formats rows into a reusable buffer (RFC 4180: fields with a comma, quote or line break
/// are quoted, quotes doubled; line breaks are escaped first, see the module docs).
#[derive(Debug, Default)]
pub struct RowEncoder {
    buf: Vec<u8>,
    fields: Vec<String>,
}

fn push_field(buf: &mut Vec<u8>, field: &str) {
    let field = one_line(field);
    if field.contains([',', '"']) {
        buf.push(b'"');
        for b in field.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(field.as_bytes());
    }
}

impl RowEncoder {
    /// An encoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes a record of plain strings (a header, or a row read from another table).
    pub fn encode_strings<S: AsRef<str>>(&mut self, record: &[S]) -> &[u8] {
        self.buf.clear();
        for (i, field) in record.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_field(&mut self.buf, field.as_ref());
        }
        if record.len() == 1 && record[0].as_ref().is_empty() {
            // A lone empty field would be an empty line, which readers skip.
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.push(b'\n');
        &self.buf
    }

    /// Encodes the row of a finished run: `Ok` with its outcome, or `Err` with its message.
    /// Metrics not in the layout are ignored; missing ones are left empty. Numbers use Rust's
    /// shortest round-trip formatting (`NaN`, `inf`).
    pub fn encode_run(
        &mut self,
        layout: &Layout,
        spec: &RunSpec,
        result: Result<&RunOutcome, &str>,
        wall_time_s: f64,
    ) -> &[u8] {
        let (status, error, outcome) = match result {
            Ok(o) => (Status::Ok, "", Some(o)),
            Err(e) => (Status::Failed, e, None),
        };
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        fields.push(spec.run_id.clone());
        fields.extend(spec.params.iter().map(|(_, v)| value_text(v)));
        fields.push(spec.variant.clone().unwrap_or_default());
        fields.push(spec.seed.to_string());
        fields.push(spec.replication.to_string());
        fields.push(status.as_str().to_owned());
        fields.push(
            outcome
                .and_then(|o| o.ticks)
                .map_or_else(String::new, |t| t.to_string()),
        );
        fields.push(
            outcome
                .and_then(|o| o.digest)
                .map_or_else(String::new, hex16),
        );
        fields.push(format!("{wall_time_s:.6}"));
        fields.push(error.to_owned());
        for m in &layout.metrics {
            fields.push(
                outcome
                    .and_then(|o| o.metrics.get(m))
                    .map_or_else(String::new, |x| x.to_string()),
            );
        }
        self.encode_strings(&fields);
        self.fields = fields;
        &self.buf
    }
}

/// A whole results table in memory (for merge and report, not for the runner).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The column layout.
    pub layout: Layout,
    /// Rows in file order.
    pub rows: Vec<Vec<String>>,
}

/// Reads a results table. A partial last line (from a crash) is ignored.
pub fn read_table(path: &Path) -> Result<Table, TableError> {
    let io_err = |source| TableError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = std::fs::read(path).map_err(io_err)?;
    if let Some(end) = complete_len(&bytes) {
        bytes.truncate(end);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let csv_err = |e: csv::Error| TableError::Csv {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_owned)
        .collect();
    let layout = Layout::from_header(path, &header)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(record.map_err(csv_err)?.iter().map(str::to_owned).collect());
    }
    Ok(Table { layout, rows })
}

/// Length of the prefix of `bytes` made of complete lines, if the last line is partial.
fn complete_len(bytes: &[u8]) -> Option<usize> {
    match bytes.last() {
        None | Some(b'\n') => None,
        Some(_) => Some(bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)),
    }
}

/// Cuts a partial last line off `file` (left by a crash mid-write). Returns the number of
/// bytes removed.
pub fn repair_tail(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(0);
    }
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(p) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            break start + p as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    file.set_len(keep)?;
    file.seek(SeekFrom::End(0))?;
    Ok(len - keep)
}

/// Whether two rows hold the same result, ignoring `wall_time_s`.
pub fn same_result(layout: &Layout, a: &[String], b: &[String]) -> bool {
    let wall = layout.wall_col();
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| i == wall || x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn repair_cuts_only_a_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        for (content, expect) in [
            ("a,b\n1,2\n", "a,b\n1,2\n"),
            ("a,b\n1,2\n3,", "a,b\n1,2\n"),
            ("a,b", ""),
            ("", ""),
        ] {
            std::fs::write(&p, content).unwrap();
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap();
            let cut = repair_tail(&mut f).unwrap();
            f.write_all(b"").unwrap();
            drop(f);
            assert_eq!(std::fs::read_to_string(&p).unwrap(), expect);
            assert_eq!(cut as usize, content.len() - expect.len());
        }
        // A partial line longer than the scan chunk.
        let long = format!("h\n{}", "x".repeat(200_000));
        std::fs::write(&p, &long).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        repair_tail(&mut f).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "h\n");
    }

    #[test]
    fn rows_are_single_lines_and_read_back() {
        let layout = Layout {
            params: vec!["a".into()],
            metrics: vec!["m1".into(), "m2".into()],
        };
        let spec = RunSpec {
            index: 0,
            cell: 0,
            run_id: "00000000000000ab".into(),
            seed: 3,
            replication: 1,
            params: vec![(
                super::super::overrides::FieldPath::parse("a").unwrap(),
                Value::from("x,y"),
            )],
            variant: Some("v".into()),
            variant_overrides: vec![],
        };
        let mut enc = RowEncoder::new();
        let mut file = enc.encode_strings(&layout.header()).to_vec();
        let row = enc
            .encode_run(&layout, &spec, Err("boom\nat line 2, \"quoted\""), 0.25)
            .to_vec();
        let outcome = RunOutcome {
            metrics: [("m2".to_owned(), 0.5), ("extra".to_owned(), 1.0)].into(),
            ticks: Some(9),
            digest: Some(0xab),
        };
        let ok_row = enc.encode_run(&layout, &spec, Ok(&outcome), 1.5).to_vec();
        assert_eq!(row.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(*row.last().unwrap(), b'\n');
        file.extend_from_slice(&row);
        file.extend_from_slice(&ok_row);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RESULTS_FILE);
        std::fs::write(&p, &file).unwrap();
        let t = read_table(&p).unwrap();
        assert_eq!(t.layout, layout);
        assert_eq!(
            t.rows,
            [
                [
                    "00000000000000ab",
                    "x,y",
                    "v",
                    "3",
                    "1",
                    "failed",
                    "",
                    "",
                    "0.250000",
                    "boom\\nat line 2, \"quoted\"",
                    "",
                    ""
                ]
                .map(String::from)
                .to_vec(),
                [
                    "00000000000000ab",
                    "x,y",
                    "v",
                    "3",
                    "1",
                    "ok",
                    "9",
                    "00000000000000ab",
                    "1.500000",
                    "",
                    "",
                    "0.5"
                ]
                .map(String::from)
                .to_vec()
            ]
        );
    }

    #[test]
    fn header_parsing_finds_params_and_metrics() {
        let h: Vec<String> =
            "run_id,x,y.z,variant,seed,replication,status,ticks,digest,wall_time_s,error,m"
                .split(',')
                .map(String::from)
                .collect();
        let l = Layout::from_header(Path::new("t"), &h).unwrap();
        assert_eq!(l.params, ["x", "y.z"]);
        assert_eq!(l.metrics, ["m"]);
        assert_eq!(l.header(), h);
        assert_eq!(h[l.wall_col()], "wall_time_s");
        assert_eq!(h[l.status_col()], "status");
        assert_eq!(h[l.error_col()], "error");
        assert_eq!(h[l.digest_col()], "digest");
        assert!(Layout::from_header(Path::new("t"), &h[1..]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn encoded_rows_read_back_as_one_line_each(
            fields in proptest::collection::vec("[a-z,\"\n\r =\\\\]{0,12}", 2..6),
        ) {
            let mut enc = RowEncoder::new();
            let bytes = enc.encode_strings(&fields).to_vec();
            proptest::prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
            let record = reader.records().next().unwrap().unwrap();
            let back: Vec<String> = record.iter().map(str::to_owned).collect();
            let expect: Vec<String> = fields.iter().map(|f| one_line(f).into_owned()).collect();
            proptest::prop_assert_eq!(back, expect);
        }
    }
}
