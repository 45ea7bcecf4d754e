//! The error type shared by the statistics functions.

use thiserror::Error;

/// Why a statistic could not be computed from the given input.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A parameter lies outside its domain.
    #[error("parameter `{name}` is {value}, expected {expected}")]
    InvalidParameter {
        /// The parameter's name, as in the function signature or config field.
        name: &'static str,
        /// The value received.
        value: f64,
        /// The domain, in words.
        expected: &'static str,
    },
    /// The input holds no values where at least one is needed.
    #[error("{what} is empty, expected at least one value")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// An input value is NaN or infinite.
    #[error("value {value} at index {index} is not finite, expected a finite number")]
    NonFinite {
        /// Position of the value in the input.
        index: usize,
        /// The value received.
        value: f64,
    },
    /// An input value is negative where only non-negative values have a meaning.
    #[error("value {value} at index {index} is negative, expected a non-negative number")]
    Negative {
        /// Position of the value in the input.
        index: usize,
        /// The value received.
        value: f64,
    },
    /// The input holds fewer values than the statistic needs.
    #[error("{what} has {got} values, expected at least {needed}")]
    TooFew {
        /// What was too short.
        what: &'static str,
        /// The minimum number of values.
        needed: u64,
        /// The number of values received.
        got: u64,
    },
    /// An index refers past the end of a collection.
    #[error("{what} {index} is out of range, expected less than {len}")]
    IndexOutOfRange {
        /// What the index names.
        what: &'static str,
        /// The index received.
        index: usize,
        /// The number of valid indices.
        len: usize,
    },
}
