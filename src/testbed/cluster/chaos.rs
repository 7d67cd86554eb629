//! Chaos Mesh in the simulated control plane: `NetworkChaos` and `StressChaos` objects
//! (`chaos-mesh.org/v1alpha1`) created, read, listed and deleted through the API, injected
//! at once into the pods their selector and mode choose (status `AllInjected`, the pods in
//! `experiment.containerRecords`), recovered when their `duration` of simulated time is up
//! (`AllRecovered`), and applied by the service. Network: a request lands on one of the
//! Ready pods at random, and on an injected one it takes `delay` ± `jitter` longer and,
//! with probability `loss`, loses its answer (the gateway answers 502). Stress: `w` CPU
//! workers at `load` % take `w'/(1 + w')` of the pod's CPU (`w' = w × load/100`, the
//! kernel's fair share between them and the service's one busy thread), which the pod's
//! capacity loses and its CPU usage shows (the HPA sees it).
//!
//! Simplifications, stated: every selected pod stays injected until the chaos ends even if
//! it is replaced (as Chaos Mesh does not follow replacements either); a lost packet is a
//! lost answer, not a TCP retransmission.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

/// The Chaos Mesh kinds served: `(plural, kind)`.
pub const KINDS: [(&str, &str); 2] = [
    ("networkchaos", "NetworkChaos"),
    ("stresschaos", "StressChaos"),
];

/// One injected fault.
struct Net {
    /// Its plural: `networkchaos`.
    plural: String,
    object: Value,
    pods: Vec<String>,
    /// Simulated time it recovers at.
    until: Duration,
    delay: Duration,
    jitter: Duration,
    loss: f64,
    /// Share of the pod's CPU the stressors take.
    cpu: f64,
    recovered: bool,
}

/// What happens to one request on the network now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Effect {
    pub delay: Duration,
    pub lost: bool,
}

#[derive(Default)]
pub struct Chaos {
    objects: Mutex<BTreeMap<String, Net>>,
    next_uid: Mutex<u64>,
}

