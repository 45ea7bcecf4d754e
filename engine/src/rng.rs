//! Counter-based randomness: every draw is a pure function of (run seed, stream, tick, purpose,
//! draw index), so no result depends on the order in which agents are visited or on the
//! number of threads.
//!
//! The generator is ChaCha8 exactly as `rand_chacha::ChaCha8Rng` defines it: the run key is
//! `ChaCha8Rng::seed_from_u64(seed).get_seed()`, each agent has its own stream
//! (`set_stream(agent_id)`), and the position within the stream is derived from the tick and a
//! purpose tag. A test checks word for word that [`AgentRng`] yields what `ChaCha8Rng` yields
//! at that stream and position. The block function is evaluated here directly because seeking a
//! `ChaCha8Rng` regenerates a four-block buffer (about 130 ns measured) where one block
//! (about 35 ns) is all a typical agent needs per tick.

use bevy_ecs::prelude::Resource;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::convert::Infallible;
use wide::u32x4;

/// Bits of the 64-bit block counter given to the draw index inside one (tick, purpose) slot:
/// 2^20 blocks of 16 words each, i.e. 16 Mi `u32` draws per agent, tick and purpose.
const BLOCK_BITS: u32 = 20;
/// Bits of the block counter given to the purpose tag.
const PURPOSE_BITS: u32 = 8;
/// Streams at or above this value are not agent streams (see [`SimRng::global`]).
const GLOBAL_STREAM_BASE: u64 = 1 << 63;

/// What a draw is for. Two draws by the same agent in the same tick must use different
/// purposes so that they come from disjoint parts of the stream.
///
/// Behaviors may use any value below [`Purpose::ENGINE_BASE`]; the engine uses the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purpose(pub u8);

impl Purpose {
    /// The default purpose for a behavior's per-tick decision.
    pub const DECIDE: Purpose = Purpose(0);
    /// A second independent purpose for behaviors that draw in two systems.
    pub const MOVE: Purpose = Purpose(1);
    /// First purpose reserved for the engine.
    pub const ENGINE_BASE: u8 = 200;
    /// Initial placement of agents.
    pub const PLACEMENT: Purpose = Purpose(200);
    /// Behavior-specific initial state at spawn time.
    pub const SPAWN: Purpose = Purpose(201);
    /// Activation order of sequentially activated behaviors.
    pub const ACTIVATION: Purpose = Purpose(202);
    /// Message loss and latency sampling by the communication channel.
    pub const CHANNEL: Purpose = Purpose(203);
    /// Scenario events (which agents fail, where new ones appear).
    pub const EVENTS: Purpose = Purpose(204);
    /// Conflict resolution draws (random winners, backoff).
    pub const CONFLICT: Purpose = Purpose(205);
    /// Task generation (arrivals, locations).
    pub const TASKS: Purpose = Purpose(206);
}

/// The run's randomness: a ChaCha8 key derived from the scenario seed.
#[derive(Resource, Debug, Clone)]
pub struct SimRng {
    key: [u32; 8],
    seed: u64,
}

