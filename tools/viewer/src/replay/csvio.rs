//! Streaming CSV access shared by the metrics and snapshots readers.
//!
//! Rows are read into one reused `ByteRecord` and parsed straight into typed columns, so no
//! row ever exists as an owned string.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, Reader, ReaderBuilder};

use super::ReplayError;

/// An open CSV file with its header, for error messages that name file, line and column.
pub(super) struct CsvFile {
    pub(super) path: PathBuf,
    pub(super) reader: Reader<File>,
    pub(super) headers: Vec<String>,
}

impl CsvFile {
    /// Opens `path`; a missing file is [`ReplayError::MissingFile`] with `expected` as reason.
    pub(super) fn open(path: &Path, expected: &'static str) -> Result<Self, ReplayError> {
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ReplayError::MissingFile {
                path: path.to_path_buf(),
                expected,
            },
            _ => ReplayError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let mut reader = ReaderBuilder::new().has_headers(true).from_reader(file);
        let headers = reader
            .headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            headers,
        })
    }

    /// The index of the column named `name`.
    pub(super) fn column(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<usize, ReplayError> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReplayError::MissingColumn {
                path: self.path.clone(),
                column: name,
                expected,
            })
    }

    /// Reads the next row into `record`; `false` at the end of the file.
    pub(super) fn next(&mut self, record: &mut ByteRecord) -> Result<bool, ReplayError> {
        self.reader
            .read_byte_record(record)
            .map_err(|e| csv_error(&self.path, e))
    }

    fn bad_value(&self, record: &ByteRecord, col: usize, expected: &'static str) -> ReplayError {
        ReplayError::BadValue {
            path: self.path.clone(),
            line: line_of(record),
            column: self.headers.get(col).cloned().unwrap_or_default(),
            expected,
            found: String::from_utf8_lossy(record.get(col).unwrap_or_default()).into_owned(),
        }
    }

    fn text<'r>(&self, record: &'r ByteRecord, col: usize) -> Option<&'r str> {
        record
            .get(col)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim)
    }

    /// Parses field `col` as a non-negative integer.
    pub(super) fn uint<T: std::str::FromStr>(
        &self,
        record: &ByteRecord,
        col: usize,
        expected: &'static str,
    ) -> Result<T, ReplayError> {
        self.text(record, col)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.bad_value(record, col, expected))
    }

    /// Parses field `col` as a number; an empty field is `None`, `NaN` is NaN.
    pub(super) fn float(
        &self,
        record: &ByteRecord,
        col: usize,
        expected: &'static str,
    ) -> Result<Option<f64>, ReplayError> {
        match self.text(record, col) {
            Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.bad_value(record, col, expected)),
            None => Err(self.bad_value(record, col, expected)),
        }
    }

    /// A [`ReplayError::Csv`] at `record`'s line.
    pub(super) fn error_at(&self, record: &ByteRecord, message: String) -> ReplayError {
        ReplayError::Csv {
            path: self.path.clone(),
            line: line_of(record),
            message,
        }
    }
}

fn line_of(record: &ByteRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

fn csv_error(path: &Path, e: csv::Error) -> ReplayError {
    let line = e.position().map_or(0, csv::Position::line);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReplayError::Read {
            path: path.to_path_buf(),
            source,
        },
        _ => ReplayError::Csv {
            path: path.to_path_buf(),
            line,
            message,
        },
    }
}
