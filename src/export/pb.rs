//! The few protobuf wire encodings the push exporters need (remote write's `WriteRequest`,
//! OTLP's `ExportMetricsServiceRequest`): messages are built inside out, each nested
//! message encoded to bytes and written as a length-delimited field. Written by hand rather
//! than through a protobuf toolchain (no `protoc` at build time); every message is checked
//! against a real decoder in the tests (Prometheus, the `opentelemetry-proto` package).

/// A base-128 varint.
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

/// A length-delimited field: bytes, a string, a nested message, a packed repeated field.
pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A varint field (`uint64`, `int64`, `bool`, an enum).
pub fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, 0);
    varint(out, v);
}

/// A `sint32`/`sint64` field: zigzag, then a varint.
pub fn sint(out: &mut Vec<u8>, field: u32, v: i64) {
    uint(out, field, ((v << 1) ^ (v >> 63)) as u64);
}

/// A `fixed64` (or `sfixed64`) field.
pub fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `double` field.
pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    fixed64(out, field, v.to_bits());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_and_varints_read_as_protobuf_writes_them() {
        let mut o = Vec::new();
        sint(&mut o, 1, -1);
        sint(&mut o, 1, 1);
        sint(&mut o, 1, -65);
        assert_eq!(o, [0x08, 0x01, 0x08, 0x02, 0x08, 0x81, 0x01]);
        let mut o = Vec::new();
        double(&mut o, 4, 1.0);
        assert_eq!(o[0], 4 << 3 | 1);
        assert_eq!(&o[1..], &1.0f64.to_le_bytes());
    }
}
