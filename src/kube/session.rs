//! A run's Kubernetes side: connect with a kubeconfig, look up each expected HPA's
//! Deployment and pod selector, warn about expectations the HPA's own `behavior` cannot
//! meet, watch during the load, kill pods at the scheduled times, and hand back what was
//! seen. It runs on its own small runtime, beside the load generator's threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscaler};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};

use super::expect;
use super::hpa::{self, Behavior, Policy, PolicyKind, Rules, Select};
use super::watch::{self, State, Track};
use crate::fault::{self, Exec, Record as FaultRecord};
use crate::scenario::plan::kube::{Basis, Expectation, FaultPlan, KubePlan};

/// Where the cluster is.
#[derive(Debug, Clone)]
pub struct Source {
    /// A kubeconfig file; `None`: `KUBECONFIG`, `~/.kube/config`, or in-cluster.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Cluster seconds per wall-clock second: 1 for a real cluster, the simulation's
    /// `time_scale` for the simulated one: the pre-run feasibility check, and durations a
    /// fault hands to the cluster's controllers.
    pub time_scale: f64,
}

struct Watched {
    name: String,
    deployment: String,
    min: u32,
    max: u32,
    track: Arc<Mutex<Track>>,
}

/// One HPA's recording, for the report.
#[derive(Debug, Clone)]
pub struct HpaOutcome {
    pub name: String,
    pub deployment: String,
    pub min: u32,
    pub max: u32,
    pub timeline: Vec<(Duration, State)>,
    /// Per expected level: `(replicas, decided at, ready at)`.
    pub levels: Vec<(u32, Option<Duration>, Option<Duration>)>,
    pub restarts: u64,
    pub pods_seen: u64,
    /// Each pod's Ready spans from the load's start: `(name, from, until)`; a pod Ready
    /// before the load starts at 0.
    pub ready: Vec<(String, Duration, Option<Duration>)>,
    pub errors: Vec<(Duration, String)>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    /// The API server, as the kubeconfig names it.
    pub server: String,
    pub hpas: Vec<HpaOutcome>,
    pub faults: Vec<(FaultPlan, FaultRecord)>,
    /// `(hpa, expectation as written, held, what was seen)`.
    pub expectations: Vec<(String, String, bool, String)>,
    pub warnings: Vec<String>,
}

/// A fault, its record, and the task carrying it out.
type Scheduled = (
    FaultPlan,
    Arc<Mutex<FaultRecord>>,
    Option<tokio::task::JoinHandle<()>>,
);

/// The cluster, or an object the scenario names, could not be reached before the run:
/// nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct SetupError(pub anyhow::Error);

pub struct Session {
    /// The run's side runtime: the watches and faults run there.
    rt: tokio::runtime::Handle,
    client: Client,
    plan: KubePlan,
    server: String,
    watched: Vec<Watched>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    faults: Vec<Scheduled>,
    stop: tokio::sync::watch::Sender<bool>,
    pub warnings: Vec<String>,
    /// The cluster's clock against the wall clock, for the faults' own durations.
    time_scale: f64,
}

pub(crate) async fn client(source: &Source) -> anyhow::Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: source.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&source.kubeconfig, &source.context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .with_context(|| format!("kubeconfig {}", path.display()))?
        }
        (None, Some(ctx)) => Config::from_kubeconfig(&options)
            .await
            .with_context(|| format!("kubeconfig context `{ctx}`"))?,
        (None, None) => Config::infer().await.context(
            "no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or in-cluster)",
        )?,
    };
    let server = config.cluster_url.to_string();
    // kube retries 429, 503 and 504 by itself (15 times, backing off up to 1000 s): a
    // disruption budget's refusal would vanish from the record and a busy API server could
    // hold a fault past the run's end. Every caller here has its own bounded retry.
    let mut config = config;
    config.default_retry = false;
    Ok((
        Client::try_from(config).context("cannot build the Kubernetes client")?,
        server,
    ))
}

/// The HPA's `behavior` with Kubernetes' defaults for what it leaves out; `None` when
/// the HPA has none (the controller then applies its legacy rule).
pub fn behavior_of(h: &HorizontalPodAutoscaler) -> Option<Behavior> {
    let d = Behavior::default();
    let b = Some(h.spec.behavior.as_ref()?);
    let rules = |r: Option<&HPAScalingRules>, d: Rules| -> Rules {
        let Some(r) = r else { return d };
        Rules {
            stabilization: r
                .stabilization_window_seconds
                .map_or(d.stabilization, |s| Duration::from_secs(s.max(0) as u64)),
            select: match r.select_policy.as_deref() {
                Some("Min") => Select::Min,
                Some("Disabled") => Select::Disabled,
                Some(_) => Select::Max,
                None => d.select,
            },
            policies: r.policies.as_ref().map_or(d.policies, |ps| {
                ps.iter()
                    .map(|p| Policy {
                        kind: if p.type_ == "Pods" {
                            PolicyKind::Pods
                        } else {
                            PolicyKind::Percent
                        },
                        value: p.value.max(0) as u32,
                        period: Duration::from_secs(p.period_seconds.max(0) as u64),
                    })
                    .collect()
            }),
            tolerance: r.tolerance.as_ref().and_then(|q| q.0.parse::<f64>().ok()),
        }
    };
    Some(Behavior {
        up: rules(b.and_then(|b| b.scale_up.as_ref()), d.up),
        down: rules(b.and_then(|b| b.scale_down.as_ref()), d.down),
    })
}

