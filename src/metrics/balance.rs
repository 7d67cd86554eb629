//! Which backend served each answer (`[balance]`): per-interval counts and latency per
//! backend name, merged exactly by name across threads and agents, and each client's
//! backends over the run for the affinity check.
//!
//! Names come from the target, so they are bounded: at most [`MAX_BACKENDS`] distinct
//! names per thread (the rest count under [`OTHER`]), each cut to [`MAX_NAME`] bytes of
//! printable ASCII, and at most [`MAX_CLIENTS`] clients tracked per thread (the rest are
//! counted as untracked). A backend's latency histogram keeps 2 significant digits: it
//! compares backends, the run's own percentiles stay at full resolution.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Distinct backend names kept per thread; more is a target naming each answer anew.
pub const MAX_BACKENDS: usize = 256;
/// Bytes of a backend name kept.
pub const MAX_NAME: usize = 100;
/// Where answers of backends beyond [`MAX_BACKENDS`] are counted.
pub const OTHER: &str = "(other)";
/// Clients the affinity check follows per thread.
pub const MAX_CLIENTS: usize = 100_000;
/// Backends kept per client: a client on more is a violation long before.
const MAX_PER_CLIENT: usize = 8;

fn histogram() -> Histogram<u64> {
    super::growing(2)
}

/// One backend over some time.
#[derive(Debug, Clone)]
pub struct BackendData {
    pub requests: u64,
    /// Answers that were errors (a 5xx it sent, a failed check).
    pub errors: u64,
    /// Latency from the intended start, µs.
    pub latency: Histogram<u64>,
}

impl BackendData {
    fn new() -> Self {
        BackendData {
            requests: 0,
            errors: 0,
            latency: histogram(),
        }
    }

    pub fn merge(&mut self, o: &BackendData) {
        self.requests += o.requests;
        self.errors += o.errors;
        super::add_hist(&mut self.latency, &o.latency);
    }

    fn reset(&mut self) {
        self.requests = 0;
        self.errors = 0;
        self.latency.reset();
    }
}

/// The backends of one interval (or the run).
#[derive(Debug, Clone, Default)]
pub struct BalanceData {
    /// By name, in the order first seen.
    pub backends: Vec<(Arc<str>, BackendData)>,
    /// Answers that named no backend (the header missing, say).
    pub unnamed: u64,
    /// Name → index in `backends`.
    index: HashMap<Arc<str>, usize>,
}

/// `name` cut to [`MAX_NAME`] bytes, anything but printable ASCII (and commas, which the
/// interval log's tags cannot hold) made `_`.
fn clean(name: &str) -> String {
    name.bytes()
        .take(MAX_NAME)
        .map(|b| match b {
            b'!'..=b'~' if b != b',' => b as char,
            _ => '_',
        })
        .collect()
}

/// A thread's backend names for the whole run: at most [`MAX_BACKENDS`] distinct ones,
/// cleaned once; the rest are [`OTHER`]. Lives in the recorder, so the bound holds across
/// seconds, not per second.
#[derive(Debug, Default)]
pub struct Names {
    map: HashMap<Box<str>, Arc<str>>,
    other: Option<Arc<str>>,
}

impl Names {
    /// The name to count `raw` under.
    pub fn intern(&mut self, raw: &str) -> Arc<str> {
        if let Some(n) = self.map.get(raw) {
            return n.clone();
        }
        if self.map.len() >= MAX_BACKENDS {
            return self.other.get_or_insert_with(|| OTHER.into()).clone();
        }
        let name: Arc<str> = clean(raw).into();
        self.map.insert(raw.into(), name.clone());
        name
    }
}

impl BalanceData {
    /// The index of the backend called `name` (already clean), added if new.
    pub fn named(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let name: Arc<str> = name.into();
        self.backends.push((name.clone(), BackendData::new()));
        self.index.insert(name, self.backends.len() - 1);
        self.backends.len() - 1
    }

    /// An answer of `backend` (`None`: it named none) with its latency in µs.
    pub fn record(&mut self, backend: Option<&str>, error: bool, latency_us: u64) {
        let Some(name) = backend else {
            self.unnamed += 1;
            return;
        };
        let i = self.named(name);
        let b = &mut self.backends[i].1;
        b.requests += 1;
        b.errors += u64::from(error);
        super::record_us(&mut b.latency, latency_us);
    }

