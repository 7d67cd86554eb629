//! Change points in a metric's series of runs: E-divisive means (Matteson and James, 2014)
//! with a permutation significance test, as MongoDB's performance CI (Daly et al., ICPE
//! 2020) and Apache Otava (formerly Hunter) apply it to nightly results.
//!
//! Hierarchical: the segment whose best split has the largest divergence is split there
//! when a permutation test says the split is significant (`alpha`), then the search goes
//! on in the pieces; every split leaves at least `min_segment` points on each side. The
//! divergence of a split is `m·n/(m+n)` times the energy distance between the two sides
//! (exponent 1), searched over every split and right end of a segment in `O(L²)` from
//! prefix sums of the distances.
//! The permutations come from a seeded generator: the same series gives the same answer.

/// How the detector decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Significance level of the permutation test.
    pub alpha: f64,
    /// Permutations per test; the smallest p-value it can give is `1/(permutations+1)`.
    pub permutations: usize,
    /// Points each side of a change keeps at least.
    pub min_segment: usize,
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            alpha: 0.01,
            permutations: 200,
            min_segment: 4,
            seed: 0x0c4a_96e5,
        }
    }
}

/// A change point: the series' distribution differs from index `at` on.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub at: usize,
    pub p_value: f64,
    /// Means of the segments just before and just after.
    pub before: f64,
    pub after: f64,
}

impl Change {
    /// `(after - before) / |before|`; the absolute change when `before` is 0.
    pub fn relative(&self) -> f64 {
        if self.before == 0.0 {
            self.after - self.before
        } else {
            (self.after - self.before) / self.before.abs()
        }
    }
}

/// The best split of `x` and its divergence: `(τ, Q)`, where `x[..τ]` and `x[τ..κ]` for
/// the best `κ` (Matteson and James's search over both: a bump in the middle of a segment
/// is found as well as a step), each side at least `min` long.
fn best_split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let l = x.len();
    let min = min.max(1);
    if l < 2 * min {
        return None;
    }
    // col[c][r] = Σ_{i<r} |x_i − x_c|, for r ≤ c: every sum below is two lookups.
    let col: Vec<Vec<f64>> = (0..l)
        .map(|c| {
            let mut acc = Vec::with_capacity(c + 1);
            let mut s = 0.0;
            acc.push(0.0);
            for i in 0..c {
                s += (x[i] - x[c]).abs();
                acc.push(s);
            }
            acc
        })
        .collect();
    // within_left[τ] = Σ_{i<k<τ} |x_i − x_k|.
    let mut within_left = vec![0.0; l + 1];
    for t in 1..=l {
        within_left[t] = within_left[t - 1] + col[t - 1][t - 1];
    }
    let pairs = |k: f64| k * (k - 1.0) / 2.0;
    let mut best: Option<(usize, f64)> = None;
    for t in min..=l - min {
        let (mut cross, mut within_right) = (0.0, 0.0);
        for k in t + 1..=l {
            // x[k-1] joins the right side x[t..k].
            let c = &col[k - 1];
            cross += c[t];
            within_right += c[k - 1] - c[t];
            if k - t < min {
                continue;
            }
            let (m, n) = (t as f64, (k - t) as f64);
            let left = if m > 1.0 {
                within_left[t] / pairs(m)
            } else {
                0.0
            };
            let right = if n > 1.0 {
                within_right / pairs(n)
            } else {
                0.0
            };
            let q = m * n / (m + n) * (2.0 * cross / (m * n) - left - right);
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((t, q));
            }
        }
    }
    best
}

