//! `--kube-agents`: the agents as a Kubernetes Indexed Job. The Job loadctl builds is the
//! one documented in `k8s-testbed/agents/job.yaml`; on the simulated control plane (its
//! `batch/v1` Jobs and kubelet, which runs each pod as a local `loadctl agent`) the Job is
//! created, its pods become Ready, the coordinator reaches them through the pod proxy, and
//! the Job, its Secret and its processes are gone afterwards.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use loadctl::kube::agents::{self, Spec};
use loadctl::scenario::plan::distributed::AgentsJob;

const SCENARIO: &str = r#"
name = "kube-agents"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 4
replica_capacity = 150
[load]
rate = 200
duration = "3s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "view_item"
path = "/api/v1/flash/items/{{rand_int(1, 10)}}"
[slo]
p99 = "< 5s"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 5
within = "3s"
"#;

/// Processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

fn wait_gone(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(processes_with(needle), Vec::<String>::new());
}

#[test]
fn the_job_is_the_documented_one() {
    let job = AgentsJob {
        namespace: Some("flash-sale".into()),
        image: "loadctl-testbed:dev".into(),
        node_selector: vec![("loadctl.io/role".into(), "generator".into())],
        separate: false,
        tolerations: vec![(
            "loadctl.io/generator".into(),
            "true".into(),
            "NoSchedule".into(),
        )],
        cpu: "1".into(),
        memory: "512Mi".into(),
    };
    let spec = Spec {
        job: &job,
        namespace: "flash-sale".into(),
        agents: 2,
        token: "unused-here-0123456789",
        run_length: Duration::from_secs(60),
    };
    let built: Job =
        serde_json::from_value(agents::manifest(&spec, "loadctl-agents-example")).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s-testbed/agents/job.yaml"),
    )
    .unwrap();
    let documented: Job = serde_yaml::from_str(&text).unwrap();
    assert_eq!(built, documented);
    // Separate agents: no two on one node.
    let apart = AgentsJob {
        separate: true,
        ..job.clone()
    };
    let v = agents::manifest(
        &Spec {
            job: &apart,
            ..spec
        },
        "x",
    );
    assert_eq!(
        v.pointer("/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/topologyKey"),
        Some(&serde_json::json!("kubernetes.io/hostname"))
    );
}

#[test]
fn a_run_with_kube_agents_ends_with_nothing_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kube-agents.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .env_remove(loadctl::remote::token::ENV)
        .arg("run")
        .arg(&file)
        .args(["--kube-agents", "2", "--no-progress", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stderr}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(stderr.contains("with 2 pods ready"), "{stderr}");
    assert!(!stderr.contains("cannot delete"), "{stderr}");
    let s = loadctl::summary::load_summary(&out).unwrap();
    assert_eq!(s.totals.requests, 600);
    assert_eq!(s.agents.len(), 2);
    for (k, a) in s.agents.iter().enumerate() {
        assert!(
            a.address.starts_with("pod flash-sale/loadctl-agents-"),
            "{a:?}"
        );
        assert!(
            a.name.contains(&format!("-{k}-")),
            "the pod of index {k}: {a:?}"
        );
        assert_eq!(a.requests, 300);
    }
    // The simulated kubelet's agent processes (scratch folders named after the
    // coordinator's pid) are gone with the run.
    wait_gone(&format!("loadctl-sim-{pid}-"));
}

#[test]
fn the_job_and_its_secret_are_created_and_deleted() {
    std::env::set_var("LOADCTL_SIM_KUBELET_EXE", env!("CARGO_BIN_EXE_loadctl"));
    let plan = crate::support::plan(SCENARIO);
    let loadctl::scenario::TargetSpec::Embedded(e) = &plan.target else {
        unreachable!()
    };
    let svc = loadctl::testbed::Embedded::start("flash-sale", &e.config, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        loadctl::testbed::cluster::Cluster::kubeconfig(svc.kube_api.unwrap()),
    )
    .unwrap();
    let source = loadctl::kube::session::Source {
        kubeconfig: Some(kubeconfig),
        context: None,
        time_scale: 1.0,
    };
    let job = AgentsJob::default();
    let spec = Spec {
        job: &job,
        namespace: "flash-sale".into(),
        agents: 3,
        token: "a-token-of-the-tests-0123",
        run_length: Duration::from_secs(10),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let launched = agents::launch(&source, &spec).await.unwrap();
        assert_eq!(
            launched.pods.iter().map(|p| p.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let jobs: Api<Job> = Api::namespaced(launched.client.clone(), "flash-sale");
        let got = jobs.get(&launched.name).await.unwrap();
        assert_eq!(got.status.unwrap().ready, Some(3));
        let pods: Api<Pod> = Api::namespaced(launched.client.clone(), "flash-sale");
        let lp = ListParams::default()
            .labels(&format!("batch.kubernetes.io/job-name={}", launched.name));
        assert_eq!(pods.list(&lp).await.unwrap().items.len(), 3);
        // The flash-order watchers' selector does not see the agents.
        let app = ListParams::default().labels("app=flash-order");
        assert!(pods.list(&app).await.unwrap().items.iter().all(|p| !p
            .metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with("loadctl-agents")));
        assert!(!processes_with(&launched.name).is_empty());
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(launched.client.clone(), "flash-sale");
        let secret = secrets.get(&launched.name).await.unwrap();
        assert_eq!(
            secret.metadata.owner_references.unwrap()[0].kind,
            "Job",
            "the token goes with the Job"
        );
        launched.delete().await;
        assert!(jobs.get(&launched.name).await.is_err(), "the Job is gone");
        assert!(secrets.get(&launched.name).await.is_err(), "its Secret too");
        assert_eq!(pods.list(&lp).await.unwrap().items.len(), 0);
        wait_gone(&launched.name);
    });
}
