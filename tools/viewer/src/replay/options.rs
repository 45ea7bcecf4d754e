//! Caller-chosen settings of a replay page.

use serde::Serialize;

use super::ReplayError;

/// What decides an agent's colour when the page opens (the page has a toggle for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColorBy {
    /// The behavior's `state` label.
    #[default]
    State,
    /// The agent's population index.
    Population,
}

/// Settings of [`write_replay`](super::write_replay).
///
/// Built from [`ReplayOptions::default`] and the `with_*` methods, so that new settings
/// can be added without breaking callers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// Keep every `frame_stride`-th snapshot frame, starting with the first (1 keeps all).
    /// Bounds the page size of long runs. Default 1; must be at least 1.
    pub frame_stride: u32,
    /// Frames drawn per second at 1x speed. Default 12.0; must be finite and positive.
    pub fps: f64,
    /// Trail length in frames when the page opens; 0 starts with trails off, and so does a
    /// run with more than 4,000 agents in a frame (the page's toggle turns them on).
    /// Default 8; at most 60.
    pub trail_length: u32,
    /// Colouring when the page opens. Default [`ColorBy::State`].
    pub color_by: ColorBy,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            frame_stride: 1,
            fps: 12.0,
            trail_length: 8,
            color_by: ColorBy::State,
        }
    }
}

impl ReplayOptions {
    /// Sets [`frame_stride`](Self::frame_stride).
    #[must_use]
    pub fn with_frame_stride(mut self, frame_stride: u32) -> Self {
        self.frame_stride = frame_stride;
        self
    }

    /// Sets [`fps`](Self::fps).
    #[must_use]
    pub fn with_fps(mut self, fps: f64) -> Self {
        self.fps = fps;
        self
    }

    /// Sets [`trail_length`](Self::trail_length).
    #[must_use]
    pub fn with_trail_length(mut self, trail_length: u32) -> Self {
        self.trail_length = trail_length;
        self
    }

    /// Sets [`color_by`](Self::color_by).
    #[must_use]
    pub fn with_color_by(mut self, color_by: ColorBy) -> Self {
        self.color_by = color_by;
        self
    }

    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ReplayError> {
        if self.frame_stride == 0 {
            return Err(ReplayError::InvalidOption {
                option: "frame_stride",
                message: "expected at least 1, found 0".to_owned(),
            });
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(ReplayError::InvalidOption {
                option: "fps",
                message: format!("expected a finite positive number, found {}", self.fps),
            });
        }
        if self.trail_length > MAX_TRAIL {
            return Err(ReplayError::InvalidOption {
                option: "trail_length",
                message: format!("expected at most {MAX_TRAIL}, found {}", self.trail_length),
            });
        }
        Ok(())
    }
}

/// The page's trail slider stops here; longer trails cost draw time without showing more.
pub(super) const MAX_TRAIL: u32 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(ReplayOptions::default().validate().is_ok());
        let err = ReplayOptions::default().with_frame_stride(0).validate();
        assert!(err.unwrap_err().to_string().contains("frame_stride"));
        let err = ReplayOptions::default().with_fps(f64::NAN).validate();
        assert!(err.unwrap_err().to_string().contains("fps"));
        let err = ReplayOptions::default()
            .with_trail_length(MAX_TRAIL + 1)
            .validate();
        assert!(err.unwrap_err().to_string().contains("trail_length"));
        assert!(
            ReplayOptions::default()
                .with_trail_length(MAX_TRAIL)
                .validate()
                .is_ok()
        );
    }
}