/// Before the run: the expectations this HPA cannot meet, whatever the load does.
pub fn feasibility(
    plan: &KubePlan,
    name: &str,
    h: &HorizontalPodAutoscaler,
    time_scale: f64,
) -> Vec<String> {
    let min = h.spec.min_replicas.unwrap_or(1).max(0) as u32;
    let max = h.spec.max_replicas.max(0) as u32;
    let current = h
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .map_or(min, |c| c.max(0) as u32);
    let behavior = behavior_of(h);
    let mut out = Vec::new();
    for e in plan.expect.iter().filter(|e| e.hpa == name) {
        let Expectation::ReplicasAtLeast { n, within, .. } = e.expectation else {
            continue;
        };
        let best =
            hpa::best_case(min, max, behavior.as_ref(), current, n).map(|b| b.div_f64(time_scale));
        match best {
            None if n > max => out.push(format!(
                "hpa/{name}: `{}` cannot be met: maxReplicas is {max}",
                e.describe()
            )),
            None => out.push(format!(
                "hpa/{name}: `{}` cannot be met: its scaleUp behavior never gets from {current} to {n}",
                e.describe()
            )),
            Some(best) if best > within => out.push(format!(
                "hpa/{name}: `{}` cannot be met: from {current} replicas its behavior (sync every {} s, scaleUp policies, stabilization {} s) reaches {n} {:.1} s after the load is seen at the earliest",
                e.describe(),
                hpa::SYNC_PERIOD.as_secs(),
                behavior.as_ref().map_or(0, |b| b.up.stabilization.as_secs()),
                best.as_secs_f64()
            )),
            Some(_) => {}
        }
    }
    out
}

