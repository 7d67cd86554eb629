//! The figures the `otlp` kind sends, kept per request name: counters, and the latency
//! as a base-2 exponential histogram (OTLP's `ExponentialHistogram`) at a fixed scale.
//! Each final second is added twice: to the run's totals (cumulative temporality) and
//! to what has come since the last export (delta, emptied at each export).

use std::collections::BTreeMap;

use crate::metrics::{EndpointData, ERROR_KINDS};

/// Buckets per power of two: 2^SCALE. At 3, a bucket's bounds are 9 % apart, so a
/// percentile read from them is within about 4.5 % of the truth; 1 µs to 60 s takes
/// about 210 buckets.
pub const SCALE: i32 = 3;

/// A latency distribution in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpHist {
    pub count: u64,
    pub sum: f64,
    /// Latencies of 0 (below the recorder's resolution).
    pub zero: u64,
    pub min: f64,
    pub max: f64,
    /// Bucket index → count; bucket `i` holds `(2^(i/2^SCALE), 2^((i+1)/2^SCALE)]`.
    pub buckets: BTreeMap<i32, u64>,
}

/// The bucket of `v` (> 0) at [`SCALE`].
pub fn index(v: f64) -> i32 {
    let scaled = v.log2() * f64::from(1 << SCALE);
    (scaled.ceil() as i32) - 1
}

impl ExpHist {
    pub fn record(&mut self, v: f64, n: u64) {
        if n == 0 {
            return;
        }
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += n;
        self.sum += v * n as f64;
        if v <= 0.0 {
            self.zero += n;
        } else {
            *self.buckets.entry(index(v)).or_default() += n;
        }
    }

    /// The first bucket's index and every count from there to the last (zeros between).
    pub fn dense(&self) -> (i32, Vec<u64>) {
        let (Some((&lo, _)), Some((&hi, _))) = (
            self.buckets.first_key_value(),
            self.buckets.last_key_value(),
        ) else {
            return (0, Vec::new());
        };
        let mut out = vec![0; (hi - lo + 1) as usize];
        for (&i, &n) in &self.buckets {
            out[(i - lo) as usize] = n;
        }
        (lo, out)
    }
}

/// One request name's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub ok: u64,
    pub dropped: u64,
    pub errors: [u64; ERROR_KINDS],
    pub latency: ExpHist,
}

impl Figures {
    pub fn add(&mut self, e: &EndpointData) {
        let c = &e.counts;
        self.requests += c.requests();
        self.ok += c.ok;
        self.dropped += c.dropped;
        for (a, b) in self.errors.iter_mut().zip(&c.errors) {
            *a += b;
        }
        for v in e.latency.iter_recorded() {
            // The recorder keeps microseconds; a value stands for its bucket's top.
            let s = v.value_iterated_to() as f64 / 1e6;
            self.latency.record(s, v.count_at_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_specification() {
        // At scale 3, 1.0 is the top of bucket -1 and 2.0 the top of bucket 7.
        assert_eq!(index(1.0), -1);
        assert_eq!(index(1.0001), 0);
        assert_eq!(index(2.0), 7);
        let mut h = ExpHist::default();
        h.record(0.010, 3);
        h.record(0.0, 1);
        h.record(0.5, 1);
        let (lo, counts) = h.dense();
        assert_eq!(lo, index(0.010));
        assert_eq!(counts.first(), Some(&3));
        assert_eq!(counts.last(), Some(&1));
        assert_eq!(counts.iter().sum::<u64>() + h.zero, h.count);
        assert_eq!((h.min, h.max), (0.0, 0.5));
    }
}
