//! Streaming change detectors over one metric stream: Page-Hinkley, two-sided CUSUM, and a
//! threshold with hysteresis.
//!
//! Each detector takes one sample per call, `update(tick, x)`, and returns a [`ChangeEvent`]
//! when it fires. Page-Hinkley and CUSUM then reset themselves, so the next event reports the
//! next change rather than the same one again. Non-finite samples are ignored (they neither
//! advance nor reset a detector).
//!
//! Configs deserialize with `deny_unknown_fields`; fields left out take the documented
//! defaults. [`DetectorConfig`] selects one detector by name, for scenario files:
//! `Cusum((k: 0.5, h: 8.0))` or `Threshold((enter_above: 0.8, exit_below: 0.6))` in RON.
//!
//! Measured behaviour: unit-variance Gaussian noise whose mean steps at sample 500 of 1000,
//! 400 seeds per row (tests `*_on_a_*_step`; delay counts samples after the first shifted one,
//! false alarms are detections before the step, a miss is no detection by sample 1000):
//!
//! | detector and config | step | mean delay | max delay | false alarms per 1000 samples | missed |
//! |---|---|---|---|---|---|
//! | Page-Hinkley `delta: 0.25, lambda: 25` | 0 to +1 | 32.9 | 80 | 0 | 0 |
//! | Page-Hinkley `delta: 0.25, lambda: 25` | 0 to -1 | 33.1 | 69 | 0 | 0 |
//! | CUSUM, estimated reference, `warmup: 50, k: 0.5, h: 8` | 0 to +1 | 17.2 | 94 | 0.52 | 3 |
//! | CUSUM, estimated reference, `warmup: 50, k: 0.5, h: 8` | 0 to -1 | 16.6 | 85 | 0.51 | 3 |
//! | CUSUM, `target: 0, sigma: 1, k: 0.5, h: 8` | 0 to +1 | 14.7 | 49 | 0.07 | 0 |
//! | threshold `enter_above: 3, exit_below: 1` | 0 to +4 | 0.24 | 4 | 1.42 | 0 |

use serde::{Deserialize, Serialize};

use super::{StatsError, Welford};

/// Which way a metric moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The metric rose (or entered the threshold's alarm band).
    Up,
    /// The metric fell (or left the threshold's alarm band).
    Down,
}

/// Which changes a detector looks for. Scenario files write the variant names as they are
/// (`Up`, `Down`, `Both`), like every other enum of the scenario schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Watch {
    /// Increases only.
    Up,
    /// Decreases only.
    Down,
    /// Both; the default.
    #[default]
    Both,
}

impl Watch {
    const fn up(self) -> bool {
        matches!(self, Self::Up | Self::Both)
    }

    const fn down(self) -> bool {
        matches!(self, Self::Down | Self::Both)
    }
}

/// Which detector produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// [`PageHinkley`].
    PageHinkley,
    /// [`Cusum`].
    Cusum,
    /// [`Threshold`].
    Threshold,
}

/// A detected change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChangeEvent {
    /// Tick of the sample that triggered the detection.
    pub tick: u64,
    /// The detector that fired.
    pub kind: ChangeKind,
    /// Direction of the change.
    pub direction: Direction,
    /// The sample that triggered the detection.
    pub value: f64,
    /// The detector's test statistic at detection (Page-Hinkley: cumulative deviation from its
    /// extremum; CUSUM: the cumulative sum, in units of sigma; threshold: the sample).
    pub statistic: f64,
}

/// A streaming change detector.
pub trait ChangeDetector {
    /// Feeds the sample observed at `tick`; returns an event when a change is detected.
    fn update(&mut self, tick: u64, x: f64) -> Option<ChangeEvent>;

    /// Forgets everything seen so far, as if newly built from its config.
    fn reset(&mut self);
}

fn positive(name: &'static str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            value,
            expected: "a finite number greater than 0",
        })
    }
}

fn non_negative(name: &'static str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            value,
            expected: "a finite number, 0 or greater",
        })
    }
}

