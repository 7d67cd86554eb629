//! `network-delay`: the chosen pods' network is slowed (and, with `loss`, lossy) for
//! `duration`, as a Chaos Mesh `NetworkChaos` (action `delay`, `loss`, or `netem` for
//! both), created and removed by [`super::chaos_mesh`].
//!
//! ```toml
//! [[kube.fault]]
//! at = "30s"
//! action = "network-delay"
//! selector = "app=flash-order"
//! mode = "percent"        # one (default) | fixed | percent, as pod-kill chooses
//! value = 50
//! delay = "50ms"          # delay and/or loss
//! jitter = "10ms"         # optional, with delay
//! loss = "1%"             # optional
//! duration = "20s"
//! ```

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use toml::Spanned;

use super::chaos_mesh::{self, go_duration, NETWORK_CHAOS};
use super::pods::{self, Choice};
use super::{Exec, Fault};
use crate::diag::Ctx;

/// A delay past this is a broken link, not a slow one: TCP itself gives up.
const MAX_DELAY: Duration = Duration::from_secs(10);
/// The longest chaos a run may hold.
const MAX_DURATION: Duration = Duration::from_secs(3_600);

fault_table! {
    /// The table as written.
    struct Raw {
        selector: Option<Spanned<String>>,
        mode: Option<Spanned<String>>,
        value: Option<Spanned<i64>>,
        delay: Option<Spanned<String>>,
        jitter: Option<Spanned<String>>,
        loss: Option<Spanned<String>>,
        duration: Option<Spanned<String>>,
    }
}