impl SimRng {
    /// Derives the run key from a seed, the way `ChaCha8Rng::seed_from_u64` does.
    pub fn new(seed: u64) -> SimRng {
        let bytes = ChaCha8Rng::seed_from_u64(seed).get_seed();
        let mut key = [0u32; 8];
        for (i, word) in key.iter_mut().enumerate() {
            *word = u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ]);
        }
        SimRng { key, seed }
    }

    /// The seed this key was derived from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream of agent `agent` at `tick` for `purpose`.
    #[inline]
    pub fn agent(&self, agent: u32, tick: u64, purpose: Purpose) -> AgentRng {
        AgentRng::new(self.key, u64::from(agent), tick, purpose)
    }

    /// The streams of eight agents at `tick` for `purpose`, each exactly what
    /// [`SimRng::agent`] gives, with their first blocks computed together in SIMD lanes
    /// (about a quarter of the cost of eight separate first draws). Hot loops that draw for
    /// every agent use it; repeat an id to fill a short batch.
    #[inline]
    pub fn agents8(&self, agents: [u32; 8], tick: u64, purpose: Purpose) -> [AgentRng; 8] {
        let first = first_block(tick, purpose);
        let words = chacha8_block_x8(&self.key, agents, first);
        std::array::from_fn(|lane| AgentRng {
            key: self.key,
            stream: u64::from(agents[lane]),
            block: first.wrapping_add(1),
            buf: std::array::from_fn(|w| words[w][lane]),
            idx: 0,
        })
    }

    /// The first sixteen `u32` draws of eight agents' streams at `tick` for `purpose`, word
    /// by word: `words[w][lane]` is the `w`-th draw of
    /// [`SimRng::agent`]`(agents[lane], tick, purpose)`. For hot loops that need no more
    /// than a block per agent and tick: no generator to build or carry (with
    /// [`unit_f64_from_words`] for floats).
    #[inline]
    pub fn first_words8(&self, agents: [u32; 8], tick: u64, purpose: Purpose) -> [[u32; 8]; 16] {
        let first = first_block(tick, purpose);
        chacha8_block_x8(&self.key, agents, first)
    }

    /// The first `K` [`AgentRng::unit_f64`] draws (`K <= 8`, one block's worth) of eight
    /// agents' streams at `tick` for `purpose`, draw by draw: `units[k][lane]` is the `k`-th
    /// `unit_f64` of [`SimRng::agent`]`(agents[lane], tick, purpose)`. Like
    /// [`SimRng::first_words8`], for hot loops; where the CPU has AVX2 the floats are made in
    /// the same vector registers as the block, and with `K <= 2` the last round only computes
    /// the four words they need.
    #[inline]
    pub fn first_units8<const K: usize>(
        &self,
        agents: [u32; 8],
        tick: u64,
        purpose: Purpose,
    ) -> [[f64; 8]; K] {
        const { assert!(K <= 8, "one block holds eight unit floats") };
        let first = first_block(tick, purpose);
        let input = chacha8_input(&self.key, 0, first);
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            #[allow(
                unsafe_code,
                reason = "the one call into code compiled for a CPU feature found at run time"
            )]
            // SAFETY: `avx2::units_x8` needs AVX2 and nothing else; `simd::avx2()` is true
            // only when the CPU has it.
            return unsafe { avx2::units_x8(&input, agents) };
        }
        units_x8_in_halves(&input, agents)
    }

    /// A stream that belongs to no agent (scenario-level draws such as task arrivals or a
    /// shuffled activation order), identified by `channel` so that unrelated subsystems never
    /// share draws.
    #[inline]
    pub fn global(&self, channel: u32, tick: u64, purpose: Purpose) -> AgentRng {
        AgentRng::new(
            self.key,
            GLOBAL_STREAM_BASE | u64::from(channel),
            tick,
            purpose,
        )
    }
}

/// A generator positioned at one (stream, tick, purpose) slot. Cheap to create (no work until
/// the first draw); implements [`rand::Rng`], so `rand::RngExt` methods such as `random` and
/// `random_range` work on it.
#[derive(Debug, Clone)]
pub struct AgentRng {
    key: [u32; 8],
    stream: u64,
    block: u64,
    buf: [u32; 16],
    idx: usize,
}

impl AgentRng {
    fn new(key: [u32; 8], stream: u64, tick: u64, purpose: Purpose) -> AgentRng {
        AgentRng {
            key,
            stream,
            block: first_block(tick, purpose),
            buf: [0; 16],
            idx: 16,
        }
    }

