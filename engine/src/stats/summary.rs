//! Streaming and batch summaries: mean and variance (Welford), confidence intervals of the
//! mean, percentiles, min and max.

use serde::Serialize;

use super::{StatsError, student_t_quantile};

/// Running count, mean, variance, minimum and maximum of a stream of samples, in O(1) memory.
///
/// Welford's update is used rather than running sums of `x` and `x^2`, whose difference loses
/// every significant digit when the mean is large compared with the spread (a metric around
/// 1e9 with unit noise).
///
/// Non-finite samples (NaN, infinities) are not folded in: they are counted in
/// [`Welford::skipped`] instead, so that one bad sample neither poisons a whole run's
/// statistics nor vanishes without a trace.
///
/// ```
/// # use agora_engine::stats::Welford;
/// let w: Welford = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].into_iter().collect();
/// assert_eq!(w.mean(), Some(5.0));
/// assert_eq!(w.population_variance(), Some(4.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    skipped: u64,
}

impl Welford {
    /// An empty accumulator.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: 0.0,
            max: 0.0,
            skipped: 0,
        }
    }

    /// Folds one sample in; a non-finite sample is only counted in [`Welford::skipped`].
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            self.skipped += 1;
            return;
        }
        self.count += 1;
        if self.count == 1 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Folds another accumulator in (Chan, Golub & LeVeque's pairwise update), as if its
    /// samples had been pushed here. Floating-point results depend on the merge order, so merge
    /// partial results in a fixed order (for example by run index) to keep outputs reproducible.
    pub fn merge(&mut self, other: &Self) {
        let skipped = self.skipped + other.skipped;
        if other.count == 0 {
            self.skipped = skipped;
            return;
        }
        if self.count == 0 {
            *self = *other;
            self.skipped = skipped;
            return;
        }
        let n1 = self.count as f64;
        let n2 = other.count as f64;
        let n = n1 + n2;
        let delta = other.mean - self.mean;
        self.mean += delta * n2 / n;
        self.m2 += other.m2 + delta * delta * n1 * n2 / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.skipped = skipped;
    }

    /// Number of finite samples folded in.
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// Number of non-finite samples that were pushed and left out.
    #[must_use]
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Arithmetic mean; `None` before the first sample.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// Unbiased sample variance (divisor `n - 1`); `None` with fewer than two samples.
    #[must_use]
    pub fn variance(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }

    /// Population variance (divisor `n`); `None` before the first sample.
    #[must_use]
    pub fn population_variance(&self) -> Option<f64> {
        (self.count > 0).then(|| self.m2 / self.count as f64)
    }

    /// Sample standard deviation, the square root of [`Welford::variance`].
    #[must_use]
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Smallest sample; `None` before the first sample.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest sample; `None` before the first sample.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Two-sided confidence interval of the mean at `level` (for example 0.95), using Student's
    /// t quantile with `n - 1` degrees of freedom: `mean ± t(1 - (1 - level) / 2, n - 1) s / sqrt(n)`.
    /// This assumes independent samples from a distribution close enough to normal (or `n`
    /// large enough) for the t approximation; consecutive ticks of one run are usually not
    /// independent, independent runs (seeds) are.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] when `level` is not strictly between 0 and 1;
    /// [`StatsError::TooFew`] with fewer than two samples.
    pub fn confidence_interval(&self, level: f64) -> Result<ConfidenceInterval, StatsError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "level",
                value: level,
                expected: "a confidence level strictly between 0 and 1",
            });
        }
        let Some(variance) = self.variance() else {
            return Err(StatsError::TooFew {
                what: "sample",
                needed: 2,
                got: self.count,
            });
        };
        let t = student_t_quantile(0.5 + 0.5 * level, (self.count - 1) as f64)?;
        Ok(ConfidenceInterval {
            mean: self.mean,
            half_width: t * (variance / self.count as f64).sqrt(),
            level,
        })
    }

    /// The 95% confidence interval of the mean; `None` with fewer than two samples.
    #[must_use]
    pub fn ci95(&self) -> Option<ConfidenceInterval> {
        self.confidence_interval(0.95).ok()
    }
}

impl Extend<f64> for Welford {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.push(x);
        }
    }
}

impl FromIterator<f64> for Welford {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut w = Self::new();
        w.extend(iter);
        w
    }
}

/// A symmetric confidence interval of a mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// The sample mean, the interval's centre.
    pub mean: f64,
    /// Half the interval's width.
    pub half_width: f64,
    /// The confidence level, for example 0.95.
    pub level: f64,
}

impl ConfidenceInterval {
    /// Lower bound, `mean - half_width`.
    #[must_use]
    pub fn lower(&self) -> f64 {
        self.mean - self.half_width
    }

