//! Which optional vector instructions hot loops may use, decided once per process from the CPU.
//!
//! A default build may only assume the baseline of its target (SSE2 on x86-64), so kernels
//! that gain from wider registers keep a baseline version and a version compiled for the
//! feature, and call the latter when [`avx`], [`avx_fma`] or [`avx2`] says the CPU has it.
//! Every version must give the same bits: fixed lanes, and a fused multiply-add only where
//! every version fuses it, in hardware or with [`fused_mul_add`] (which rounds exactly as the
//! instruction does). `AGORA_SIMD=baseline` turns the wider versions off so that whole runs
//! can be compared both ways (`tools/ci/cpu-levels.sh`).

use std::sync::OnceLock;
use wide::{f32x4, f64x4, i32x8};

/// The environment variable that chooses the instruction level.
pub const ENV: &str = "AGORA_SIMD";

/// Its valid values: `auto` (the default: whatever the CPU has) and `baseline` (only what the
/// build assumes).
pub const LEVELS: [&str; 2] = ["auto", "baseline"];

/// `Err` with the valid values when [`ENV`] holds anything other than one of [`LEVELS`].
/// Front ends call it at start-up: a misspelt value would otherwise go unnoticed.
pub fn check_env() -> Result<(), String> {
    let Some(v) = std::env::var_os(ENV) else {
        return Ok(());
    };
    if v.to_str().is_some_and(|v| LEVELS.contains(&v)) {
        return Ok(());
    }
    Err(format!(
        "{ENV}={v:?} is not a level; valid levels: {}",
        LEVELS.join(", ")
    ))
}

fn baseline_only() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == "baseline")
}

/// Whether this process may run code compiled for AVX (256-bit floating-point vectors): the
/// CPU has it and [`ENV`] is not `baseline`. Always `false` off x86-64. Cheap enough to ask
/// per call of a kernel (one atomic load once decided).
#[inline]
pub fn avx() -> bool {
    static AVX: OnceLock<bool> = OnceLock::new();
    *AVX.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let found = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let found = false;
        found && !baseline_only()
    })
}

/// Like [`avx`], for AVX together with FMA (fused multiply-add, on x86-64 CPUs since 2013).
#[inline]
pub fn avx_fma() -> bool {
    // The standard library caches what it detects; `avx` holds the level's decision.
    #[cfg(target_arch = "x86_64")]
    return avx() && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `a * b + c` rounded once to `f32`, the bits of a fused multiply-add instruction, on any
/// CPU: the baseline version of kernels whose wider versions fuse.
///
/// The product is exact in `f64` (24 + 24 bits); the sum is rounded to `f64` and then moved
/// to the neighbour with an odd last bit when it was inexact (round to odd, from the sum's
/// error found by TwoSum), so that the final rounding to `f32` rounds the exact value: with
/// 53 bits against 24, round to odd then to nearest equals one rounding to nearest. The
/// standard library's `f32::mul_add` gives the same bits but calls the C library's `fmaf` on
/// CPUs without FMA, several times slower.
#[inline]
pub fn fused_mul_add(a: f32, b: f32, c: f32) -> f32 {
    let (p, c) = (f64::from(a) * f64::from(b), f64::from(c));
    let s = p + c;
    if !s.is_finite() {
        return s as f32;
    }
    let back = s - p;
    let error = (p - (s - back)) + (c - back);
    let bits = s.to_bits();
    if error == 0.0 || bits & 1 == 1 {
        return s as f32;
    }
    // `s` is not zero here (an inexact sum never rounds to zero), so its bits step its
    // magnitude: up when the error points away from zero, down otherwise.
    let odd = if (error > 0.0) == (s > 0.0) {
        bits + 1
    } else {
        bits - 1
    };
    f64::from_bits(odd) as f32
}

/// [`fused_mul_add`] in four lanes: the instruction where the build may assume one (FMA on
/// x86-64, NEON on aarch64), else one rounding of the exact `f64` product plus sum to `f32`
/// per lane, which is already the fused result unless that `f64` sum lies exactly halfway
/// between two `f32` or outside `f32`'s normal range (rare: those lanes take
/// [`fused_mul_add`]). A double rounding errs only when the first rounding lands on a
/// halfway point of the second: `f64` rounding is monotonic and every `f32` halfway point is
/// an `f64`, so otherwise the `f64` sum lies on the same side of each as the exact one.
#[inline(always)]
pub fn fused_mul_add4(a: f32x4, b: f32x4, c: f32x4) -> f32x4 {
    // Where `wide` fuses (`mul_add` is unfused on other targets).
    if cfg!(any(
        all(target_feature = "sse2", target_feature = "fma"),
        all(target_feature = "neon", target_arch = "aarch64")
    )) {
        return a.mul_add(b, c);
    }
    let (a, b, c) = (a.to_array(), b.to_array(), c.to_array());
    let wider = |v: [f32; 4]| f64x4::new(v.map(f64::from));
    let sums = wider(a) * wider(b) + wider(c);
    let size = sums.abs();
    let normal = size.simd_eq(f64x4::ZERO)
        | (size.simd_ge(f64x4::splat(f64::from(f32::MIN_POSITIVE)))
            & size.simd_le(f64x4::splat(f64::from(f32::MAX))));
    // Bit 28 of the significand set and those below it clear: halfway between `f32`s. The
    // low 32 bits of each lane are the even 32-bit words (little-endian).
    let words: i32x8 = bytemuck::cast(sums);
    let halfway = (words & i32x8::splat(0x1fff_ffff)).simd_eq(i32x8::splat(0x1000_0000));
    if normal.to_bitmask() == 0b1111 && halfway.to_bitmask() & 0b0101_0101 == 0 {
        return f32x4::new(sums.to_array().map(|s| s as f32));
    }
    f32x4::new(std::array::from_fn(|i| fused_mul_add(a[i], b[i], c[i])))
}

/// Like [`avx`], for AVX2 (256-bit integer vectors).
#[inline]
pub fn avx2() -> bool {
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let found = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let found = false;
        found && !baseline_only()
    })
}

