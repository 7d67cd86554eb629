//! Kubernetes: the watchers against recorded API streams (a mock service, including a
//! `410 Gone`), the simulated control plane through loadctl's real client, the `[kube]`
//! section's validation, and a whole run that scales out, kills a pod and reports it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::client::Body;
use kube::{Api, Client};
use loadctl::kube::watch::{self, Track};
use loadctl::scenario::{self, Overrides};
use loadctl::testbed::cluster::{Cluster, ClusterConfig};
use loadctl::testbed::{Embedded, ServiceConfig};

use crate::support::plan;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/fixtures/kube/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Replays recorded streams: the HPA's first watch breaks with `410 Gone` after three
/// events; the re-list returns the last object already seen (a replay); the second watch
/// carries the rest of the scale-out.
#[test]
fn watchers_survive_410_and_replays() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let watch_lines: Vec<String> = fixture("hpa-watch.jsonl")
        .lines()
        .map(String::from)
        .collect();
    assert!(watch_lines.len() >= 6, "the recording holds a scale-out");
    let (first, rest) = watch_lines.split_at(3);
    let relisted: serde_json::Value = serde_json::from_str(&first[2]).unwrap();
    let relist = serde_json::json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList",
        "metadata": {"resourceVersion": relisted["object"]["metadata"]["resourceVersion"]},
        "items": [relisted["object"]],
    })
    .to_string();
    // The API server's answer once the watch's resourceVersion was compacted away: the
    // 200 stream ends with one ERROR event.
    let first_watch = format!("{}\n{}", first.join("\n"), fixture("watch-gone.json"));
    let second_watch = format!("{}\n", rest.join("\n"));

    let track = Arc::new(Mutex::new(Track::default()));
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    rt.block_on(async {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = requests.clone();
        let mock_track = track.clone();
        tokio::spawn(async move {
            let (mut hpa_lists, mut hpa_watches) = (0, 0);
            // Watches with nothing more to say stay open, as the API server keeps them.
            let mut pending = Vec::new();
            // The HPA's answers wait until the Deployment's list has been applied, so the
            // recording starts from a whole state (as a run does: it waits for both).
            let applied = mock_track.clone();
            while let Some((req, send)) = handle.next_request().await {
                let uri = req.uri().to_string();
                seen.lock().unwrap().push(uri.clone());
                let watching = uri.contains("watch=true");
                let body = if uri.contains("horizontalpodautoscalers") {
                    match (watching, hpa_lists, hpa_watches) {
                        (false, 0, _) => Some(fixture("hpa-list.json")),
                        (false, _, _) => Some(relist.clone()),
                        (true, _, 0) => Some(first_watch.clone()),
                        (true, _, 1) => Some(second_watch.clone()),
                        _ => None,
                    }
                } else if uri.contains("deployments") {
                    (!watching).then(|| fixture("deployment-list.json"))
                } else {
                    (!watching).then(|| fixture("pod-list.json"))
                };
                if uri.contains("horizontalpodautoscalers") {
                    if watching {
                        hpa_watches += 1;
                    } else {
                        hpa_lists += 1;
                    }
                }
                let hpa = uri.contains("horizontalpodautoscalers");
                match body {
                    Some(b) if hpa => {
                        let applied = applied.clone();
                        tokio::spawn(async move {
                            while applied.lock().unwrap().state.ready == 0 {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            send.send_response(Response::new(Body::from(b.into_bytes())));
                        });
                    }
                    Some(b) => send.send_response(Response::new(Body::from(b.into_bytes()))),
                    None => pending.push(send),
                }
            }
        });
        let client = Client::new(svc, "flash-sale");
        let tasks = watch::spawn(
            client,
            "flash-sale",
            "flash-order",
            "flash-order",
            "app=flash-order",
            track.clone(),
        );
        // A deadline against hanging, not a performance bound.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let done = {
                let t = track.lock().unwrap();
                t.state.desired == 20 && !t.state.at_max && t.changes.iter().any(|(_, s)| s.at_max)
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in tasks {
            t.abort();
        }
    });

    let t = track.lock().unwrap();
    let desired: Vec<u32> = t.changes.iter().fold(Vec::new(), |mut v, (_, s)| {
        if v.last() != Some(&s.desired) {
            v.push(s.desired);
        }
        v
    });
    assert_eq!(desired, [5, 10, 20], "changes: {:?}", t.changes);
    assert_eq!(t.state.ready, 5, "from the Deployment's list");
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    assert!(
        t.errors[0].1.contains("410") || t.errors[0].1.contains("too old"),
        "{:?}",
        t.errors
    );
    assert_eq!(t.pods_seen, 5);
    // One period pinned at maxReplicas, then released.
    let at_max: Vec<bool> = t.changes.iter().map(|(_, s)| s.at_max).collect();
    assert_eq!(at_max.iter().filter(|&&m| m).count(), 1, "{at_max:?}");
    let reqs = requests.lock().unwrap();
    let hpa_lists = reqs
        .iter()
        .filter(|u| u.contains("horizontalpodautoscalers") && !u.contains("watch=true"))
        .count();
    assert_eq!(hpa_lists, 2, "the 410 makes the watcher re-list: {reqs:?}");
    assert!(reqs
        .iter()
        .any(|u| u.contains("fieldSelector=metadata.name%3Dflash-order")));
}

