//! Chaos drills beyond pod-kill: `network-delay` as a Chaos Mesh `NetworkChaos` against the
//! simulated control plane (which serves and applies it), judged before, during and after;
//! a cluster without Chaos Mesh refused before any load; every key's error with its position.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use loadctl::scenario::{self, Overrides};
use loadctl::summary::kube::FaultSummary;

use crate::support::{plan, run_plan};

const DRILL: &str = r#"
name = "net-drill"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 30
replica_capacity = 5000   # 5 replicas idle along at 200/s: the delay is all that changes
[load]
rate = 200
duration = "12s"
warmup = "1s"
[generator]
max_dropped = "50%"
max_send_lag_p99 = "10s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
[[kube.fault]]
name = "all"
recovery_p99 = 10  # a 3-ms p99 over one second before: 1.5x is within a shared machine's noise
at = "2s"
action = "network-delay"
selector = "app=flash-order"
mode = "percent"
value = 100
delay = "50ms"
duration = "2s"
[[kube.fault]]
name = "two"
at = "9s"   # after "all" has recovered: its three seconds in band come first
action = "network-delay"
selector = "app=flash-order"
mode = "fixed"
value = 2
delay = "50ms"
duration = "2s"
[slo]
"all.p50" = "> 40ms"
"all.recovery_s" = "<= 30"   # wired to the record; the run ends 11 s after the window
"two.p99" = "> 40ms"
"#;

fn fault<'a>(faults: &'a [FaultSummary], name: &str) -> &'a FaultSummary {
    faults
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("fault {name} in {faults:?}"))
}

#[test]
fn a_network_delay_shows_in_its_window_and_is_removed_after() {
    let p = plan(DRILL);
    let (out, dir) = run_plan(&p);
    let s = &out.summary;
    let k = s.kube.as_ref().expect("a kube section");
    let all = fault(&k.faults, "all");
    assert!(all.errors.is_empty(), "{all:?}");
    assert_eq!(all.action, "network-delay");
    // Injected into every Ready pod (the deployment's 5), then removed: the record only
    // says so once the object was gone from the API.
    assert_eq!(all.affected.len(), 5, "{all:?}");
    assert!(
        all.outcome
            .starts_with("injected and removed networkchaos/loadctl-network-delay-"),
        "{all:?}"
    );
    assert!(all.recovered, "{all:?}");
    let (before, during) = (all.before.as_ref().unwrap(), all.during.as_ref().unwrap());
    let raised = during.p50_ms.unwrap() - before.p50_ms.unwrap();
    // Exactly 50 ms more on every request (measured: +49.8 to +49.95 ms); the slack is the
    // timer's (1 ms), a busy test machine, and
    // the whole seconds at the window's edges, where some requests were not delayed.
    println!(
        "p50 before {:?} during {:?}: +{raised:.2} ms",
        before.p50_ms, during.p50_ms
    );
    assert!(
        (47.0..=56.0).contains(&raised),
        "p50 raised by {raised} ms: {all:?}"
    );
    assert!(all.recovery_s.is_some(), "{all:?}");

    // Two of five pods: the slowest requests carry the delay, the median does not.
    let two = fault(&k.faults, "two");
    assert_eq!(two.affected.len(), 2, "{two:?}");
    let d = two.during.as_ref().unwrap();
    assert!(d.p99_ms.unwrap() >= 50.0, "{two:?}");
    assert!(d.p50_ms.unwrap() < 40.0, "{two:?}");

    for name in ["all", "two"] {
        for r in s.slo.iter().filter(|r| r.scope.as_deref() == Some(name)) {
            assert!(r.pass, "{r:?}");
        }
    }
    let csv = std::fs::read_to_string(dir.path().join("out/faults.csv")).unwrap();
    assert!(csv.contains("\nall,network-delay,during,"), "{csv}");
}