#[cfg(test)]
mod tests {
    use super::{fused_mul_add, fused_mul_add4};
    use proptest::prelude::*;
    use wide::f32x4;

    /// The standard library's `mul_add` rounds once (the instruction, or a correctly rounded
    /// `fmaf`); every case must agree with it bit for bit.
    fn agrees(a: f32, b: f32, c: f32) {
        let (got, want) = (fused_mul_add(a, b, c), a.mul_add(b, c));
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "fused_mul_add({a:e}, {b:e}, {c:e}) = {got:e}, the instruction gives {want:e}"
        );
    }

    #[test]
    fn rounds_as_the_instruction_on_hard_cases() {
        let tiny = f32::from_bits(1);
        let cases = [
            (1.0, 1.0, 0.0),
            (0.0, -1.0, 0.0),
            (-0.0, 1.0, -0.0),
            (1.0 + f32::EPSILON, 1.0 - f32::EPSILON, -1.0),
            // Exact sum just below the tie between 1 + 2^-23 and 1 + 2^-22; rounded to `f64`
            // it is the tie itself, which then rounds up to the even neighbour.
            (
                1.0 + f32::EPSILON,
                (1.0 - f32::EPSILON) * f32::EPSILON / 2.0,
                1.0 + f32::EPSILON,
            ),
            // A product with more bits than `f32` holds plus the smallest addend.
            (1.0 + f32::EPSILON, 1.0 + f32::EPSILON, tiny),
            (1.0 + f32::EPSILON, 1.0 + f32::EPSILON, -tiny),
            (3.0, 1.0 / 3.0, -1.0),
            (f32::MAX, 2.0, -f32::MAX),
            (f32::MAX, 1.0, f32::MAX),
            (1e18, 1e18, 1.0),
            (2e36, 2e36, 1.0),
            (tiny, 0.5, 0.0),
            (tiny, tiny, tiny),
            (f32::MIN_POSITIVE, 0.75, -tiny),
            (f32::INFINITY, 0.0, 1.0),
            (f32::INFINITY, 1.0, f32::NEG_INFINITY),
            (f32::NAN, 1.0, 1.0),
            (16777217.0, 16777215.0, -2.8147496e14),
        ];
        for (a, b, c) in cases {
            agrees(a, b, c);
            agrees(-a, b, c);
            agrees(a, b, -c);
        }
    }

    /// The four-lane version against the scalar one, on the hard cases in every lane
    /// position beside ordinary lanes (a rare lane sends the whole vector to the scalar
    /// path).
    #[test]
    fn four_lanes_round_as_one() {
        let hard = [
            (
                1.0 + f32::EPSILON,
                (1.0 - f32::EPSILON) * f32::EPSILON / 2.0,
                1.0 + f32::EPSILON,
            ),
            (1.5, 1.0, f32::EPSILON),
            (f32::from_bits(1), 0.5, 0.0),
            (f32::MAX, 2.0, -f32::MAX),
            (f32::INFINITY, 0.0, 1.0),
            (3.0, 1.0 / 3.0, -1.0),
        ];
        for &(a, b, c) in &hard {
            for lane in 0..4 {
                let mut v = [[0.25f32, 3.0, -7.5]; 4];
                v[lane] = [a, b, c];
                let four = fused_mul_add4(
                    f32x4::new(v.map(|l| l[0])),
                    f32x4::new(v.map(|l| l[1])),
                    f32x4::new(v.map(|l| l[2])),
                )
                .to_array();
                for (got, l) in four.iter().zip(v) {
                    let want = fused_mul_add(l[0], l[1], l[2]);
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{l:?}: {got:e} against {want:e}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn rounds_as_the_instruction_on_any_bits(a: u32, b: u32, c: u32) {
            agrees(f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
        }

        #[test]
        fn four_lanes_round_as_the_instruction(
            a in prop::array::uniform4(-1e3f32..1e3),
            b in prop::array::uniform4(-1e3f32..1e3),
            c in prop::array::uniform4(-1e6f32..1e6),
        ) {
            let four = fused_mul_add4(f32x4::new(a), f32x4::new(b), f32x4::new(c)).to_array();
            for i in 0..4 {
                prop_assert_eq!(four[i].to_bits(), a[i].mul_add(b[i], c[i]).to_bits());
            }
        }

        #[test]
        fn rounds_as_the_instruction_near_cancellation(
            a in -100.0f32..100.0,
            b in -100.0f32..100.0,
            nudge in -4i32..4,
        ) {
            // An addend that nearly cancels the product leaves the product's low bits.
            let c = -f32::from_bits((a * b).to_bits().wrapping_add_signed(nudge));
            agrees(a, b, c);
        }
    }
}