    // Out of line, so that a draw served from the buffer inlines to a load and a compare.
    #[inline(never)]
    fn refill(&mut self) {
        self.buf = chacha8_block(&self.key, self.stream, self.block);
        self.block = self.block.wrapping_add(1);
        self.idx = 0;
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit_f64(&mut self) -> f64 {
        unit_f64_of(rand::Rng::next_u64(self))
    }

    /// A uniform integer in `0..n` without modulo bias (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) has no valid result");
        // Lemire's multiply-shift with rejection.
        loop {
            let x = rand::Rng::next_u64(self);
            let m = u128::from(x) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }
}

impl rand::TryRng for AgentRng {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        if self.idx >= 16 {
            self.refill();
        }
        let w = self.buf[self.idx];
        self.idx += 1;
        Ok(w)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let lo = self.try_next_u32()?;
        let hi = self.try_next_u32()?;
        Ok(join_words(lo, hi))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(4) {
            let w = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// The first block counter of every stream's slot at (`tick`, `purpose`).
#[inline]
fn first_block(tick: u64, purpose: Purpose) -> u64 {
    (tick << (BLOCK_BITS + PURPOSE_BITS)) | (u64::from(purpose.0) << BLOCK_BITS)
}

/// The 64-bit draw made of two consecutive `u32` draws, in rand_chacha's order: low word
/// first.
#[inline]
fn join_words(lo: u32, hi: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The float in `[0, 1)` of a 64-bit draw: its top 53 bits.
#[inline]
fn unit_f64_of(draw: u64) -> f64 {
    (draw >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// What [`AgentRng::unit_f64`] returns when its next two `u32` draws are `lo` then `hi`;
/// for words from [`SimRng::first_words8`].
#[inline]
pub fn unit_f64_from_words(lo: u32, hi: u32) -> f64 {
    unit_f64_of(join_words(lo, hi))
}

/// A ChaCha state word: one `u32`, or one per SIMD lane.
trait Word: Copy {
    fn add(self, other: Self) -> Self;
    fn xor_rotl(self, other: Self, n: u32) -> Self;
}

impl Word for u32 {
    #[inline(always)]
    fn add(self, other: u32) -> u32 {
        self.wrapping_add(other)
    }
    #[inline(always)]
    fn xor_rotl(self, other: u32, n: u32) -> u32 {
        (self ^ other).rotate_left(n)
    }
}

impl Word for u32x4 {
    #[inline(always)]
    fn add(self, other: u32x4) -> u32x4 {
        // Lane-wise wrapping addition.
        self + other
    }
    #[inline(always)]
    fn xor_rotl(self, other: u32x4, n: u32) -> u32x4 {
        let x = self ^ other;
        (x << n) | (x >> (32 - n))
    }
}

/// One ChaCha double round: `$quarter(state, a, b, c, d)` on the four columns, then the four
/// diagonals. A macro rather than a loop over a table of indices, which the AVX2 version did
/// not unroll (its state then lived in memory: twice as slow).
macro_rules! double_round {
    ($quarter:expr, $s:expr) => {
        $quarter($s, 0, 4, 8, 12);
        $quarter($s, 1, 5, 9, 13);
        $quarter($s, 2, 6, 10, 14);
        $quarter($s, 3, 7, 11, 15);
        $quarter($s, 0, 5, 10, 15);
        $quarter($s, 1, 6, 11, 12);
        $quarter($s, 2, 7, 8, 13);
        $quarter($s, 3, 4, 9, 14);
    };
}

/// The eight ChaCha rounds plus the final addition of the input.
#[inline(always)]
fn chacha8<W: Word>(init: [W; 16]) -> [W; 16] {
    #[inline(always)]
    fn quarter_round<W: Word>(s: &mut [W; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].add(s[b]);
        s[d] = s[d].xor_rotl(s[a], 16);
        s[c] = s[c].add(s[d]);
        s[b] = s[b].xor_rotl(s[c], 12);
        s[a] = s[a].add(s[b]);
        s[d] = s[d].xor_rotl(s[a], 8);
        s[c] = s[c].add(s[d]);
        s[b] = s[b].xor_rotl(s[c], 7);
    }
    let mut s = init;
    for _ in 0..4 {
        double_round!(quarter_round, &mut s);
    }
    std::array::from_fn(|w| s[w].add(init[w]))
}

/// The ChaCha input block: constants, key, 64-bit block counter, 64-bit stream (the layout
/// rand_chacha uses).
#[inline(always)]
fn chacha8_input(key: &[u32; 8], stream: u64, block: u64) -> [u32; 16] {
    [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        block as u32,
        (block >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ]
}

/// One ChaCha8 block.
#[inline]
fn chacha8_block(key: &[u32; 8], stream: u64, block: u64) -> [u32; 16] {
    chacha8(chacha8_input(key, stream, block))
}

/// [`chacha8_block`] for eight streams `0..2^32` at the same block counter, one stream per
/// lane, word by word (`[word][lane]`, the order the lanes come out in). The lanes are
/// independent, so each equals the scalar block bit for bit. All eight lanes in 256-bit AVX2
/// registers where the CPU has them, chosen at run time (a default build may only assume
/// SSE2); otherwise four lanes at a time, since the sixteen state vectors then fit the
/// baseline x86-64 register file (eight lanes in 128-bit halves spill, measured about 1.5x
/// slower). Integer operations only, so every way gives the same bits (tested).
#[inline]
fn chacha8_block_x8(key: &[u32; 8], streams: [u32; 8], block: u64) -> [[u32; 8]; 16] {
    let input = chacha8_input(key, 0, block);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        #[allow(
            unsafe_code,
            reason = "the one call into code compiled for a CPU feature found at run time"
        )]
        // SAFETY: `avx2::block_x8` needs AVX2 and nothing else; `simd::avx2()` is true only
        // when the CPU has it.
        return unsafe { avx2::block_x8(&input, streams) };
    }
    block_x8_in_halves(&input, streams)
}

/// [`chacha8_block_x8`] in two passes of four 128-bit lanes.
fn block_x8_in_halves(input: &[u32; 16], streams: [u32; 8]) -> [[u32; 8]; 16] {
    let input = input.map(u32x4::splat);
    let half = |lanes: [u32; 4]| {
        let mut init = input;
        init[14] = u32x4::new(lanes);
        chacha8(init).map(u32x4::to_array)
    };
    let lo = half([streams[0], streams[1], streams[2], streams[3]]);
    let hi = half([streams[4], streams[5], streams[6], streams[7]]);
    std::array::from_fn(|w| {
        std::array::from_fn(|lane| {
            if lane < 4 {
                lo[w][lane]
            } else {
                hi[w][lane - 4]
            }
        })
    })
}

/// [`SimRng::first_units8`] from [`block_x8_in_halves`].
fn units_x8_in_halves<const K: usize>(input: &[u32; 16], streams: [u32; 8]) -> [[f64; 8]; K] {
    let words = block_x8_in_halves(input, streams);
    std::array::from_fn(|k| {
        std::array::from_fn(|lane| unit_f64_from_words(words[2 * k][lane], words[2 * k + 1][lane]))
    })
}

/// [`chacha8`] over eight lanes of 256-bit AVX2 vectors, written with `core::arch`
/// intrinsics (safe to call inside a function compiled for AVX2): `wide` fixes its vector
/// types when it is compiled, so in a default build its eight-lane type is two 128-bit
/// halves. The rotations by 16 and 8 are byte shuffles, one instruction each.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m128i, __m256d, __m256i, _mm256_add_epi32, _mm256_add_pd, _mm256_castsi256_si128,
        _mm256_cvtepi32_pd, _mm256_extracti128_si256, _mm256_mul_pd, _mm256_or_si256,
        _mm256_set1_epi32, _mm256_set1_pd, _mm256_setr_epi8, _mm256_setzero_si256,
        _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_xor_si256,
    };

    #[target_feature(enable = "avx2")]
    fn rotl<const L: i32, const R: i32>(x: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi32::<L>(x), _mm256_srli_epi32::<R>(x))
    }