#[test]
fn a_cluster_without_chaos_mesh_stops_the_run_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    // An API server that serves nothing: every path is 404, as for an uninstalled CRD.
    let api = crate::support::serve(axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(
                serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "the server could not find the requested resource",
                "reason": "NotFound", "code": 404}),
            ),
        )
    }));
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, loadctl::testbed::cluster::Cluster::kubeconfig(api)).unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let target = crate::support::serve(axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::Relaxed);
        async { "ok" }
    }));
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "no-chaos-mesh"
target = "http://{target}"
[load]
rate = 10
duration = "2s"
[[requests]]
name = "root"
path = "/"
[kube]
namespace = "flash-sale"
[[kube.fault]]
at = "1s"
action = "network-delay"
selector = "app=flash-order"
delay = "10ms"
duration = "1s"
"#
        ),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("loadctl")
        .unwrap()
        .env("KUBECONFIG", &kc)
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Chaos Mesh is not installed"), "{stderr}");
    assert_eq!(
        hits.load(Ordering::Relaxed),
        0,
        "no request may reach the target"
    );
}

#[test]
fn network_delay_keys_are_checked_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n[[kube.fault]]\nat = \"2s\"\naction = \"network-delay\"\nselector = \"app=a\"\n";
    let rows: &[(&str, &str)] = &[
        (
            "duration = \"5s\"\n",
            "f.toml:11:1: kube.fault[0].delay: missing; a network fault delays",
        ),
        (
            "delay = \"50ms\"\n",
            "f.toml:11:1: kube.fault[0].duration: missing",
        ),
        (
            "delay = \"20s\"\nduration = \"5s\"\n",
            "f.toml:15:9: kube.fault[0].delay: at most 10s",
        ),
        (
            "delay = \"fast\"\nduration = \"5s\"\n",
            "f.toml:15:9: kube.fault[0].delay: `fast` is not a duration",
        ),
        (
            "loss = \"150%\"\nduration = \"5s\"\n",
            "f.toml:15:8: kube.fault[0].loss: a share of packets",
        ),
        (
            "loss = \"1%\"\njitter = \"5ms\"\nduration = \"5s\"\n",
            "f.toml:16:10: kube.fault[0].jitter: applies to a delay",
        ),
        (
            "delay = \"5ms\"\nduration = \"2h\"\n",
            "f.toml:16:12: kube.fault[0].duration: at most 1h",
        ),
        (
            "delay = \"5ms\"\nduration = \"0s\"\n",
            "f.toml:16:12: kube.fault[0].duration: must be longer than 0 s",
        ),
        (
            "delay = \"5ms\"\nduration = \"5s\"\ngrace_period = \"1s\"\n",
            "f.toml:17:1: kube.fault[0]: unknown field `grace_period`",
        ),
    ];
    for (extra, needle) in rows {
        let text = format!("{head}{extra}");
        let err = scenario::parse(
            std::path::Path::new("f.toml"),
            &text,
            &Overrides::default(),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(needle),
            "missing `{needle}` in:\n{err}\nfor:\n{text}"
        );
    }
    let ok = format!("{head}delay = \"50ms\"\njitter = \"5ms\"\nloss = \"1%\"\nduration = \"20s\"\nmode = \"fixed\"\nvalue = 2\n");
    let p = scenario::parse(
        std::path::Path::new("f.toml"),
        &ok,
        &Overrides::default(),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.kube.as_ref().unwrap().faults[0].describe(),
        "network-delay +50ms ± 5ms, 1% loss on 2 pods (app=a) at 2s for 20s"
    );
}

fn rollout_drill(drain: bool) -> String {
    format!(
        r#"
name = "rollout-drill"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 30          # a pod Ready 0.67 s after it starts, its 30-s grace period 1 s
replica_capacity = 5000
prestop_drain = {drain}
[load]
rate = 300
duration = "9s"
warmup = "1s"
[generator]
max_dropped = "50%"
max_send_lag_p99 = "10s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
[[kube.fault]]
name = "deploy"
at = "3s"
action = "rollout-restart"
deployment = "flash-order"
[slo]
"deploy.availability" = "== 100%"
"#
    )
}

