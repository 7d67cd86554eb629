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

/// What a scrape keeps of a page, taken sample by sample as the page is read: the
/// counter's sum and the histogram's buckets, nothing else.
#[derive(Debug, Default)]
pub struct Selected {
    requests: Option<f64>,
    /// By the bits of `le`, so that a page of many buckets costs one lookup per sample.
    buckets: std::collections::HashMap<u64, (f64, f64)>,
}

/// Reads `page`, keeping of it only what `requests` (a counter) and `latency` (a
/// histogram) select.
pub fn select(
    page: &str,
    requests: Option<&Selector>,
    latency: Option<&Selector>,
) -> Result<Point, String> {
    let mut kept = Selected::default();
    let wanted = |name: &str| {
        requests.is_some_and(|s| s.names(name, "") || s.names(name, "_total"))
            || latency.is_some_and(|s| s.names(name, "_bucket"))
    };
    super::promtext::scan(page, wanted, |s| {
        if let Some(sel) = requests {
            if sel.matches(&s, "") || sel.matches(&s, "_total") {
                *kept.requests.get_or_insert(0.0) += s.value;
            }
        }
        if latency.is_some_and(|sel| sel.matches(&s, "_bucket")) {
            if let Some(le) = le_of(&s) {
                kept.buckets.entry(le.to_bits()).or_insert((le, 0.0)).1 += s.value;
            }
        }
    })?;
    let mut buckets: Vec<(f64, f64)> = kept.buckets.into_values().collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Point {
        t_s: 0.0,
        // A counter not exported yet has counted nothing yet.
        requests: requests.map(|_| kept.requests.unwrap_or(0.0)),
        buckets,
    })
}

fn le_of(s: &Sample) -> Option<f64> {
    s.label("le").and_then(|v| match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        v => v.parse().ok(),
    })
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
    let mut by_le: std::collections::HashMap<u64, (f64, f64)> = Default::default();
    for s in samples.iter().filter(|s| sel.matches(s, "_bucket")) {
        if let Some(le) = le_of(s) {
            by_le.entry(le.to_bits()).or_insert((le, 0.0)).1 += s.value;
        }
    }
    let mut out: Vec<(f64, f64)> = by_le.into_values().collect();
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

/// The buckets' increase from `a` to `b` (both cumulative and sorted by `le`); a reset
/// (the total went down) counts `b` from zero. One pass over both: linear in the buckets.
pub fn bucket_increase(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let total = |x: &[(f64, f64)]| x.last().map_or(0.0, |l| l.1);
    if total(b) < total(a) {
        return b.to_vec();
    }
    let mut i = 0;
    b.iter()
        .map(|&(le, n)| {
            while i < a.len() && a[i].0.total_cmp(&le).is_lt() {
                i += 1;
            }
            let before = a.get(i).filter(|x| x.0 == le).map_or(0.0, |x| x.1);
            (le, (n - before).max(0.0))
        })
        .collect()
}

/// Adds `more` into `acc`, both sorted by `le`, keeping `acc` sorted: linear in both.
pub fn add_buckets(acc: &mut Vec<(f64, f64)>, more: &[(f64, f64)]) {
    let mut out = Vec::with_capacity(acc.len().max(more.len()));
    let (mut i, mut j) = (0, 0);
    while i < acc.len() || j < more.len() {
        match (acc.get(i), more.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1 + y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0.total_cmp(&y.0).is_lt() => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    *acc = out;
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
    fn selecting_while_reading_keeps_only_the_selected_series() {
        let mut page = String::new();
        for i in 0..20_000 {
            page.push_str(&format!("noise_total{{i=\"{i}\"}} 1\n"));
        }
        page.push_str("x_total{p=\"a\"} 3\nh_bucket{le=\"0.2\"} 2\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 3\n");
        let x = Selector::parse("x_total").unwrap();
        let h = Selector::parse("h").unwrap();
        let p = select(&page, Some(&x), Some(&h)).unwrap();
        assert_eq!(p.requests, Some(3.0));
        assert_eq!(
            p.buckets,
            vec![(0.1, 1.0), (0.2, 2.0), (f64::INFINITY, 3.0)]
        );
        let none = select("other 1\n", Some(&x), None).unwrap();
        assert_eq!(
            none.requests,
            Some(0.0),
            "not exported yet: nothing counted yet"
        );
    }

    #[test]
    fn bucket_arithmetic_is_linear_and_exact() {
        let n = 100_000;
        let a: Vec<(f64, f64)> = (0..n).map(|i| (i as f64, i as f64)).collect();
        let b: Vec<(f64, f64)> = (0..n).map(|i| (i as f64, 2.0 * i as f64)).collect();
        let inc = bucket_increase(&a, &b);
        assert_eq!(inc.len(), n);
        assert!(inc.iter().all(|(le, d)| d == le));
        let mut acc = vec![(0.5, 1.0), (f64::INFINITY, 1.0)];
        add_buckets(&mut acc, &[(0.1, 2.0), (0.5, 3.0)]);
        assert_eq!(acc, vec![(0.1, 2.0), (0.5, 4.0), (f64::INFINITY, 1.0)]);
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