    /// The input of eight `streams` (the stream words of `input` are zero) and the state
    /// after the eight rounds. With `first_row`, the last diagonal round stops once words
    /// 0 to 3 are final: the rest of the state is then not the block's.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rounds(
        input: &[u32; 16],
        streams: [u32; 8],
        first_row: bool,
    ) -> ([__m256i; 16], [__m256i; 16]) {
        // Byte shuffles within each 32-bit word, the same in both 128-bit halves.
        let rot16 = _mm256_setr_epi8(
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11,
            8, 9, 14, 15, 12, 13,
        );
        let rot8 = _mm256_setr_epi8(
            3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9,
            10, 15, 12, 13, 14,
        );
        // Loops rather than `array::map`, whose generic code is not compiled for AVX2 and
        // so cannot inline these intrinsics.
        let mut init = [_mm256_setzero_si256(); 16];
        for (v, &w) in init.iter_mut().zip(input) {
            *v = _mm256_set1_epi32(w as i32);
        }
        init[14] = bytemuck::cast(streams);
        let mut s = init;
        // The first half of a quarter round: where its `a` word is final.
        let head = |s: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize| {
            s[a] = _mm256_add_epi32(s[a], s[b]);
            s[d] = _mm256_shuffle_epi8(_mm256_xor_si256(s[d], s[a]), rot16);
            s[c] = _mm256_add_epi32(s[c], s[d]);
            s[b] = rotl::<12, 20>(_mm256_xor_si256(s[b], s[c]));
            s[a] = _mm256_add_epi32(s[a], s[b]);
        };
        let quarter = |s: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize| {
            head(s, a, b, c, d);
            s[d] = _mm256_shuffle_epi8(_mm256_xor_si256(s[d], s[a]), rot8);
            s[c] = _mm256_add_epi32(s[c], s[d]);
            s[b] = rotl::<7, 25>(_mm256_xor_si256(s[b], s[c]));
        };
        for _ in 0..3 {
            double_round!(quarter, &mut s);
        }
        if first_row {
            quarter(&mut s, 0, 4, 8, 12);
            quarter(&mut s, 1, 5, 9, 13);
            quarter(&mut s, 2, 6, 10, 14);
            quarter(&mut s, 3, 7, 11, 15);
            head(&mut s, 0, 5, 10, 15);
            head(&mut s, 1, 6, 11, 12);
            head(&mut s, 2, 7, 8, 13);
            head(&mut s, 3, 4, 9, 14);
        } else {
            double_round!(quarter, &mut s);
        }
        (init, s)
    }

