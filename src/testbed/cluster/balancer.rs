//! The Service in front of the simulated pods: which Ready pod answers a request.
//!
//! By default each request goes to the next Ready pod in turn, as an L7 ingress with
//! upstream keep-alive balances (the traffic is spread evenly, and the replicas share the
//! load as one pool). With `[embedded] balancer` set, a pod is picked per **connection**,
//! as kube-proxy does for TCP (iptables picks at random, IPVS in turn or by least
//! connections, and an ingress can hash the client's address): a keep-alive connection
//! stays on its pod for its life, so pods that become Ready later get only new
//! connections, and each pod then serves at its own utilisation. `session_affinity`
//! sends every connection of one client address to the pod it first got
//! (`sessionAffinity: ClientIP`), while that pod is Ready.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::scenario::plan::embedded::Strategy;

/// A connection not seen for this long is forgotten (the client closed it).
const IDLE: Duration = Duration::from_secs(30);
/// Connections (and client addresses) remembered at most: a flood of new connections
/// must not grow the simulation without bound.
const MAX_TRACKED: usize = 200_000;

#[derive(Default)]
struct PodLoad {
    arrivals: u64,
    samples: VecDeque<(Instant, u64)>,
    /// Requests per second over the last second.
    rate: f64,
}

#[derive(Default)]
struct Inner {
    ready: Vec<Arc<str>>,
    load: HashMap<Arc<str>, PodLoad>,
    conns: HashMap<SocketAddr, (Arc<str>, Instant)>,
    clients: HashMap<IpAddr, (Arc<str>, Instant)>,
}

pub struct Balancer {
    strategy: Option<Strategy>,
    affinity: bool,
    inner: Mutex<Inner>,
    turn: AtomicUsize,
}

impl Balancer {
    pub fn new(strategy: Option<Strategy>, affinity: bool) -> Self {
        Balancer {
            strategy,
            affinity,
            inner: Mutex::default(),
            turn: AtomicUsize::new(0),
        }
    }

    /// Picks per connection (and each pod carries its own load).
    pub fn per_connection(&self) -> bool {
        self.strategy.is_some()
    }

    pub fn set_ready(&self, names: &[String]) {
        let mut st = self.inner.lock().unwrap();
        st.ready = names.iter().map(|n| Arc::from(n.as_str())).collect();
        let ready = st.ready.clone();
        st.load.retain(|n, _| ready.contains(n));
        for n in ready {
            st.load.entry(n).or_default();
        }
    }

