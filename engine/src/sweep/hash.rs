//! Stable hashing for run ids and seeds.
//!
//! Run ids and derived seeds are written to disk and compared across machines, compiler
//! versions and runs, so they cannot use `std`'s `DefaultHasher` (its algorithm is explicitly
//! unspecified and may change between releases). FNV-1a 64 is tiny, has published test
//! vectors, and is plenty for ids that only need to be distinct among the runs of one sweep
//! (collisions are detected during expansion anyway).

use serde_json::Value;
use std::fmt::Write as _;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental FNV-1a 64-bit hash.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(FNV_OFFSET)
    }
}

impl Fnv1a64 {
    /// A hasher in its initial state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// The hash of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a64::new();
    h.write(bytes);
    h.finish()
}

/// One step of SplitMix64 (Steele, Lea & Flood 2014): adds the golden-ratio increment and
/// applies the finalizer. A bijection on `u64`, so distinct inputs give distinct outputs.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of replication `replication` of a cell whose key hashes to `cell_hash`:
///
/// `splitmix64(splitmix64(splitmix64(sweep_seed) ^ cell_hash) ^ replication)`.
///
/// It depends on the cell's parameter values (through `cell_hash`), not on the cell's
/// position, so adding values to an axis leaves the seeds of existing cells unchanged and a
/// resumed, extended sweep skips the runs it already has.
pub fn derive_seed(sweep_seed: u64, cell_hash: u64, replication: u32) -> u64 {
    splitmix64(splitmix64(splitmix64(sweep_seed) ^ cell_hash) ^ u64::from(replication))
}

/// Lower-case, zero-padded 16-digit hex.
pub fn hex16(x: u64) -> String {
    format!("{x:016x}")
}

/// Compact JSON with object keys sorted at every level.
///
/// Written by hand rather than with `serde_json::to_string` because `serde_json`'s
/// `preserve_order` feature (which another crate in the build may switch on) would make key
/// order follow insertion order and change the ids.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            let _ = write!(out, "{value}");
        }
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    // serde_json's string escaping does not depend on any feature flag.
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv_matches_published_vectors() {
        // Test vectors from the FNV reference (Fowler, Noll, Vo).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn splitmix_matches_reference_sequence() {
        // SplitMix64 seeded with 1234567: the reference generator's first outputs
        // are splitmix64(1234567), splitmix64(1234567 + gamma), ...
        let gamma = 0x9e37_79b9_7f4a_7c15u64;
        let outs: Vec<u64> = (0..3)
            .map(|i| splitmix64(1_234_567u64.wrapping_add(gamma.wrapping_mul(i))))
            .collect();
        assert_eq!(
            outs,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = json!({"b": [1, {"z": true, "a": null}], "a": "x\"y", "c": 0.5});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":"x\"y","b":[1,{"a":null,"z":true}],"c":0.5}"#
        );
    }

    #[test]
    fn derived_seeds_differ_by_every_input() {
        let base = derive_seed(1, 2, 0);
        assert_ne!(base, derive_seed(2, 2, 0));
        assert_ne!(base, derive_seed(1, 3, 0));
        assert_ne!(base, derive_seed(1, 2, 1));
        assert_eq!(base, derive_seed(1, 2, 0));
    }
}