/// A rolling restart replaces every pod within the Deployment's strategy; with a preStop
/// drain it costs no request, without one each removed pod's share fails for a moment.
#[test]
fn a_rolling_restart_drops_requests_only_without_a_prestop_drain() {
    let mut seen = Vec::new();
    for drain in [true, false] {
        let (out, _dir) = run_plan(&plan(&rollout_drill(drain)));
        let k = out.summary.kube.as_ref().expect("a kube section");
        let f = fault(&k.faults, "deploy");
        assert!(f.errors.is_empty(), "{f:?}");
        assert!(f.recovered, "the rollout completed: {f:?}");
        assert_eq!(f.affected.len(), 5, "every old pod replaced: {f:?}");
        assert_eq!(f.outcome, "replaced 5 pods", "{f:?}");
        let during = f.during.as_ref().unwrap();
        println!("prestop_drain = {drain}: {during:?}");
        let slo = &out.summary.slo[0];
        assert_eq!(slo.pass, drain, "{slo:?}");
        seen.push(during.availability.unwrap());
    }
    assert_eq!(seen[0], 1.0, "a drained rollout loses nothing");
    assert!(
        seen[1] < 1.0,
        "a rollout without preStop loses requests: {seen:?}"
    );
}

#[test]
fn rollout_restart_keys_are_checked_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n[[kube.fault]]\nat = \"2s\"\naction = \"rollout-restart\"\n";
    let parse = |text: &str| {
        scenario::parse(
            std::path::Path::new("f.toml"),
            text,
            &Overrides::default(),
            &|_| None,
        )
    };
    for (extra, needle) in [
        ("", "f.toml:11:1: kube.fault[0].deployment: missing"),
        (
            "deployment = \"Flash_Order\"\n",
            "f.toml:14:14: kube.fault[0].deployment: a Deployment's name",
        ),
        (
            "deployment = \"x\"\nselector = \"app=x\"\n",
            "f.toml:15:1: kube.fault[0]: unknown field `selector`",
        ),
    ] {
        let text = format!("{head}{extra}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "missing `{needle}` in:\n{err}\nfor:\n{text}"
        );
    }
    let p =
        parse(&format!("{head}deployment = \"flash-order\"\n")).unwrap_or_else(|e| panic!("{e}"));
    let f = &p.kube.as_ref().unwrap().faults[0];
    assert_eq!(f.describe(), "rollout-restart deployment/flash-order at 2s");
    assert_eq!(f.name, "rollout-restart");
}

/// A CPU stress takes its share of the stressed pods' CPU: they serve slower, their usage
/// rises, and the HPA answers with more replicas.
#[test]
fn a_cpu_stress_slows_the_pods_and_the_hpa_scales_out() {
    let text = r#"
name = "stress-drill"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 30          # a 15 s sync every 0.5 s, a pod Ready 0.67 s after it starts
replica_capacity = 100   # 5 replicas at 60 % CPU carry 300/s, under the 65 % target
[load]
rate = 300
duration = "9s"
warmup = "1s"
[generator]
max_dropped = "50%"
max_send_lag_p99 = "10s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 6
within = "8s"
[[kube.fault]]
name = "cpu"
at = "3s"
action = "stress"
selector = "app=flash-order"
mode = "percent"
value = 100
cpu = 1
duration = "3s"
"#;
    let (out, _dir) = run_plan(&plan(text));
    let k = out.summary.kube.as_ref().expect("a kube section");
    let f = fault(&k.faults, "cpu");
    assert!(f.errors.is_empty(), "{f:?}");
    assert_eq!(f.affected.len(), 5, "{f:?}");
    assert!(
        f.outcome
            .starts_with("injected and removed stresschaos/loadctl-stress-"),
        "{f:?}"
    );
    let (before, during) = (f.before.as_ref().unwrap(), f.during.as_ref().unwrap());
    println!("before {before:?}\nduring {during:?}");
    // Half the CPU gone doubles the utilisation: the queue shows in the tail until the
    // HPA's new pods are Ready (a sync every 0.5 s here), which is why the median holds.
    // The simulated queue at twice the utilisation (0.6 → 1.2) waits about 70 ms; a busy
    // test machine can lift the before's p99 too, but not to that.
    assert!(
        during.p99_ms.unwrap() > 50.0 && during.p99_ms.unwrap() > before.p99_ms.unwrap(),
        "half the CPU gone slows the service: {f:?}"
    );
    let h = &k.hpas[0];
    assert!(
        k.expectations[0].pass,
        "the HPA saw the CPU rise: {:?} {h:?}",
        k.expectations
    );
}

