//! Seeded noise for the statistical tests.

use rand::Rng;

/// Standard normal draws by the Box-Muller transform, caching the second value of each pair.
pub(crate) struct Gaussian {
    spare: Option<f64>,
}

impl Gaussian {
    pub(crate) fn new() -> Self {
        Self { spare: None }
    }

    pub(crate) fn sample<R: Rng + ?Sized>(&mut self, rng: &mut R) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 53 random bits mapped to (0, 1]: never 0, so the logarithm is finite.
        let u1 = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn moments_match_the_standard_normal() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut gaussian = Gaussian::new();
        let n = 200_000;
        let (mut sum, mut sum2, mut above2) = (0.0, 0.0, 0u32);
        for _ in 0..n {
            let z = gaussian.sample(&mut rng);
            sum += z;
            sum2 += z * z;
            if z > 2.0 {
                above2 += 1;
            }
        }
        let mean = sum / f64::from(n);
        let var = sum2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        // P(Z > 2) = 0.02275; the binomial standard error at this n is 0.00033.
        let tail = f64::from(above2) / f64::from(n);
        assert!((tail - 0.02275).abs() < 0.0015, "tail {tail}");
    }
}