/// Parameters of the [`PageHinkley`] test. Defaults are MOA's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageHinkleyConfig {
    /// Magnitude of change tolerated without accumulating evidence, in the metric's units.
    /// Default 0.005.
    pub delta: f64,
    /// Detection threshold on the cumulative deviation, in the metric's units. Default 50.
    pub lambda: f64,
    /// Which changes to report. Default `both`.
    pub direction: Watch,
    /// Samples after a (re)start before a detection may be reported, so that the running mean
    /// is not judged on a handful of values. Default 30.
    pub min_samples: u32,
}

impl Default for PageHinkleyConfig {
    fn default() -> Self {
        Self {
            delta: 0.005,
            lambda: 50.0,
            direction: Watch::Both,
            min_samples: 30,
        }
    }
}

/// Page-Hinkley test (Page 1954; Hinkley 1971) for a change in the mean.
///
/// With `mean_t` the running mean of the samples since the last reset, it accumulates
/// `m_t = sum (x_i - mean_i - delta)` and reports an increase when `m_t - min m` exceeds
/// `lambda`; symmetrically `sum (x_i - mean_i + delta)` against its maximum for a decrease.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    config: PageHinkleyConfig,
    count: u64,
    mean: f64,
    up_sum: f64,
    up_min: f64,
    down_sum: f64,
    down_max: f64,
}

impl PageHinkley {
    /// Builds a detector.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] when `delta` is negative or not finite, or `lambda` is
    /// not a finite positive number.
    pub fn new(config: PageHinkleyConfig) -> Result<Self, StatsError> {
        non_negative("delta", config.delta)?;
        positive("lambda", config.lambda)?;
        Ok(Self {
            config,
            count: 0,
            mean: 0.0,
            up_sum: 0.0,
            up_min: 0.0,
            down_sum: 0.0,
            down_max: 0.0,
        })
    }

    /// The configuration it was built from.
    #[must_use]
    pub const fn config(&self) -> &PageHinkleyConfig {
        &self.config
    }
}

impl ChangeDetector for PageHinkley {
    fn update(&mut self, tick: u64, x: f64) -> Option<ChangeEvent> {
        if !x.is_finite() {
            return None;
        }
        self.count += 1;
        self.mean += (x - self.mean) / self.count as f64;
        self.up_sum += x - self.mean - self.config.delta;
        self.up_min = self.up_min.min(self.up_sum);
        self.down_sum += x - self.mean + self.config.delta;
        self.down_max = self.down_max.max(self.down_sum);
        if self.count < u64::from(self.config.min_samples) {
            return None;
        }
        let up = if self.config.direction.up() {
            self.up_sum - self.up_min
        } else {
            f64::NEG_INFINITY
        };
        let down = if self.config.direction.down() {
            self.down_max - self.down_sum
        } else {
            f64::NEG_INFINITY
        };
        let (direction, statistic) = if up >= down {
            (Direction::Up, up)
        } else {
            (Direction::Down, down)
        };
        if statistic <= self.config.lambda {
            return None;
        }
        self.reset();
        Some(ChangeEvent {
            tick,
            kind: ChangeKind::PageHinkley,
            direction,
            value: x,
            statistic,
        })
    }

    fn reset(&mut self) {
        self.count = 0;
        self.mean = 0.0;
        self.up_sum = 0.0;
        self.up_min = 0.0;
        self.down_sum = 0.0;
        self.down_max = 0.0;
    }
}

/// Parameters of the two-sided [`Cusum`] test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CusumConfig {
    /// In-control mean. Default `None`: estimated as the mean of the first `warmup` samples
    /// after each (re)start.
    pub target: Option<f64>,
    /// In-control standard deviation, the unit of `k` and `h`. Default `None`: estimated from
    /// the warm-up samples. Set it to 1 to give `k` and `h` in the metric's own units.
    pub sigma: Option<f64>,
    /// Samples used to estimate whatever of `target` and `sigma` is not given; ignored when
    /// both are. At least 1 when only `target` is estimated, 2 when `sigma` is. Default 30.
    pub warmup: u32,
    /// Allowance (slack) per sample, in units of sigma; half the shift to detect is the
    /// classic choice. Default 0.5.
    pub k: f64,
    /// Decision threshold, in units of sigma. Default 5 (in-control average run length about
    /// 465 samples two-sided for k = 0.5; use 8 for runs of thousands of ticks).
    pub h: f64,
}

