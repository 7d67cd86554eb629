//! The kind testbed's manifests, checked without a cluster: every document parses into
//! typed Kubernetes objects (k8s-openapi) and serialises back to exactly what the file
//! says (so an unknown or misspelt field cannot hide); Services select Deployments, HPAs
//! target them, probes hit paths the reference services really serve; the seed numbers
//! hold; nginx accepts the gateway configurations; the scripts pass shellcheck. One test
//! needs a real kind cluster and is ignored by default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Secret, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use loadctl::testbed::{Embedded, ServiceConfig};

fn testbed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s-testbed")
}

#[derive(Default)]
struct Objects {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    hpas: Vec<HorizontalPodAutoscaler>,
    config_maps: Vec<ConfigMap>,
    jobs: Vec<Job>,
    pdbs: Vec<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    namespaces: Vec<String>,
}

/// Parses `doc` as `T` and requires the typed object to serialise back to the document:
/// a field k8s-openapi does not know would be dropped, and the comparison says where.
fn typed<T: DeserializeOwned + Serialize>(file: &str, doc: &Value) -> T {
    let obj: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: {} does not parse: {e}", doc["kind"]));
    let back = serde_json::to_value(&obj).unwrap();
    if let Some(path) = first_difference(doc, &back, String::new()) {
        panic!(
            "{file}: {} {}: `{path}` is not a field Kubernetes knows (or has the wrong type)",
            doc["kind"], doc["metadata"]["name"]
        );
    }
    obj
}

fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.iter().find_map(|(k, v)| match y.get(k) {
            Some(w) => first_difference(v, w, format!("{at}.{k}")),
            None => Some(format!("{at}.{k}")),
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, format!("{at}[{i}]"))),
        // YAML integers and Kubernetes quantities/strings may differ only in spelling.
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x))
            if x.to_string() == *y =>
        {
            None
        }
        _ if a == b => None,
        _ => Some(at),
    }
}

fn load(files: &[&str]) -> Objects {
    let mut o = Objects::default();
    for f in files {
        let path = testbed().join(f);
        let text = std::fs::read_to_string(&path).unwrap();
        for de in serde_yaml::Deserializer::from_str(&text) {
            let doc = Value::deserialize_from(de, f);
            if doc.is_null() {
                continue;
            }
            match doc["kind"].as_str().unwrap_or_default() {
                "Deployment" => o.deployments.push(typed(f, &doc)),
                "Service" => o.services.push(typed(f, &doc)),
                "HorizontalPodAutoscaler" => o.hpas.push(typed(f, &doc)),
                "ConfigMap" => o.config_maps.push(typed(f, &doc)),
                "Job" => o.jobs.push(typed(f, &doc)),
                "PodDisruptionBudget" => o.pdbs.push(typed(f, &doc)),
                "Secret" => {
                    typed::<Secret>(f, &doc);
                }
                "ServiceAccount" => {
                    typed::<k8s_openapi::api::core::v1::ServiceAccount>(f, &doc);
                }
                "Role" => {
                    typed::<k8s_openapi::api::rbac::v1::Role>(f, &doc);
                }
                "RoleBinding" => {
                    typed::<k8s_openapi::api::rbac::v1::RoleBinding>(f, &doc);
                }
                "ClusterRole" => {
                    typed::<k8s_openapi::api::rbac::v1::ClusterRole>(f, &doc);
                }
                "ClusterRoleBinding" => {
                    typed::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(f, &doc);
                }
                "Namespace" => {
                    let ns: Namespace = typed(f, &doc);
                    o.namespaces.push(ns.metadata.name.unwrap());
                }
                other => panic!("{f}: unexpected kind {other}"),
            }
        }
    }
    o
}