    pub fn merge(&mut self, o: &BalanceData) {
        for (name, d) in &o.backends {
            let i = self.named(name);
            self.backends[i].1.merge(d);
        }
        self.unnamed += o.unnamed;
    }

    /// Empties the counts, keeping the names (a thread's backends stay the same).
    pub fn reset(&mut self) {
        self.backends.iter_mut().for_each(|(_, d)| d.reset());
        self.unnamed = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.unnamed == 0 && self.backends.iter().all(|(_, d)| d.requests == 0)
    }

    /// `(name, requests, errors)` of the backends that answered, for the interval log.
    pub fn counts(&self) -> Vec<(String, u64, u64)> {
        self.backends
            .iter()
            .filter(|(_, d)| d.requests > 0)
            .map(|(n, d)| (n.to_string(), d.requests, d.errors))
            .collect()
    }

    /// Sets a backend's counts as the interval log holds them.
    pub fn apply(&mut self, name: &str, requests: u64, errors: u64) {
        let i = self.named(&clean(name));
        self.backends[i].1.requests = requests;
        self.backends[i].1.errors = errors;
    }

    /// The latency histogram of `name`, for the interval log's reader.
    pub fn latency_mut(&mut self, name: &str) -> &mut Histogram<u64> {
        let i = self.named(&clean(name));
        &mut self.backends[i].1.latency
    }
}

/// Who a client is to the affinity check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client<'a> {
    Ip(IpAddr),
    Text(&'a str),
}

/// The backends one client reached: `(backend, first second, last second)`.
pub type Reached = Vec<(Arc<str>, i64, i64)>;

/// Each client's backends over a thread's run (run-long, sent once at the end).
#[derive(Debug, Clone, Default)]
pub struct AffinityData {
    ips: HashMap<IpAddr, Reached>,
    texts: HashMap<Box<str>, Reached>,
    /// Answers of clients beyond [`MAX_CLIENTS`].
    pub untracked: u64,
}

fn reach(r: &mut Reached, backend: &str, idx: i64) {
    if let Some(e) = r.iter_mut().find(|(b, ..)| &**b == backend) {
        e.1 = e.1.min(idx);
        e.2 = e.2.max(idx);
    } else if r.len() < MAX_PER_CLIENT {
        r.push((backend.into(), idx, idx));
    }
}

impl AffinityData {
    /// `client` was answered by `backend` (a name as [`Names::intern`] gives it) in
    /// second `idx`.
    pub fn record(&mut self, client: Client<'_>, backend: &str, idx: i64) {
        let full = self.ips.len() + self.texts.len() >= MAX_CLIENTS;
        let r = match client {
            Client::Ip(ip) => match self.ips.get_mut(&ip) {
                Some(r) => r,
                None if full => return self.untracked += 1,
                None => self.ips.entry(ip).or_default(),
            },
            Client::Text(t) => match self.texts.get_mut(t) {
                Some(r) => r,
                None if full => return self.untracked += 1,
                None => self.texts.entry(t.into()).or_default(),
            },
        };
        reach(r, backend, idx);
    }

    pub fn merge(&mut self, o: &AffinityData) {
        for (ip, r) in &o.ips {
            let mine = self.ips.entry(*ip).or_default();
            for (b, first, last) in r {
                reach(mine, b, *first);
                reach(mine, b, *last);
            }
        }
        for (t, r) in &o.texts {
            let mine = self.texts.entry(t.clone()).or_default();
            for (b, first, last) in r {
                reach(mine, b, *first);
                reach(mine, b, *last);
            }
        }
        self.untracked += o.untracked;
    }

    /// Every client by its printed name, with what it reached.
    pub fn clients(&self) -> impl Iterator<Item = (String, &Reached)> {
        let ips = self.ips.iter().map(|(ip, r)| (ip.to_string(), r));
        ips.chain(self.texts.iter().map(|(t, r)| (t.to_string(), r)))
    }