impl Default for CusumConfig {
    fn default() -> Self {
        Self {
            target: None,
            sigma: None,
            warmup: 30,
            k: 0.5,
            h: 5.0,
        }
    }
}

/// Two-sided tabular CUSUM (Page 1954) on standardised samples `z = (x - target) / sigma`:
/// `S+ = max(0, S+ + z - k)` and `S- = max(0, S- - z - k)`, reporting an increase when
/// `S+ > h` and a decrease when `S- > h`.
///
/// After a detection the sums are zeroed and, if the target or sigma was estimated, a new
/// warm-up starts: the post-change level becomes the reference, so that the next event is
/// the next change (for instance a return to the old level) rather than the same one again.
/// With a given target there is no new reference, so a shift that persists is reported again
/// each time the sum refills.
/// An estimated sigma of 0 (a constant warm-up) is raised to `f64::EPSILON * max(1, |target|)`,
/// so any later deviation is detected at once.
#[derive(Debug, Clone)]
pub struct Cusum {
    config: CusumConfig,
    warmup: Welford,
    reference: Option<(f64, f64)>,
    high: f64,
    low: f64,
}

impl Cusum {
    /// Builds a detector.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] when `k` is negative, `h` or a given `sigma` is not
    /// positive, any of them or `target` is not finite, or `warmup` is too small for what
    /// must be estimated.
    pub fn new(config: CusumConfig) -> Result<Self, StatsError> {
        non_negative("k", config.k)?;
        positive("h", config.h)?;
        if let Some(sigma) = config.sigma {
            positive("sigma", sigma)?;
        }
        if let Some(target) = config.target
            && !target.is_finite()
        {
            return Err(StatsError::InvalidParameter {
                name: "target",
                value: target,
                expected: "a finite number",
            });
        }
        let needed = match (config.target, config.sigma) {
            (_, None) => 2,
            (None, Some(_)) => 1,
            (Some(_), Some(_)) => 0,
        };
        if config.warmup < needed {
            return Err(StatsError::InvalidParameter {
                name: "warmup",
                value: f64::from(config.warmup),
                expected: if needed == 2 {
                    "at least 2 samples to estimate sigma"
                } else {
                    "at least 1 sample to estimate the target"
                },
            });
        }
        let mut cusum = Self {
            config,
            warmup: Welford::new(),
            reference: None,
            high: 0.0,
            low: 0.0,
        };
        cusum.reset();
        Ok(cusum)
    }

    /// The configuration it was built from.
    #[must_use]
    pub const fn config(&self) -> &CusumConfig {
        &self.config
    }

    /// The `(target, sigma)` in use; `None` during a warm-up.
    #[must_use]
    pub const fn reference(&self) -> Option<(f64, f64)> {
        self.reference
    }
}

impl ChangeDetector for Cusum {
    fn update(&mut self, tick: u64, x: f64) -> Option<ChangeEvent> {
        if !x.is_finite() {
            return None;
        }
        let Some((target, sigma)) = self.reference else {
            self.warmup.push(x);
            if self.warmup.count() >= u64::from(self.config.warmup) {
                let target = self
                    .config
                    .target
                    .or(self.warmup.mean())
                    .unwrap_or_default();
                let floor = f64::EPSILON * target.abs().max(1.0);
                let sigma = self
                    .config
                    .sigma
                    .or(self.warmup.std_dev())
                    .unwrap_or(1.0)
                    .max(floor);
                self.reference = Some((target, sigma));
            }
            return None;
        };
        let z = (x - target) / sigma;
        self.high = (self.high + z - self.config.k).max(0.0);
        self.low = (self.low - z - self.config.k).max(0.0);
        let (direction, statistic) = if self.high >= self.low {
            (Direction::Up, self.high)
        } else {
            (Direction::Down, self.low)
        };
        if statistic <= self.config.h {
            return None;
        }
        self.reset();
        Some(ChangeEvent {
            tick,
            kind: ChangeKind::Cusum,
            direction,
            value: x,
            statistic,
        })
    }

