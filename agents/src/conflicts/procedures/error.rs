//! The error type shared by the conflict-resolution procedures.

use thiserror::Error;

/// Why a conflict-resolution procedure could not run on the given input.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConflictError {
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
    /// A protocol step was called when the protocol expected another.
    #[error("`{step}` called out of turn, expected {expected}")]
    OutOfTurn {
        /// The step that was called.
        step: &'static str,
        /// What the protocol was waiting for.
        expected: &'static str,
    },
    /// A deal's utility is NaN or infinite.
    #[error("deal {deal} gives agent {agent} utility {value}, expected a finite number")]
    InvalidUtility {
        /// Index of the deal.
        deal: usize,
        /// The agent, 1 or 2.
        agent: u8,
        /// The value received.
        value: f64,
    },
    /// A ballot names a candidate that does not exist.
    #[error("ballot {ballot} names candidate {candidate}, expected less than {candidates}")]
    CandidateOutOfRange {
        /// Index of the ballot.
        ballot: usize,
        /// The candidate named.
        candidate: usize,
        /// Number of candidates.
        candidates: usize,
    },
    /// A ballot names a candidate twice.
    #[error("ballot {ballot} names candidate {candidate} twice, expected each at most once")]
    DuplicateCandidate {
        /// Index of the ballot.
        ballot: usize,
        /// The candidate named twice.
        candidate: usize,
    },
    /// Something that must hold at least one element is empty.
    #[error("{what} is empty, expected at least one element")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A priority map lacks an agent it must rank.
    #[error("agent {agent} has no priority, expected every member to have one")]
    MissingPriority {
        /// The agent without a priority.
        agent: u32,
    },
    /// A bid amount is negative or not finite.
    #[error("bidder {bidder} bid {amount}, expected a finite amount, 0 or more")]
    InvalidBid {
        /// The bidder.
        bidder: u32,
        /// The amount received.
        amount: f64,
    },
    /// A bidder submitted more than one bid.
    #[error("bidder {bidder} bid more than once, expected one sealed bid each")]
    DuplicateBidder {
        /// The bidder.
        bidder: u32,
    },
}
