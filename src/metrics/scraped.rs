//! What a scrape of the target's own metrics yields, and the arithmetic Prometheus does on
//! it: a counter's increase with resets handled (a value below the last one means the
//! process restarted and counted from zero), a classic histogram's bucket increases, and
//! `histogram_quantile`'s linear interpolation within the bucket a rank falls in.

use super::promtext::{Sample, Selector};

/// One scrape: when (s from the measured window's start), the selected counter's sum, and
/// the selected histogram's cumulative buckets `(le, count)` summed over its series,
/// sorted by `le` (`+Inf` last).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub t_s: f64,
    pub requests: Option<f64>,
    pub buckets: Vec<(f64, f64)>,
}

/// The sum of the series `sel` selects (`suffix` appended to its name).
pub fn sum(samples: &[Sample], sel: &Selector) -> Option<f64> {
    let mut found = false;
    let total = samples
        .iter()
        .filter(|s| sel.matches(s, "") || sel.matches(s, "_total"))
        .inspect(|_| found = true)
        .map(|s| s.value)
        .sum();
    found.then_some(total)
}

/// The histogram's cumulative buckets, summed by `le` over the series `sel` selects.
pub fn buckets(samples: &[Sample], sel: &Selector) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for s in samples.iter().filter(|s| sel.matches(s, "_bucket")) {
        let Some(le) = s.label("le").and_then(|v| match v {
            "+Inf" | "Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }) else {
            continue;
        };
        match out.iter_mut().find(|(l, _)| *l == le) {
            Some(b) => b.1 += s.value,
            None => out.push((le, s.value)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// A counter's increase from `a` to `b`.
pub fn increase(a: f64, b: f64) -> f64 {
    if b >= a {
        b - a
    } else {
        b
    }
}

/// The buckets' increase from `a` to `b` (both cumulative, same `le`s); a reset (the total
/// went down) counts `b` from zero.
pub fn bucket_increase(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let total = |x: &[(f64, f64)]| x.last().map_or(0.0, |l| l.1);
    if total(b) < total(a) {
        return b.to_vec();
    }
    b.iter()
        .map(|&(le, n)| {
            let before = a.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1);
            (le, (n - before).max(0.0))
        })
        .collect()
}

/// `histogram_quantile(q, …)` over cumulative buckets, in the buckets' unit; `None` with no
/// observations. A rank in the `+Inf` bucket gives the highest finite bound, as Prometheus.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let within = n - prev.1;
            let frac = if within > 0.0 {
                (rank - prev.1) / within
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, n);
    }
    Some(prev.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_buckets_match_a_known_distribution() {
        // 10,000 observations uniform over 0..1 s, in 0.1-s buckets.
        let buckets: Vec<(f64, f64)> = (1..=10)
            .map(|i| (i as f64 / 10.0, i as f64 * 1000.0))
            .chain(std::iter::once((f64::INFINITY, 10_000.0)))
            .collect();
        for (q, want) in [(0.5, 0.5), (0.9, 0.9), (0.95, 0.95), (0.99, 0.99)] {
            let got = quantile(q, &buckets).unwrap();
            assert!((got - want).abs() < 1e-9, "q{q}: {got}");
        }
        // Everything beyond the last finite bound: the bound.
        assert_eq!(
            quantile(0.99, &[(0.1, 0.0), (f64::INFINITY, 5.0)]),
            Some(0.1)
        );
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn counter_resets_are_handled() {
        assert_eq!(increase(100.0, 150.0), 50.0);
        assert_eq!(increase(100.0, 30.0), 30.0, "restarted: counted from zero");
        let a = [(0.1, 10.0), (f64::INFINITY, 20.0)];
        let b = [(0.1, 15.0), (f64::INFINITY, 40.0)];
        assert_eq!(
            bucket_increase(&a, &b),
            vec![(0.1, 5.0), (f64::INFINITY, 20.0)]
        );
        let reset = [(0.1, 1.0), (f64::INFINITY, 2.0)];
        assert_eq!(bucket_increase(&b, &reset), reset.to_vec());
    }

    #[test]
    fn sums_and_buckets_across_series() {
        let s = crate::metrics::promtext::parse(
            "x_total{p=\"a\"} 3\nx_total{p=\"b\"} 4\nh_bucket{p=\"a\",le=\"0.1\"} 1\nh_bucket{p=\"b\",le=\"0.1\"} 2\nh_bucket{p=\"a\",le=\"+Inf\"} 3\nh_bucket{p=\"b\",le=\"+Inf\"} 5\n",
        )
        .unwrap();
        assert_eq!(sum(&s, &Selector::parse("x_total").unwrap()), Some(7.0));
        assert_eq!(
            sum(&s, &Selector::parse("x").unwrap()),
            Some(7.0),
            "OpenMetrics counter name"
        );
        assert_eq!(sum(&s, &Selector::parse("y").unwrap()), None);
        let b = buckets(&s, &Selector::parse("h").unwrap());
        assert_eq!(b, vec![(0.1, 3.0), (f64::INFINITY, 8.0)]);
    }
}