    fn reset(&mut self) {
        self.high = 0.0;
        self.low = 0.0;
        self.warmup = Welford::new();
        self.reference = match (self.config.target, self.config.sigma) {
            (Some(target), Some(sigma)) => Some((target, sigma)),
            _ => None,
        };
    }
}

/// Parameters of a [`Threshold`] detector. Both fields are required.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// The alarm band is entered when a sample is strictly above this level.
    pub enter_above: f64,
    /// The alarm band is left when a sample is strictly below this level, which must be lower
    /// than `enter_above`; the gap keeps noise around one level from firing on every tick.
    pub exit_below: f64,
}

/// Threshold crossing with hysteresis: reports [`Direction::Up`] on entering the alarm band
/// (a sample above `enter_above`) and [`Direction::Down`] on leaving it (a sample below
/// `exit_below`). Between the two levels the state does not change.
#[derive(Debug, Clone)]
pub struct Threshold {
    config: ThresholdConfig,
    active: bool,
}

impl Threshold {
    /// Builds a detector, initially outside the alarm band.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] when a level is not finite or `exit_below` is not lower
    /// than `enter_above`.
    pub fn new(config: ThresholdConfig) -> Result<Self, StatsError> {
        for (name, value) in [
            ("enter_above", config.enter_above),
            ("exit_below", config.exit_below),
        ] {
            if !value.is_finite() {
                return Err(StatsError::InvalidParameter {
                    name,
                    value,
                    expected: "a finite number",
                });
            }
        }
        if config.exit_below >= config.enter_above {
            return Err(StatsError::InvalidParameter {
                name: "exit_below",
                value: config.exit_below,
                expected: "a level lower than enter_above",
            });
        }
        Ok(Self {
            config,
            active: false,
        })
    }

    /// Whether the last samples put the metric in the alarm band.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.active
    }
}

impl ChangeDetector for Threshold {
    fn update(&mut self, tick: u64, x: f64) -> Option<ChangeEvent> {
        let direction = if !self.active && x > self.config.enter_above {
            Direction::Up
        } else if self.active && x < self.config.exit_below {
            Direction::Down
        } else {
            // Also the path of NaN, which fails both comparisons.
            return None;
        };
        self.active = direction == Direction::Up;
        Some(ChangeEvent {
            tick,
            kind: ChangeKind::Threshold,
            direction,
            value: x,
            statistic: x,
        })
    }

    fn reset(&mut self) {
        self.active = false;
    }
}

/// One detector chosen by name, as a scenario file names it:
/// `Cusum((k: 0.5, h: 8.0))`, `PageHinkley((lambda: 20.0))`,
/// `Threshold((enter_above: 0.8, exit_below: 0.6))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub enum DetectorConfig {
    /// [`PageHinkley`].
    PageHinkley(PageHinkleyConfig),
    /// [`Cusum`].
    Cusum(CusumConfig),
    /// [`Threshold`].
    Threshold(ThresholdConfig),
}

/// Any of the detectors, built from a [`DetectorConfig`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Detector {
    /// [`PageHinkley`].
    PageHinkley(PageHinkley),
    /// [`Cusum`].
    Cusum(Cusum),
    /// [`Threshold`].
    Threshold(Threshold),
}

impl Detector {
    /// Builds the configured detector.
    ///
    /// # Errors
    /// The chosen detector's validation error.
    pub fn new(config: &DetectorConfig) -> Result<Self, StatsError> {
        Ok(match *config {
            DetectorConfig::PageHinkley(c) => Self::PageHinkley(PageHinkley::new(c)?),
            DetectorConfig::Cusum(c) => Self::Cusum(Cusum::new(c)?),
            DetectorConfig::Threshold(c) => Self::Threshold(Threshold::new(c)?),
        })
    }
}

impl ChangeDetector for Detector {
    fn update(&mut self, tick: u64, x: f64) -> Option<ChangeEvent> {
        match self {
            Self::PageHinkley(d) => d.update(tick, x),
            Self::Cusum(d) => d.update(tick, x),
            Self::Threshold(d) => d.update(tick, x),
        }
    }

