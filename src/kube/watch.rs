//! Watching one HPA, its Deployment and its Pods during a run, with kube's `watcher`, and
//! turning what arrives into a timeline of [`Point`]s stamped with the local receive time.
//!
//! What matters here is robustness, not speed: a watch error (including the `410 Gone`
//! that follows a compaction) is logged and the watcher keeps going with its backoff —
//! ending the loop on the first error, as `try_next()?` would, silently stops recording;
//! the re-list that follows replays objects already seen, which the per-object
//! resourceVersion filters out, and objects that vanished during the gap are dropped when
//! the re-list completes. No generation filter: an HPA's status changes do not bump it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource, ResourceExt};

use super::expect::Point;

/// Ready spans kept per HPA: a run of 24 h with a pod replaced every few seconds.
const MAX_READY_SPANS: usize = 20_000;

/// What is known of one HPA's world at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub desired: u32,
    pub current: u32,
    pub ready: u32,
    /// `ScalingLimited` True with reason `TooManyReplicas`: pinned at maxReplicas.
    pub at_max: bool,
}

/// One HPA's recording.
#[derive(Debug, Default)]
pub struct Track {
    pub state: State,
    /// `(received, state after the change)`, one per change of state.
    pub changes: Vec<(Instant, State)>,
    /// Container restarts observed during the watch.
    pub restarts: u64,
    /// Distinct pods seen.
    pub pods_seen: u64,
    /// Watch errors, as text, with when they arrived.
    pub errors: Vec<(Instant, String)>,
    /// Per object (kind, uid): the last resourceVersion applied.
    seen: HashMap<(char, String), String>,
    /// Pod uid → restart count.
    pods: HashMap<String, u64>,
    /// Pod uids listed since the last `Init`, while a re-list is under way.
    relist: Option<HashSet<String>>,
    /// Each pod's Ready spans: `(name, Ready from, Ready until)`, in the order seen.
    pub ready: Vec<(String, Instant, Option<Instant>)>,
    /// Whether the HPA and the Deployment have been seen: a state known by halves (0
    /// desired because only the Deployment arrived yet) is no point of the timeline.
    seen_hpa: bool,
    seen_deployment: bool,
}

impl Track {
    fn record(&mut self, at: Instant, next: State) {
        let changed = next != self.state;
        self.state = next;
        if self.seen_hpa && self.seen_deployment && (changed || self.changes.is_empty()) {
            self.changes.push((at, next));
        }
    }

    /// True when `(kind, uid)` at this resourceVersion was already applied: a re-list
    /// replay.
    fn replayed(&mut self, kind: char, meta: &kube::api::ObjectMeta) -> bool {
        let (Some(uid), Some(rv)) = (meta.uid.clone(), meta.resource_version.clone()) else {
            return false;
        };
        match self.seen.insert((kind, uid), rv.clone()) {
            Some(old) => old == rv,
            None => false,
        }
    }

    pub fn hpa(&mut self, at: Instant, h: &HorizontalPodAutoscaler) {
        if self.replayed('h', h.meta()) {
            return;
        }
        let Some(s) = &h.status else { return };
        let at_max = s.conditions.iter().flatten().any(|c| {
            c.type_ == "ScalingLimited"
                && c.status == "True"
                && c.reason.as_deref() == Some("TooManyReplicas")
        });
        self.seen_hpa = true;
        let next = State {
            desired: s.desired_replicas.max(0) as u32,
            current: s.current_replicas.unwrap_or(0).max(0) as u32,
            at_max,
            ..self.state
        };
        self.record(at, next);
    }

    pub fn deployment(&mut self, at: Instant, d: &Deployment) {
        if self.replayed('d', d.meta()) {
            return;
        }
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
            .max(0) as u32;
        self.seen_deployment = true;
        let next = State {
            ready,
            ..self.state
        };
        self.record(at, next);
    }

    /// Notes whether `p` is Ready now: a span opens when it becomes Ready and closes when
    /// it stops being Ready or is deleted (a Terminating pod reports not Ready).
    fn readiness(&mut self, at: Instant, p: &Pod, deleted: bool) {
        let name = p.name_any();
        let ready = !deleted
            && p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let open = self
            .ready
            .iter()
            .rposition(|(n, _, until)| *n == name && until.is_none());
        match (open, ready) {
            (Some(i), false) => self.ready[i].2 = Some(at),
            (None, true) if self.ready.len() < MAX_READY_SPANS => self.ready.push((name, at, None)),
            _ => {}
        }
    }

    pub fn pod_at(&mut self, at: Instant, p: &Pod, deleted: bool) {
        self.readiness(at, p, deleted);
        self.pod(p, deleted);
    }

    pub fn pod(&mut self, p: &Pod, deleted: bool) {
        let uid = p.uid().unwrap_or_default();
        if let Some(seen) = &mut self.relist {
            seen.insert(uid.clone());
        }
        if deleted {
            self.pods.remove(&uid);
            self.seen.remove(&('p', uid));
            return;
        }
        if self.replayed('p', p.meta()) {
            return;
        }
        let restarts: u64 = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count.max(0) as u64).sum())
            .unwrap_or(0);
        match self.pods.insert(uid, restarts) {
            Some(before) => self.restarts += restarts.saturating_sub(before),
            None => self.pods_seen += 1,
        }
    }

    fn pods_relist_begins(&mut self) {
        self.relist = Some(HashSet::new());
    }

    fn pods_relist_done(&mut self) {
        if let Some(listed) = self.relist.take() {
            self.pods.retain(|uid, _| listed.contains(uid));
        }
    }

    /// The timeline from `origin` (the load's start): changes before it collapse into
    /// the state at 0.
    pub fn timeline(&self, origin: Instant) -> Vec<(Duration, State)> {
        let mut out: Vec<(Duration, State)> = Vec::new();
        for (at, s) in &self.changes {
            let t = at.saturating_duration_since(origin);
            match out.last_mut() {
                Some(last) if last.0 == t => last.1 = *s,
                _ => out.push((t, *s)),
            }
        }
        out
    }

    pub fn points(&self, origin: Instant) -> Vec<Point> {
        points(&self.timeline(origin))
    }
}

