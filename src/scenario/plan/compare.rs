//! The scenario's `[compare]` tolerances: how much worse than a baseline a run may be.

use crate::diag::parse_fraction;

/// How much worse than a baseline a run may be before it counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Allowed relative p99 increase (0.10 = +10%).
    pub p99: f64,
    pub p95: f64,
    /// Allowed relative RPS decrease.
    pub rps: f64,
    /// Allowed error-rate increase in percentage points (0.05 = +0.05 points).
    pub error_rate_points: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            p99: 0.10,
            p95: 0.10,
            rps: 0.05,
            error_rate_points: 0.05,
        }
    }
}

impl Tolerances {
    /// Sets one tolerance from `p99=10%`-style text; `error_rate` takes points (`0.05`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        match key {
            "p99" | "p95" | "rps" => {
                let f = parse_fraction(v).ok_or_else(|| {
                    format!("`{v}` is not a share; write a percentage such as 10%")
                })?;
                match key {
                    "p99" => self.p99 = f,
                    "p95" => self.p95 = f,
                    _ => self.rps = f,
                }
            }
            "error_rate" => {
                self.error_rate_points = v
                    .trim_end_matches("points")
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| {
                        format!("`{v}` is not a number of percentage points, such as 0.05")
                    })?
            }
            other => {
                return Err(format!(
                    "unknown tolerance `{other}`; use p99, p95, rps or error_rate"
                ))
            }
        }
        Ok(())
    }
}
