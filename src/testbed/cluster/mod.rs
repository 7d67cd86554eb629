//! A simulated Kubernetes control plane for the flash-sale reference service
//! (`testbed serve flash-sale --simulate-cluster`): the `flash-order` Deployment, its Pods
//! and its HorizontalPodAutoscaler, served on loopback through the small part of the
//! Kubernetes API loadctl's watchers and faults use (list, watch, get, delete of a Pod).
//!
//! It exists so the whole autoscaling path — real load, a real HPA decision, real watch
//! streams read by loadctl's real `kube` client — runs end to end on one machine. The load
//! is real: every request the service receives is counted, each Ready replica serves a fixed
//! `replica_capacity` per second, and the service really gets slower (and, for a moment
//! after a pod is killed, fails a share of requests) when it runs short. The HPA is
//! [`crate::kube::hpa`], the documented algorithm, synced every 15 s of simulated time;
//! `time_scale` runs the simulated clock faster than the wall clock so tests take seconds.
//!
//! Simplifications, stated: one HPA and one Deployment; each Ready pod's CPU is its share
//! of the received rate over a replica's capacity, and pods still starting (`pod_start`:
//! image pull, start, readiness probe) are unready, which the controller's replica
//! calculator treats as upstream's does (left out on the way down, 0 % on the way up,
//! never a reason to flip direction); memory stays at 40 %; pods never crash on their own.

mod api;
mod balancer;
mod chaos;
mod discovery;
mod job_api;
pub mod jobs;
mod nodes;
pub mod objects;
mod rollout;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::Metadata;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::kube::hpa::{self, SYNC_PERIOD};

pub use crate::scenario::plan::embedded::{ClusterConfig, NAMESPACE};

/// Simulated time the endpoints of a killed pod keep receiving traffic (kube-proxy and
/// the ingress catching up), during which requests routed to it fail.
const ENDPOINT_LAG: Duration = Duration::from_secs(2);
/// Grace period for pods removed by a scale-down.
const SCALE_DOWN_GRACE: Duration = Duration::from_secs(2);
/// Memory utilisation the simulated pods report (below the 75 % target).
const MEMORY_UTILIZATION: f64 = 40.0;
const TICK: Duration = Duration::from_millis(50);
/// `sessionAffinityConfig.clientIP.timeoutSeconds`: Kubernetes' default, 3 h (seed 002).
const SESSION_AFFINITY: Duration = Duration::from_secs(10_800);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hpa,
    Deployment,
    Pod,
}

/// One change, as a watch delivers it.
#[derive(Debug)]
struct Stored {
    rv: u64,
    kind: Kind,
    name: String,
    labels: BTreeMap<String, String>,
    /// The serialized `{"type":…,"object":…}` line.
    line: bytes::Bytes,
}

struct SimPod {
    pod: Pod,
    /// The pod template generation it was made from (a rollout makes a new one).
    template: u64,
    /// The node it runs on (`None`: every node cordoned, it stays Pending).
    node: Option<&'static str>,
    ready_at: Duration,
    ready: bool,
    /// Terminating: removed at this simulated time.
    gone_at: Option<Duration>,
}

struct StateInner {
    rv: u64,
    history: VecDeque<Arc<Stored>>,
    hpa: HorizontalPodAutoscaler,
    deployment: Deployment,
    pods: BTreeMap<String, SimPod>,
    controller: hpa::Hpa,
    next_sync: Duration,
    next_pod: u64,
    /// The Deployment's current pod template generation.
    template: u64,
    /// Nodes marked unschedulable (a cordon, a drain).
    cordoned: std::collections::BTreeSet<String>,
    last_scale: Option<Timestamp>,
    /// `(when, arrivals so far)`, for the received rate.
    samples: VecDeque<(Instant, u64)>,
}

/// The simulated cluster: shared by the service's load layer, the controller loop and the
/// API handlers.
pub struct Cluster {
    cfg: ClusterConfig,
    epoch: Instant,
    state: Mutex<StateInner>,
    events: broadcast::Sender<Arc<Stored>>,
    arrivals: AtomicU64,
    /// Utilisation of the Ready replicas over the last second (f64 bits).
    rho: AtomicU64,
    /// Failing share of requests (f64 bits) until `outage_until` (ns since epoch).
    outage_share: AtomicU64,
    outage_until: AtomicU64,
    ready: AtomicU32,
    /// The agents' Jobs and their pods (`loadctl run --kube-agents`).
    jobs: jobs::Jobs,
    /// Chaos Mesh's `NetworkChaos` objects, applied to the requests.
    chaos: chaos::Chaos,
    /// The Service: which Ready pod serves each request.
    balancer: balancer::Balancer,
}