/// The share of permutations of `x` whose best split diverges at least as much as `q`.
fn p_value(x: &[f64], q: f64, p: &Params, rng: &mut fastrand::Rng) -> f64 {
    let mut shuffled = x.to_vec();
    let mut as_large = 0usize;
    for _ in 0..p.permutations {
        rng.shuffle(&mut shuffled);
        if best_split(&shuffled, p.min_segment).is_some_and(|(_, qq)| qq >= q) {
            as_large += 1;
        }
    }
    (as_large + 1) as f64 / (p.permutations + 1) as f64
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// The change points of `series`, in order.
pub fn detect(series: &[f64], p: &Params) -> Vec<Change> {
    let mut rng = fastrand::Rng::with_seed(p.seed);
    // Split points found so far, with their p-values; segments lie between them.
    let mut cuts: Vec<(usize, f64)> = Vec::new();
    // Segments that no significant split divides any more.
    let mut settled: Vec<(usize, usize)> = Vec::new();
    loop {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.0).collect();
        bounds.push(0);
        bounds.push(series.len());
        bounds.sort_unstable();
        let candidate = bounds
            .windows(2)
            .filter(|w| !settled.contains(&(w[0], w[1])))
            .filter_map(|w| {
                let (t, q) = best_split(&series[w[0]..w[1]], p.min_segment)?;
                Some((w[0], w[1], w[0] + t, q))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let Some((a, b, at, q)) = candidate else {
            break;
        };
        let pv = p_value(&series[a..b], q, p, &mut rng);
        if pv < p.alpha {
            cuts.push((at, pv));
        } else {
            settled.push((a, b));
        }
    }
    cuts.sort_by_key(|c| c.0);
    let points: Vec<usize> = cuts.iter().map(|c| c.0).collect();
    cuts.iter()
        .enumerate()
        .map(|(i, &(at, p_value))| {
            let start = if i == 0 { 0 } else { points[i - 1] };
            let end = points.get(i + 1).copied().unwrap_or(series.len());
            Change {
                at,
                p_value,
                before: mean(&series[start..at]),
                after: mean(&series[at..end]),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gaussian noise (Box–Muller) around `level`, relative sd `noise`.
    fn noisy(rng: &mut fastrand::Rng, levels: &[(usize, f64)], noise: f64) -> Vec<f64> {
        let mut out = Vec::new();
        for &(n, level) in levels {
            for _ in 0..n {
                let (u1, u2) = (1.0 - rng.f64(), rng.f64());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                out.push(level * (1.0 + noise * z));
            }
        }
        out
    }

    #[test]
    fn pure_noise_finds_almost_nothing() {
        let mut rng = fastrand::Rng::with_seed(7);
        let found: usize = (0..50)
            .map(|_| detect(&noisy(&mut rng, &[(40, 100.0)], 0.05), &Params::default()).len())
            .sum();
        assert!(found <= 1, "{found} false changes in 50 series of noise");
    }

    #[test]
    fn a_step_is_found_where_it_is() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..10 {
            let s = noisy(&mut rng, &[(20, 100.0), (20, 115.0)], 0.05);
            let c = detect(&s, &Params::default());
            assert_eq!(c.len(), 1, "{c:?}");
            assert!((19..=21).contains(&c[0].at), "{c:?}");
            assert!(c[0].relative() > 0.10 && c[0].p_value < 0.01, "{c:?}");
        }
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut rng = fastrand::Rng::with_seed(13);
        let s = noisy(&mut rng, &[(15, 100.0), (15, 120.0), (15, 100.0)], 0.03);
        let c = detect(&s, &Params::default());
        let at: Vec<usize> = c.iter().map(|c| c.at).collect();
        assert_eq!(at.len(), 2, "{c:?}");
        assert!(
            (14..=16).contains(&at[0]) && (29..=31).contains(&at[1]),
            "{at:?}"
        );
        assert!(c[0].relative() > 0.1 && c[1].relative() < -0.1);
    }

    /// A slow drift has no one night it changed: the detector cuts it into steps, each
    /// upwards, so the gate fails once the drift has added up past the minimum change.
    #[test]
    fn a_slow_drift_is_cut_into_upward_steps() {
        let mut rng = fastrand::Rng::with_seed(19);
        let levels: Vec<(usize, f64)> = (0..40).map(|i| (1, 100.0 + i as f64)).collect();
        let c = detect(&noisy(&mut rng, &levels, 0.02), &Params::default());
        assert!(!c.is_empty(), "a 40 % drift goes unseen");
        assert!(c.iter().all(|c| c.relative() > 0.0), "{c:?}");
    }

    #[test]
    fn the_same_series_gives_the_same_answer() {
        let mut rng = fastrand::Rng::with_seed(17);
        let s = noisy(&mut rng, &[(20, 10.0), (20, 11.0)], 0.05);
        assert_eq!(
            detect(&s, &Params::default()),
            detect(&s, &Params::default())
        );
        assert!(detect(&[1.0; 3], &Params::default()).is_empty());
        assert!(detect(&[], &Params::default()).is_empty());
    }
}
