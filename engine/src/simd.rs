//! Which optional vector instructions hot loops may use, decided once per process from the CPU.
//!
//! A default build may only assume the baseline of its target (SSE2 on x86-64), so kernels
//! that gain from wider registers keep a baseline version and a version compiled for the
//! feature, and call the latter when [`avx`] or [`avx2`] says the CPU has it. Every version
//! must give the same bits (fixed lanes, no fused multiply-add); `AGORA_SIMD=baseline` turns
//! the wider versions off so that whole runs can be compared both ways
//! (`tools/ci/cpu-levels.sh`).

use std::sync::OnceLock;

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
