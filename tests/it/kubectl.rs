//! A real `kubectl` (Debian's kubernetes-client, which ci/test.sh installs) against the
//! simulated control plane: discovery, `get` of the HPA, Deployment and Pods, `get -w`
//! seeing a pod replaced after a `delete pod`, and `get networkchaos` while a delay runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadctl::testbed::cluster::{Cluster, ClusterConfig};
use loadctl::testbed::{Embedded, ServiceConfig};

fn kubectl() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("this test needs `kubectl`: apt-get install kubernetes-client (.ci/run does)")
        })
}

fn run(kc: &Path, args: &[&str]) -> String {
    let out = Command::new(kubectl())
        .env("HOME", kc.parent().unwrap())
        .arg("--kubeconfig")
        .arg(kc)
        .args(["-n", "flash-sale", "--request-timeout=10s"])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "kubectl {args:?}: {stderr}\n{stdout}");
    stdout
}

fn pod_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.starts_with("flash-order-") && w.matches('-').count() >= 3)
        .map(|w| w.trim_start_matches("pod/").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn kubectl_gets_watches_and_deletes_in_the_simulated_cluster() {
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

    let all = run(&kc, &["get", "hpa,deploy,pods"]);
    assert!(all.contains("flash-order"), "{all}");
    let before = pod_names(&run(&kc, &["get", "pods"]));
    assert_eq!(before.len(), 5, "{before:?}");

    // A watch sees the replacement the ReplicaSet makes for a deleted pod.
    let mut watch = Command::new(kubectl())
        .env("HOME", dir.path())
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["-n", "flash-sale", "get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    run(&kc, &["delete", "pod", &before[0], "--wait=false"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    let mut out = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = pod_names(&run(&kc, &["get", "pods"]));
        if now.iter().any(|n| !before.contains(n)) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = watch.kill();
    let _ = watch.wait();
    seen.push_str(&reader.join().unwrap());
    let watched = pod_names(&seen);
    assert!(
        watched.iter().any(|n| !before.contains(n)),
        "the watch shows the replacement pod: {seen}"
    );

    // A NetworkChaos made through the API is listed by kubectl.
    let body = serde_json::json!({
        "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
        "metadata": {"name": "slow"},
        "spec": {"action": "delay", "mode": "one", "duration": "600s",
            "selector": {"namespaces": ["flash-sale"], "labelSelectors": {"app": "flash-order"}},
            "delay": {"latency": "10ms", "jitter": "0ms"}}
    });
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /apis/chaos-mesh.org/v1alpha1/namespaces/flash-sale/networkchaos HTTP/1.0\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.0 201"), "{answer}");
    let chaos = run(&kc, &["get", "networkchaos"]);
    assert!(chaos.contains("slow"), "{chaos}");
}
