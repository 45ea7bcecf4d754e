//! The run progress bar: ticks, ticks per second and ETA on a terminal, nothing otherwise
//! (logs, pipes and CI stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar on stderr, or nothing when stderr is not a terminal or output is quiet.
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `ticks` ticks (0: the run ends on a stop condition, so show a spinner).
    pub(crate) fn new(ticks: u64, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let (len, template) = if ticks > 0 {
            (
                Some(ticks),
                "{elapsed_precise} [{wide_bar}] {pos}/{len} ticks  {rate}  ETA {eta}",
            )
        } else {
            (None, "{spinner} {elapsed_precise} tick {pos}  {rate}")
        };
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            // indicatif's own `{per_sec}` prints four decimals; whole ticks read better.
            let rate = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} ticks/s", s.per_sec());
            };
            bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
        }
        Progress(Some(bar))
    }

    /// Completed ticks so far. The bar redraws at most about 20 times a second, so calling
    /// this every tick costs an atomic store.
    pub(crate) fn set(&self, tick: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(tick);
        }
    }

    /// Removes the bar before the summary is printed.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