/// Why an object cannot be created: `(code, reason, message)`.
pub type Refused = (u16, &'static str, String);

fn go_duration(v: &Value) -> Option<Duration> {
    v.as_str().and_then(|s| humantime::parse_duration(s).ok())
}

fn condition(ty: &str, on: bool) -> Value {
    json!({"type": ty, "status": if on { "True" } else { "False" }})
}

impl Chaos {
    /// Creates `obj` in namespace `ns`, choosing among `pods` (`(name, labels)` of the
    /// Ready pods) at simulated time `now`.
    pub fn create(
        &self,
        (ns, plural): (&str, &str),
        mut obj: Value,
        pods: &[(String, BTreeMap<String, String>)],
        now: Duration,
    ) -> Result<Value, Refused> {
        let bad = |m: String| (422u16, "Invalid", m);
        let name = obj["metadata"]["name"]
            .as_str()
            .ok_or_else(|| bad("metadata.name: Required value".into()))?
            .to_string();
        let spec = obj["spec"].clone();
        let duration = go_duration(&spec["duration"])
            .ok_or_else(|| bad("spec.duration: a duration such as \"20s\" is required".into()))?;
        let (delay, jitter) = (
            go_duration(&spec["delay"]["latency"]).unwrap_or_default(),
            go_duration(&spec["delay"]["jitter"]).unwrap_or_default(),
        );
        let loss = spec["loss"]["loss"]
            .as_str()
            .and_then(|l| l.parse::<f64>().ok())
            .map_or(0.0, |p| (p / 100.0).clamp(0.0, 1.0));
        let workers = spec["stressors"]["cpu"]["workers"].as_f64().unwrap_or(0.0)
            * spec["stressors"]["cpu"]["load"].as_f64().unwrap_or(100.0)
            / 100.0;
        let cpu = workers / (1.0 + workers);
        let kind = KINDS
            .iter()
            .find(|(p, _)| *p == plural)
            .map_or("NetworkChaos", |(_, k)| *k);
        let chosen = choose(&spec, pods).map_err(bad)?;
        let mut objects = self.objects.lock().unwrap();
        let key = format!("{plural}/{name}");
        if objects.contains_key(&key) {
            return Err((
                409,
                "AlreadyExists",
                format!("{plural}.chaos-mesh.org \"{name}\" already exists"),
            ));
        }
        let uid = {
            let mut n = self.next_uid.lock().unwrap();
            *n += 1;
            format!("chaos-{n:05}")
        };
        obj["apiVersion"] = json!("chaos-mesh.org/v1alpha1");
        obj["kind"] = json!(kind);
        obj["metadata"]["namespace"] = json!(ns);
        obj["metadata"]["uid"] = json!(uid);
        obj["status"] = json!({
            "conditions": [condition("Selected", true), condition("AllInjected", true), condition("AllRecovered", false)],
            "experiment": {
                "desiredPhase": "Run",
                "containerRecords": chosen.iter().map(|p| json!({"id": format!("{ns}/{p}"), "phase": "Injected"})).collect::<Vec<_>>(),
            },
        });
        objects.insert(
            key,
            Net {
                plural: plural.to_string(),
                object: obj.clone(),
                pods: chosen,
                until: now + duration,
                delay,
                jitter,
                loss,
                cpu,
                recovered: false,
            },
        );
        Ok(obj)
    }

    pub fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let objects = self.objects.lock().unwrap();
        objects
            .get(&format!("{plural}/{name}"))
            .map(|n| n.object.clone())
    }

    pub fn list(&self, plural: &str) -> Vec<Value> {
        let objects = self.objects.lock().unwrap();
        objects
            .values()
            .filter(|n| n.plural == plural)
            .map(|n| n.object.clone())
            .collect()
    }

    pub fn delete(&self, plural: &str, name: &str) -> Option<Value> {
        let mut objects = self.objects.lock().unwrap();
        objects
            .remove(&format!("{plural}/{name}"))
            .map(|n| n.object)
    }

    /// The share of `pod`'s CPU the stress chaos in force takes (0 when none): stressors
    /// of several objects add up as busy threads do.
    pub fn cpu_taken(&self, pod: &str) -> f64 {
        let objects = self.objects.lock().unwrap();
        let w: f64 = objects
            .values()
            .filter(|n| !n.recovered && n.cpu > 0.0 && n.pods.iter().any(|p| p == pod))
            .map(|n| n.cpu / (1.0 - n.cpu))
            .sum();
        w / (1.0 + w)
    }

    /// Recovers the chaos whose time is up.
    pub fn tick(&self, now: Duration) {
        for n in self.objects.lock().unwrap().values_mut() {
            if !n.recovered && now >= n.until {
                n.recovered = true;
                n.object["status"]["conditions"] = json!([
                    condition("Selected", true),
                    condition("AllInjected", false),
                    condition("AllRecovered", true)
                ]);
                n.object["status"]["experiment"]["desiredPhase"] = json!("Stop");
            }
        }
    }

    /// What the network does to a request that lands on `pod`.
    pub fn effect_on(&self, pod: &str) -> Effect {
        let objects = self.objects.lock().unwrap();
        if objects.values().all(|n| n.recovered) {
            return Effect::default();
        }
        let mut e = Effect::default();
        for n in objects
            .values()
            .filter(|n| !n.recovered && n.pods.iter().any(|p| p == pod))
        {
            let jitter = n.jitter.as_secs_f64() * (fastrand::f64() * 2.0 - 1.0);
            e.delay += Duration::from_secs_f64((n.delay.as_secs_f64() + jitter).max(0.0));
            e.lost |= n.loss > 0.0 && fastrand::f64() < n.loss;
        }
        e
    }
}

