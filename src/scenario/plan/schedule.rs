//! Arrival-rate schedules for the open model: constant rates and linear ramps.
//!
//! The rate is piecewise linear in time. Request `i` (from 0) is intended to start at the
//! time `t` where the integrated rate `N(t)` equals `i`; for a constant rate that is
//! `i / rate`. Computing every intended time from the schedule (never from the previous
//! send) is what keeps the generator on absolute time: falling behind never shifts the plan.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    r0: f64,
    r1: f64,
    /// Requests intended before this segment starts.
    n0: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateSchedule {
    segments: Vec<Segment>,
}

impl RateSchedule {
    /// A constant `rate` (requests per second) for `len`.
    pub fn constant(rate: f64, len: Duration) -> Self {
        Self::from_pieces(rate, &[(len, rate)])
    }

    /// Starts at `start_rate` and moves linearly to each piece's target over its duration.
    pub fn from_pieces(start_rate: f64, pieces: &[(Duration, f64)]) -> Self {
        let mut segments = Vec::with_capacity(pieces.len());
        let (mut t, mut n, mut r) = (0.0, 0.0, start_rate);
        for &(len, target) in pieces {
            let len = len.as_secs_f64();
            segments.push(Segment {
                start: t,
                len,
                r0: r,
                r1: target,
                n0: n,
            });
            n += (r + target) / 2.0 * len;
            t += len;
            r = target;
        }
        RateSchedule { segments }
    }

    /// Prepends a constant-rate period (the warmup).
    pub fn with_prefix(self, rate: f64, len: Duration) -> Self {
        if len.is_zero() {
            return self;
        }
        let mut pieces = vec![(len, rate)];
        if let Some(first) = self.segments.first().filter(|f| f.r0 != rate) {
            // A step in the rate at the end of the prefix: a zero-length segment.
            pieces.push((Duration::ZERO, first.r0));
        }
        pieces.extend(
            self.segments
                .iter()
                .map(|s| (Duration::from_secs_f64(s.len), s.r1)),
        );
        Self::from_pieces(rate, &pieces)
    }

    /// Each piece as `(start_s, len_s, from_rate, to_rate)`, in order (steps are pieces of
    /// no length).
    pub fn stages(&self) -> Vec<(f64, f64, f64, f64)> {
        self.segments
            .iter()
            .map(|s| (s.start, s.len, s.r0, s.r1))
            .collect()
    }

    pub fn len(&self) -> Duration {
        Duration::from_secs_f64(self.len_secs())
    }

    fn len_secs(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.start + s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.total_requests() == 0
    }

    /// Integrated rate at `t` seconds: how many requests are intended before `t`.
    pub fn count_before(&self, t: f64) -> f64 {
        let Some(seg) = self.segments.iter().rev().find(|s| s.start <= t) else {
            return 0.0;
        };
        let x = (t - seg.start).min(seg.len);
        let slope = if seg.len > 0.0 {
            (seg.r1 - seg.r0) / seg.len
        } else {
            0.0
        };
        seg.n0 + seg.r0 * x + slope * x * x / 2.0
    }

    /// Number of requests the schedule plans: every `i` whose intended time is inside it.
    pub fn total_requests(&self) -> u64 {
        let n = self.count_before(self.len_secs());
        // Tolerate float noise: 30 s at 1000/s is 30,000 requests, not 30,001.
        let rounded = n.round();
        if (n - rounded).abs() < 1e-6 {
            rounded as u64
        } else {
            n.ceil() as u64
        }
    }

    /// Intended start of request `i`, in seconds from the schedule's start.
    pub fn time_of(&self, i: u64) -> f64 {
        let target = i as f64;
        let seg = match self
            .segments
            .iter()
            .rev()
            .find(|s| s.n0 <= target && s.len > 0.0)
        {
            Some(s) => s,
            None => return 0.0,
        };
        let need = target - seg.n0;
        let slope = (seg.r1 - seg.r0) / seg.len;
        let x = if slope.abs() < 1e-12 {
            if seg.r0 <= 0.0 {
                return seg.start + seg.len;
            }
            need / seg.r0
        } else {
            // Solve r0·x + slope·x²/2 = need for the smallest non-negative x.
            let disc = (seg.r0 * seg.r0 + 2.0 * slope * need).max(0.0);
            (disc.sqrt() - seg.r0) / slope
        };
        seg.start + x.max(0.0)
    }

    /// Planned rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        match self
            .segments
            .iter()
            .find(|s| t >= s.start && t < s.start + s.len)
        {
            Some(s) => s.r0 + (s.r1 - s.r0) * (t - s.start) / s.len,
            None => 0.0,
        }
    }

    pub fn peak_rate(&self) -> f64 {
        self.segments
            .iter()
            .flat_map(|s| [s.r0, s.r1])
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_plans_rate_times_duration() {
        let s = RateSchedule::constant(1000.0, secs(30.0));
        assert_eq!(s.total_requests(), 30_000);
        assert_eq!(s.time_of(0), 0.0);
        assert!((s.time_of(1) - 0.001).abs() < 1e-12);
        assert!((s.time_of(29_999) - 29.999).abs() < 1e-9);
        assert_eq!(s.peak_rate(), 1000.0);
        assert_eq!(s.rate_at(10.0), 1000.0);
    }

    #[test]
    fn fractional_rates_round_up_partial_requests() {
        let s = RateSchedule::constant(3.0, secs(1.5));
        // intended at 0, 1/3, 2/3, 1, 4/3 → five requests before 1.5 s
        assert_eq!(s.total_requests(), 5);
    }

    #[test]
    fn linear_ramp_integrates_the_rate() {
        // 0 → 100/s over 10 s: 500 requests, the first half of time carries a quarter of them.
        let s = RateSchedule::from_pieces(0.0, &[(secs(10.0), 100.0)]);
        assert_eq!(s.total_requests(), 500);
        assert!((s.count_before(5.0) - 125.0).abs() < 1e-9);
        assert!((s.time_of(125) - 5.0).abs() < 1e-9);
        assert!((s.time_of(500) - 10.0).abs() < 1e-9);
        assert_eq!(s.rate_at(2.5), 25.0);
    }

    #[test]
    fn intended_times_are_monotonic_across_stages() {
        let s = RateSchedule::from_pieces(
            10.0,
            &[(secs(5.0), 50.0), (secs(5.0), 50.0), (secs(5.0), 0.0)],
        );
        let total = s.total_requests();
        assert_eq!(total, 150 + 250 + 125);
        let mut last = -1.0;
        for i in 0..total {
            let t = s.time_of(i);
            assert!(t > last, "request {i} at {t} not after {last}");
            assert!(t < 15.0);
            last = t;
        }
        assert_eq!(s.peak_rate(), 50.0);
    }

    #[test]
    fn warmup_prefix_shifts_the_ramp() {
        let s =
            RateSchedule::from_pieces(20.0, &[(secs(10.0), 100.0)]).with_prefix(20.0, secs(5.0));
        assert_eq!(s.len(), secs(15.0));
        assert_eq!(s.total_requests(), 100 + 600);
        assert!((s.time_of(100) - 5.0).abs() < 1e-9);
        assert_eq!(s.rate_at(1.0), 20.0);
    }
}
