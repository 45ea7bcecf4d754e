//! The engine's error types. Messages are lowercase and name the offending thing; the CLI
//! decides how they look to a person and maps them to exit codes.

use std::fmt;
use std::path::PathBuf;

/// A problem with a scenario (or sweep) file or with an override: where it is and what was
/// expected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScenarioError {
    /// The file path, or the override text (`--set a.b=c`), the error is in.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field path (`populations[0].count`), when known.
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ScenarioError {
    /// An error with a message only; position and field are filled in by the loader.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            origin: origin.into(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// Sets the field path.
    #[must_use]
    pub fn at_field(mut self, field: impl Into<String>) -> ScenarioError {
        self.field = Some(field.into());
        self
    }

    /// Sets the position.
    #[must_use]
    pub fn at(mut self, line: usize, column: usize) -> ScenarioError {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(field) = self.field.as_deref().filter(|f| !f.is_empty()) {
            write!(f, ": `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Anything that can stop a simulation from being built or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The scenario is invalid (bad input: the CLI exits with code 2).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The simulation could not be assembled from a valid scenario: a plug-in's systems
    /// conflict, for example.
    #[error("cannot build the simulation: {0}")]
    Build(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A plug-in reported a failure while the simulation ran.
    #[error("tick {tick}: {message}")]
    Run {
        /// The tick being executed.
        tick: u64,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether the error is the user's input (exit code 2) rather than a failure (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Scenario(_))
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
