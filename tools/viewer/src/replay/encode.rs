//! Compact column encoding for the page: little-endian typed-array bytes, base64 text.
//!
//! Base64 of raw little-endian bytes decodes in the browser straight into a
//! `Float32Array` / `Uint8Array` view, a third the size of decimal text and with no
//! per-number parsing; the page checks its own endianness before viewing the bytes.

use std::io::{self, Write};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Output is handed to the inner writer in blocks of this many base64 characters.
const OUT_BLOCK: usize = 8192;

/// A streaming base64 (RFC 4648, padded, no line breaks) encoder in front of a writer.
///
/// Streaming keeps a 2M-row column from existing a second time as a base64 string.
pub(super) struct Base64Writer<W: Write> {
    inner: W,
    pending: [u8; 3],
    pending_len: usize,
    out: Vec<u8>,
}

impl<W: Write> Base64Writer<W> {
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            pending: [0; 3],
            pending_len: 0,
            out: Vec::with_capacity(OUT_BLOCK + 4),
        }
    }

    fn push_triple(&mut self, b: [u8; 3]) {
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        self.out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }

    fn drain_if_full(&mut self) -> io::Result<()> {
        if self.out.len() >= OUT_BLOCK {
            self.inner.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Writes the padded tail and returns the inner writer.
    pub(super) fn finish(mut self) -> io::Result<W> {
        match self.pending_len {
            1 => {
                self.push_triple([self.pending[0], 0, 0]);
                let n = self.out.len();
                self.out[n - 2..].copy_from_slice(b"==");
            }
            2 => {
                self.push_triple([self.pending[0], self.pending[1], 0]);
                let n = self.out.len();
                self.out[n - 1] = b'=';
            }
            _ => {}
        }
        self.inner.write_all(&self.out)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Base64Writer<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while self.pending_len > 0 && self.pending_len < 3 && !buf.is_empty() {
            self.pending[self.pending_len] = buf[0];
            self.pending_len += 1;
            buf = &buf[1..];
        }
        if self.pending_len == 3 {
            self.push_triple(self.pending);
            self.pending_len = 0;
        }
        let mut triples = buf.chunks_exact(3);
        for t in &mut triples {
            self.push_triple([t[0], t[1], t[2]]);
            self.drain_if_full()?;
        }
        for &b in triples.remainder() {
            self.pending[self.pending_len] = b;
            self.pending_len += 1;
        }
        self.drain_if_full()?;
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One column of numbers to embed, borrowed from the reader's storage.
#[derive(Debug, Clone, Copy)]
pub(super) enum Column<'a> {
    /// 32-bit floats (positions, headings).
    F32(&'a [f32]),
    /// 64-bit floats (metric values, ticks: exact to 2^53).
    F64(&'a [f64]),
    /// Unsigned labels, stored in the narrowest of u8/u16/u32 that holds their maximum.
    Uint(&'a [u32]),
}

impl Column<'_> {
    /// The element type as the page names it (`f32`, `f64`, `u8`, `u16`, `u32`).
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Column::F32(_) => "f32",
            Column::F64(_) => "f64",
            Column::Uint(v) => match v.iter().copied().max().unwrap_or(0) {
                0..=0xFF => "u8",
                0x100..=0xFFFF => "u16",
                _ => "u32",
            },
        }
    }

    /// Number of elements.
    pub(super) fn len(&self) -> usize {
        match self {
            Column::F32(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::Uint(v) => v.len(),
        }
    }

    /// Writes the elements as little-endian bytes of [`type_name`](Self::type_name).
    pub(super) fn write_le(&self, w: &mut impl Write) -> io::Result<()> {
        // Converting through a fixed stack block avoids a second full-size byte copy.
        const BLOCK: usize = 1024;
        let mut bytes = [0u8; BLOCK * 8];
        match *self {
            Column::F32(v) => write_blocks(w, v, &mut bytes, |x, o| {
                o[..4].copy_from_slice(&x.to_le_bytes());
                4
            }),
            Column::F64(v) => write_blocks(w, v, &mut bytes, |x, o| {
                o[..8].copy_from_slice(&x.to_le_bytes());
                8
            }),
            Column::Uint(v) => match self.type_name() {
                "u8" => write_blocks(w, v, &mut bytes, |x, o| {
                    o[0] = x as u8;
                    1
                }),
                "u16" => write_blocks(w, v, &mut bytes, |x, o| {
                    o[..2].copy_from_slice(&(x as u16).to_le_bytes());
                    2
                }),
                _ => write_blocks(w, v, &mut bytes, |x, o| {
                    o[..4].copy_from_slice(&x.to_le_bytes());
                    4
                }),
            },
        }
    }
}

fn write_blocks<T: Copy>(
    w: &mut impl Write,
    values: &[T],
    bytes: &mut [u8],
    put: impl Fn(T, &mut [u8]) -> usize,
) -> io::Result<()> {
    for block in values.chunks(bytes.len() / 8) {
        let mut n = 0;
        for &x in block {
            n += put(x, &mut bytes[n..]);
        }
        w.write_all(&bytes[..n])?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The number of base64 characters `n` bytes encode to.
    pub(crate) fn base64_len(n: usize) -> usize {
        n.div_ceil(3) * 4
    }

    /// The number of bytes one element of a page type name occupies.
    pub(crate) fn type_size(type_name: &str) -> usize {
        match type_name {
            "u8" => 1,
            "u16" => 2,
            "f64" => 8,
            _ => 4,
        }
    }

    /// Decodes padded base64 as the page does; `None` on any malformed input.
    pub(crate) fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
        let mut out = Vec::with_capacity(text.len() / 4 * 3);
        for quad in text.chunks(4) {
            let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
            let mut n = 0u32;
            for &c in &quad[..4 - pad] {
                n = (n << 6) | value(c)?;
            }
            n <<= 6 * pad as u32;
            let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&b[..3 - pad]);
        }
        Some(out)
    }

    fn encode(bytes: &[u8], split: usize) -> String {
        let mut w = Base64Writer::new(Vec::new());
        for part in bytes.chunks(split.max(1)) {
            w.write_all(part).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn rfc4648_vectors_whatever_the_write_split() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            for split in 1..=7 {
                assert_eq!(
                    encode(plain.as_bytes(), split),
                    coded,
                    "{plain:?} split {split}"
                );
            }
        }
    }

    #[test]
    fn long_input_round_trips_across_output_blocks() {
        let bytes: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for split in [1, 2, 5, 4096, 100_000] {
            let text = encode(&bytes, split);
            assert_eq!(text.len(), base64_len(bytes.len()));
            assert_eq!(decode_base64(text.as_bytes()).unwrap(), bytes);
        }
    }

    fn column_bytes(c: Column<'_>) -> Vec<u8> {
        let mut w = Base64Writer::new(Vec::new());
        c.write_le(&mut w).unwrap();
        let text = w.finish().unwrap();
        assert_eq!(text.len(), base64_len(c.len() * type_size(c.type_name())));
        decode_base64(&text).unwrap()
    }

    #[test]
    fn f32_column_round_trips_bit_exactly_including_nan() {
        let values: Vec<f32> = (0..3001)
            .map(|i| {
                if i % 7 == 0 {
                    f32::NAN
                } else {
                    (i as f32 - 1500.0) * 0.37
                }
            })
            .chain([f32::INFINITY, -0.0, f32::MIN_POSITIVE, f32::MAX])
            .collect();
        let bytes = column_bytes(Column::F32(&values));
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn f64_column_round_trips() {
        let values = [0.0, 1.5, -2.25e300, 9_007_199_254_740_992.0, f64::NAN];
        let bytes = column_bytes(Column::F64(&values));
        let back: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()).to_bits())
            .collect();
        assert_eq!(back, values.map(f64::to_bits));
    }

    #[test]
    fn uint_column_narrows_to_the_smallest_type_that_holds_its_max() {
        for (max, name) in [
            (0u32, "u8"),
            (255, "u8"),
            (256, "u16"),
            (65_535, "u16"),
            (65_536, "u32"),
            (u32::MAX, "u32"),
        ] {
            let values: Vec<u32> = (0..2500u32)
                .map(|i| i % (max.saturating_add(1)).max(1))
                .chain([max])
                .collect();
            let c = Column::Uint(&values);
            assert_eq!(c.type_name(), name, "max {max}");
            let size = type_size(name);
            let bytes = column_bytes(c);
            let back: Vec<u32> = bytes
                .chunks_exact(size)
                .map(|b| {
                    let mut le = [0u8; 4];
                    le[..size].copy_from_slice(b);
                    u32::from_le_bytes(le)
                })
                .collect();
            assert_eq!(back, values);
        }
        assert_eq!(Column::Uint(&[]).type_name(), "u8");
    }
}