#[test]
fn stress_keys_are_checked_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n[[kube.fault]]\nat = \"2s\"\naction = \"stress\"\nselector = \"app=a\"\n";
    let parse = |text: &str| {
        scenario::parse(
            std::path::Path::new("f.toml"),
            text,
            &Overrides::default(),
            &|_| None,
        )
    };
    for (extra, needle) in [
        (
            "duration = \"5s\"\n",
            "f.toml:11:1: kube.fault[0].cpu: missing; a stress takes CPU workers",
        ),
        (
            "cpu = 0\nduration = \"5s\"\n",
            "f.toml:15:7: kube.fault[0].cpu: CPU workers per pod, from 1 to 64",
        ),
        (
            "cpu = 1\nload = 101\nduration = \"5s\"\n",
            "f.toml:16:8: kube.fault[0].load: percent of a CPU",
        ),
        (
            "load = 50\nmemory = \"1GB\"\nduration = \"5s\"\n",
            "f.toml:15:8: kube.fault[0].load: applies to CPU workers",
        ),
        (
            "memory = \"lots\"\nduration = \"5s\"\n",
            "f.toml:15:10: kube.fault[0].memory: memory held per pod",
        ),
        (
            "memory = \"65GiB\"\nduration = \"5s\"\n",
            "f.toml:15:10: kube.fault[0].memory: memory held per pod, at most 64GiB",
        ),
        ("cpu = 1\n", "f.toml:11:1: kube.fault[0].duration: missing"),
        (
            "cpu = 1\nduration = \"2h\"\n",
            "f.toml:16:12: kube.fault[0].duration: longer than 0 s and at most 1h",
        ),
    ] {
        let text = format!("{head}{extra}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "missing `{needle}` in:\n{err}\nfor:\n{text}"
        );
    }
    let p = parse(&format!(
        "{head}cpu = 2\nmemory = \"256MiB\"\nduration = \"20s\"\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.kube.as_ref().unwrap().faults[0].describe(),
        "stress 2 CPU worker(s) at 100% and 256 MiB held on one pod (app=a) at 2s for 20s"
    );
}

/// A scenario of a few seconds against the embedded flash-sale service in the simulated
/// cluster (30× time), idling at 200/s on replicas that could take far more, so that what
/// `faults` (its `[[kube.fault]]` tables and SLOs) do is all that changes.
fn idle_drill(name: &str, faults: &str) -> String {
    format!(
        r#"
name = "{name}"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 30
replica_capacity = 5000
[load]
rate = 200
duration = "8s"
warmup = "1s"
[generator]
max_dropped = "50%"
max_send_lag_p99 = "10s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
{faults}"#
    )
}

/// Evictions go through the Eviction API: flash-order's budget (one pod at a time) blocks
/// the second until the first one's replacement is Ready, and the block is recorded.
#[test]
fn an_eviction_blocked_by_the_budget_is_retried_and_recorded() {
    let text = idle_drill(
        "evict-drill",
        r#"[[kube.fault]]
name = "move"
at = "2s"
action = "evict"
selector = "app=flash-order"
mode = "fixed"
value = 2
[slo]
"move.availability" = "== 100%"
"#,
    );
    let (out, _dir) = run_plan(&plan(&text));
    let k = out.summary.kube.as_ref().expect("a kube section");
    let f = fault(&k.faults, "move");
    assert!(f.errors.is_empty(), "{f:?}");
    assert_eq!(f.affected.len(), 2, "{f:?}");
    assert_eq!(f.outcome, "evicted 2", "{f:?}");
    let blocked = f.detail.get("blocked_by_budget").and_then(|v| v.as_u64());
    assert!(
        blocked >= Some(1),
        "the second eviction waited for the budget: {f:?}"
    );
    assert!(f.recovered, "{f:?}");
    // Evicted pods drain: nothing is lost.
    assert!(out.summary.slo[0].pass, "{:?}", out.summary.slo);
}