    /// Upper bound, `mean + half_width`.
    #[must_use]
    pub fn upper(&self) -> f64 {
        self.mean + self.half_width
    }

    /// Whether `x` lies in the closed interval.
    #[must_use]
    pub fn contains(&self, x: f64) -> bool {
        self.lower() <= x && x <= self.upper()
    }
}

/// The `q`-quantile (`0 <= q <= 1`) of data sorted in ascending order, by linear interpolation
/// between closest ranks: with `h = (n - 1) q`, the result is
/// `x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])` (0-based). This is Hyndman &
/// Fan's definition 7, the default of NumPy, R and spreadsheet `PERCENTILE.INC`, so values match
/// what analysts recompute from the raw data. The median of an even count is the mean of the two
/// middle values; `q = 0` and `q = 1` give the minimum and maximum.
///
/// The input must be sorted ascending; unsorted input gives a meaningless number (it is not
/// checked, to keep the call O(1)).
///
/// ```
/// # use agora_engine::stats::quantile_sorted;
/// assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5).unwrap(), 2.5);
/// assert!((quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.95).unwrap() - 3.85).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`StatsError::Empty`] for empty input; [`StatsError::InvalidParameter`] when `q` is not in
/// `[0, 1]`.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Result<f64, StatsError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(StatsError::InvalidParameter {
            name: "q",
            value: q,
            expected: "a quantile level in [0, 1]",
        });
    }
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return Err(StatsError::Empty { what: "data" });
    };
    let h = (sorted.len() - 1) as f64 * q;
    let below = h.floor();
    // `h <= n - 1`, so the index is in range; `get` keeps the boundary case explicit.
    let index = below as usize;
    let lower = sorted.get(index).copied().unwrap_or(first);
    match sorted.get(index + 1) {
        Some(&upper) => Ok(lower + (h - below) * (upper - lower)),
        None => Ok(last),
    }
}

