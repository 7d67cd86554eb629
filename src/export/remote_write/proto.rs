//! The Prometheus remote-write 1.0 body: a `WriteRequest` in protobuf, snappy block
//! compressed. Four small messages; encoded by hand rather than through a protobuf
//! toolchain, and checked against a real Prometheus in the tests.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//!                repeated Histogram histograms = 4; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! Histogram    { uint64 count_int = 1; double sum = 3; sint32 schema = 4;
//!                double zero_threshold = 5; uint64 zero_count_int = 6;
//!                repeated BucketSpan positive_spans = 11; packed sint64 positive_deltas = 12;
//!                int64 timestamp = 15; }
//! BucketSpan   { sint32 offset = 1; uint32 length = 2; }
//! ```
//!
//! A histogram (`native = true`) is a native histogram: Prometheus takes it with
//! `--enable-feature=native-histograms`.

/// One series and its one sample: labels sorted by name, `__name__` among them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub value: Value,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// A sample's value: a float, or a native histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Histogram(crate::export::exphist::ExpHist),
}

fn histogram(h: &crate::export::exphist::ExpHist, timestamp_ms: i64) -> Vec<u8> {
    let mut m = Vec::new();
    pb::uint(&mut m, 1, h.count);
    pb::double(&mut m, 3, h.sum);
    pb::sint(&mut m, 4, i64::from(crate::export::exphist::SCALE));
    pb::double(&mut m, 5, 0.0);
    pb::uint(&mut m, 6, h.zero);
    let (spans, deltas) = h.prometheus_spans();
    for (offset, length) in spans {
        let mut span = Vec::new();
        pb::sint(&mut span, 1, i64::from(offset));
        pb::uint(&mut span, 2, u64::from(length));
        pb::bytes(&mut m, 11, &span);
    }
    let mut packed = Vec::new();
    for d in deltas {
        pb::varint(&mut packed, ((d << 1) ^ (d >> 63)) as u64);
    }
    pb::bytes(&mut m, 12, &packed);
    pb::uint(&mut m, 15, timestamp_ms as u64);
    m
}

use crate::export::pb;

fn series(s: &Series) -> Vec<u8> {
    let mut ts = Vec::new();
    for (k, v) in &s.labels {
        let mut label = Vec::new();
        pb::bytes(&mut label, 1, k.as_bytes());
        pb::bytes(&mut label, 2, v.as_bytes());
        pb::bytes(&mut ts, 1, &label);
    }
    match &s.value {
        Value::Float(v) => {
            let mut sample = Vec::new();
            pb::double(&mut sample, 1, *v);
            // int64: two's complement as a varint.
            pb::uint(&mut sample, 2, s.timestamp_ms as u64);
            pb::bytes(&mut ts, 2, &sample);
        }
        Value::Histogram(h) => pb::bytes(&mut ts, 4, &histogram(h, s.timestamp_ms)),
    }
    ts
}

/// The uncompressed `WriteRequest` of `all`.
pub fn write_request(all: &[Series]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in all {
        pb::bytes(&mut out, 1, &series(s));
    }
    out
}

/// The body as sent: snappy block format (not framed), as remote write requires.
pub fn body(all: &[Series]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&write_request(all))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_protobuf_would() {
        let s = Series {
            labels: vec![("__name__".into(), "up".into()), ("job".into(), "x".into())],
            value: Value::Float(1.0),
            timestamp_ms: 1000,
        };
        let w = write_request(std::slice::from_ref(&s));
        // timeseries (field 1, len), label (field 1, len) "__name__" = "up", …
        assert_eq!(&w[..4], &[0x0a, w[1], 0x0a, 14]);
        assert_eq!(&w[4..6], &[0x0a, 8]);
        assert_eq!(&w[6..14], b"__name__");
        assert!(
            w.ends_with(&[0x10, 0xe8, 0x07]),
            "timestamp 1000 as a varint: {w:?}"
        );
        let back = snap::raw::Decoder::new()
            .decompress_vec(&body(&[s]))
            .unwrap();
        assert_eq!(back, w);
    }
}
