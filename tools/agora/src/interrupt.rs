//! Ctrl-C / SIGTERM handling for sweeps.
//!
//! Uses the `ctrlc` crate (with its `termination` feature, so SIGTERM and SIGHUP count too:
//! Slurm sends SIGTERM before killing a job that hits its time limit or is cancelled). The
//! alternative, installing a signal handler by hand, needs `unsafe` code, which this project
//! forbids.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status used when a second signal forces the process to stop.
pub const FORCED_EXIT_CODE: i32 = 130;

/// Why the handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InterruptError {
    /// A handler is already installed, or the OS refused.
    #[error("cannot install the interrupt handler: {0}")]
    Install(String),
}

/// Installs a process-wide handler: the first Ctrl-C (or SIGTERM/SIGHUP) sets `stop`, so the
/// runner starts no new run, finishes the running ones and writes their rows; a second one
/// exits the process at once with status [`FORCED_EXIT_CODE`] (safe for the results table:
/// rows are written whole, and a partial last line is cut off on the next resume). Can be
/// installed once per process.
pub fn stop_on_signal(stop: Arc<AtomicBool>) -> Result<(), InterruptError> {
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(FORCED_EXIT_CODE);
        }
    })
    .map_err(|e| InterruptError::Install(e.to_string()))
}
