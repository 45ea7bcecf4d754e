//! Payload sizes for the `bytes` statistics: the length of a compact binary encoding
//! (fixed-width integers and floats, 8-byte length prefixes, 4-byte enum tags, as bincode's
//! fixed-int format), computed by a serializer that counts instead of writing.

use serde::ser::{self, Serialize};

/// Bytes `value` occupies in the compact binary encoding.
pub fn serialized_size<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut c = Counter(0);
    // Counting cannot fail; a payload whose Serialize impl reports an error counts what it
    // wrote before failing.
    let _ = value.serialize(&mut c);
    c.0
}

struct Counter(u64);

/// Never produced by the counter itself; only a payload's own `Serialize` can raise it.
#[derive(Debug)]
struct SizeError;

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payload serialization failed")
    }
}

impl std::error::Error for SizeError {}

impl ser::Error for SizeError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        SizeError
    }
}

type R = Result<(), SizeError>;

impl ser::Serializer for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> R {
        self.0 += 1;
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> R {
        self.0 += 1;
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> R {
        self.0 += 2;
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> R {
        self.0 += 4;
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> R {
        self.0 += 8;
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> R {
        self.0 += 16;
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> R {
        self.0 += 1;
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> R {
        self.0 += 2;
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> R {
        self.0 += 4;
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> R {
        self.0 += 8;
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> R {
        self.0 += 16;
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> R {
        self.0 += 4;
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> R {
        self.0 += 8;
        Ok(())
    }
    fn serialize_char(self, c: char) -> R {
        self.0 += c.len_utf8() as u64;
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.0 += 8 + v.len() as u64;
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.0 += 8 + v.len() as u64;
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.0 += 1;
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        self.0 += 1;
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        self.0 += 4;
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> R {
        self.0 += 4;
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, SizeError> {
        self.0 += 8;
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, SizeError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, SizeError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, SizeError> {
        self.0 += 4;
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, SizeError> {
        self.0 += 8;
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, SizeError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, SizeError> {
        self.0 += 4;
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> R {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Counter {
    type Ok = ();
    type Error = SizeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Bid {
        task: u32,
        cost: f64,
        note: String,
        skills: Vec<u16>,
        target: Option<(i32, i32)>,
    }

    #[derive(Serialize)]
    enum Msg {
        Ping,
        Value(f32),
    }

    #[test]
    fn sizes_follow_the_fixed_width_encoding() {
        assert_eq!(serialized_size(&0.5f64), 8);
        assert_eq!(serialized_size(&()), 0);
        let bid = Bid {
            task: 1,
            cost: 2.0,
            note: "abc".into(),
            skills: vec![1, 2, 3],
            target: Some((1, 2)),
        };
        assert_eq!(serialized_size(&bid), 4 + 8 + (8 + 3) + (8 + 6) + (1 + 8));
        assert_eq!(serialized_size(&Msg::Ping), 4);
        assert_eq!(serialized_size(&Msg::Value(1.0)), 8);
    }
}
