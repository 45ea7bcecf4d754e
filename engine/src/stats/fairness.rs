//! Fairness of a distribution of non-negative amounts (workload, waiting time, utility, access
//! counts) across agents: Jain's index, the Gini coefficient, the coefficient of variation and
//! the min/max ratio.
//!
//! All functions reject empty input, NaN or infinite values and negative values with a
//! [`StatsError`]: these indices are defined for non-negative allocations only.

use super::StatsError;

fn validate(values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty { what: "allocation" });
    }
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(StatsError::NonFinite { index, value });
        }
        if value < 0.0 {
            return Err(StatsError::Negative { index, value });
        }
    }
    Ok(())
}

/// Jain's fairness index `(sum x)^2 / (n sum x^2)` (Jain, Chiu & Hawe, 1984), in `[1/n, 1]`:
/// 1 when everyone gets the same, `k/n` when `k` of `n` agents share equally and the rest get
/// nothing. Equivalently `1 / (1 + CV^2)` with the population coefficient of variation.
///
/// All-zero input gives 1: nobody received anything, so everybody was treated alike, and a
/// metric column without NaN is easier to aggregate than one with.
///
/// ```
/// # use agora_engine::stats::jain_index;
/// assert!((jain_index(&[2.0, 2.0, 0.0, 0.0]).unwrap() - 0.5).abs() < 1e-15);
/// ```
///
/// # Errors
/// [`StatsError::Empty`], [`StatsError::NonFinite`] or [`StatsError::Negative`].
pub fn jain_index(values: &[f64]) -> Result<f64, StatsError> {
    validate(values)?;
    let max = values.iter().copied().fold(0.0, f64::max);
    if max == 0.0 {
        return Ok(1.0);
    }
    // Scaling by the maximum keeps (sum x)^2 from overflowing for very large amounts.
    let (sum, sum_sq) = values.iter().fold((0.0, 0.0), |(s, s2), &x| {
        let x = x / max;
        (s + x, s2 + x * x)
    });
    Ok(sum * sum / (values.len() as f64 * sum_sq))
}

/// Gini coefficient `sum_i sum_j |x_i - x_j| / (2 n^2 mean)`: the mean absolute difference
/// over all ordered pairs (self-pairs included) divided by twice the mean. It is 0 for equal
/// shares and `1 - 1/n` when one agent holds everything (this is the population form; the
/// `n (n - 1)` form would reach 1 but is not what the fairness literature tabulates).
///
/// Computed in O(n log n) from the sorted values as `sum_i (2i - n - 1) x_(i) / (n sum x)`
/// (1-based ranks). This sorts a copy; [`gini_in_place`] avoids the allocation.
/// All-zero input gives 0 (no inequality among equal shares of nothing).
///
/// ```
/// # use agora_engine::stats::gini;
/// assert_eq!(gini(&[0.0, 0.0, 0.0, 1.0]).unwrap(), 0.75);
/// ```
///
/// # Errors
/// [`StatsError::Empty`], [`StatsError::NonFinite`] or [`StatsError::Negative`].
pub fn gini(values: &[f64]) -> Result<f64, StatsError> {
    gini_in_place(&mut values.to_vec())
}

/// [`gini`], sorting `values` in place instead of a copy (the caller's order is lost).
///
/// # Errors
/// As [`gini`].
pub fn gini_in_place(values: &mut [f64]) -> Result<f64, StatsError> {
    validate(values)?;
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len() as f64;
    let (weighted, total) = values
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(w, t), (i, &x)| {
            let rank_weight = 2.0 * (i as f64 + 1.0) - n - 1.0;
            (w + rank_weight * x, t + x)
        });
    if total == 0.0 {
        return Ok(0.0);
    }
    Ok(weighted / (n * total))
}

/// Coefficient of variation, population standard deviation over mean; 0 for all-zero input.
///
/// # Errors
/// [`StatsError::Empty`], [`StatsError::NonFinite`] or [`StatsError::Negative`].
pub fn coefficient_of_variation(values: &[f64]) -> Result<f64, StatsError> {
    validate(values)?;
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean == 0.0 {
        return Ok(0.0);
    }
    let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    Ok(variance.sqrt() / mean)
}

