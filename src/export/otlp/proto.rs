//! OTLP's `ExportMetricsServiceRequest` (opentelemetry-proto, metrics v1) in protobuf,
//! the same body over HTTP (`application/x-protobuf`) and gRPC. Only what loadctl sends:
//! string attributes, monotonic sums and gauges of integers or doubles, and exponential
//! histograms with positive buckets.
//!
//! ```text
//! ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
//! ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
//! Resource        { repeated KeyValue attributes = 1; }
//! ScopeMetrics    { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
//! Metric          { string name = 1; string description = 2; string unit = 3;
//!                   Gauge gauge = 5 | Sum sum = 7 | ExponentialHistogram exponential_histogram = 10; }
//! Sum             { repeated NumberDataPoint data_points = 1; temporality = 2; bool is_monotonic = 3; }
//! NumberDataPoint { KeyValue attributes = 7; fixed64 start = 2; fixed64 time = 3;
//!                   double as_double = 4 | sfixed64 as_int = 6; }
//! ExponentialHistogramDataPoint { attributes = 1; start = 2; time = 3; fixed64 count = 4;
//!                   double sum = 5; sint32 scale = 6; fixed64 zero_count = 7;
//!                   Buckets positive = 8 { sint32 offset = 1; packed uint64 counts = 2; };
//!                   double min = 12; double max = 13; }
//! ```

use crate::export::exphist::{ExpHist, SCALE};
use crate::export::pb;

/// `AggregationTemporality`: DELTA = 1, CUMULATIVE = 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    Delta = 1,
    Cumulative = 2,
}

/// A `KeyValue` with a string value.
fn kv(out: &mut Vec<u8>, field: u32, k: &str, v: &str) {
    let mut any = Vec::new();
    pb::bytes(&mut any, 1, v.as_bytes());
    let mut m = Vec::new();
    pb::bytes(&mut m, 1, k.as_bytes());
    pb::bytes(&mut m, 2, &any);
    pb::bytes(out, field, &m);
}

/// The times of a point: its start and now, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub start_ns: u64,
    pub time_ns: u64,
}

/// A value of a sum or a gauge.
pub enum Value {
    Int(i64),
    Double(f64),
}

/// A `NumberDataPoint`.
pub fn number(attrs: &[(&str, &str)], span: Span, v: Value) -> Vec<u8> {
    let mut p = Vec::new();
    pb::fixed64(&mut p, 2, span.start_ns);
    pb::fixed64(&mut p, 3, span.time_ns);
    match v {
        Value::Double(d) => pb::double(&mut p, 4, d),
        Value::Int(i) => pb::fixed64(&mut p, 6, i as u64),
    }
    for (k, v) in attrs {
        kv(&mut p, 7, k, v);
    }
    p
}

/// An `ExponentialHistogramDataPoint` of `h`.
pub fn exp_point(attrs: &[(&str, &str)], span: Span, h: &ExpHist) -> Vec<u8> {
    let mut p = Vec::new();
    for (k, v) in attrs {
        kv(&mut p, 1, k, v);
    }
    pb::fixed64(&mut p, 2, span.start_ns);
    pb::fixed64(&mut p, 3, span.time_ns);
    pb::fixed64(&mut p, 4, h.count);
    pb::double(&mut p, 5, h.sum);
    pb::sint(&mut p, 6, i64::from(SCALE));
    pb::fixed64(&mut p, 7, h.zero);
    let (offset, counts) = h.dense();
    let mut buckets = Vec::new();
    pb::sint(&mut buckets, 1, i64::from(offset));
    let mut packed = Vec::new();
    for c in counts {
        pb::varint(&mut packed, c);
    }
    pb::bytes(&mut buckets, 2, &packed);
    pb::bytes(&mut p, 8, &buckets);
    if h.count > 0 {
        pb::double(&mut p, 12, h.min);
        pb::double(&mut p, 13, h.max);
    }
    p
}

/// What a metric holds.
pub enum Data {
    /// A monotonic sum of these points.
    Sum(Temporality, Vec<Vec<u8>>),
    Gauge(Vec<Vec<u8>>),
    ExpHistogram(Temporality, Vec<Vec<u8>>),
}

/// A `Metric`.
pub fn metric(name: &str, description: &str, unit: &str, data: Data) -> Vec<u8> {
    let mut m = Vec::new();
    pb::bytes(&mut m, 1, name.as_bytes());
    pb::bytes(&mut m, 2, description.as_bytes());
    pb::bytes(&mut m, 3, unit.as_bytes());
    let (field, inner) = match data {
        Data::Sum(t, points) => {
            let mut s = Vec::new();
            for p in points {
                pb::bytes(&mut s, 1, &p);
            }
            pb::uint(&mut s, 2, t as u64);
            pb::uint(&mut s, 3, 1);
            (7, s)
        }
        Data::Gauge(points) => {
            let mut g = Vec::new();
            for p in points {
                pb::bytes(&mut g, 1, &p);
            }
            (5, g)
        }
        Data::ExpHistogram(t, points) => {
            let mut h = Vec::new();
            for p in points {
                pb::bytes(&mut h, 1, &p);
            }
            pb::uint(&mut h, 2, t as u64);
            (10, h)
        }
    };
    pb::bytes(&mut m, field, &inner);
    m
}

/// The whole request: one resource with `resource` attributes, one scope (`loadctl`,
/// its version), `metrics`.
pub fn request(resource: &[(String, String)], metrics: &[Vec<u8>]) -> Vec<u8> {
    let mut res = Vec::new();
    for (k, v) in resource {
        kv(&mut res, 1, k, v);
    }
    let mut scope = Vec::new();
    pb::bytes(&mut scope, 1, b"loadctl");
    pb::bytes(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
    let mut sm = Vec::new();
    pb::bytes(&mut sm, 1, &scope);
    for m in metrics {
        pb::bytes(&mut sm, 2, m);
    }
    let mut rm = Vec::new();
    pb::bytes(&mut rm, 1, &res);
    pb::bytes(&mut rm, 2, &sm);
    let mut out = Vec::new();
    pb::bytes(&mut out, 1, &rm);
    out
}