    /// The block of `input` (whose stream words are zero) for each of eight `streams`.
    #[target_feature(enable = "avx2")]
    pub(super) fn block_x8(input: &[u32; 16], streams: [u32; 8]) -> [[u32; 8]; 16] {
        let (init, s) = rounds(input, streams, false);
        let mut out = [[0; 8]; 16];
        for ((out, s), init) in out.iter_mut().zip(s).zip(init) {
            *out = bytemuck::cast(_mm256_add_epi32(s, init));
        }
        out
    }

    /// [`super::SimRng::first_units8`]'s floats from the blocks of [`block_x8`]: each
    /// `unit_f64` of words `lo`, `hi` is `hi * 2^-32 + (lo >> 11) * 2^-53`, two exact
    /// products of exact conversions whose bits do not overlap, so their sum is exact too
    /// and equals the scalar conversion of the joined 53 bits.
    #[target_feature(enable = "avx2")]
    pub(super) fn units_x8<const K: usize>(input: &[u32; 16], streams: [u32; 8]) -> [[f64; 8]; K] {
        let (init, s) = rounds(input, streams, K <= 2);
        let word = |w: usize| _mm256_add_epi32(s[w], init[w]);
        // `u32` lanes as `f64` through the signed conversion: the top bit flipped, then
        // 2^31 added back (exact).
        let halves = |v: __m256i| -> [__m128i; 2] {
            [_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)]
        };
        let (low_scale, high_scale) = (
            _mm256_set1_pd(1.0 / 9_007_199_254_740_992.0),
            _mm256_set1_pd(1.0 / 4_294_967_296.0),
        );
        let (sign, offset) = (_mm256_set1_epi32(i32::MIN), _mm256_set1_pd(2_147_483_648.0));
        let mut out = [[0.0; 8]; K];
        for (k, out) in out.iter_mut().enumerate() {
            let lo = halves(_mm256_srli_epi32::<11>(word(2 * k)));
            let hi = halves(_mm256_xor_si256(word(2 * k + 1), sign));
            let unit = |i: usize| -> __m256d {
                let hi = _mm256_add_pd(_mm256_cvtepi32_pd(hi[i]), offset);
                _mm256_add_pd(
                    _mm256_mul_pd(hi, high_scale),
                    _mm256_mul_pd(_mm256_cvtepi32_pd(lo[i]), low_scale),
                )
            };
            *out = bytemuck::cast([unit(0), unit(1)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt};

    fn reference(seed: u64, stream: u64, tick: u64, purpose: Purpose) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        let block = (tick << (BLOCK_BITS + PURPOSE_BITS)) | (u64::from(purpose.0) << BLOCK_BITS);
        r.set_word_pos(u128::from(block) * 16);
        r
    }

    #[test]
    fn agent_stream_equals_rand_chacha_word_for_word() {
        let sim = SimRng::new(1234);
        for (agent, tick, purpose) in [
            (0, 0, Purpose::DECIDE),
            (7, 99, Purpose(3)),
            (1_000_000, 5, Purpose::SPAWN),
        ] {
            let mut ours = sim.agent(agent, tick, purpose);
            let mut theirs = reference(1234, u64::from(agent), tick, purpose);
            // 40 words crosses two block boundaries.
            for _ in 0..40 {
                assert_eq!(ours.next_u32(), theirs.next_u32());
            }
            assert_eq!(ours.next_u64(), theirs.next_u64());
        }
    }

    #[test]
    fn batches_of_eight_equal_single_streams() {
        let sim = SimRng::new(77);
        let ids = [0, 1, 5, 9, 4_000_000_000, 3, 3, 123_456];
        let mut batch = sim.agents8(ids, 41, Purpose::MOVE);
        for (lane, &id) in ids.iter().enumerate() {
            let mut single = sim.agent(id, 41, Purpose::MOVE);
            // 20 words reads past the precomputed block into the next one.
            for _ in 0..20 {
                assert_eq!(batch[lane].next_u32(), single.next_u32(), "lane {lane}");
            }
        }
    }

    /// The AVX2 block function against the four-lane one, bit for bit, over many keys,
    /// streams and counters.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_blocks_equal_the_baseline_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx2"),
            "this test compares the AVX2 ChaCha and needs an x86-64 CPU with AVX2 (2013 on)"
        );
        for seed in 0..200u64 {
            let sim = SimRng::new(seed);
            let mut draw = sim.agent(seed as u32, seed, Purpose::DECIDE);
            let streams: [u32; 8] = std::array::from_fn(|_| draw.next_u32());
            let input = chacha8_input(&sim.key, 0, draw.next_u64());
            #[allow(unsafe_code, reason = "calls the AVX2 kernel on a CPU checked above")]
            // SAFETY: the assertion above found AVX2 on this CPU.
            let wide = unsafe { avx2::block_x8(&input, streams) };
            assert_eq!(wide, block_x8_in_halves(&input, streams), "seed {seed}");
        }
    }

    /// Both the shortened last round (two floats) and the whole block (eight).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_units_equal_the_baseline_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx2"),
            "this test compares the AVX2 ChaCha and needs an x86-64 CPU with AVX2 (2013 on)"
        );
        let bits = |u: [[f64; 8]; 2]| u.map(|k| k.map(f64::to_bits));
        for seed in 0..200u64 {
            let sim = SimRng::new(seed);
            let mut draw = sim.agent(seed as u32, seed, Purpose::DECIDE);
            let streams: [u32; 8] = std::array::from_fn(|_| draw.next_u32());
            let input = chacha8_input(&sim.key, 0, draw.next_u64());
            #[allow(unsafe_code, reason = "calls the AVX2 kernel on a CPU checked above")]
            // SAFETY: the assertion above found AVX2 on this CPU.
            let (two, eight) = unsafe {
                (
                    avx2::units_x8::<2>(&input, streams),
                    avx2::units_x8::<8>(&input, streams),
                )
            };
            let want: [[f64; 8]; 8] = units_x8_in_halves(&input, streams);
            assert_eq!(bits(two), bits([want[0], want[1]]), "seed {seed}");
            assert_eq!(
                eight.map(|k| k.map(f64::to_bits)),
                want.map(|k| k.map(f64::to_bits)),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn first_units_of_eight_equal_single_streams() {
        let sim = SimRng::new(91);
        let ids = [7, 0, 5, 9, 4_000_000_000, 3, 3, 123_456];
        for tick in [0, 1, 77, 1 << 30] {
            let two = sim.first_units8::<2>(ids, tick, Purpose::DECIDE);
            let eight = sim.first_units8::<8>(ids, tick, Purpose(5));
            for (lane, &id) in ids.iter().enumerate() {
                let mut a = sim.agent(id, tick, Purpose::DECIDE);
                let mut b = sim.agent(id, tick, Purpose(5));
                for k in 0..8 {
                    if k < 2 {
                        assert_eq!(two[k][lane].to_bits(), a.unit_f64().to_bits());
                    }
                    assert_eq!(eight[k][lane].to_bits(), b.unit_f64().to_bits());
                }
            }
        }
    }

    #[test]
    fn first_words_of_eight_equal_single_streams() {
        let sim = SimRng::new(78);
        let ids = [2, 0, 5, 9, 4_000_000_000, 3, 3, 654_321];
        let words = sim.first_words8(ids, 12, Purpose::DECIDE);
        for (lane, &id) in ids.iter().enumerate() {
            let mut single = sim.agent(id, 12, Purpose::DECIDE);
            for (w, word) in words.iter().enumerate() {
                assert_eq!(word[lane], single.next_u32(), "lane {lane}, word {w}");
            }
            let mut single = sim.agent(id, 12, Purpose::DECIDE);
            for w in [0, 2, 4] {
                assert_eq!(
                    unit_f64_from_words(words[w][lane], words[w + 1][lane]).to_bits(),
                    single.unit_f64().to_bits(),
                    "lane {lane}, words {w} and {}",
                    w + 1
                );
            }
        }
    }

    #[test]
    fn draws_do_not_depend_on_visiting_order() {
        let sim = SimRng::new(9);
        let forward: Vec<f64> = (0..100)
            .map(|a| sim.agent(a, 3, Purpose::DECIDE).random())
            .collect();
        let mut backward: Vec<f64> = (0..100)
            .rev()
            .map(|a| sim.agent(a, 3, Purpose::DECIDE).random())
            .collect();
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn streams_ticks_and_purposes_are_distinct() {
        let sim = SimRng::new(9);
        let a = sim.agent(1, 1, Purpose::DECIDE).next_u64();
        assert_ne!(a, sim.agent(2, 1, Purpose::DECIDE).next_u64());
        assert_ne!(a, sim.agent(1, 2, Purpose::DECIDE).next_u64());
        assert_ne!(a, sim.agent(1, 1, Purpose::MOVE).next_u64());
        assert_ne!(a, sim.global(1, 1, Purpose::DECIDE).next_u64());
        assert_ne!(a, SimRng::new(10).agent(1, 1, Purpose::DECIDE).next_u64());
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let sim = SimRng::new(5);
        let mut counts = [0u32; 7];
        let mut r = sim.agent(0, 0, Purpose::DECIDE);
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        let u = r.unit_f64();
        assert!((0.0..1.0).contains(&u));
    }
}
