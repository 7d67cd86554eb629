//! The simulated cluster's worker nodes: three of them, the flash-order pods spread over
//! the schedulable ones (the least loaded first, as the scheduler's spreading does), and
//! cordoning (`spec.unschedulable`, as `kubectl cordon` and a drain set it) through the
//! API: get, list and a merge PATCH of a Node.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{Cluster, StateInner};

/// The workers pods run on, as kind's testbed has them.
pub const NODES: [&str; 3] = ["sim-worker", "sim-worker2", "sim-worker3"];

/// A Node object as the API server answers it.
pub fn node(name: &str, cordoned: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("node-{name}"),
            "labels": {"kubernetes.io/hostname": name}},
        "spec": {"unschedulable": cordoned},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    })
}

impl Cluster {
    /// Where a new pod goes: the schedulable node with the fewest live pods.
    pub(super) fn schedule(st: &StateInner) -> Option<&'static str> {
        NODES
            .iter()
            .filter(|n| !st.cordoned.contains(**n))
            .min_by_key(|n| Self::live(st).filter(|p| p.node == Some(**n)).count())
            .copied()
    }

    /// Puts pods left Pending (every node was cordoned) on a node that takes them again.
    pub(super) fn schedule_pending(&self, st: &mut StateInner, now: std::time::Duration) {
        let pending: Vec<String> = st
            .pods
            .iter()
            .filter(|(_, p)| p.gone_at.is_none() && p.node.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        for name in pending {
            let Some(node) = Self::schedule(st) else {
                return;
            };
            let start = self.cfg.pod_start;
            let Some(p) = st.pods.get_mut(&name) else {
                continue;
            };
            p.node = Some(node);
            p.ready_at = now + start;
            if let Some(spec) = p.pod.spec.as_mut() {
                spec.node_name = Some(node.to_string());
            }
            let mut pod = p.pod.clone();
            self.publish(st, super::Kind::Pod, "MODIFIED", &mut pod);
        }
    }

    pub(super) fn nodes(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        NODES
            .iter()
            .map(|n| node(n, st.cordoned.contains(*n)))
            .collect()
    }

    /// Cordons or uncordons `name`; `None` if there is no such node.
    pub(super) fn set_unschedulable(&self, name: &str, on: bool) -> Option<Value> {
        let n = NODES.iter().find(|n| **n == name)?;
        let mut st = self.state.lock().unwrap();
        let set: &mut BTreeSet<String> = &mut st.cordoned;
        if on {
            set.insert(n.to_string());
        } else {
            set.remove(*n);
        }
        Some(node(n, on))
    }
}