    fn reset(&mut self) {
        match self {
            Self::PageHinkley(d) => d.reset(),
            Self::Cusum(d) => d.reset(),
            Self::Threshold(d) => d.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::test_support::Gaussian;
    use super::*;

    fn ticks_of(detector: &mut impl ChangeDetector, xs: &[f64]) -> Vec<(u64, Direction)> {
        (0u64..)
            .zip(xs)
            .filter_map(|(t, &x)| detector.update(t, x))
            .map(|e| (e.tick, e.direction))
            .collect()
    }

    #[test]
    fn page_hinkley_hand_computed_step() {
        // Ten zeros then ones, delta 0: the statistic after the j-th one is
        // sum_{i<=j} (1 - i / (10 + i)) = 0.909, 1.742, 2.511, ... so lambda 2.5 fires at the
        // third one (tick 12).
        let config = PageHinkleyConfig {
            delta: 0.0,
            lambda: 2.5,
            direction: Watch::Both,
            min_samples: 1,
        };
        let mut xs = vec![0.0; 10];
        xs.extend([1.0; 5]);
        let mut ph = PageHinkley::new(config).unwrap();
        assert_eq!(ticks_of(&mut ph, &xs), vec![(12, Direction::Up)]);
        let down: Vec<f64> = xs.iter().map(|x| -x).collect();
        let mut ph = PageHinkley::new(config).unwrap();
        assert_eq!(ticks_of(&mut ph, &down), vec![(12, Direction::Down)]);
        let mut up_only = PageHinkley::new(PageHinkleyConfig {
            direction: Watch::Up,
            ..config
        })
        .unwrap();
        assert!(ticks_of(&mut up_only, &down).is_empty());
        // min_samples holds back a detection until enough samples were seen since the reset.
        let mut late = PageHinkley::new(PageHinkleyConfig {
            min_samples: 14,
            ..config
        })
        .unwrap();
        assert_eq!(ticks_of(&mut late, &xs), vec![(13, Direction::Up)]);
    }

    #[test]
    fn cusum_hand_computed_step_and_reset() {
        let config = CusumConfig {
            target: Some(0.0),
            sigma: Some(1.0),
            warmup: 0,
            k: 0.5,
            h: 2.0,
        };
        // S+ = 1.5, 3.0 after the step: fires on the second 2.0, then refills from zero.
        let xs = [0.0, 0.0, 2.0, 2.0, 2.0, 2.0, -2.0];
        let mut cusum = Cusum::new(config).unwrap();
        let events = ticks_of(&mut cusum, &xs);
        assert_eq!(events, vec![(3, Direction::Up), (5, Direction::Up)]);
        let mut cusum = Cusum::new(config).unwrap();
        let down: Vec<f64> = xs.iter().map(|x| -x).collect();
        assert_eq!(ticks_of(&mut cusum, &down)[0], (3, Direction::Down));
    }

    #[test]
    fn cusum_warmup_estimates_the_reference_and_restarts_after_detection() {
        let config = CusumConfig {
            warmup: 4,
            k: 0.5,
            h: 4.0,
            ..CusumConfig::default()
        };
        let mut cusum = Cusum::new(config).unwrap();
        let warm = [9.0, 11.0, 9.0, 11.0];
        for (t, x) in (0u64..).zip(warm) {
            assert!(cusum.update(t, x).is_none());
        }
        let (target, sigma) = cusum.reference().unwrap();
        assert_eq!(target, 10.0);
        assert!((sigma - (4.0_f64 / 3.0).sqrt()).abs() < 1e-12);
        // z = 3 / 1.1547 = 2.598 per sample: S+ = 2.098, 4.196 > 4.
        assert!(cusum.update(4, 13.0).is_none());
        let event = cusum.update(5, 13.0).unwrap();
        assert_eq!(
            (event.tick, event.direction, event.kind),
            (5, Direction::Up, ChangeKind::Cusum)
        );
        assert!(
            cusum.reference().is_none(),
            "a new warm-up starts after a detection"
        );
    }

    #[test]
    fn constant_warmup_detects_any_later_deviation() {
        let mut cusum = Cusum::new(CusumConfig::default()).unwrap();
        for t in 0..30 {
            assert!(cusum.update(t, 5.0).is_none());
        }
        assert!(cusum.update(30, 5.0).is_none());
        assert_eq!(cusum.update(31, 5.001).unwrap().direction, Direction::Up);
    }

    #[test]
    fn threshold_hysteresis_ignores_chatter_between_levels() {
        let config = ThresholdConfig {
            enter_above: 1.2,
            exit_below: 0.8,
        };
        let mut th = Threshold::new(config).unwrap();
        let xs = [0.0, 1.1, 1.2, 1.3, 1.0, 0.9, 1.25, 0.8, 0.7, 1.0, 1.21];
        assert_eq!(
            ticks_of(&mut th, &xs),
            vec![
                (3, Direction::Up),
                (8, Direction::Down),
                (10, Direction::Up)
            ]
        );
        assert!(th.is_active());
        th.reset();
        assert!(!th.is_active());
        assert!(th.update(11, f64::NAN).is_none());
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad_ph = PageHinkleyConfig {
            lambda: 0.0,
            ..PageHinkleyConfig::default()
        };
        assert!(PageHinkley::new(bad_ph).is_err());
        let bad_delta = PageHinkleyConfig {
            delta: -1.0,
            ..PageHinkleyConfig::default()
        };
        assert!(PageHinkley::new(bad_delta).is_err());
        let too_short = CusumConfig {
            warmup: 1,
            ..CusumConfig::default()
        };
        assert!(matches!(
            Cusum::new(too_short),
            Err(StatsError::InvalidParameter { name: "warmup", .. })
        ));
        let known_sigma = CusumConfig {
            warmup: 1,
            sigma: Some(2.0),
            ..CusumConfig::default()
        };
        assert!(Cusum::new(known_sigma).is_ok());
        let inverted = ThresholdConfig {
            enter_above: 1.0,
            exit_below: 1.0,
        };
        assert!(Threshold::new(inverted).is_err());
    }

    #[test]
    fn configs_deserialize_with_defaults_and_reject_unknown_fields() {
        let config: DetectorConfig = ron::from_str("Cusum((k: 0.25, h: 8.0))").unwrap();
        assert_eq!(
            config,
            DetectorConfig::Cusum(CusumConfig {
                k: 0.25,
                h: 8.0,
                ..CusumConfig::default()
            })
        );
        let config: DetectorConfig =
            ron::from_str("PageHinkley((lambda: 20.0, direction: Up))").unwrap();
        let DetectorConfig::PageHinkley(ph) = config else {
            panic!("expected page_hinkley, got {config:?}");
        };
        assert_eq!(
            (ph.lambda, ph.delta, ph.direction),
            (20.0, 0.005, Watch::Up)
        );
        assert!(ron::from_str::<DetectorConfig>("Cusum((k: 0.5, hh: 8.0))").is_err());
        assert!(ron::from_str::<DetectorConfig>("Threshold((enter_above: 1.0))").is_err());
        let config: DetectorConfig =
            ron::from_str("Threshold((enter_above: 1.0, exit_below: 0.5))").unwrap();
        assert!(Detector::new(&config).is_ok());
        let round_trip: DetectorConfig = ron::from_str(&ron::to_string(&config).unwrap()).unwrap();
        assert_eq!(round_trip, config);
    }

    /// Outcome of running a detector over many seeded streams with one step change.
    struct Trials {
        mean_delay: f64,
        max_delay: u64,
        false_alarms_per_1000: f64,
        missed: u32,
    }

    const CHANGE_AT: u64 = 500;
    const LENGTH: u64 = 1000;
    const SEEDS: u64 = 400;

    /// `N(0, 1)` for ticks before [`CHANGE_AT`], `N(shift, 1)` from it on. A detection before
    /// the step is a false alarm; the first one in `direction` at or after it gives the delay
    /// (0 when the first shifted sample triggers it); none by the end of the stream is a miss.
    fn step_trials(mut detector: impl ChangeDetector, shift: f64, direction: Direction) -> Trials {
        let mut gaussian = Gaussian::new();
        let (mut delays, mut false_alarms, mut missed) = (Vec::new(), 0u32, 0u32);
        for seed in 0..SEEDS {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            detector.reset();
            let mut delay = None;
            for tick in 0..LENGTH {
                let mean = if tick < CHANGE_AT { 0.0 } else { shift };
                let Some(event) = detector.update(tick, mean + gaussian.sample(&mut rng)) else {
                    continue;
                };
                if tick < CHANGE_AT {
                    // Leaving a threshold's band only closes an alarm already counted.
                    if !(event.kind == ChangeKind::Threshold && event.direction == Direction::Down)
                    {
                        false_alarms += 1;
                    }
                } else if event.direction == direction {
                    delay = Some(tick - CHANGE_AT);
                    break;
                }
            }
            match delay {
                Some(d) => delays.push(d),
                None => missed += 1,
            }
        }
        Trials {
            mean_delay: delays.iter().sum::<u64>() as f64 / delays.len().max(1) as f64,
            max_delay: delays.iter().copied().max().unwrap_or(0),
            false_alarms_per_1000: f64::from(false_alarms) * 1000.0 / (SEEDS * CHANGE_AT) as f64,
            missed,
        }
    }

    #[test]
    fn page_hinkley_on_a_unit_step() {
        let config = PageHinkleyConfig {
            delta: 0.25,
            lambda: 25.0,
            ..PageHinkleyConfig::default()
        };
        for (shift, direction) in [(1.0, Direction::Up), (-1.0, Direction::Down)] {
            let t = step_trials(PageHinkley::new(config).unwrap(), shift, direction);
            // Evidence grows by about 1 - delta - (drift of the running mean) per sample:
            // lambda / 0.75 = 33 samples.
            assert!(
                t.mean_delay > 25.0 && t.mean_delay < 40.0,
                "delay {}",
                t.mean_delay
            );
            assert!(t.max_delay < 120, "max delay {}", t.max_delay);
            assert!(
                t.false_alarms_per_1000 < 0.05,
                "false alarms {}",
                t.false_alarms_per_1000
            );
            assert_eq!(t.missed, 0);
        }
    }

    #[test]
    fn cusum_on_a_unit_step() {
        let config = CusumConfig {
            warmup: 50,
            k: 0.5,
            h: 8.0,
            ..CusumConfig::default()
        };
        for (shift, direction) in [(1.0, Direction::Up), (-1.0, Direction::Down)] {
            let t = step_trials(Cusum::new(config).unwrap(), shift, direction);
            // Estimating the reference from 50 samples costs some false alarms and delay
            // compared with the known-reference case below.
            assert!(
                t.mean_delay > 12.0 && t.mean_delay < 21.0,
                "delay {}",
                t.mean_delay
            );
            assert!(
                t.false_alarms_per_1000 < 1.0,
                "false alarms {}",
                t.false_alarms_per_1000
            );
            assert!(t.missed <= 6, "missed {}", t.missed);
        }
        // Siegmund's approximation for k = 0.5, h = 8: out-of-control run length 16.3 samples
        // (delay 15.3), in-control run length about 19,000 per side (0.1 alarms per 1000).
        let known = CusumConfig {
            target: Some(0.0),
            sigma: Some(1.0),
            ..config
        };
        let t = step_trials(Cusum::new(known).unwrap(), 1.0, Direction::Up);
        assert!(
            t.mean_delay > 13.0 && t.mean_delay < 17.5,
            "delay {}",
            t.mean_delay
        );
        assert!(
            t.false_alarms_per_1000 < 0.3,
            "false alarms {}",
            t.false_alarms_per_1000
        );
        assert_eq!(t.missed, 0);
    }

    #[test]
    fn threshold_on_a_step_of_four_sigma() {
        let config = ThresholdConfig {
            enter_above: 3.0,
            exit_below: 1.0,
        };
        let t = step_trials(Threshold::new(config).unwrap(), 4.0, Direction::Up);
        // Per sample: P(N(0,1) > 3) = 0.00135 raises a false alarm, P(N(4,1) <= 3) = 0.159
        // delays by one more sample, so the mean delay is 0.159 / 0.841 = 0.19.
        assert!(t.mean_delay < 0.3, "delay {}", t.mean_delay);
        assert!(
            t.false_alarms_per_1000 > 0.8 && t.false_alarms_per_1000 < 2.0,
            "false alarms {}",
            t.false_alarms_per_1000
        );
        assert!(t.missed <= 2, "missed {}", t.missed);
    }
}