/// Summary of a batch of values: count, mean, standard deviation, 95% confidence interval of the
/// mean, minimum, median, 95th percentile and maximum. Percentiles follow [`quantile_sorted`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divisor `n - 1`); `None` for a single value.
    pub std_dev: Option<f64>,
    /// 95% Student-t confidence interval of the mean; `None` for a single value.
    pub ci95: Option<ConfidenceInterval>,
    /// Smallest value.
    pub min: f64,
    /// Median (50th percentile).
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`, sorting a copy of them.
    ///
    /// # Errors
    /// [`StatsError::Empty`] for empty input; [`StatsError::NonFinite`] naming the first NaN or
    /// infinite value (a batch is rejected rather than silently shortened).
    pub fn of(values: &[f64]) -> Result<Self, StatsError> {
        Self::with_scratch(values, &mut Vec::new())
    }

    /// As [`Summary::of`], sorting into `scratch` so that repeated calls reuse one allocation.
    ///
    /// # Errors
    /// As [`Summary::of`].
    pub fn with_scratch(values: &[f64], scratch: &mut Vec<f64>) -> Result<Self, StatsError> {
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(StatsError::NonFinite { index, value });
        }
        let welford: Welford = values.iter().copied().collect();
        let Some(mean) = welford.mean() else {
            return Err(StatsError::Empty { what: "data" });
        };
        scratch.clear();
        scratch.extend_from_slice(values);
        scratch.sort_unstable_by(f64::total_cmp);
        Ok(Self {
            count: values.len(),
            mean,
            std_dev: welford.std_dev(),
            ci95: welford.ci95(),
            min: quantile_sorted(scratch, 0.0)?,
            p50: quantile_sorted(scratch, 0.5)?,
            p95: quantile_sorted(scratch, 0.95)?,
            max: quantile_sorted(scratch, 1.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::test_support::Gaussian;
    use super::*;

    #[test]
    fn hand_computed_moments() {
        let w: Welford = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .into_iter()
            .collect();
        assert_eq!(w.count(), 8);
        assert_eq!(w.mean(), Some(5.0));
        assert_eq!(w.population_variance(), Some(4.0));
        assert!((w.variance().unwrap() - 32.0 / 7.0).abs() < 1e-14);
        assert_eq!((w.min(), w.max()), (Some(2.0), Some(9.0)));
    }

    #[test]
    fn large_offset_keeps_precision() {
        let w: Welford = [4.0, 7.0, 13.0, 16.0].iter().map(|x| 1e9 + x).collect();
        assert_eq!(w.mean(), Some(1e9 + 10.0));
        assert!((w.variance().unwrap() - 30.0).abs() < 1e-6);
    }

    #[test]
    fn empty_and_single_sample() {
        let mut w = Welford::new();
        assert_eq!(
            (w.mean(), w.variance(), w.min(), w.ci95()),
            (None, None, None, None)
        );
        w.push(3.0);
        assert_eq!(
            (w.mean(), w.variance(), w.std_dev()),
            (Some(3.0), None, None)
        );
        assert_eq!(w.population_variance(), Some(0.0));
        assert!(matches!(
            w.confidence_interval(0.95),
            Err(StatsError::TooFew {
                needed: 2,
                got: 1,
                ..
            })
        ));
    }

    #[test]
    fn non_finite_samples_are_counted_not_folded() {
        let w: Welford = [1.0, f64::NAN, 3.0, f64::INFINITY].into_iter().collect();
        assert_eq!((w.count(), w.skipped(), w.mean()), (2, 2, Some(2.0)));
    }

    #[test]
    fn merge_equals_sequential_pushes() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut gaussian = Gaussian::new();
        let data: Vec<f64> = (0..1000)
            .map(|_| 5.0 + 3.0 * gaussian.sample(&mut rng))
            .collect();
        let whole: Welford = data.iter().copied().collect();
        let mut merged = Welford::new();
        for chunk in data.chunks(77) {
            merged.merge(&chunk.iter().copied().collect());
        }
        merged.merge(&Welford::new());
        assert_eq!(merged.count(), whole.count());
        assert!((merged.mean().unwrap() - whole.mean().unwrap()).abs() < 1e-12);
        assert!((merged.variance().unwrap() - whole.variance().unwrap()).abs() < 1e-10);
        assert_eq!((merged.min(), merged.max()), (whole.min(), whole.max()));
        // Two-pass reference.
        let mean = data.iter().sum::<f64>() / 1000.0;
        let var = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 999.0;
        assert!((whole.variance().unwrap() - var).abs() < 1e-10);
    }

    #[test]
    fn ci_of_one_to_ten_is_hand_computed() {
        let w: Welford = (1..=10).map(f64::from).collect();
        let ci = w.ci95().unwrap();
        // s^2 = 82.5 / 9, t(0.975, 9) = 2.262157: half width = 2.262157 * 3.027650 / sqrt(10).
        assert_eq!(ci.mean, 5.5);
        assert!((ci.half_width - 2.165_85).abs() < 1e-4, "{}", ci.half_width);
        assert!((ci.upper() - ci.lower() - 2.0 * ci.half_width).abs() < 1e-12);
        assert!(w.confidence_interval(1.0).is_err());
        assert!(w.confidence_interval(0.0).is_err());
    }

    #[test]
    fn t_interval_covers_the_true_mean_at_its_level_for_small_samples() {
        // With n = 5 a normal-quantile interval covers only about 88%; the t interval must
        // cover 95% (binomial standard error at 4000 trials: 0.0034).
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut gaussian = Gaussian::new();
        let trials = 4000;
        let covered = (0..trials)
            .filter(|_| {
                let w: Welford = (0..5)
                    .map(|_| 10.0 + 2.0 * gaussian.sample(&mut rng))
                    .collect();
                w.ci95().unwrap().contains(10.0)
            })
            .count();
        let coverage = covered as f64 / f64::from(trials);
        assert!((coverage - 0.95).abs() < 0.012, "coverage {coverage}");
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&x, 0.0).unwrap(), 1.0);
        assert_eq!(quantile_sorted(&x, 1.0).unwrap(), 4.0);
        assert_eq!(quantile_sorted(&x, 0.5).unwrap(), 2.5);
        assert!((quantile_sorted(&x, 0.95).unwrap() - 3.85).abs() < 1e-12);
        assert!((quantile_sorted(&x, 0.25).unwrap() - 1.75).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.95).unwrap(), 7.0);
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0], 0.5).unwrap(), 2.0);
        assert!(matches!(
            quantile_sorted(&[], 0.5),
            Err(StatsError::Empty { .. })
        ));
        assert!(quantile_sorted(&x, 1.5).is_err());
        assert!(quantile_sorted(&x, f64::NAN).is_err());
    }

    #[test]
    fn summary_of_a_batch() {
        let values: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        let s = Summary::of(&values).unwrap();
        assert_eq!((s.count, s.mean, s.min, s.max), (20, 10.5, 1.0, 20.0));
        assert_eq!(s.p50, 10.5);
        // h = 19 * 0.95 = 18.05: 19 + 0.05 * (20 - 19).
        assert!((s.p95 - 19.05).abs() < 1e-12);
        assert!(s.ci95.unwrap().contains(10.5));
        let single = Summary::of(&[4.0]).unwrap();
        assert_eq!((single.std_dev, single.ci95, single.p95), (None, None, 4.0));
        assert!(matches!(Summary::of(&[]), Err(StatsError::Empty { .. })));
        assert!(matches!(
            Summary::of(&[1.0, f64::NAN]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
    }
}