trait FromYaml {
    fn deserialize_from(de: serde_yaml::Deserializer<'_>, file: &str) -> Value;
}

impl FromYaml for Value {
    fn deserialize_from(de: serde_yaml::Deserializer<'_>, file: &str) -> Value {
        use serde::Deserialize;
        let y = serde_yaml::Value::deserialize(de).unwrap_or_else(|e| panic!("{file}: {e}"));
        serde_json::to_value(y).unwrap()
    }
}

const MANIFESTS: [&str; 7] = [
    "manifests/volunteer.yaml",
    "manifests/flash-sale.yaml",
    "manifests/chat.yaml",
    "jobs/loadctl-run.yaml",
    "jobs/loadctl-run-distributed.yaml",
    "agents/rbac.yaml",
    "chaos/rbac.yaml",
];

fn ns_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

fn containers(d: &Deployment) -> &[Container] {
    &d.spec.template.spec.as_ref().unwrap().containers
}

#[test]
fn every_manifest_parses_into_typed_objects() {
    let o = load(&MANIFESTS);
    assert_eq!(o.namespaces, ["volunteer", "flash-sale", "chat"]);
    assert_eq!(o.deployments.len(), 4 + 3 + 5);
    assert_eq!(o.hpas.len(), 2 + 3 + 1);
    assert_eq!(o.jobs.len(), 2);
    for d in &o.deployments {
        let (ns, _) = ns_name(&d.metadata);
        assert!(o.namespaces.contains(&ns), "{ns} is not created");
    }
}

#[test]
fn a_misspelt_field_is_caught() {
    // The check above is only worth something if it fails on a typo.
    let doc = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replica": 3, "selector": {}, "template": {}}
    });
    let r = std::panic::catch_unwind(|| typed::<Deployment>("test", &doc));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("`.spec.replica`"), "{msg}");
}