/// Slow (and lossy) network on the chosen pods.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkDelay {
    pub pods: Choice,
    pub delay: Option<Duration>,
    pub jitter: Option<Duration>,
    /// Fraction of packets lost.
    pub loss: Option<f64>,
    pub duration: Duration,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let raw = (&r.selector, &r.mode, &r.value);
    let pods = pods::choice(cx, raw, span.clone(), field);
    let mut ok = true;
    let mut bounded = |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, key: &str, max: Duration| {
        let v = v.as_ref()?;
        let f = format!("{field}.{key}");
        let d = cx.duration(v, &f);
        match d {
            Some(d) if d > max => {
                cx.err(
                    v.span(),
                    f,
                    format!("at most {}", humantime::format_duration(max)),
                );
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
            d => d,
        }
    };
    let delay = bounded(cx, &r.delay, "delay", MAX_DELAY);
    let jitter = bounded(cx, &r.jitter, "jitter", MAX_DELAY);
    let duration = bounded(cx, &r.duration, "duration", MAX_DURATION);
    let loss = match &r.loss {
        Some(v) => match crate::diag::parse_fraction(v.get_ref()) {
            Some(p) if p > 0.0 && p <= 1.0 => Some(p),
            _ => {
                cx.err(
                    v.span(),
                    format!("{field}.loss"),
                    "a share of packets above 0 and at most 100%, such as \"1%\"",
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    if r.delay.is_none() && r.loss.is_none() {
        cx.err(
            span.clone(),
            format!("{field}.delay"),
            "missing; a network fault delays (delay = \"50ms\") and/or drops packets (loss = \"1%\")",
        );
        ok = false;
    }
    if let (Some(j), None) = (&r.jitter, &r.delay) {
        cx.err(
            j.span(),
            format!("{field}.jitter"),
            "applies to a delay; add delay = \"50ms\"",
        );
        ok = false;
    }
    if r.duration.is_none() {
        cx.err(
            span,
            format!("{field}.duration"),
            "missing; how long the network stays slow (duration = \"20s\")",
        );
        ok = false;
    }
    if duration.is_some_and(|d| d.is_zero()) {
        let at = r.duration.as_ref().map(Spanned::span).unwrap_or_default();
        cx.err(at, format!("{field}.duration"), "must be longer than 0 s");
        ok = false;
    }
    let f = NetworkDelay {
        pods: pods?,
        delay,
        jitter,
        loss,
        duration: duration?,
    };
    ok.then(|| Arc::new(f) as Arc<dyn Fault>)
}

impl NetworkDelay {
    /// The `NetworkChaos` spec: `delay`, `loss`, or `netem` with both.
    fn spec(&self, namespace: &str, time_scale: f64) -> serde_json::Value {
        let mut spec = chaos_mesh::selection(namespace, &self.pods);
        let delay = self.delay.map(|d| {
            json!({
                "latency": go_duration(d),
                "jitter": go_duration(self.jitter.unwrap_or_default()),
                "correlation": "0",
            })
        });
        let loss = self
            .loss
            .map(|l| json!({ "loss": format!("{}", l * 100.0), "correlation": "0" }));
        spec["action"] = json!(match (&delay, &loss) {
            (Some(_), Some(_)) => "netem",
            (Some(_), None) => "delay",
            _ => "loss",
        });
        if let Some(d) = delay {
            spec["delay"] = d;
        }
        if let Some(l) = loss {
            spec["loss"] = l;
        }
        spec["direction"] = json!("to");
        // The cluster's own clock ends it if loadctl cannot; a simulated cluster's runs
        // `time_scale` times faster.
        spec["duration"] = json!(go_duration(self.duration.mul_f64(time_scale)));
        spec
    }
}

impl Fault for NetworkDelay {
    fn action(&self) -> &'static str {
        "network-delay"
    }

    fn describe(&self, at: &str) -> String {
        let mut what = Vec::new();
        if let Some(d) = self.delay {
            let mut s = format!("+{}", humantime::format_duration(d));
            if let Some(j) = self.jitter.filter(|j| !j.is_zero()) {
                s.push_str(&format!(" ± {}", humantime::format_duration(j)));
            }
            what.push(s);
        }
        if let Some(l) = self.loss {
            what.push(format!("{}% loss", l * 100.0));
        }
        format!(
            "network-delay {} on {} ({}) at {at} for {}",
            what.join(", "),
            self.pods.mode,
            self.pods.selector,
            humantime::format_duration(self.duration)
        )
    }

    fn target(&self) -> (String, String) {
        (self.pods.selector.clone(), self.pods.mode.to_string())
    }

    fn check(&self, client: kube::Client, namespace: String) -> super::Check {
        Box::pin(async move { chaos_mesh::check(client, &namespace, &NETWORK_CHAOS).await })
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let spec = self.spec(&x.namespace, x.time_scale);
        let hold = self.duration;
        Box::pin(
            async move { chaos_mesh::run(&NETWORK_CHAOS, "network-delay", spec, hold, x).await },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::pods::Mode;
    use super::*;

    #[test]
    fn the_spec_is_chaos_meshs() {
        let f = NetworkDelay {
            pods: Choice {
                selector: "app=flash-order,tier!=web".into(),
                mode: Mode::Percent(50),
            },
            delay: Some(Duration::from_millis(50)),
            jitter: Some(Duration::from_millis(10)),
            loss: Some(0.01),
            duration: Duration::from_secs(20),
        };
        let s = f.spec("flash-sale", 4.0);
        assert_eq!(s["action"], "netem");
        assert_eq!(s["mode"], "fixed-percent");
        assert_eq!(s["value"], "50");
        assert_eq!(s["selector"]["namespaces"][0], "flash-sale");
        assert_eq!(s["selector"]["labelSelectors"]["app"], "flash-order");
        assert_eq!(s["selector"]["expressionSelectors"][0]["operator"], "NotIn");
        assert_eq!(s["delay"]["latency"], "50ms");
        assert_eq!(s["delay"]["jitter"], "10ms");
        assert_eq!(s["loss"]["loss"], "1");
        assert_eq!(s["duration"], "80000ms");
        let only_delay = NetworkDelay { loss: None, ..f };
        assert_eq!(only_delay.spec("ns", 1.0)["action"], "delay");
        assert_eq!(
            only_delay.describe("30s"),
            "network-delay +50ms ± 10ms on 50% of pods (app=flash-order,tier!=web) at 30s for 20s"
        );
    }
}
