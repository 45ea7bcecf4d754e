//! Random and Latin-hypercube sample points for `Sample` axes.
//!
//! Draws come from `ChaCha8Rng::seed_from_u64(seed)` through [`unit()`] and [`below()`] written
//! here, not through `rand`'s distribution helpers, whose algorithms may change between `rand`
//! releases: a sample axis must give the same points, and so the same run ids, forever.

use super::file::SampleMethod;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A uniform float in `[0, 1)` with 53 random bits.
pub fn unit(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `0..n` (`n > 0`) without modulo bias (Lemire's multiply-shift with
/// rejection).
pub fn below(rng: &mut impl Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// `n` points over the boxes `bounds[d] = (min, max)`; `result[i][d]` is point `i`'s
/// coordinate in dimension `d`.
///
/// `Random`: each coordinate is `min + u * (max - min)` with `u` uniform in `[0, 1)`, drawn
/// point by point, dimension by dimension. `LatinHypercube`: per dimension (in order), a
/// Fisher-Yates permutation `perm` of `0..n`, then for each point `i` a jitter `u`, and the
/// coordinate is `min + (perm[i] + u) / n * (max - min)`, so each of the `n` equal strata of
/// every dimension holds exactly one point.
pub fn draw(method: SampleMethod, n: usize, seed: u64, bounds: &[(f64, f64)]) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = vec![vec![0.0; bounds.len()]; n];
    match method {
        SampleMethod::Random => {
            for point in &mut points {
                for (x, &(lo, hi)) in point.iter_mut().zip(bounds) {
                    *x = lo + unit(&mut rng) * (hi - lo);
                }
            }
        }
        SampleMethod::LatinHypercube => {
            let mut perm: Vec<usize> = Vec::with_capacity(n);
            for (d, &(lo, hi)) in bounds.iter().enumerate() {
                perm.clear();
                perm.extend(0..n);
                for i in (1..n).rev() {
                    let j = below(&mut rng, i as u64 + 1) as usize;
                    perm.swap(i, j);
                }
                for (i, point) in points.iter_mut().enumerate() {
                    let u = unit(&mut rng);
                    point[d] = lo + (perm[i] as f64 + u) / n as f64 * (hi - lo);
                }
            }
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_hypercube_hits_every_stratum_once_per_dimension() {
        for n in [1usize, 2, 7, 50] {
            let bounds = [(0.0, 1.0), (-5.0, 5.0), (10.0, 10.5)];
            let pts = draw(SampleMethod::LatinHypercube, n, 42 + n as u64, &bounds);
            assert_eq!(pts.len(), n);
            for (d, &(lo, hi)) in bounds.iter().enumerate() {
                let mut hits = vec![0usize; n];
                for p in &pts {
                    assert!(p[d] >= lo && p[d] < hi, "{} outside [{lo}, {hi})", p[d]);
                    let stratum = ((p[d] - lo) / (hi - lo) * n as f64).floor() as usize;
                    hits[stratum.min(n - 1)] += 1;
                }
                assert!(hits.iter().all(|&h| h == 1), "dim {d}: {hits:?}");
            }
        }
    }

    #[test]
    fn latin_hypercube_matches_a_hand_derivation_from_the_raw_stream() {
        // n = 2, one dimension over [10, 20): the documented algorithm by hand. Fisher-Yates
        // draws j = below(2) for i = 1, which for n = 2 is the top bit of the first word
        // (threshold 0); swap(1, j) leaves [0, 1] when j = 1 and gives [1, 0] when j = 0.
        // Then one jitter u per point from the next words' top 53 bits.
        let mut raw = ChaCha8Rng::seed_from_u64(77);
        let words: Vec<u64> = (0..3).map(|_| raw.next_u64()).collect();
        let perm = if words[0] >> 63 == 1 {
            [0.0, 1.0]
        } else {
            [1.0, 0.0]
        };
        let u = |w: u64| (w >> 11) as f64 / 9_007_199_254_740_992.0;
        let want = [
            10.0 + (perm[0] + u(words[1])) / 2.0 * 10.0,
            10.0 + (perm[1] + u(words[2])) / 2.0 * 10.0,
        ];
        let got = draw(SampleMethod::LatinHypercube, 2, 77, &[(10.0, 20.0)]);
        assert_eq!([got[0][0], got[1][0]], want);
        // And a random sample is min + u * (max - min) straight from the words.
        let got = draw(SampleMethod::Random, 3, 77, &[(10.0, 20.0)]);
        let want: Vec<f64> = words.iter().map(|&w| 10.0 + u(w) * 10.0).collect();
        assert_eq!(got.iter().map(|p| p[0]).collect::<Vec<_>>(), want);
    }

    #[test]
    fn samples_are_reproducible_and_seed_dependent() {
        let b = [(0.0, 1.0), (2.0, 3.0)];
        for m in [SampleMethod::Random, SampleMethod::LatinHypercube] {
            assert_eq!(draw(m, 5, 9, &b), draw(m, 5, 9, &b));
            assert_ne!(draw(m, 5, 9, &b), draw(m, 5, 10, &b));
        }
        let r = draw(SampleMethod::Random, 200, 1, &b);
        assert!(
            r.iter()
                .all(|p| (0.0..1.0).contains(&p[0]) && (2.0..3.0).contains(&p[1]))
        );
        let mean = r.iter().map(|p| p[0]).sum::<f64>() / 200.0;
        // 200 uniforms: standard error 0.02, so 0.5 +- 0.1 fails with probability ~1e-6.
        assert!((mean - 0.5).abs() < 0.1, "{mean}");
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [false; 7];
        for _ in 0..500 {
            let x = below(&mut rng, 7) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
