//! The one error type of replay generation.

use std::io;
use std::path::PathBuf;

/// Why a replay could not be written.
///
/// Every message names the offending file (and line and column where there is one) and
/// what was expected there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The run folder does not exist or is not a directory.
    #[error("run folder {} does not exist or is not a directory", path.display())]
    NotARunFolder {
        /// The path given as the run folder.
        path: PathBuf,
    },
    /// A file the replay needs is absent from the run folder.
    #[error("missing {}: {expected}", path.display())]
    MissingFile {
        /// The absent file.
        path: PathBuf,
        /// Why the file was expected.
        expected: &'static str,
    },
    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `manifest.json` is not the JSON object the run-folder contract describes.
    #[error("invalid manifest {}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A CSV file is malformed (bad quoting, ragged rows, ticks out of order).
    #[error("invalid {} line {line}: {message}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What was wrong.
        message: String,
    },
    /// A binary snapshot file is malformed.
    #[error("invalid {} at byte {offset}: {message}", path.display())]
    Binary {
        /// The file.
        path: PathBuf,
        /// Byte offset of the offending header or record.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// A CSV header lacks a required column.
    #[error("{} has no `{column}` column (expected header `{expected}`)", path.display())]
    MissingColumn {
        /// The CSV file.
        path: PathBuf,
        /// The absent column.
        column: &'static str,
        /// The header the contract specifies.
        expected: &'static str,
    },
    /// A CSV field does not hold the kind of value its column requires.
    #[error(
        "invalid {} line {line}, column `{column}`: expected {expected}, found `{found}`",
        path.display()
    )]
    BadValue {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// The column name.
        column: String,
        /// What the column holds.
        expected: &'static str,
        /// The offending text.
        found: String,
    },
    /// The snapshots hold more rows than a browser typed array index can address.
    #[error("{} has more than {max} rows; use a larger frame stride", path.display())]
    TooManyRows {
        /// The CSV file.
        path: PathBuf,
        /// The largest row count a replay holds.
        max: u64,
    },
    /// A [`ReplayOptions`](super::ReplayOptions) field is out of range.
    #[error("invalid replay option `{option}`: {message}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// What was expected.
        message: String,
    },
}