    fn choose(&self, st: &Inner, ip: Option<IpAddr>) -> Arc<str> {
        let n = st.ready.len();
        let turn = || self.turn.fetch_add(1, Ordering::Relaxed) % n;
        let i = match (self.strategy, ip) {
            (None | Some(Strategy::RoundRobin), _) | (Some(Strategy::IpHash), None) => turn(),
            (Some(Strategy::Random), _) => fastrand::usize(..n),
            (Some(Strategy::IpHash), Some(ip)) => {
                // FNV-1a over the address: the same client, the same pod (while the
                // set of Ready pods stays the same).
                let bytes = match ip {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                };
                let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
                });
                (h % n as u64) as usize
            }
            (Some(Strategy::LeastConnections), _) => {
                let mut open: HashMap<&str, usize> = HashMap::new();
                for (pod, _) in st.conns.values() {
                    *open.entry(pod).or_default() += 1;
                }
                let start = turn();
                (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|k| open.get(&*st.ready[*k]).copied().unwrap_or(0))
                    .unwrap_or(0)
            }
        };
        st.ready[i].clone()
    }

    /// The pod that serves a request on connection `peer` (`None`: unknown, picked per
    /// request), and its utilisation share of the traffic; `None` with no pod Ready.
    pub fn pick(&self, peer: Option<SocketAddr>) -> Option<Arc<str>> {
        let mut st = self.inner.lock().unwrap();
        if st.ready.is_empty() {
            return None;
        }
        let now = Instant::now();
        let pod = match (self.per_connection(), peer) {
            (true, Some(peer)) => {
                let kept = st
                    .conns
                    .get(&peer)
                    .map(|(p, _)| p.clone())
                    .filter(|p| st.ready.contains(p));
                let sticky = || {
                    st.clients
                        .get(&peer.ip())
                        .map(|(p, _)| p.clone())
                        .filter(|p| self.affinity && st.ready.contains(p))
                };
                let pod = kept
                    .or_else(sticky)
                    .unwrap_or_else(|| self.choose(&st, Some(peer.ip())));
                if st.conns.len() < MAX_TRACKED || st.conns.contains_key(&peer) {
                    st.conns.insert(peer, (pod.clone(), now));
                }
                if self.affinity && st.clients.len() < MAX_TRACKED {
                    st.clients.insert(peer.ip(), (pod.clone(), now));
                }
                pod
            }
            _ => self.choose(&st, peer.map(|p| p.ip())),
        };
        if let Some(l) = st.load.get_mut(&pod) {
            l.arrivals += 1;
        }
        Some(pod)
    }

    /// Requests per second each Ready pod received over the last second; forgets idle
    /// connections. `affinity_for` is how long a client stays on its pod.
    pub fn tick(&self, affinity_for: Duration) {
        let now = Instant::now();
        let mut st = self.inner.lock().unwrap();
        for l in st.load.values_mut() {
            l.samples.push_back((now, l.arrivals));
            while l.samples.len() > 2
                && now.duration_since(l.samples[1].0) >= Duration::from_secs(1)
            {
                l.samples.pop_front();
            }
            let (t0, n0) = l.samples[0];
            let dt = now.duration_since(t0).as_secs_f64();
            l.rate = if dt < 0.2 {
                0.0
            } else {
                (l.arrivals - n0) as f64 / dt
            };
        }
        st.conns
            .retain(|_, (_, seen)| now.duration_since(*seen) < IDLE);
        st.clients
            .retain(|_, (_, seen)| now.duration_since(*seen) < affinity_for);
    }

    /// Requests per second `pod` received over the last second.
    pub fn rate(&self, pod: &str) -> f64 {
        self.inner
            .lock()
            .unwrap()
            .load
            .get(pod)
            .map_or(0.0, |l| l.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("pod-{i}")).collect()
    }

    fn peer(ip: u8, port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, ip], port)))
    }

    #[test]
    fn a_connection_stays_on_its_pod_and_new_pods_get_only_new_connections() {
        let b = Balancer::new(Some(Strategy::RoundRobin), false);
        b.set_ready(&names(2));
        let first: Vec<_> = (0..4).map(|p| b.pick(peer(1, p)).unwrap()).collect();
        b.set_ready(&names(4));
        for (p, pod) in first.iter().enumerate() {
            assert_eq!(&b.pick(peer(1, p as u16)).unwrap(), pod, "pinned");
        }
        let fresh: Vec<_> = (10..14)
            .map(|p| b.pick(peer(1, p)).unwrap().to_string())
            .collect();
        assert!(fresh.iter().any(|p| p == "pod-3"), "{fresh:?}");
    }

    #[test]
    fn per_request_spreads_every_request() {
        let b = Balancer::new(None, false);
        b.set_ready(&names(4));
        let mut seen = HashMap::new();
        for _ in 0..400 {
            *seen.entry(b.pick(peer(1, 1)).unwrap()).or_insert(0) += 1;
        }
        assert!(seen.values().all(|n| *n == 100), "{seen:?}");
    }

    #[test]
    fn ip_hash_and_affinity_keep_a_client_on_one_pod() {
        for (strategy, affinity) in [(Strategy::IpHash, false), (Strategy::Random, true)] {
            let b = Balancer::new(Some(strategy), affinity);
            b.set_ready(&names(5));
            for ip in 2..40u8 {
                let pods: std::collections::HashSet<_> = (0..10)
                    .map(|p| b.pick(peer(ip, 1000 + p)).unwrap())
                    .collect();
                assert_eq!(pods.len(), 1, "{strategy:?} ip {ip}");
            }
        }
    }

    #[test]
    fn least_connections_fills_the_emptiest() {
        let b = Balancer::new(Some(Strategy::LeastConnections), false);
        b.set_ready(&names(3));
        for p in 0..6 {
            b.pick(peer(1, p));
        }
        b.set_ready(&names(4));
        let next: Vec<_> = (100..102)
            .map(|p| b.pick(peer(1, p)).unwrap().to_string())
            .collect();
        assert_eq!(next[0], "pod-3");
    }
}