    pub fn len(&self) -> usize {
        self.ips.len() + self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// As an agent sends it.
    pub fn to_wire(&self) -> AffinityWire {
        AffinityWire {
            ips: self.ips.iter().map(|(ip, r)| (*ip, wire(r))).collect(),
            texts: self
                .texts
                .iter()
                .map(|(t, r)| (t.to_string(), wire(r)))
                .collect(),
            untracked: self.untracked,
        }
    }

    pub fn from_wire(w: &AffinityWire) -> Self {
        let mut out = AffinityData {
            untracked: w.untracked,
            ..Default::default()
        };
        for (ip, r) in w.ips.iter().take(MAX_CLIENTS) {
            let mine = out.ips.entry(*ip).or_default();
            r.iter().for_each(|(b, f, l)| {
                reach(mine, b, *f);
                reach(mine, b, *l);
            });
        }
        for (t, r) in w.texts.iter().take(MAX_CLIENTS) {
            let mine = out.texts.entry(clean(t).into()).or_default();
            r.iter().for_each(|(b, f, l)| {
                reach(mine, b, *f);
                reach(mine, b, *l);
            });
        }
        out
    }
}

/// [`Reached`] as plain data.
pub type WireReached = Vec<(String, i64, i64)>;

fn wire(r: &Reached) -> WireReached {
    r.iter().map(|(b, f, l)| (b.to_string(), *f, *l)).collect()
}

/// [`AffinityData`] as plain data, for the coordinator↔agent protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffinityWire {
    pub ips: Vec<(IpAddr, WireReached)>,
    pub texts: Vec<(String, WireReached)>,
    pub untracked: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_merge_by_name_and_stay_bounded() {
        let mut a = BalanceData::default();
        a.record(Some("pod-a"), false, 1000);
        a.record(Some("pod-b"), true, 2000);
        a.record(None, false, 10);
        let mut b = BalanceData::default();
        b.record(Some("pod-b"), false, 3000);
        b.record(Some(&Names::default().intern("pod,c d")), false, 3000);
        a.merge(&b);
        let names: Vec<_> = a.backends.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names, ["pod-a", "pod-b", "pod_c_d"]);
        assert_eq!((a.backends[1].1.requests, a.backends[1].1.errors), (2, 1));
        assert_eq!(a.unnamed, 1);
        let (mut names, mut flood) = (Names::default(), BalanceData::default());
        for i in 0..(MAX_BACKENDS + 50) {
            let n = names.intern(&format!("b{i}{}", "x".repeat(300)));
            flood.record(Some(&n), false, 1);
        }
        assert_eq!(flood.backends.len(), MAX_BACKENDS + 1);
        assert_eq!(flood.backends[MAX_BACKENDS].0.as_ref(), OTHER);
        assert_eq!(flood.backends[MAX_BACKENDS].1.requests, 50);
        assert!(flood.backends.iter().all(|(n, _)| n.len() <= MAX_NAME));
        assert_eq!(&*names.intern("pod,c d"), OTHER, "full for the whole run");
        flood.reset();
        assert!(flood.is_empty());
    }

    #[test]
    fn clients_keep_first_and_last_seconds_and_stay_bounded() {
        let mut a = AffinityData::default();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        a.record(Client::Ip(ip), "p1", 3);
        a.record(Client::Ip(ip), "p1", 7);
        let mut b = AffinityData::default();
        b.record(Client::Ip(ip), "p2", 5);
        b.record(Client::Text("user-1"), "p1", 1);
        a.merge(&AffinityData::from_wire(&b.to_wire()));
        let got: HashMap<String, Reached> = a.clients().map(|(c, r)| (c, r.clone())).collect();
        assert_eq!(
            got["127.0.0.2"],
            vec![("p1".into(), 3, 7), ("p2".into(), 5, 5)]
        );
        assert_eq!(got["user-1"].len(), 1);
        let mut full = AffinityData::default();
        for i in 0..MAX_CLIENTS + 10 {
            full.record(Client::Text(&i.to_string()), "p", 0);
        }
        assert_eq!((full.len(), full.untracked), (MAX_CLIENTS, 10));
    }
}