/// The pods `spec.selector` and `spec.mode`/`value` choose among `pods`.
fn choose(
    spec: &Value,
    pods: &[(String, BTreeMap<String, String>)],
) -> Result<Vec<String>, String> {
    let labels = spec["selector"]["labelSelectors"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let not_in: Vec<(String, Vec<String>)> = spec["selector"]["expressionSelectors"]
        .as_array()
        .map(|xs| {
            xs.iter()
                .filter(|x| x["operator"] == "NotIn")
                .map(|x| {
                    let values = x["values"]
                        .as_array()
                        .map(|v| {
                            v.iter()
                                .filter_map(|s| s.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    (x["key"].as_str().unwrap_or("").to_string(), values)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut matching: Vec<String> = pods
        .iter()
        .filter(|(_, l)| {
            labels
                .iter()
                .all(|(k, v)| l.get(k).map(String::as_str) == v.as_str())
        })
        .filter(|(_, l)| {
            not_in
                .iter()
                .all(|(k, vs)| l.get(k).is_none_or(|v| !vs.contains(v)))
        })
        .map(|(n, _)| n.clone())
        .collect();
    fastrand::shuffle(&mut matching);
    let value = spec["value"].as_str().and_then(|v| v.parse::<usize>().ok());
    let n = match (spec["mode"].as_str().unwrap_or("one"), value) {
        ("one", _) => 1,
        ("all", _) => matching.len(),
        ("fixed", Some(v)) => v,
        ("fixed-percent", Some(p)) if p <= 100 => (matching.len() * p).div_ceil(100),
        (m, _) => return Err(format!("spec.mode: `{m}` with value {value:?} is not supported here (one, all, fixed, fixed-percent)")),
    };
    matching.truncate(n.min(matching.len()));
    Ok(matching)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(n: usize) -> Vec<(String, BTreeMap<String, String>)> {
        (0..n)
            .map(|i| {
                (
                    format!("p{i}"),
                    [("app".to_string(), "x".to_string())].into_iter().collect(),
                )
            })
            .collect()
    }

    #[test]
    fn injects_recovers_and_applies() {
        let c = Chaos::default();
        let obj = json!({"metadata": {"name": "d"}, "spec": {
            "action": "delay", "mode": "fixed-percent", "value": "50",
            "selector": {"namespaces": ["ns"], "labelSelectors": {"app": "x"}},
            "delay": {"latency": "50ms", "jitter": "0ms"}, "duration": "10000ms"}});
        let made = c
            .create(
                ("ns", "networkchaos"),
                obj.clone(),
                &pods(4),
                Duration::ZERO,
            )
            .unwrap();
        assert_eq!(
            made["status"]["experiment"]["containerRecords"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            c.create(("ns", "networkchaos"), obj, &pods(4), Duration::ZERO)
                .unwrap_err()
                .0,
            409
        );
        let ready: Vec<String> = pods(4).into_iter().map(|p| p.0).collect();
        let delayed = (0..2000)
            .filter(|i| c.effect_on(&ready[i % 4]).delay == Duration::from_millis(50))
            .count();
        assert_eq!(delayed, 1000, "half the pods are delayed");
        c.tick(Duration::from_secs(10));
        assert_eq!(c.effect_on(&ready[0]), Effect::default());
        assert_eq!(
            c.get("networkchaos", "d").unwrap()["status"]["conditions"][2]["status"],
            "True"
        );
        assert!(c.get("stresschaos", "d").is_none());
        assert!(c.delete("networkchaos", "d").is_some() && c.get("networkchaos", "d").is_none());
    }

    #[test]
    fn stress_takes_a_fair_share_of_the_cpu() {
        let c = Chaos::default();
        let obj = json!({"metadata": {"name": "s"}, "spec": {
            "mode": "all", "selector": {"namespaces": ["ns"], "labelSelectors": {"app": "x"}},
            "stressors": {"cpu": {"workers": 1, "load": 100}}, "duration": "10000ms"}});
        c.create(("ns", "stresschaos"), obj, &pods(2), Duration::ZERO)
            .unwrap();
        // One busy worker beside the service's one thread: half the CPU each.
        assert!((c.cpu_taken("p0") - 0.5).abs() < 1e-9);
        assert_eq!(c.cpu_taken("p9"), 0.0);
        assert_eq!(c.list("stresschaos").len(), 1);
        assert!(c.list("networkchaos").is_empty());
        c.tick(Duration::from_secs(10));
        assert_eq!(c.cpu_taken("p0"), 0.0);
    }
}
