//! `stress`: CPU workers and/or memory held inside the chosen pods for `duration`, as a
//! Chaos Mesh `StressChaos` (stress-ng in the pods' cgroups), created and removed by
//! [`super::chaos_mesh`]. The pods keep running with less of their CPU limit left for the
//! service, which is what seed 003's "资源限制" (resource limits) drill simulates.
//!
//! ```toml
//! [[kube.fault]]
//! at = "30s"
//! action = "stress"
//! selector = "app=flash-order"
//! mode = "fixed"          # one (default) | fixed | percent, as pod-kill chooses
//! value = 2
//! cpu = 2                 # CPU workers, and/or
//! load = 100              # percent each worker keeps busy (default 100)
//! memory = "256MiB"       # memory held
//! duration = "20s"
//! ```

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use toml::Spanned;

use super::chaos_mesh::{self, go_duration, STRESS_CHAOS};
use super::pods::{self, Choice};
use super::{Exec, Fault};
use crate::diag::Ctx;

/// stress-ng workers per pod: more is a fork bomb, not a drill.
const MAX_WORKERS: i64 = 64;
/// Memory held per pod.
const MAX_MEMORY: u64 = 64 << 30;
const MAX_DURATION: Duration = Duration::from_secs(3_600);

fault_table! {
    /// The table as written.
    struct Raw {
        selector: Option<Spanned<String>>,
        mode: Option<Spanned<String>>,
        value: Option<Spanned<i64>>,
        cpu: Option<Spanned<i64>>,
        load: Option<Spanned<i64>>,
        memory: Option<Spanned<String>>,
        duration: Option<Spanned<String>>,
    }
}

/// CPU and/or memory stress on the chosen pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Stress {
    pub pods: Choice,
    /// `(workers, percent each keeps busy)`.
    pub cpu: Option<(u32, u32)>,
    /// Bytes held.
    pub memory: Option<u64>,
    pub duration: Duration,
}

/// `256MiB`, `256Mi`, `1GB`, `512KiB` → bytes.
fn bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|b| *b > 0)
}