/// A drain cordons the node of a chosen pod, evicts its pods within the budget (their
/// replacements land on the other nodes) and uncordons it: nothing lost, nothing left.
#[test]
fn a_drain_moves_a_nodes_pods_and_uncordons_it() {
    let text = idle_drill(
        "drain-drill",
        r#"[[kube.fault]]
name = "node"
at = "2s"
action = "drain"
selector = "app=flash-order"
[slo]
"node.availability" = "== 100%"
"#,
    );
    let (out, _dir) = run_plan(&plan(&text));
    let k = out.summary.kube.as_ref().expect("a kube section");
    let f = fault(&k.faults, "node");
    assert!(f.errors.is_empty(), "uncordoned without an error: {f:?}");
    let node = f
        .detail
        .get("node")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    assert!(node.starts_with("sim-worker"), "{f:?}");
    // Five pods over three nodes: the chosen pod's node runs one or two of them.
    assert!((1..=2).contains(&f.affected.len()), "{f:?}");
    assert_eq!(
        f.outcome,
        format!("drained node/{node}: evicted {}", f.affected.len()),
        "{f:?}"
    );
    assert!(f.recovered, "{f:?}");
    assert!(out.summary.slo[0].pass, "{:?}", out.summary.slo);
}

#[test]
fn drain_and_evict_keys_are_checked_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n[[kube.fault]]\nat = \"2s\"\n";
    let parse = |text: &str| {
        scenario::parse(
            std::path::Path::new("f.toml"),
            text,
            &Overrides::default(),
            &|_| None,
        )
    };
    for (extra, needle) in [
        (
            "action = \"drain\"\n",
            "f.toml:11:1: kube.fault[0].node: missing; the node to drain",
        ),
        (
            "action = \"drain\"\nnode = \"w\"\nselector = \"app=a\"\n",
            "f.toml:14:8: kube.fault[0].node: give `node` or `selector`",
        ),
        (
            "action = \"drain\"\nselector = \"app\"\n",
            "f.toml:14:12: kube.fault[0].selector: write a label selector",
        ),
        (
            "action = \"drain\"\nnode = \"w\"\nmode = \"one\"\n",
            "f.toml:15:1: kube.fault[0]: unknown field `mode`",
        ),
        ("action = \"evict\"\n", "kube.fault[0].selector"),
        (
            "action = \"evict\"\nselector = \"app=a\"\nmode = \"fixed\"\nvalue = 0\n",
            "kube.fault[0].value",
        ),
    ] {
        let text = format!("{head}{extra}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "missing `{needle}` in:\n{err}\nfor:\n{text}"
        );
    }
    let p = parse(&format!("{head}action = \"drain\"\nnode = \"worker2\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.kube.as_ref().unwrap().faults[0].describe(),
        "drain node worker2 at 2s"
    );
    let p = parse(&format!("{head}action = \"evict\"\nselector = \"app=a\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.kube.as_ref().unwrap().faults[0].describe(),
        "evict one pod (app=a) at 2s, within their PodDisruptionBudget"
    );
}

/// The chaos never outlives the run: a run interrupted (Ctrl-C) inside a network delay's
/// window deletes its NetworkChaos before it exits 130.
#[test]
fn an_interrupted_run_removes_its_chaos() {
    use loadctl::testbed::cluster::{Cluster, ClusterConfig};
    use loadctl::testbed::{Embedded, ServiceConfig};
    use std::io::{Read, Write};
    let cfg = ServiceConfig {
        cluster: Some(ClusterConfig {
            time_scale: 30.0,
            ..ClusterConfig::default()
        }),
        ..ServiceConfig::default()
    };
    let svc = Embedded::start("flash-sale", &cfg, 1).unwrap();
    let api = svc.kube_api.expect("a simulated cluster serves its API");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, Cluster::kubeconfig(api)).unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "interrupted-drill"
target = "http://{}"
[load]
rate = 50
duration = "30s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
[[kube.fault]]
at = "1s"
action = "network-delay"
selector = "app=flash-order"
delay = "5ms"
duration = "60s"
"#,
            svc.addr
        ),
    )
    .unwrap();
    let list = || {
        let mut s = std::net::TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            s,
            "GET /apis/chaos-mesh.org/v1alpha1/namespaces/flash-sale/networkchaos HTTP/1.0\r\nHost: {api}\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("loadctl"))
        .env("KUBECONFIG", &kc)
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the chaos is in the cluster, then interrupt the run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !list().contains("loadctl-network-delay-") {
        assert!(
            std::time::Instant::now() < deadline,
            "the chaos was never created: {}",
            list()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let left = list();
    assert!(
        !left.contains("loadctl-network-delay-"),
        "the chaos outlived the run: {left}"
    );
}