impl Cluster {
    pub fn new(cfg: ClusterConfig) -> Arc<Cluster> {
        let (events, _) = broadcast::channel(cfg.history.max(16));
        let st = StateInner {
            rv: 0,
            history: VecDeque::new(),
            hpa: objects::hpa(NAMESPACE),
            deployment: objects::deployment(NAMESPACE, objects::MIN_REPLICAS),
            pods: BTreeMap::new(),
            controller: hpa::Hpa::new(
                objects::MIN_REPLICAS,
                objects::MAX_REPLICAS,
                vec![
                    f64::from(objects::CPU_TARGET),
                    f64::from(objects::MEMORY_TARGET),
                ],
                objects::behavior(),
            ),
            next_sync: SYNC_PERIOD,
            next_pod: 0,
            template: 1,
            cordoned: Default::default(),
            last_scale: None,
            samples: VecDeque::new(),
        };
        let c = Cluster {
            epoch: Instant::now(),
            state: Mutex::new(st),
            events,
            arrivals: AtomicU64::new(0),
            rho: AtomicU64::new(0f64.to_bits()),
            outage_share: AtomicU64::new(0f64.to_bits()),
            outage_until: AtomicU64::new(0),
            ready: AtomicU32::new(0),
            jobs: jobs::Jobs::default(),
            chaos: chaos::Chaos::default(),
            balancer: balancer::Balancer::new(cfg.balancer, cfg.session_affinity),
            cfg,
        };
        {
            // The cluster starts settled: the minimum of replicas, all Ready.
            let mut st = c.state.lock().unwrap();
            let mut hpa = st.hpa.clone();
            c.publish(&mut st, Kind::Hpa, "ADDED", &mut hpa);
            st.hpa = hpa;
            for _ in 0..objects::MIN_REPLICAS {
                c.add_pod(&mut st, Duration::ZERO, true);
            }
            c.sync_deployment(&mut st, true);
        }
        Arc::new(c)
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    fn now_sim(&self) -> Duration {
        self.epoch.elapsed().mul_f64(self.cfg.time_scale)
    }

    fn real(&self, sim: Duration) -> Duration {
        sim.div_f64(self.cfg.time_scale)
    }

    /// Stamps `obj` with the next resourceVersion and records the change for watchers.
    fn publish<
        K: Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> + Serialize,
    >(
        &self,
        st: &mut StateInner,
        kind: Kind,
        ty: &str,
        obj: &mut K,
    ) {
        st.rv += 1;
        obj.metadata_mut().resource_version = Some(st.rv.to_string());
        #[derive(Serialize)]
        struct Line<'a, T> {
            #[serde(rename = "type")]
            ty: &'a str,
            object: &'a T,
        }
        let mut line = serde_json::to_vec(&Line { ty, object: &*obj }).expect("objects serialize");
        line.push(b'\n');
        let stored = Arc::new(Stored {
            rv: st.rv,
            kind,
            name: obj.metadata().name.clone().unwrap_or_default(),
            labels: obj.metadata().labels.clone().unwrap_or_default(),
            line: line.into(),
        });
        st.history.push_back(stored.clone());
        while st.history.len() > self.cfg.history {
            st.history.pop_front();
        }
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(stored);
    }