fn count(
    cx: &mut Ctx<'_>,
    v: &Option<Spanned<i64>>,
    field: String,
    (lo, hi): (i64, i64),
    what: &str,
) -> Option<Option<u32>> {
    match v {
        None => Some(None),
        Some(n) if (lo..=hi).contains(n.get_ref()) => Some(Some(*n.get_ref() as u32)),
        Some(n) => {
            cx.err(n.span(), field, format!("{what}, from {lo} to {hi}"));
            None
        }
    }
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let raw = (&r.selector, &r.mode, &r.value);
    let pods = pods::choice(cx, raw, span.clone(), field);
    let workers = count(
        cx,
        &r.cpu,
        format!("{field}.cpu"),
        (1, MAX_WORKERS),
        "CPU workers per pod",
    );
    let load = count(
        cx,
        &r.load,
        format!("{field}.load"),
        (1, 100),
        "percent of a CPU each worker keeps busy",
    );
    let mut ok = workers.is_some() && load.is_some();
    if let (Some(l), None) = (&r.load, &r.cpu) {
        cx.err(
            l.span(),
            format!("{field}.load"),
            "applies to CPU workers; add cpu = 1",
        );
        ok = false;
    }
    let memory = match &r.memory {
        Some(m) => match bytes(m.get_ref()) {
            Some(b) if b <= MAX_MEMORY => Some(b),
            _ => {
                cx.err(
                    m.span(),
                    format!("{field}.memory"),
                    "memory held per pod, at most 64GiB, such as \"256MiB\" (units B, KB, MB, GB, KiB, MiB, GiB)",
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    if r.cpu.is_none() && r.memory.is_none() {
        cx.err(
            span.clone(),
            format!("{field}.cpu"),
            "missing; a stress takes CPU workers (cpu = 2) and/or memory (memory = \"256MiB\")",
        );
        ok = false;
    }
    let duration = match &r.duration {
        Some(d) => match cx.duration(d, &format!("{field}.duration")) {
            Some(v) if !v.is_zero() && v <= MAX_DURATION => Some(v),
            Some(_) => {
                cx.err(
                    d.span(),
                    format!("{field}.duration"),
                    "longer than 0 s and at most 1h",
                );
                None
            }
            None => None,
        },
        None => {
            cx.err(
                span,
                format!("{field}.duration"),
                "missing; how long the stress lasts (duration = \"20s\")",
            );
            None
        }
    };
    let f = Stress {
        pods: pods?,
        cpu: workers?.map(|w| (w, load.flatten().unwrap_or(100))),
        memory,
        duration: duration?,
    };
    ok.then(|| Arc::new(f) as Arc<dyn Fault>)
}

impl Stress {
    /// The `StressChaos` spec.
    fn spec(&self, namespace: &str, time_scale: f64) -> serde_json::Value {
        let mut spec = chaos_mesh::selection(namespace, &self.pods);
        let mut stressors = serde_json::Map::new();
        if let Some((workers, load)) = self.cpu {
            stressors.insert("cpu".into(), json!({"workers": workers, "load": load}));
        }
        if let Some(b) = self.memory {
            stressors.insert(
                "memory".into(),
                json!({"workers": 1, "size": format!("{}KB", b.div_ceil(1000))}),
            );
        }
        spec["stressors"] = json!(stressors);
        spec["duration"] = json!(go_duration(self.duration.mul_f64(time_scale)));
        spec
    }
}

impl Fault for Stress {
    fn action(&self) -> &'static str {
        "stress"
    }

    fn describe(&self, at: &str) -> String {
        let mut what = Vec::new();
        if let Some((w, l)) = self.cpu {
            what.push(format!("{w} CPU worker(s) at {l}%"));
        }
        if let Some(b) = self.memory {
            what.push(format!("{} MiB held", b as f64 / f64::from(1 << 20)));
        }
        format!(
            "stress {} on {} ({}) at {at} for {}",
            what.join(" and "),
            self.pods.mode,
            self.pods.selector,
            humantime::format_duration(self.duration)
        )
    }

    fn target(&self) -> (String, String) {
        (self.pods.selector.clone(), self.pods.mode.to_string())
    }

    fn check(&self, client: kube::Client, namespace: String) -> super::Check {
        Box::pin(async move { chaos_mesh::check(client, &namespace, &STRESS_CHAOS).await })
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let spec = self.spec(&x.namespace, x.time_scale);
        let hold = self.duration;
        Box::pin(async move { chaos_mesh::run(&STRESS_CHAOS, "stress", spec, hold, x).await })
    }
}

#[cfg(test)]
mod tests {
    use super::super::pods::Mode;
    use super::*;

    #[test]
    fn sizes_and_the_spec() {
        assert_eq!(bytes("256MiB"), Some(256 << 20));
        assert_eq!(bytes("256Mi"), Some(256 << 20));
        assert_eq!(bytes("1GB"), Some(1_000_000_000));
        assert_eq!(bytes("12 parsecs"), None);
        assert_eq!(bytes("0MB"), None);
        let f = Stress {
            pods: Choice {
                selector: "app=flash-order".into(),
                mode: Mode::Fixed(2),
            },
            cpu: Some((2, 80)),
            memory: Some(256 << 20),
            duration: Duration::from_secs(20),
        };
        let s = f.spec("flash-sale", 2.0);
        assert_eq!(s["stressors"]["cpu"]["workers"], 2);
        assert_eq!(s["stressors"]["cpu"]["load"], 80);
        assert_eq!(s["stressors"]["memory"]["size"], "268436KB");
        assert_eq!(s["mode"], "fixed");
        assert_eq!(s["duration"], "40000ms");
        assert_eq!(
            f.describe("30s"),
            "stress 2 CPU worker(s) at 80% and 256 MiB held on 2 pods (app=flash-order) at 30s for 20s"
        );
    }
}