/// Smallest share over largest share, in `[0, 1]`; 1 for all-zero input.
///
/// # Errors
/// [`StatsError::Empty`], [`StatsError::NonFinite`] or [`StatsError::Negative`].
pub fn min_max_ratio(values: &[f64]) -> Result<f64, StatsError> {
    validate(values)?;
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(if max == 0.0 { 1.0 } else { min / max })
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn brute_force_gini(x: &[f64]) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let pairs: f64 = x
            .iter()
            .flat_map(|a| x.iter().map(move |b| (a - b).abs()))
            .sum();
        pairs / (2.0 * n * n * mean)
    }

    #[test]
    fn jain_is_k_over_n_when_k_share_equally() {
        for n in 1..=12usize {
            for k in 1..=n {
                let mut x = vec![0.0; n];
                for v in x.iter_mut().step_by(n / k).take(k) {
                    *v = 3.7;
                }
                let expected = k as f64 / n as f64;
                let got = jain_index(&x).unwrap();
                assert!((got - expected).abs() < 1e-14, "n {n} k {k}: {got}");
            }
        }
    }

    #[test]
    fn jain_bounds_identity_and_scale_invariance() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let n = rng.random_range(1..30usize);
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..10.0)).collect();
            let j = jain_index(&x).unwrap();
            assert!(j >= 1.0 / n as f64 - 1e-12 && j <= 1.0 + 1e-12);
            let cv = coefficient_of_variation(&x).unwrap();
            assert!((j - 1.0 / (1.0 + cv * cv)).abs() < 1e-12);
            let scaled: Vec<f64> = x.iter().map(|v| v * 1e150).collect();
            assert!((jain_index(&scaled).unwrap() - j).abs() < 1e-12);
        }
    }

    #[test]
    fn gini_hand_computed() {
        assert_eq!(gini(&[0.0, 0.0, 0.0, 1.0]).unwrap(), 0.75);
        assert_eq!(gini(&[5.0, 5.0, 5.0]).unwrap(), 0.0);
        // Pairwise |differences| sum to 20, n^2 = 16, mean 2.5: 20 / 80.
        assert!((gini(&[4.0, 1.0, 3.0, 2.0]).unwrap() - 0.25).abs() < 1e-15);
        // One of two holds everything: 1 - 1/2.
        assert_eq!(gini(&[0.0, 9.0]).unwrap(), 0.5);
        assert_eq!(gini(&[7.0]).unwrap(), 0.0);
    }

    #[test]
    fn gini_matches_brute_force_and_is_order_free() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let n = rng.random_range(1..40usize);
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..5.0)).collect();
            let g = gini(&x).unwrap();
            assert!((g - brute_force_gini(&x)).abs() < 1e-12);
            assert!((0.0..=1.0 - 1.0 / n as f64 + 1e-12).contains(&g));
            let mut reversed = x.clone();
            reversed.reverse();
            assert_eq!(gini_in_place(&mut reversed).unwrap(), g);
        }
    }

    #[test]
    fn all_zero_conventions() {
        let zeros = [0.0; 5];
        assert_eq!(jain_index(&zeros).unwrap(), 1.0);
        assert_eq!(gini(&zeros).unwrap(), 0.0);
        assert_eq!(coefficient_of_variation(&zeros).unwrap(), 0.0);
        assert_eq!(min_max_ratio(&zeros).unwrap(), 1.0);
        assert_eq!(min_max_ratio(&[2.0, 8.0, 4.0]).unwrap(), 0.25);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(jain_index(&[]), Err(StatsError::Empty { .. })));
        assert!(matches!(
            gini(&[1.0, -2.0]),
            Err(StatsError::Negative { index: 1, .. })
        ));
        assert!(matches!(
            coefficient_of_variation(&[f64::NAN]),
            Err(StatsError::NonFinite { index: 0, .. })
        ));
        assert!(min_max_ratio(&[f64::INFINITY]).is_err());
    }
}