    fn add_pod(&self, st: &mut StateInner, now: Duration, ready: bool) {
        st.next_pod += 1;
        let n = st.next_pod;
        // Pod names as a ReplicaSet makes them: the template hash, then a random suffix.
        let hash = template_hash(st.template);
        let name = format!("{}-{hash}-{}", objects::DEPLOYMENT, suffix(n));
        let mut pod = objects::pod(NAMESPACE, &name, format!("pod-{n:05}"));
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("pod-template-hash".into(), hash);
        let node = Self::schedule(st);
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = node.map(String::from);
        }
        if ready {
            pod.status = Some(objects::pod_status(true));
        }
        self.publish(st, Kind::Pod, "ADDED", &mut pod);
        st.pods.insert(
            name,
            SimPod {
                pod,
                template: st.template,
                node,
                // Unscheduled, a pod never starts.
                ready_at: if node.is_some() {
                    now + self.cfg.pod_start
                } else {
                    Duration::MAX
                },
                ready,
                gone_at: None,
            },
        );
    }

    fn live(st: &StateInner) -> impl Iterator<Item = &SimPod> {
        st.pods.values().filter(|p| p.gone_at.is_none())
    }

    /// Brings the Deployment's status in line with its pods, publishing if it changed.
    fn sync_deployment(&self, st: &mut StateInner, initial: bool) {
        let replicas = Self::live(st).count() as u32;
        let ready = Self::live(st).filter(|p| p.ready).count() as u32;
        self.ready.store(ready, Ordering::Relaxed);
        let names: Vec<String> = Self::live(st)
            .filter(|p| p.ready)
            .filter_map(|p| p.pod.metadata.name.clone())
            .collect();
        self.balancer.set_ready(&names);
        let updated = Self::live(st).filter(|p| p.template == st.template).count() as u32;
        let generation = st.deployment.metadata.generation.unwrap_or(1);
        let status = objects::deployment_status(replicas, ready, updated, generation);
        if !initial && st.deployment.status.as_ref() == Some(&status) {
            return;
        }
        let mut d = st.deployment.clone();
        d.status = Some(status);
        self.publish(
            st,
            Kind::Deployment,
            if initial { "ADDED" } else { "MODIFIED" },
            &mut d,
        );
        st.deployment = d;
    }

    fn terminate(
        &self,
        st: &mut StateInner,
        name: &str,
        grace: Duration,
        now: Duration,
    ) -> Option<Pod> {
        let p = st.pods.get_mut(name)?;
        p.gone_at = Some(now + grace);
        p.ready = false;
        objects::terminating(&mut p.pod, grace);
        let mut pod = p.pod.clone();
        self.publish(st, Kind::Pod, "MODIFIED", &mut pod);
        st.pods.get_mut(name).expect("still there").pod = pod.clone();
        Some(pod)
    }

    /// Deletes a pod as the API does: a UID precondition, a grace period, and the
    /// ReplicaSet replacing it at once.
    fn delete_pod(
        &self,
        name: &str,
        uid: Option<&str>,
        grace: Duration,
    ) -> Result<Pod, api::Refusal> {
        let now = self.now_sim();
        let mut st = self.state.lock().unwrap();
        let Some(p) = st.pods.get(name) else {
            return Err(api::Refusal::not_found("pods", name));
        };
        if let Some(uid) = uid {
            if p.pod.metadata.uid.as_deref() != Some(uid) {
                return Err(api::Refusal::conflict(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    p.pod.metadata.uid.as_deref().unwrap_or("")
                )));
            }
        }
        if p.gone_at.is_some() {
            return Ok(p.pod.clone());
        }
        let was_ready = p.ready;
        let ready_before = self.ready.load(Ordering::Relaxed);
        let pod = self.terminate(&mut st, name, grace, now).expect("present");
        self.add_pod(&mut st, now, false);
        self.sync_deployment(&mut st, false);
        if was_ready && grace.is_zero() {
            // Killed outright: until the endpoints catch up, the dead pod's share of
            // traffic fails. A graceful deletion drains first, as a real pod does when
            // it is removed from the endpoints before SIGTERM.
            self.drop_in_flight(1, ready_before);
        }
        Ok(pod)
    }

    /// An eviction (`policy/v1`) of `name`, as the API server admits it: refused (429)
    /// when flash-order's PodDisruptionBudget allows no disruption now, else a graceful
    /// deletion (the pod drains, the ReplicaSet replaces it).
    fn evict_pod(&self, name: &str) -> Result<(), api::Refusal> {
        {
            let st = self.state.lock().unwrap();
            let Some(p) = st.pods.get(name) else {
                return Err(api::Refusal::not_found("pods", name));
            };
            let expected = st.deployment.spec.replicas.unwrap_or(1).max(0) as u32;
            let healthy = Self::live(&st).filter(|p| p.ready).count() as u32;
            let desired = expected.saturating_sub(objects::PDB_MAX_UNAVAILABLE);
            if p.ready && p.gone_at.is_none() && healthy <= desired {
                return Err(api::Refusal::too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.".into(),
                ));
            }
        }
        self.delete_pod(name, None, rollout::GRACE).map(|_| ())
    }

    /// `lost` of `ready_before` Ready pods stopped serving without draining: until the
    /// endpoints catch up, their share of the traffic fails.
    fn drop_in_flight(&self, lost: u32, ready_before: u32) {
        if ready_before == 0 {
            return;
        }
        let share = f64::from_bits(self.outage_share.load(Ordering::Relaxed));
        let until = self.epoch.elapsed() + self.real(ENDPOINT_LAG);
        let active =
            self.outage_until.load(Ordering::Relaxed) > self.epoch.elapsed().as_nanos() as u64;
        let share = if active { share } else { 0.0 } + f64::from(lost) / f64::from(ready_before);
        self.outage_share
            .store(share.min(1.0).to_bits(), Ordering::Relaxed);
        self.outage_until
            .store(until.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A PATCH of the Deployment's pod template annotations (`kubectl rollout restart`):
    /// a new template generation, which the controller then rolls out.
    fn patch_template_annotations(
        &self,
        annotations: &serde_json::Map<String, serde_json::Value>,
    ) -> Deployment {
        let mut st = self.state.lock().unwrap();
        let mut d = st.deployment.clone();
        let meta = d
            .spec
            .template
            .metadata
            .get_or_insert_with(Default::default);
        let kept = meta.annotations.get_or_insert_with(Default::default);
        for (k, v) in annotations {
            kept.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
        d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
        st.template += 1;
        self.publish(&mut st, Kind::Deployment, "MODIFIED", &mut d);
        st.deployment = d.clone();
        d
    }

    /// One step of the controllers: pod readiness and removal, the received rate, and an
    /// HPA sync when one is due.
    fn tick(&self) {
        self.jobs.tick();
        let now = self.now_sim();
        self.chaos.tick(now);
        let wall = Instant::now();
        let mut st = self.state.lock().unwrap();
        let mut changed = Vec::new();
        for (name, p) in &st.pods {
            if p.gone_at.is_some_and(|g| now >= g)
                || (p.gone_at.is_none() && !p.ready && now >= p.ready_at)
            {
                changed.push(name.clone());
            }
        }
        for name in changed {
            let mut p = st.pods.remove(&name).expect("listed");
            if p.gone_at.is_some() {
                self.publish(&mut st, Kind::Pod, "DELETED", &mut p.pod);
            } else {
                p.ready = true;
                p.pod.status = Some(objects::pod_status(true));
                self.publish(&mut st, Kind::Pod, "MODIFIED", &mut p.pod);
                st.pods.insert(name, p);
            }
        }
        self.schedule_pending(&mut st, now);
        self.rollout_step(&mut st, now);
        self.sync_deployment(&mut st, false);

        let arrivals = self.arrivals.load(Ordering::Relaxed);
        st.samples.push_back((wall, arrivals));
        let window = self.real(SYNC_PERIOD).max(Duration::from_secs(1));
        while st.samples.len() > 2 && wall.duration_since(st.samples[1].0) >= window {
            st.samples.pop_front();
        }
        let rate_since = |since: Duration| {
            let from = st
                .samples
                .iter()
                .find(|(t, _)| wall.duration_since(*t) <= since)
                .copied()
                .unwrap_or((wall, arrivals));
            let dt = wall.duration_since(from.0).as_secs_f64();
            if dt < 0.2 {
                0.0
            } else {
                (arrivals - from.1) as f64 / dt
            }
        };
        let recent = rate_since(Duration::from_secs(1));
        self.balancer.tick(self.real(SESSION_AFFINITY));
        let rate = rate_since(window);
        // Each Ready pod serves with the CPU a stress chaos leaves it.
        let serving: f64 = Self::live(&st)
            .filter(|p| p.ready)
            .filter_map(|p| p.pod.metadata.name.as_deref())
            .map(|n| 1.0 - self.chaos.cpu_taken(n))
            .sum();
        let rho = recent / (serving.max(0.05) * self.cfg.replica_capacity);
        self.rho.store(rho.to_bits(), Ordering::Relaxed);

        if now >= st.next_sync {
            st.next_sync = now + SYNC_PERIOD;
            // During a rollout the surge pods are the rollout's, not the scale's: the HPA
            // reads the Deployment's replicas and only writes them, and the rollout's steps
            // follow (as upstream's controllers share the Deployment).
            let rolling = Self::live(&st).any(|p| p.template != st.template);
            let current = if rolling {
                st.deployment.spec.replicas.unwrap_or(1).max(0) as u32
            } else {
                Self::live(&st).count() as u32
            };
            // Per pod, as the metrics API would report it: the Ready ones share the
            // received rate (a request of 1000 millicores is 100 % at the replica's
            // capacity); pods still starting are unready, and the controller's replica
            // calculator treats them as upstream's does.
            let ready_now = Self::live(&st).filter(|p| p.ready).count().max(1) as f64;
            let pooled = rate / ready_now / self.cfg.replica_capacity * 1000.0;
            // Picked per connection, each pod carries what its connections bring.
            let per_pod = |name: &str| match self.balancer.per_connection() {
                true => self.balancer.rate(name) / self.cfg.replica_capacity * 1000.0,
                false => pooled,
            };
            // A stressed pod's usage adds what its stressors burn, up to its 1-core limit.
            let pods: Vec<hpa::PodSample> = Self::live(&st)
                .map(|p| match p.ready {
                    true => {
                        let name = p.pod.metadata.name.as_deref().unwrap_or_default();
                        let stress = self.chaos.cpu_taken(name) * 1000.0;
                        let per_pod = per_pod(name);
                        hpa::PodSample::Ready {
                            usage: (per_pod + stress).min(1000f64.max(per_pod)).round() as u64,
                            request: 1000,
                        }
                    }
                    false => hpa::PodSample::Unready { request: 1000 },
                })
                .collect();
            let cpu = 100.0 * rate / (f64::from(current.max(1)) * self.cfg.replica_capacity);
            let observed = [cpu, MEMORY_UTILIZATION];
            let decision = st.controller.sync_with(
                now,
                current,
                &[
                    hpa::Observed::Pods(&pods),
                    hpa::Observed::Utilization(MEMORY_UTILIZATION),
                ],
            );
            if decision.desired != current {
                st.last_scale = Some(Timestamp::now());
                let mut d = st.deployment.clone();
                d.spec.replicas = Some(decision.desired as i32);
                d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
                self.publish(&mut st, Kind::Deployment, "MODIFIED", &mut d);
                st.deployment = d;
                if rolling {
                    // The rollout's next step scales to the new replicas.
                } else if decision.desired > current {
                    for _ in current..decision.desired {
                        self.add_pod(&mut st, now, false);
                    }
                } else {
                    // Unready first, then the newest, as the ReplicaSet controller picks.
                    let mut victims: Vec<(bool, String)> = st
                        .pods
                        .iter()
                        .filter(|(_, p)| p.gone_at.is_none())
                        .map(|(n, p)| (p.ready, n.clone()))
                        .collect();
                    victims.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                    for (_, name) in victims
                        .into_iter()
                        .take((current - decision.desired) as usize)
                    {
                        self.terminate(&mut st, &name, SCALE_DOWN_GRACE, now);
                    }
                }
                self.sync_deployment(&mut st, false);
            }
            let mut h = st.hpa.clone();
            h.status = Some(objects::hpa_status(
                current,
                decision,
                observed,
                st.last_scale,
            ));
            self.publish(&mut st, Kind::Hpa, "MODIFIED", &mut h);
            st.hpa = h;
        }
    }

    /// Runs the controllers until the runtime stops.
    pub fn spawn_controller(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                me.tick();
            }
        });
    }

    /// The Kubernetes API subset, to be served on its own loopback port.
    pub fn api_router(self: &Arc<Self>) -> axum::Router {
        api::router(self.clone())
    }

    /// How a request fares right now: fails (the dead pod's share during an outage, or
    /// an answer the network chaos lost), or waits the queueing delay of the Ready
    /// replicas' utilisation plus what the network chaos adds.
    fn serving(&self, pod: Option<&str>) -> Result<Duration, Failed> {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if now < self.outage_until.load(Ordering::Relaxed) {
            let share = f64::from_bits(self.outage_share.load(Ordering::Relaxed));
            if fastrand::f64() < share {
                return Err(Failed::PodGone);
            }
        }
        let net = pod.map(|p| self.chaos.effect_on(p)).unwrap_or_default();
        if net.lost {
            return Err(Failed::Lost);
        }
        let rho = match pod.filter(|_| self.balancer.per_connection()) {
            // Its own load, on the CPU a stress chaos leaves it.
            Some(p) => {
                let cpu = (1.0 - self.chaos.cpu_taken(p)).max(0.05);
                self.balancer.rate(p) / (cpu * self.cfg.replica_capacity)
            }
            None => f64::from_bits(self.rho.load(Ordering::Relaxed)),
        };
        Ok(queueing_delay(rho) + net.delay)
    }

    /// The Ready pods with their labels, as a chaos selector sees them.
    fn ready_labels(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let st = self.state.lock().unwrap();
        Self::live(&st)
            .filter(|p| p.ready)
            .filter_map(|p| {
                Some((
                    p.pod.metadata.name.clone()?,
                    p.pod.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// A kubeconfig that points a client at this control plane's API on `addr`.
    pub fn kubeconfig(addr: std::net::SocketAddr) -> String {
        format!(
            "# Written by loadctl for its simulated control plane; valid while it runs.\n\
             apiVersion: v1\nkind: Config\n\
             clusters:\n- name: loadctl-sim\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: loadctl-sim\n  context:\n    cluster: loadctl-sim\n    namespace: {NAMESPACE}\n    user: loadctl-sim\n\
             current-context: loadctl-sim\n\
             users:\n- name: loadctl-sim\n  user: {{}}\n"
        )
    }
}

/// Why the simulated service fails a request.
enum Failed {
    /// A pod killed outright, still in the endpoints.
    PodGone,
    /// The network chaos lost the answer.
    Lost,
}

/// The pod-template-hash of template generation `t` (the first is the manifest's).
fn template_hash(t: u64) -> String {
    if t == 1 {
        return "7d4b9c6f5".into();
    }
    let h = t.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 24;
    format!("{:09x}", h & 0xf_ffff_ffff)
}

/// A ReplicaSet-style five-character suffix, deterministic per pod number.
fn suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Added latency at utilisation `rho` of the Ready replicas: an M/M/1-like wait below
/// capacity (1 ms of service time), growing with the backlog above it.
pub fn queueing_delay(rho: f64) -> Duration {
    const SERVICE: f64 = 0.001;
    let secs = if rho < 0.95 {
        SERVICE / (1.0 - rho.max(0.0))
    } else {
        SERVICE / 0.05 + (rho - 0.95) * 0.2
    };
    Duration::from_secs_f64(secs.min(2.0))
}

/// The service side of the simulation: counts what the service receives and makes it as
/// slow (or as broken) as the simulated replicas are.
pub async fn load_layer(State(c): State<Arc<Cluster>>, req: Request, next: Next) -> Response {
    if super::is_health(req.uri().path()) {
        return next.run(req).await;
    }
    c.arrivals.fetch_add(1, Ordering::Relaxed);
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|ci| ci.0);
    let pod = c.balancer.pick(peer);
    let mut resp = match c.serving(pod.as_deref()) {
        Err(Failed::PodGone) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"detail":"upstream pod terminated"}"#,
        )
            .into_response(),
        Err(Failed::Lost) => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "application/json")],
            r#"{"detail":"the upstream answer was lost on the network"}"#,
        )
            .into_response(),
        Ok(delay) => {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }
    };
    // Which replica answered, as the kind manifests' services say it (`X-Served-By`,
    // the pod name from the downward API).
    if let Some(v) = pod.and_then(|p| axum::http::HeaderValue::from_str(&p).ok()) {
        resp.headers_mut().insert(super::SERVED_BY, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_with_utilisation() {
        let d = |r| queueing_delay(r).as_secs_f64();
        assert!(d(0.0) < d(0.5) && d(0.5) < d(0.9) && d(0.9) < d(1.5) && d(1.5) < d(3.0));
        assert_eq!(queueing_delay(100.0), Duration::from_secs(2));
    }

    #[test]
    fn pod_names_differ() {
        let names: std::collections::HashSet<String> = (0..1000).map(suffix).collect();
        assert_eq!(names.len(), 1000);
    }
}