/// What the expectations judge of a timeline.
pub fn points(timeline: &[(Duration, State)]) -> Vec<Point> {
    timeline
        .iter()
        .map(|&(at, s)| Point {
            at,
            desired: s.desired,
            ready: s.ready,
            limited: s.at_max,
        })
        .collect()
}

/// Watches one kind's objects into `track` until the task is dropped.
async fn follow<K, F>(
    api: Api<K>,
    cfg: watcher::Config,
    what: String,
    track: Arc<Mutex<Track>>,
    on: F,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(&mut Track, Instant, watcher::Event<K>),
{
    let mut events = watcher(api, cfg).default_backoff().boxed();
    while let Some(ev) = events.next().await {
        let now = Instant::now();
        let mut t = track.lock().unwrap();
        match ev {
            Ok(ev) => on(&mut t, now, ev),
            Err(e) => t.errors.push((now, format!("{what}: {e}"))),
        }
    }
}

/// Starts the three watchers of one HPA; they run until the returned tasks are aborted.
pub fn spawn(
    client: kube::Client,
    namespace: &str,
    hpa: &str,
    deployment: &str,
    selector: &str,
    track: Arc<Mutex<Track>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let by_name = |n: &str| watcher::Config::default().fields(&format!("metadata.name={n}"));
    vec![
        tokio::spawn(follow(
            Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace),
            by_name(hpa),
            format!("watch hpa/{hpa}"),
            track.clone(),
            |t, now, ev| match ev {
                watcher::Event::Apply(h) | watcher::Event::InitApply(h) => t.hpa(now, &h),
                _ => {}
            },
        )),
        tokio::spawn(follow(
            Api::<Deployment>::namespaced(client.clone(), namespace),
            by_name(deployment),
            format!("watch deployment/{deployment}"),
            track.clone(),
            |t, now, ev| match ev {
                watcher::Event::Apply(d) | watcher::Event::InitApply(d) => t.deployment(now, &d),
                _ => {}
            },
        )),
        tokio::spawn(follow(
            Api::<Pod>::namespaced(client, namespace),
            watcher::Config::default().labels(selector),
            format!("watch pods ({selector})"),
            track,
            |t, now, ev| match ev {
                watcher::Event::Init => t.pods_relist_begins(),
                watcher::Event::InitDone => t.pods_relist_done(),
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => t.pod_at(now, &p, false),
                watcher::Event::Delete(p) => t.pod_at(now, &p, true),
            },
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::{
        HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
    };

    fn hpa(rv: &str, desired: i32, at_max: bool) -> HorizontalPodAutoscaler {
        let mut h = HorizontalPodAutoscaler::default();
        h.metadata.uid = Some("u1".into());
        h.metadata.resource_version = Some(rv.into());
        h.status = Some(HorizontalPodAutoscalerStatus {
            desired_replicas: desired,
            current_replicas: Some(desired),
            conditions: Some(vec![HorizontalPodAutoscalerCondition {
                type_: "ScalingLimited".into(),
                status: if at_max { "True" } else { "False" }.into(),
                reason: Some(
                    if at_max {
                        "TooManyReplicas"
                    } else {
                        "DesiredWithinRange"
                    }
                    .into(),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        });
        h
    }

    #[test]
    fn replays_and_unchanged_states_add_no_points() {
        let origin = Instant::now();
        let mut t = Track::default();
        let mut d = Deployment::default();
        d.metadata.uid = Some("d1".into());
        d.metadata.resource_version = Some("1".into());
        t.deployment(origin, &d);
        assert!(t.changes.is_empty(), "half a state is no point");
        t.hpa(origin, &hpa("1", 5, false));
        t.hpa(origin, &hpa("1", 5, false)); // re-list replay
        t.hpa(origin + Duration::from_secs(1), &hpa("2", 5, false)); // status churn, same state
        t.hpa(origin + Duration::from_secs(15), &hpa("3", 10, false));
        t.hpa(origin + Duration::from_secs(30), &hpa("4", 20, true));
        let p = t.points(origin);
        assert_eq!(p.len(), 3);
        assert_eq!((p[1].at, p[1].desired), (Duration::from_secs(15), 10));
        assert!(p[2].limited);
    }

    #[test]
    fn restarts_count_increases_only() {
        let mut t = Track::default();
        let pod = |rv: &str, restarts: i32| {
            let mut p = Pod::default();
            p.metadata.uid = Some("p1".into());
            p.metadata.resource_version = Some(rv.into());
            p.status = Some(k8s_openapi::api::core::v1::PodStatus {
                container_statuses: Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            });
            p
        };
        t.pod(&pod("1", 0), false);
        t.pod(&pod("2", 2), false);
        t.pod(&pod("2", 2), false);
        assert_eq!((t.pods_seen, t.restarts), (1, 2));
        t.pods_relist_begins();
        t.pods_relist_done();
        assert!(t.pods.is_empty(), "a pod missing from the re-list is gone");
    }
}
