//! # agora-viewer
//!
//! Self-contained HTML replays of Agora run folders: `agora view RUN_DIR` writes one
//! `replay.html` that opens offline in any browser, with the snapshots animated on a canvas,
//! the metric time series charted beside it (synchronised to the playback cursor) and the
//! run's manifest shown. See [`write_replay`].
//!
//! This is tooling, not engine: it reads finished run folders (the files documented in the
//! README's "Outputs" section) and knows nothing of the simulation.

#![warn(missing_docs)]

mod replay;

pub use replay::{ColorBy, REPLAY_FILE_NAME, ReplayError, ReplayOptions, write_replay};