fn selector_of(d: &Deployment) -> Option<String> {
    let labels = d.spec.selector.match_labels.as_ref()?;
    (!labels.is_empty()).then(|| {
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

impl Session {
    /// Each watched HPA's replicas now, `(name, desired, ready)`: what a live view draws
    /// each second (a read of the watch's state, never a call to the cluster).
    pub fn replicas_now(
        &self,
    ) -> std::sync::Arc<dyn Fn() -> Vec<(String, u32, u32)> + Send + Sync> {
        let tracks: Vec<(String, Arc<Mutex<Track>>)> = self
            .watched
            .iter()
            .map(|w| (w.name.clone(), w.track.clone()))
            .collect();
        std::sync::Arc::new(move || {
            tracks
                .iter()
                .map(|(n, t)| {
                    let s = t.lock().unwrap_or_else(|p| p.into_inner()).state;
                    (n.clone(), s.desired, s.ready)
                })
                .collect()
        })
    }

    /// Connects and starts watching every HPA the plan names; fails (before any load)
    /// when the cluster or an HPA cannot be reached.
    pub fn start(
        rt: &tokio::runtime::Handle,
        plan: &KubePlan,
        source: &Source,
    ) -> Result<Session, SetupError> {
        Self::connect(rt.clone(), plan, source).map_err(SetupError)
    }

    fn connect(
        rt: tokio::runtime::Handle,
        plan: &KubePlan,
        source: &Source,
    ) -> anyhow::Result<Session> {
        let (client, server) = rt.block_on(client(source))?;
        let ns = plan.namespace.as_str();
        let mut watched = Vec::new();
        let mut warnings = Vec::new();
        let mut tasks = Vec::new();
        for name in plan.hpas() {
            let (h, d) = rt.block_on(async {
                let h = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
                    .get(&name)
                    .await
                    .with_context(|| format!("cannot read HorizontalPodAutoscaler {ns}/{name} from {server} (kube.expect names it)"))?;
                let target = &h.spec.scale_target_ref;
                if target.kind != "Deployment" {
                    bail!("hpa {ns}/{name} scales a {} ({}); loadctl follows Deployments", target.kind, target.name);
                }
                let d = Api::<Deployment>::namespaced(client.clone(), ns)
                    .get(&target.name)
                    .await
                    .with_context(|| format!("cannot read Deployment {ns}/{} (the target of hpa/{name})", target.name))?;
                anyhow::Ok((h, d))
            })?;
            let selector = selector_of(&d).with_context(|| {
                format!(
                    "Deployment {ns}/{} has no matchLabels selector to find its pods by",
                    d.name_any()
                )
            })?;
            warnings.extend(feasibility(plan, &name, &h, source.time_scale));
            let track = Arc::new(Mutex::new(Track::default()));
            let _guard = rt.enter();
            tasks.extend(watch::spawn(
                client.clone(),
                ns,
                &name,
                &d.name_any(),
                &selector,
                track.clone(),
            ));
            watched.push(Watched {
                name,
                deployment: d.name_any(),
                min: h.spec.min_replicas.unwrap_or(1).max(0) as u32,
                max: h.spec.max_replicas.max(0) as u32,
                track,
            });
        }
        for f in &plan.faults {
            rt.block_on(f.action.check(client.clone(), ns.to_string()))
                .map_err(|why| {
                    anyhow::anyhow!("kube.fault `{}` ({}): {why}", f.name, f.action.action())
                })?;
        }
        // The state at the load's start should be known: wait (briefly) for the first lists.
        let listed = || {
            watched.iter().all(|w| {
                let t = w.track.lock().unwrap_or_else(|e| e.into_inner());
                t.state.desired > 0 && t.state.ready > 0
            })
        };
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while !listed() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let (stop, _) = tokio::sync::watch::channel(false);
        Ok(Session {
            rt,
            client,
            plan: plan.clone(),
            server,
            watched,
            tasks,
            faults: Vec::new(),
            stop,
            warnings,
            time_scale: source.time_scale,
        })
    }

    /// Schedules the faults from `origin`, the load's start.
    pub fn schedule_faults(&mut self, origin: Instant) {
        for f in self.plan.faults.clone() {
            let rec = Arc::new(Mutex::new(FaultRecord::default()));
            let task = self.rt.spawn(fault::run(
                f.action.clone(),
                f.at,
                Exec {
                    client: self.client.clone(),
                    namespace: self.plan.namespace.clone(),
                    origin,
                    record: rec.clone(),
                    stop: self.stop.subscribe(),
                    time_scale: self.time_scale,
                },
            ));
            self.faults.push((f, rec, Some(task)));
        }
    }

    /// Stops watching and judges the expectations on what was seen since `origin`.
    pub fn finish(mut self, origin: Instant) -> Outcome {
        let _ = self.stop.send(true);
        for (_, _, task) in &mut self.faults {
            if let Some(t) = task.take() {
                let _ = self
                    .rt
                    .block_on(async { tokio::time::timeout(Duration::from_secs(5), t).await });
            }
        }
        for t in &self.tasks {
            t.abort();
        }
        let hpas: Vec<HpaOutcome> = self
            .watched
            .iter()
            .map(|w| {
                let t = w.track.lock().unwrap();
                let timeline = t.timeline(origin);
                let points = watch::points(&timeline);
                let mut wanted: Vec<u32> = self
                    .plan
                    .expect
                    .iter()
                    .filter(|e| e.hpa == w.name)
                    .filter_map(|e| match e.expectation {
                        Expectation::ReplicasAtLeast { n, .. } => Some(n),
                        Expectation::NeverLimited => None,
                    })
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                let levels = wanted
                    .into_iter()
                    .map(|n| {
                        (
                            n,
                            expect::reached(&points, n, Basis::Decision),
                            expect::reached(&points, n, Basis::Capacity),
                        )
                    })
                    .collect();
                HpaOutcome {
                    levels,
                    name: w.name.clone(),
                    deployment: w.deployment.clone(),
                    min: w.min,
                    max: w.max,
                    timeline,
                    restarts: t.restarts,
                    pods_seen: t.pods_seen,
                    ready: t
                        .ready
                        .iter()
                        .map(|(n, a, b)| {
                            let since = |i: &Instant| i.saturating_duration_since(origin);
                            (n.clone(), since(a), b.as_ref().map(since))
                        })
                        .collect(),
                    errors: t
                        .errors
                        .iter()
                        .map(|(at, e)| (at.saturating_duration_since(origin), e.clone()))
                        .collect(),
                }
            })
            .collect();
        let expectations = self
            .plan
            .expect
            .iter()
            .map(|e| {
                let points = hpas
                    .iter()
                    .find(|h| h.name == e.hpa)
                    .map(|h| watch::points(&h.timeline))
                    .unwrap_or_default();
                let (held, seen) = if points.is_empty() {
                    (false, "nothing was observed".to_string())
                } else {
                    expect::judge(&points, &e.expectation)
                };
                (e.hpa.clone(), e.describe(), held, seen)
            })
            .collect();
        let faults = self
            .faults
            .iter()
            .map(|(p, r, _)| (p.clone(), FaultRecord::lock(r).clone()))
            .collect();
        Outcome {
            server: self.server.clone(),
            hpas,
            faults,
            expectations,
            warnings: self.warnings.clone(),
        }
    }
}