/// An HTTP/1.0 GET on loopback, for what the typed client hides (a raw watch stream).
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn simulated_control_plane_speaks_the_api() {
    let cfg = ServiceConfig {
        cluster: Some(ClusterConfig {
            history: 4,
            ..ClusterConfig::default()
        }),
        ..ServiceConfig::default()
    };
    let svc = Embedded::start("flash-sale", &cfg, 1).unwrap();
    let api = svc.kube_api.expect("a simulated cluster serves its API");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, Cluster::kubeconfig(api)).unwrap();

    // The start (an HPA, five pods, a Deployment) is more than the 4 events kept: a watch
    // from the first resourceVersion is told it is too old, as the API server does.
    let gone = get(
        api,
        "/api/v1/namespaces/flash-sale/pods?watch=true&resourceVersion=1&timeoutSeconds=1",
    );
    assert!(
        gone.contains(r#""type":"ERROR""#) && gone.contains(r#""code":410"#),
        "{gone}"
    );
    let bad = get(
        api,
        "/api/v1/namespaces/flash-sale/pods?labelSelector=app%20in%20(a)",
    );
    assert!(
        bad.contains(" 400 Bad Request") && bad.contains("only equality selectors"),
        "{bad}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kc).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let client = Client::try_from(config).unwrap();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "flash-sale");
        let list = pods
            .list(&ListParams::default().labels("app=flash-order"))
            .await
            .unwrap();
        assert_eq!(list.items.len(), 5);
        assert!(pods
            .list(&ListParams::default().labels("app=other"))
            .await
            .unwrap()
            .items
            .is_empty());
        let victim = &list.items[0];
        let name = victim.metadata.name.clone().unwrap();
        let wrong = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some("not-the-uid".into()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let err = pods.delete(&name, &wrong).await.unwrap_err();
        assert!(format!("{err}").contains("Precondition"), "{err}");
        // A grace period keeps it Terminating while the list below is read: with 0 it is
        // gone at the next controller tick (50 ms), which a busy machine can pass.
        let right = DeleteParams {
            grace_period_seconds: Some(30),
            preconditions: Some(Preconditions {
                uid: victim.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        pods.delete(&name, &right).await.unwrap();
        // Terminating, and the ReplicaSet replaced it at once.
        let after = pods.list(&ListParams::default()).await.unwrap().items;
        assert_eq!(after.len(), 6);
        let dying = after
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap();
        assert!(dying.metadata.deletion_timestamp.is_some());
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(client.clone(), "flash-sale");
        let d = deployments.get("flash-order").await.unwrap();
        let st = d.status.unwrap();
        assert_eq!((st.replicas, st.ready_replicas), (Some(5), Some(4)));
        let missing = deployments.get("nope").await.unwrap_err();
        assert!(format!("{missing}").contains("not found"), "{missing}");
    });
}

const HPA_RUN: &str = r#"
name = "hpa-it"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 30          # a 15 s sync every 0.5 s, a pod Ready 0.67 s after it starts
replica_capacity = 50    # 5 replicas carry 250/s: 500/s asks for twice that
[load]
rate = 500
duration = "8s"
warmup = "1s"
[generator]
# Shared test machines: the verdict under test is the expectations', not the generator's.
max_dropped = "50%"
max_send_lag_p99 = "10s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 10
within = "9s"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 25   # above maxReplicas: fails, and is warned about before the run
within = "9s"
[[kube.fault]]
at = "6s"
action = "pod-kill"
selector = "app=flash-order"
mode = "fixed"
value = 2
grace_period = "0s"
name = "kill"
[slo]
"fault.availability" = ">= 0%"
"fault.rps" = "> 0"
"kill.rps" = "> 0"
"kill.recovery_s" = ">= 0"
"#;

#[test]
fn a_run_watches_the_scale_out_kills_pods_and_reports() {
    let p = plan(HPA_RUN);
    // Watched live as well: the dashboard draws the replicas and marks the fault.
    let (out, dir, live) = super::dashboard::run_watched(&p, None);
    assert!(live["head"]["kube"].as_bool().unwrap());
    let marks = live["head"]["marks"].as_array().unwrap();
    assert!(
        marks
            .iter()
            .any(|m| m["kind"] == "fault" && m["at_s"] == 5.0),
        "{marks:?}"
    );
    let ready_max = live["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["replicas"].as_array().unwrap().iter())
        .filter(|r| r["hpa"] == "flash-order")
        .map(|r| r["ready"].as_u64().unwrap())
        .max();
    assert!(ready_max >= Some(10), "the scale-out, live: {ready_max:?}");
    let s = &out.summary;
    let k = s.kube.as_ref().expect("a kube section");
    assert_eq!(k.hpas.len(), 1);
    let h = &k.hpas[0];
    assert_eq!((h.min_replicas, h.max_replicas), (5, 20));
    assert_eq!(h.timeline[0].desired, 5, "{:?}", h.timeline);
    assert!(h.max_desired >= 10 && h.first_scale_up_s.is_some(), "{h:?}");
    assert!(h.max_ready >= 10, "new pods became Ready: {h:?}");
    let ten = h
        .levels
        .iter()
        .find(|l| l.replicas == 10)
        .expect("level 10 reported");
    assert!(
        ten.decision_s.is_some() && ten.capacity_s >= ten.decision_s,
        "{ten:?}"
    );
    assert!(h
        .levels
        .iter()
        .any(|l| l.replicas == 25 && l.decision_s.is_none()));
    assert!(k.expectations[0].pass, "{:?}", k.expectations);
    assert!(!k.expectations[1].pass);
    assert!(
        k.expectations[1].observed.contains("never reached 25"),
        "{:?}",
        k.expectations[1]
    );
    assert!(
        k.warnings.iter().any(|w| w.contains("maxReplicas is 20")),
        "{:?}",
        k.warnings
    );
    assert_eq!(s.status, loadctl::summary::Status::Fail);
    assert!(
        s.reasons.iter().any(|r| r.contains("hpa/flash-order")),
        "{:?}",
        s.reasons
    );
    assert_eq!(out.exit_code(), 1);

    let f = &k.faults[0];
    assert_eq!(f.affected.len(), 2, "{f:?}");
    assert_eq!(f.outcome, "killed 2", "{f:?}");
    assert!(f.errors.is_empty(), "{f:?}");
    assert!(f.window_start_s.is_some() && f.requests > 0, "{f:?}");
    let fault_slos: Vec<_> = s
        .slo
        .iter()
        .filter(|r| r.scope.as_deref() == Some("fault"))
        .collect();
    assert_eq!(fault_slos.len(), 2);
    assert!(
        fault_slos.iter().all(|r| r.pass && r.observed.is_some()),
        "{fault_slos:?}"
    );
    // Judged before, during and after, by its name.
    assert_eq!(f.name, "kill");
    let (before, during) = (f.before.as_ref().unwrap(), f.during.as_ref().unwrap());
    assert_eq!(during.requests, f.requests, "{f:?}");
    assert_eq!(before.end_s, during.start_s, "{f:?}");
    assert!(
        (before.end_s - before.start_s - (during.end_s - during.start_s)).abs() < 1e-9,
        "{f:?}"
    );
    let kill = |metric: &str| {
        s.slo
            .iter()
            .find(|r| r.scope.as_deref() == Some("kill") && r.metric == metric)
            .unwrap_or_else(|| panic!("kill.{metric} judged: {:?}", s.slo))
    };
    assert!(kill("rps").pass && kill("rps").observed > Some(0.0));
    assert_eq!(kill("recovery_s").observed, f.recovery_s, "{f:?}");
    assert_eq!(kill("recovery_s").pass, f.recovery_s.is_some());

    let folder = dir.path().join("out");
    let csv = std::fs::read_to_string(folder.join("replicas.csv")).unwrap();
    assert!(csv.starts_with("t_s,hpa,deployment,desired,current,ready,at_max\n"));
    assert_eq!(csv.lines().count(), h.timeline.len() + 1);
    let faults = std::fs::read_to_string(folder.join("faults.csv")).unwrap();
    let stretches = [&f.before, &f.during, &f.after]
        .iter()
        .filter(|x| x.is_some())
        .count();
    assert_eq!(faults.lines().count(), stretches + 1, "{faults}");
    assert!(
        faults
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("kill,pod-kill,during,"),
        "{faults}"
    );
    let junit = std::fs::read_to_string(folder.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"classname="hpa-it.kube""#), "{junit}");
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(
        html.contains("Replicas: HPA decision and ready pods")
            && html.contains("red: fault window")
    );
    assert!(std::fs::read_to_string(folder.join("kubeconfig"))
        .unwrap()
        .contains("server: http://127.0.0.1:"));
    // The section survives a round trip through summary.json (deny_unknown_fields).
    let back: loadctl::summary::Summary =
        serde_json::from_str(&std::fs::read_to_string(folder.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(back.kube.as_ref(), Some(k));
    // `loadctl report` draws the same page and table from the saved files.
    let html_before = std::fs::read(folder.join("report.html")).unwrap();
    loadctl::report::rerender(&folder).unwrap();
    assert_eq!(
        std::fs::read_to_string(folder.join("replicas.csv")).unwrap(),
        csv
    );
    assert!(
        std::fs::read(folder.join("report.html")).unwrap() == html_before,
        "report.html differs after re-rendering"
    );
}

#[test]
fn kube_section_errors_are_reported_together() {
    let text = r#"
name = "bad"
[embedded]
service = "activities"
time_scale = 3
[load]
rate = 10
duration = "10s"
[[requests]]
path = "/"
[kube]
namespace = "Flash_Sale"
[[kube.expect]]
hpa = "x"
replicas_at_least = 3
[[kube.expect]]
hpa = "x"
never_limited = true
within = "5s"
[[kube.fault]]
at = "20s"
action = "pod-kill"
selector = "app"
mode = "percent"
value = 150
[[kube.fault]]
at = "1s"
action = "pod-delete"
[slo]
"fault.availability" = ">= 99%"
"#;
    let err = scenario::parse(
        std::path::Path::new("bad.toml"),
        text,
        &Overrides::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "embedded: `time_scale`, `replica_capacity`, `prestop_drain`, `balancer` and `session_affinity` shape the simulated cluster",
        "kube.namespace: a namespace is a DNS label",
        "kube.expect[0].within: missing",
        "kube.expect[1].within: applies to replicas_at_least",
        "kube.fault[0].at: 20s is after the load ends",
        "kube.fault[1].action: `pod-delete`: the actions available are \"pod-kill\"",
        "kube.fault[0].selector: write a label selector",
        "kube.fault[0].value: a percent is at most 100",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
}

/// The keys every fault has: its name (an SLO scope) and its recovery band, each error at
/// its position; `recovery_s` only on a fault's own scope.
#[test]
fn fault_names_and_recovery_bands_are_checked_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n";
    let fault = |extra: &str| {
        format!("[[kube.fault]]\nat = \"2s\"\naction = \"pod-kill\"\nselector = \"app=a\"\n{extra}")
    };
    let parse = |text: &str| {
        scenario::parse(
            std::path::Path::new("f.toml"),
            text,
            &Overrides::default(),
            &|_| None,
        )
    };
    let rows: &[(String, &str)] = &[
        (
            format!("{head}{}", fault("name = \"a b\"\n")),
            "f.toml:15:8: kube.fault[0].name: use letters",
        ),
        (
            format!(
                "{head}{}{}",
                fault("name = \"k\"\n"),
                fault("name = \"k\"\n")
            ),
            "f.toml:20:8: kube.fault[1].name: `k` names another fault",
        ),
        (
            format!("{head}{}", fault("recovery_p99 = 0.5\n")),
            "f.toml:15:16: kube.fault[0].recovery_p99: a factor",
        ),
        (
            format!("{head}{}", fault("recovery_errors = \"lots\"\n")),
            "f.toml:15:19: kube.fault[0].recovery_errors:",
        ),
        (
            format!(
                "{head}{}[slo]\n\"fault.recovery_s\" = \"<= 5\"\n",
                fault("")
            ),
            "f.toml:16:22: slo.\"fault.recovery_s\": recovery_s is a fault's",
        ),
        (
            format!("{head}{}[slo]\n\"r.recovery_s\" = \"<= 5\"\n", fault("")),
            "its faults are pod-kill",
        ),
        (
            format!("{head}{}", fault("name = \"r\"\n")),
            "a request named `r` hides a fault's SLO scope",
        ),
        (
            format!(
                "{head}{}[slo]\n\"k.recovery_s\" = \"<= 5 min\"\n",
                fault("name = \"k\"\n")
            ),
            "unknown unit `min` for recovery_s",
        ),
    ];
    for (text, needle) in rows {
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "missing `{needle}` in:\n{err}\nfor:\n{text}"
        );
    }
    // Unnamed faults of one action are numbered; named ones scope their SLOs.
    let ok = format!(
        "{head}{}{}{}[slo]\n\"k.recovery_s\" = \"<= 5\"\n\"pod-kill-2.p99\" = \"< 1s\"\n",
        fault(""),
        fault(""),
        fault("name = \"k\"\nrecovery_p99 = 2\nrecovery_errors = \"1%\"\n")
    );
    let plan = parse(&ok).unwrap_or_else(|e| panic!("{e}"));
    let k = plan.kube.as_ref().unwrap();
    let names: Vec<&str> = k.faults.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pod-kill", "pod-kill-2", "k"]);
    assert_eq!(
        (k.faults[2].band.p99_factor, k.faults[2].band.error_points),
        (2.0, 0.01)
    );
}

/// A fault's table is read as its kind's own struct: a key another kind would take is
/// refused at its line and column, and an inline table is read the same way.
#[test]
fn a_fault_is_read_as_its_kinds_struct_with_positions() {
    let head = "name = \"f\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 10\nduration = \"10s\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[kube]\nnamespace = \"ns\"\n";
    let parse = |text: &str| {
        scenario::parse(
            std::path::Path::new("f.toml"),
            text,
            &Overrides::default(),
            &|_| None,
        )
    };
    let text = format!(
        "{head}[[kube.fault]]\nat = \"2s\"\naction = \"pod-kill\"\nselector = \"app=a\"\ndelay = \"50ms\"\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("f.toml:15:1: kube.fault[0]: unknown field `delay`"),
        "{err}"
    );
    let inline = head.replace("[kube]\nnamespace = \"ns\"\n", "")
        + "[kube]\nnamespace = \"ns\"\nfault = [{ at = \"2s\", action = \"pod-kill\", selector = \"app=a\", mode = \"fixed\", value = 0 }]\n";
    let err = parse(&inline).unwrap_err().to_string();
    assert!(err.contains("f.toml:11:"), "{err}");
    assert!(err.contains("kube.fault[0].value"), "{err}");
    let ok = format!(
        "{head}[[kube.fault]]\nat = \"2s\"\naction = \"pod-kill\"\nselector = \"app=a\"\nmode = \"percent\"\nvalue = 50\ngrace_period = \"1s\"\n"
    );
    let plan = parse(&ok).unwrap_or_else(|e| panic!("{e}"));
    let f = &plan.kube.as_ref().unwrap().faults[0];
    assert_eq!(f.describe(), "pod-kill 50% of pods (app=a) at 2s, grace 1s");
}

#[test]
fn an_unreachable_cluster_stops_the_run_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let dead = crate::support::dead_port();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        Cluster::kubeconfig(std::net::SocketAddr::from(([127, 0, 0, 1], dead))),
    )
    .unwrap();
    let target = crate::support::serve(axum::Router::new());
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "unreachable"
target = "http://{target}"
[load]
rate = 10
duration = "2s"
[[requests]]
name = "root"
path = "/"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
never_limited = true
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
    assert!(
        stderr.contains("cannot read HorizontalPodAutoscaler flash-sale/flash-order"),
        "{stderr}"
    );
}

#[test]
fn testbed_serve_simulates_a_cluster_and_writes_its_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("sim.kubeconfig");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("loadctl"))
        .args([
            "testbed",
            "serve",
            "flash-sale",
            "--listen",
            "127.0.0.1:0",
            "--simulate-cluster",
            "--time-scale",
            "10",
            "--kubeconfig",
        ])
        .arg(&kc)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A deadline against hanging, not a performance bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    let server = loop {
        if let Some(line) = std::fs::read_to_string(&kc).ok().and_then(|t| {
            t.lines()
                .find(|l| l.contains("server: http://"))
                .map(String::from)
        }) {
            break line;
        }
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(50));
    };
    let addr: std::net::SocketAddr = server
        .trim()
        .trim_start_matches("server: http://")
        .parse()
        .unwrap();
    let hpa = get(
        addr,
        "/apis/autoscaling/v2/namespaces/flash-sale/horizontalpodautoscalers/flash-order",
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        hpa.contains(r#""maxReplicas":20"#) && hpa.contains(r#""minReplicas":5"#),
        "{hpa}"
    );
}