#[test]
fn services_hpas_and_ports_fit_together() {
    let o = load(&MANIFESTS);
    let deployments: BTreeMap<(String, String), &Deployment> = o
        .deployments
        .iter()
        .map(|d| (ns_name(&d.metadata), d))
        .collect();
    for s in &o.services {
        let (ns, name) = ns_name(&s.metadata);
        let spec = s.spec.as_ref().unwrap();
        let selector = spec.selector.as_ref().unwrap();
        let targets: Vec<&&Deployment> = deployments
            .iter()
            .filter(|((dns, _), d)| {
                let labels = d
                    .spec
                    .template
                    .metadata
                    .as_ref()
                    .unwrap()
                    .labels
                    .as_ref()
                    .unwrap();
                *dns == ns && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .map(|(_, d)| d)
            .collect();
        assert_eq!(
            targets.len(),
            1,
            "service {ns}/{name} selects {} deployments",
            targets.len()
        );
        let ports: Vec<i32> = containers(targets[0])
            .iter()
            .flat_map(|c| c.ports.iter().flatten().map(|p| p.container_port))
            .collect();
        for p in spec.ports.as_ref().unwrap() {
            let target = match &p.target_port {
                Some(IntOrString::Int(n)) => *n,
                _ => p.port,
            };
            assert!(
                ports.contains(&target),
                "service {ns}/{name} targets port {target}, containers have {ports:?}"
            );
        }
    }
    for h in &o.hpas {
        let (ns, name) = ns_name(&h.metadata);
        let spec = &h.spec;
        let target = &spec.scale_target_ref;
        assert_eq!(
            (target.kind.as_str(), target.api_version.as_deref()),
            ("Deployment", Some("apps/v1"))
        );
        let d = deployments
            .get(&(ns.clone(), target.name.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "HPA {ns}/{name} targets a missing deployment {}",
                    target.name
                )
            });
        assert!(
            spec.behavior.is_some(),
            "HPA {ns}/{name}: write the scaling behavior out"
        );
        for m in spec.metrics.iter().flatten() {
            let resource = &m.resource.as_ref().unwrap().name;
            for c in containers(d) {
                let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
                assert!(
                    requests.is_some_and(|r| r.contains_key(resource)),
                    "HPA {ns}/{name} scales on {resource}, but container {} has no {resource} request",
                    c.name
                );
            }
        }
        let replicas = d.spec.replicas.unwrap();
        assert!(spec.min_replicas.unwrap() <= replicas && replicas <= spec.max_replicas);
    }
}

/// Starts the reference service a container runs and asks it for each probe path.
#[test]
fn probes_hit_paths_the_reference_services_serve() {
    let o = load(&MANIFESTS);
    let mut checked = 0;
    for d in &o.deployments {
        for c in containers(d) {
            let probes = [&c.liveness_probe, &c.readiness_probe];
            let paths: Vec<(String, i32)> = probes
                .iter()
                .filter_map(|p| p.as_ref()?.http_get.as_ref())
                .map(|g| {
                    let port = match &g.port {
                        IntOrString::Int(n) => *n,
                        IntOrString::String(s) => panic!("named port {s}"),
                    };
                    (g.path.clone().unwrap(), port)
                })
                .collect();
            let ports: Vec<i32> = c.ports.iter().flatten().map(|p| p.container_port).collect();
            for (_, port) in &paths {
                assert!(
                    ports.contains(port),
                    "{}: probe on port {port}, container ports {ports:?}",
                    c.name
                );
            }
            if c.image.as_deref() == Some("loadctl-testbed:dev") {
                let args = c.args.as_ref().unwrap();
                assert_eq!(&args[..2], ["testbed", "serve"]);
                let svc = Embedded::start(&args[2], &ServiceConfig::default(), 1).unwrap();
                for (path, _) in &paths {
                    assert_eq!(get_status(svc.addr, path), 200, "{} {path}", args[2]);
                    checked += 1;
                }
            } else {
                // nginx: the probe path must be a location its ConfigMap defines.
                let conf: String = o
                    .config_maps
                    .iter()
                    .filter(|m| m.metadata.namespace == d.metadata.namespace)
                    .flat_map(|m| m.data.iter().flatten().map(|(_, v)| v.clone()))
                    .collect();
                for (path, _) in &paths {
                    assert!(
                        conf.contains(&format!("location = {path} ")),
                        "nginx has no location for {path}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "{checked} probes checked");
}

fn get_status(addr: SocketAddr, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The numbers the source documents state, as the manifests must carry them.
#[test]
fn the_documented_numbers_hold() {
    let o = load(&MANIFESTS);
    let dep = |ns: &str, name: &str| {
        o.deployments
            .iter()
            .find(|d| ns_name(&d.metadata) == (ns.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no deployment {ns}/{name}"))
    };
    let quantity = |d: &Deployment, which: &str, res: &str| -> String {
        let r = containers(d)[0].resources.as_ref().unwrap();
        let m = if which == "requests" {
            &r.requests
        } else {
            &r.limits
        };
        m.as_ref().unwrap()[res].0.clone()
    };
    // (namespace, deployment, replicas, requests cpu/mem, limits cpu/mem, seed)
    #[rustfmt::skip]
    let table = [
        ("volunteer", "nginx-gateway", 2, "100m", "128Mi", "200m", "256Mi", "seed 000"),
        ("volunteer", "user-service", 3, "100m", "128Mi", "200m", "256Mi", "seed 000"),
        ("volunteer", "activity-service", 3, "100m", "128Mi", "200m", "256Mi", "seed 000"),
        ("volunteer", "notification-service", 3, "100m", "128Mi", "200m", "256Mi", "seed 000"),
        ("flash-sale", "gateway", 3, "100m", "128Mi", "200m", "256Mi", "seed 003"),
        ("flash-sale", "flash-order", 5, "100m", "128Mi", "200m", "256Mi", "seed 003"),
        ("flash-sale", "inventory", 3, "100m", "128Mi", "200m", "256Mi", "seed 003"),
        ("chat", "gateway", 2, "250m", "256Mi", "500m", "512Mi", "seed 004"),
        ("chat", "message-service", 3, "250m", "256Mi", "500m", "512Mi", "seed 004"),
        ("chat", "presence-service", 2, "250m", "256Mi", "500m", "512Mi", "seed 004"),
        ("chat", "group-service", 2, "250m", "256Mi", "500m", "512Mi", "seed 004"),
        ("chat", "user-service", 3, "250m", "256Mi", "500m", "512Mi", "seed 004"),
    ];
    for (ns, name, replicas, rc, rm, lc, lm, seed) in table {
        let d = dep(ns, name);
        assert_eq!(
            d.spec.replicas,
            Some(replicas),
            "{seed}: {ns}/{name} replicas"
        );
        assert_eq!(
            [
                quantity(d, "requests", "cpu"),
                quantity(d, "requests", "memory"),
                quantity(d, "limits", "cpu"),
                quantity(d, "limits", "memory")
            ],
            [rc, rm, lc, lm],
            "{seed}: {ns}/{name} resources"
        );
    }
    // (namespace, HPA, min, max, cpu %, memory %)
    #[rustfmt::skip]
    let hpas = [
        ("volunteer", "user-service", 3, 10, 70, 80),     // seed 000
        ("volunteer", "activity-service", 3, 10, 70, 80), // seed 000's pattern
        ("flash-sale", "gateway", 3, 10, 65, 75),         // seed 003 bounds, seed 002 targets
        ("flash-sale", "flash-order", 5, 20, 65, 75),
        ("flash-sale", "inventory", 3, 10, 65, 75),
        ("chat", "gateway", 2, 10, 70, 80),               // seed 004
    ];
    for (ns, name, lo, hi, cpu, mem) in hpas {
        let h = o
            .hpas
            .iter()
            .find(|h| ns_name(&h.metadata) == (ns.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no HPA {ns}/{name}"));
        let spec = &h.spec;
        assert_eq!(
            (spec.min_replicas, spec.max_replicas),
            (Some(lo), hi),
            "{ns}/{name} bounds"
        );
        let target = |res: &str| {
            spec.metrics.iter().flatten().find_map(|m| {
                let r = m.resource.as_ref()?;
                (r.name == res)
                    .then_some(r.target.average_utilization)
                    .flatten()
            })
        };
        assert_eq!(
            (target("cpu"), target("memory")),
            (Some(cpu), Some(mem)),
            "{ns}/{name} targets"
        );
    }
    // seed 000: probe timings; NodePort 30081.
    let probe = containers(dep("volunteer", "user-service"))[0].clone();
    let l = probe.liveness_probe.unwrap();
    let r = probe.readiness_probe.unwrap();
    assert_eq!(
        (
            l.initial_delay_seconds,
            l.period_seconds,
            l.timeout_seconds,
            l.failure_threshold
        ),
        (Some(20), Some(10), Some(3), Some(3))
    );
    assert_eq!(
        (r.initial_delay_seconds, r.period_seconds, r.timeout_seconds),
        (Some(5), Some(5), Some(2))
    );
    let node_ports: Vec<i32> = o
        .services
        .iter()
        .flat_map(|s| {
            s.spec
                .as_ref()
                .unwrap()
                .ports
                .iter()
                .flatten()
                .filter_map(|p| p.node_port)
        })
        .collect();
    assert_eq!(node_ports, [30081, 30082, 30084, 30083]);
    // seed 004: gateway on 8001 with max_connections 10000, probes /health and /ready.
    let gw = containers(dep("chat", "gateway"))[0].clone();
    assert!(gw
        .args
        .unwrap()
        .join(" ")
        .contains("--listen 0.0.0.0:8001 --max-connections 10000"));
    let chat_conf = std::fs::read_to_string(testbed().join("manifests/chat.yaml")).unwrap();
    assert!(chat_conf.contains("prometheus.io/scrape"));
    // seed 000's nginx tuning and seed 002's limits are in the gateway configurations.
    let conf = |ns: &str| -> String {
        o.config_maps
            .iter()
            .filter(|m| m.metadata.namespace.as_deref() == Some(ns))
            .flat_map(|m| m.data.iter().flatten().map(|(_, v)| v.clone()))
            .collect()
    };
    for needle in [
        "worker_connections 1024;",
        "use epoll;",
        "multi_accept on;",
        "keepalive_timeout 65;",
        "gzip_types text/plain application/json;",
        "expires 30d;",
    ] {
        assert!(
            conf("volunteer").contains(needle),
            "volunteer nginx: {needle}"
        );
    }
    for needle in [
        "rate=10000r/m",
        "rate=5000r/m",
        "rate=500r/m",
        "limit_req_status 429;",
    ] {
        assert!(
            conf("flash-sale").contains(needle),
            "flash-sale gateway: {needle}"
        );
    }
    // The generator Job runs on the generator node and tolerates its taint.
    let job = &o.jobs[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(
        job.node_selector.as_ref().unwrap()["loadctl.io/role"],
        "generator"
    );
    let kind = std::fs::read_to_string(testbed().join("kind-config.yaml")).unwrap();
    assert!(
        kind.contains("loadctl.io/role: generator") && kind.contains("key: loadctl.io/generator")
    );
}

fn need(tool: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("this test needs `{tool}`: apt-get install {package} (.ci/run does)")
        })
}

/// nginx itself accepts the gateway configurations (upstream names pointed at loopback,
/// paths at a temporary folder, since nothing here resolves cluster DNS).
#[test]
fn nginx_accepts_the_gateway_configurations() {
    let nginx = need("nginx", "nginx-light");
    let o = load(&MANIFESTS);
    let upstream = regex::Regex::new(r"server [a-z-]+:(\d+);").unwrap();
    let mut tested = 0;
    for m in &o.config_maps {
        let data = m.data.as_ref().unwrap();
        let Some(main) = data.get("nginx.conf") else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        for (k, v) in data {
            let text = v.replace("/etc/nginx/", &format!("{d}/"));
            // `server name:port;` in upstream blocks → loopback.
            let text = upstream.replace_all(&text, "server 127.0.0.1:$1;");
            let text = text
                .replace("listen 80;", "listen 127.0.0.1:18880;")
                .replace("listen 8080;", "listen 127.0.0.1:18881;");
            let text = if v == main {
                format!("error_log stderr;\npid {d}/nginx.pid;\n{}", text.replacen("http {", &format!("http {{\n client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};"), 1))
            } else {
                text
            };
            std::fs::write(dir.path().join(k), text).unwrap();
        }
        let out = Command::new(&nginx)
            .args(["-t", "-c"])
            .arg(dir.path().join("nginx.conf"))
            .args(["-p", &d])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            m.metadata.name,
            String::from_utf8_lossy(&out.stderr)
        );
        tested += 1;
    }
    assert_eq!(tested, 2);
}

#[test]
fn scripts_pass_shellcheck_and_bash_n() {
    let shellcheck = need("shellcheck", "shellcheck");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = [
        root.join("k8s-testbed/up.sh"),
        root.join("k8s-testbed/down.sh"),
        root.join("ci/nightly-perf.sh"),
        root.join("ci/test.sh"),
        root.join(".ci/run"),
    ];
    for s in &scripts {
        let n = Command::new("bash").arg("-n").arg(s).output().unwrap();
        assert!(
            n.status.success(),
            "bash -n {}: {}",
            s.display(),
            String::from_utf8_lossy(&n.stderr)
        );
    }
    let out = Command::new(shellcheck).args(&scripts).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Needs Docker, kind and kubectl: `LOADCTL_KIND=1 cargo test --test it k8s::against_a_kind_cluster -- --ignored`.
/// Brings the cluster up (volunteer platform only), runs the activities scenario briefly
/// against NodePort 30081 and checks the verdict.
#[test]
#[ignore = "needs a kind cluster"]
fn against_a_kind_cluster() {
    assert_eq!(
        std::env::var("LOADCTL_KIND").as_deref(),
        Ok("1"),
        "set LOADCTL_KIND=1 to run this test (it creates a kind cluster)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let up = Command::new("bash")
        .arg(root.join("k8s-testbed/up.sh"))
        .arg("volunteer")
        .status()
        .unwrap();
    assert!(up.success(), "up.sh failed");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("loadctl"))
        .current_dir(root)
        .args([
            "run",
            "scenarios/activities-list.toml",
            "--target",
            "http://127.0.0.1:30081",
        ])
        .args([
            "--duration",
            "10s",
            "--rate",
            "200",
            "--no-progress",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 200 req/s cannot meet the scenario's own rps >= 1000; everything else must hold.
    assert!(stdout.contains("PASS  p95 < 100ms"), "{stdout}");
    assert!(stdout.contains("PASS  error_rate < 0.1%"), "{stdout}");

    // The autoscaling scenario against the real flash-order HPA (kind's kubeconfig is the
    // current context): watched, judged and one pod killed, whatever the verdict.
    let up = Command::new("bash")
        .arg(root.join("k8s-testbed/up.sh"))
        .arg("flash-sale")
        .status()
        .unwrap();
    assert!(up.success(), "up.sh flash-sale failed");
    let out = Command::new(assert_cmd::cargo::cargo_bin("loadctl"))
        .current_dir(root)
        .args([
            "run",
            "scenarios/flash-sale-hpa.toml",
            "--target",
            "http://127.0.0.1:30082",
            "--no-progress",
            "--out",
        ])
        .arg(dir.path().join("hpa"))
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("hpa/summary.json"))
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    assert_eq!(summary["kube"]["hpas"][0]["name"], "flash-order");
    assert_eq!(summary["kube"]["hpas"][0]["max_replicas"], 20);
    assert_eq!(
        summary["kube"]["faults"][0]["affected"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The same scenario distributed over two agents as an Indexed Job, from a coordinator
    // inside the cluster (its RBAC in agents/rbac.yaml).
    let kubectl = |args: &[&str]| {
        let o = Command::new("kubectl").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let testbed = root.join("k8s-testbed");
    kubectl(&[
        "apply",
        "-f",
        testbed.join("agents/rbac.yaml").to_str().unwrap(),
    ]);
    kubectl(&[
        "apply",
        "-f",
        testbed
            .join("jobs/loadctl-run-distributed.yaml")
            .to_str()
            .unwrap(),
    ]);
    kubectl(&[
        "wait",
        "-n",
        "flash-sale",
        "--for=condition=complete",
        "--timeout=300s",
        "job/loadctl-run-distributed",
    ]);
    let log = kubectl(&["logs", "-n", "flash-sale", "job/loadctl-run-distributed"]);
    assert!(log.contains("agents     2"), "{log}");
    let left = kubectl(&[
        "get",
        "jobs",
        "-n",
        "flash-sale",
        "-l",
        "app.kubernetes.io/name=loadctl-agent",
        "-o",
        "name",
    ]);
    assert_eq!(left.trim(), "", "the agents' Job is deleted after the run");
}

/// The simulated control plane serves the manifest's flash-order HPA, not a look-alike.
#[test]
fn the_simulated_hpa_is_the_manifests() {
    let o = load(&["manifests/flash-sale.yaml"]);
    let manifest = o
        .hpas
        .iter()
        .find(|h| h.metadata.name.as_deref() == Some("flash-order"))
        .expect("flash-order HPA in the manifest");
    let simulated = loadctl::testbed::cluster::objects::hpa("flash-sale");
    assert_eq!(simulated.spec, manifest.spec);
    let deployment = o
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some("flash-order"))
        .unwrap();
    let sim_d = loadctl::testbed::cluster::objects::deployment("flash-sale", 5);
    assert_eq!(sim_d.spec.selector, deployment.spec.selector);
    assert_eq!(
        deployment.spec.replicas,
        Some(5),
        "seed 003: flash-order starts at its minimum"
    );
}

/// flash-order's disruption budget is the one the simulated cluster applies to evictions.
#[test]
fn the_disruption_budget_is_the_simulations() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let o = load(&MANIFESTS);
    let pdb = o
        .pdbs
        .iter()
        .find(|p| ns_name(&p.metadata) == ("flash-sale".to_string(), "flash-order".to_string()))
        .expect("a PodDisruptionBudget for flash-order");
    let spec = pdb.spec.as_ref().unwrap();
    assert_eq!(
        spec.max_unavailable,
        Some(IntOrString::Int(
            loadctl::testbed::cluster::objects::PDB_MAX_UNAVAILABLE as i32
        ))
    );
    let labels = spec
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(labels.get("app").map(String::as_str), Some("flash-order"));
}
