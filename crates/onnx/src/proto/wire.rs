//! The protobuf wire format, as far as ONNX needs it: varints (wire type 0), 32-bit floats
//! (wire type 5) and length-delimited bytes and messages (wire type 2). Fields are written in
//! the order the caller gives, which for byte-identical output is field-number order.

/// Wire type of varint-encoded integers.
const VARINT: u8 = 0;
/// Wire type of length-prefixed bytes, strings and messages.
const LEN: u8 = 2;
/// Wire type of 32-bit fixed-width values (floats).
const FIXED32: u8 = 5;

/// A message being encoded.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::default()
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Base-128 varint: 7 bits a byte, least significant first, high bit = more follows.
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    /// An `int32`/`int64`/enum field. Negative values take ten bytes (two's complement, as
    /// protobuf writes them; no zigzag).
    pub fn int(&mut self, field: u32, v: i64) {
        self.key(field, VARINT);
        self.varint(v as u64);
    }

    /// A `float` field.
    pub fn float(&mut self, field: u32, v: f32) {
        self.key(field, FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    /// An embedded message field, encoded by `body`.
    pub fn message(&mut self, field: u32, body: impl FnOnce(&mut Encoder)) {
        let mut inner = Encoder::new();
        body(&mut inner);
        self.bytes(field, &inner.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_field(v: i64) -> Vec<u8> {
        let mut e = Encoder::new();
        e.int(1, v);
        e.finish()
    }

    #[test]
    fn varints_match_the_protobuf_spec() {
        // The examples of protobuf's encoding guide, plus the edges of each byte count.
        assert_eq!(int_field(0), [0x08, 0x00]);
        assert_eq!(int_field(1), [0x08, 0x01]);
        assert_eq!(int_field(127), [0x08, 0x7f]);
        assert_eq!(int_field(128), [0x08, 0x80, 0x01]);
        assert_eq!(int_field(150), [0x08, 0x96, 0x01]);
        assert_eq!(int_field(300), [0x08, 0xac, 0x02]);
        assert_eq!(int_field(16_384), [0x08, 0x80, 0x80, 0x01]);
        assert_eq!(int_field(1 << 32), [0x08, 0x80, 0x80, 0x80, 0x80, 0x10]);
        assert_eq!(
            int_field(i64::MAX),
            [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
        );
        let minus_one = int_field(-1);
        assert_eq!(minus_one.len(), 11, "a negative int64 takes ten bytes");
        assert_eq!(minus_one[1..10], [0xff; 9]);
        assert_eq!(minus_one[10], 0x01);
    }

    #[test]
    fn keys_combine_field_number_and_wire_type() {
        let mut e = Encoder::new();
        e.int(20, 7); // AttributeProto.type: a two-byte key
        e.float(2, 1.0);
        e.string(3, "ab");
        assert_eq!(
            e.finish(),
            [
                0xa0, 0x01, 0x07, 0x15, 0, 0, 0x80, 0x3f, 0x1a, 0x02, b'a', b'b'
            ]
        );
    }

    #[test]
    fn messages_are_length_delimited() {
        let mut e = Encoder::new();
        e.message(7, |m| m.string(2, "tiny"));
        e.message(8, |_| {});
        assert_eq!(
            e.finish(),
            [0x3a, 0x06, 0x12, 0x04, b't', b'i', b'n', b'y', 0x42, 0x00]
        );
        // A 200-byte payload needs a two-byte length.
        let mut e = Encoder::new();
        e.bytes(9, &[0u8; 200]);
        let b = e.finish();
        assert_eq!(b[..3], [0x4a, 0xc8, 0x01]);
        assert_eq!(b.len(), 203);
    }
}
