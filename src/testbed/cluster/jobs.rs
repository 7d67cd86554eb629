//! `batch/v1` Jobs on the simulated control plane, with a simulated kubelet: what
//! `loadctl run --kube-agents N` needs end to end on one machine. An Indexed Job's pods
//! are local processes: the kubelet resolves each pod's environment (a Secret's key, the
//! pod's own name; a pod whose Secret does not exist yet waits, as
//! `CreateContainerConfigError` does), adds `JOB_COMPLETION_INDEX`, and runs the
//! container's `args` with this program (or `LOADCTL_SIM_KUBELET_EXE`). A pod is Ready
//! once its agent listens; it Succeeds or Fails with its process. Deleting the Job stops
//! its processes and removes the Secrets it owns; a finished Job goes by itself after
//! `ttlSecondsAfterFinished`.
//!
//! Simplifications, stated: every pod runs on this machine with the IP 127.0.0.1, and an
//! agent's `--listen` is replaced by a free loopback port, which the pod proxy maps the
//! container port to (several pods cannot share one port here); images, resources,
//! affinity and `activeDeadlineSeconds` are recorded, not enforced.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Most pods one simulated Job may ask for.
const MAX_PODS: u64 = 64;

/// A Job pod: its process once it runs.
struct JobPod {
    name: String,
    uid: String,
    index: u64,
    child: Option<Child>,
    /// The loopback port its agent listens on, once it does.
    port: Arc<Mutex<Option<u16>>>,
    phase: &'static str,
    /// Its scratch folder, removed with the pod.
    scratch: Option<std::path::PathBuf>,
}

struct SimJob {
    job: Value,
    uid: String,
    pods: Vec<JobPod>,
    started: Instant,
    finished: Option<Instant>,
}

/// The Jobs, their pods and the Secrets.
#[derive(Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<String, SimJob>,
    secrets: BTreeMap<String, Value>,
    next_uid: u64,
}

impl Inner {
    fn uid(&mut self) -> String {
        self.next_uid += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.next_uid)
    }
}

/// Why a request cannot be served, as `(code, reason, message)`.
pub type Refused = (u16, &'static str, String);

fn invalid(msg: String) -> Refused {
    (422, "Invalid", msg)
}

fn stop(child: &mut Child) {
    // SAFETY: a signal to a process this kubelet started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Jobs {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.lock() {
            for job in inner.jobs.values_mut() {
                for p in &mut job.pods {
                    if let Some(c) = &mut p.child {
                        stop(c);
                    }
                    if let Some(d) = &p.scratch {
                        let _ = std::fs::remove_dir_all(d);
                    }
                }
            }
        }
    }
}

impl Jobs {
    /// Creates a Job (only Indexed ones with parallelism = completions are served).
    pub fn create_job(&self, ns: &str, mut job: Value) -> Result<Value, Refused> {
        let name = job
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("metadata.name: Required value".into()))?
            .to_string();
        let spec = job.get("spec").cloned().unwrap_or(Value::Null);
        let completions = spec.get("completions").and_then(Value::as_u64).unwrap_or(1);
        let parallelism = spec.get("parallelism").and_then(Value::as_u64).unwrap_or(1);
        if spec.get("completionMode").and_then(Value::as_str) != Some("Indexed")
            || completions != parallelism
            || completions == 0
            || completions > MAX_PODS
        {
            return Err(invalid(format!(
                "this simulated control plane runs Indexed Jobs with parallelism = completions, 1 to {MAX_PODS}"
            )));
        }
        if spec.pointer("/template/spec/containers/0/args").is_none() {
            return Err(invalid(
                "spec.template.spec.containers[0].args: Required value".into(),
            ));
        }
        let mut inner = self.inner.lock().unwrap();
        if inner.jobs.contains_key(&name) {
            return Err((
                409,
                "AlreadyExists",
                format!("jobs.batch \"{name}\" already exists"),
            ));
        }
        let uid = inner.uid();
        job["metadata"]["uid"] = json!(uid);
        job["metadata"]["namespace"] = json!(ns);
        job["metadata"]["creationTimestamp"] =
            json!(k8s_openapi::jiff::Timestamp::now().to_string());
        let mut pods = Vec::new();
        for index in 0..completions {
            let pod_uid = inner.uid();
            pods.push(JobPod {
                name: format!("{name}-{index}-{}", super::suffix(inner.next_uid)),
                uid: pod_uid,
                index,
                child: None,
                port: Arc::default(),
                phase: "Pending",
                scratch: None,
            });
        }
        let sim = SimJob {
            job,
            uid,
            pods,
            started: Instant::now(),
            finished: None,
        };
        let shown = status_of(&sim);
        inner.jobs.insert(name, sim);
        Ok(shown)
    }

    pub fn job(&self, name: &str) -> Option<Value> {
        self.inner.lock().unwrap().jobs.get(name).map(status_of)
    }

    pub fn jobs(&self) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .values()
            .map(status_of)
            .collect()
    }

    /// Deletes a Job: its processes are stopped, its pods and the Secrets it owns removed.
    pub fn delete_job(&self, name: &str) -> Option<Value> {
        let mut inner = self.inner.lock().unwrap();
        let mut job = inner.jobs.remove(name)?;
        let uid = job.uid.clone();
        inner.secrets.retain(|_, s| {
            !s.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|o| o.iter().any(|r| r["uid"] == json!(uid)))
        });
        drop(inner);
        let shown = status_of(&job);
        let children: Vec<Child> = job.pods.iter_mut().filter_map(|p| p.child.take()).collect();
        let dirs: Vec<std::path::PathBuf> = job
            .pods
            .iter_mut()
            .filter_map(|p| p.scratch.take())
            .collect();
        std::thread::spawn(move || {
            for mut c in children {
                stop(&mut c);
            }
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        });
        Some(shown)
    }

    pub fn create_secret(&self, ns: &str, mut secret: Value) -> Result<Value, Refused> {
        let name = secret
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("metadata.name: Required value".into()))?
            .to_string();
        let mut inner = self.inner.lock().unwrap();
        if inner.secrets.contains_key(&name) {
            return Err((
                409,
                "AlreadyExists",
                format!("secrets \"{name}\" already exists"),
            ));
        }
        secret["metadata"]["uid"] = json!(inner.uid());
        secret["metadata"]["namespace"] = json!(ns);
        // The API server turns stringData into data; kept as given here, and never
        // answered back.
        inner.secrets.insert(name, secret.clone());
        if let Some(o) = secret.as_object_mut() {
            o.remove("stringData");
            o.remove("data");
        }
        Ok(secret)
    }

    /// A Secret's metadata (its data is never answered back here).
    pub fn secret(&self, name: &str) -> Option<Value> {
        let s = self.inner.lock().unwrap().secrets.get(name)?.clone();
        Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": s["metadata"]}))
    }

    pub fn delete_secret(&self, name: &str) -> bool {
        self.inner.lock().unwrap().secrets.remove(name).is_some()
    }

    /// The pods of every Job: `(name, labels, object)`.
    pub fn pods(&self, ns: &str) -> Vec<(String, BTreeMap<String, String>, Value)> {
        let inner = self.inner.lock().unwrap();
        let mut out = Vec::new();
        for (job_name, j) in &inner.jobs {
            for p in &j.pods {
                let v = pod_object(ns, job_name, j, p);
                let labels = v["metadata"]["labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((p.name.clone(), labels, v));
            }
        }
        out
    }

    /// The loopback port a pod's container port is served on, while it runs.
    pub fn pod_port(&self, pod: &str) -> Option<u16> {
        let inner = self.inner.lock().unwrap();
        let p = inner
            .jobs
            .values()
            .flat_map(|j| &j.pods)
            .find(|p| p.name == pod)?;
        let port = *p.port.lock().unwrap();
        port.filter(|_| p.phase == "Running")
    }

    /// The kubelet's and the Job controller's work: start pods whose environment
    /// resolves, note the ones that ended, finish Jobs, remove expired ones.
    pub fn tick(&self) {
        let mut inner = self.inner.lock().unwrap();
        let secrets = inner.secrets.clone();
        let mut expired = Vec::new();
        for (name, j) in inner.jobs.iter_mut() {
            let template = j
                .job
                .pointer("/spec/template/spec/containers/0")
                .cloned()
                .unwrap_or(Value::Null);
            for p in &mut j.pods {
                match p.phase {
                    "Pending" => {
                        if let Some(env) = resolve_env(&template, &secrets, p) {
                            start(&template, env, p);
                        }
                    }
                    "Running" => {
                        if let Some(Ok(Some(status))) = p.child.as_mut().map(Child::try_wait) {
                            p.phase = if status.success() {
                                "Succeeded"
                            } else {
                                "Failed"
                            };
                            p.child = None;
                        }
                    }
                    _ => {}
                }
            }
            let done = j.pods.iter().all(|p| p.phase == "Succeeded")
                || j.pods.iter().any(|p| p.phase == "Failed");
            if done && j.finished.is_none() {
                j.finished = Some(Instant::now());
            }
            let ttl = j
                .job
                .pointer("/spec/ttlSecondsAfterFinished")
                .and_then(Value::as_u64);
            if let (Some(at), Some(ttl)) = (j.finished, ttl) {
                if at.elapsed() >= Duration::from_secs(ttl) {
                    expired.push(name.clone());
                }
            }
        }
        drop(inner);
        for name in expired {
            self.delete_job(&name);
        }
    }
}

/// The container's environment, or `None` while a Secret it needs is missing.
fn resolve_env(
    c: &Value,
    secrets: &BTreeMap<String, Value>,
    p: &JobPod,
) -> Option<Vec<(String, String)>> {
    let mut env = vec![("JOB_COMPLETION_INDEX".to_string(), p.index.to_string())];
    for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
        let name = e["name"].as_str()?.to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            v.to_string()
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            let s = secrets.get(r["name"].as_str()?)?;
            let key = r["key"].as_str()?;
            match s
                .pointer(&format!("/stringData/{key}"))
                .and_then(Value::as_str)
            {
                Some(v) => v.to_string(),
                None => {
                    use base64::Engine as _;
                    let b = s.pointer(&format!("/data/{key}")).and_then(Value::as_str)?;
                    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
                    String::from_utf8(raw).ok()?
                }
            }
        } else if e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
            == Some("metadata.name")
        {
            p.name.clone()
        } else {
            continue;
        };
        env.push((name, value));
    }
    Some(env)
}

/// Starts the pod's process; it is Running from here, Ready once it listens.
fn start(c: &Value, env: Vec<(String, String)>, p: &mut JobPod) {
    let exe = std::env::var_os("LOADCTL_SIM_KUBELET_EXE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::current_exe().ok());
    let scratch =
        std::env::temp_dir().join(format!("loadctl-sim-{}-{}", std::process::id(), p.name));
    let (Some(exe), Ok(())) = (exe, std::fs::create_dir_all(&scratch)) else {
        p.phase = "Failed";
        return;
    };
    let mut args: Vec<String> = c["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        if i + 1 < args.len() {
            args[i + 1] = "127.0.0.1:0".into();
        }
    }
    args.push("--scratch".into());
    args.push(scratch.display().to_string());
    let spawned = Command::new(exe)
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = spawned else {
        p.phase = "Failed";
        return;
    };
    let port = p.port.clone();
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let found = line
                .rsplit_once("listening on ")
                .and_then(|(_, a)| a.trim().parse::<std::net::SocketAddr>().ok());
            if let Some(a) = found {
                *port.lock().unwrap() = Some(a.port());
            }
        }
    });
    p.child = Some(child);
    p.scratch = Some(scratch);
    p.phase = "Running";
}

fn pod_object(ns: &str, job_name: &str, j: &SimJob, p: &JobPod) -> Value {
    let mut labels = j
        .job
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels["job-name"] = json!(job_name);
    labels["batch.kubernetes.io/job-name"] = json!(job_name);
    labels["controller-uid"] = json!(j.uid);
    labels["batch.kubernetes.io/job-completion-index"] = json!(p.index.to_string());
    let ready = p.phase == "Running" && p.port.lock().unwrap().is_some();
    let mut spec = j
        .job
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or_else(|| json!({}));
    spec["hostname"] = json!(format!("{job_name}-{}", p.index));
    spec["nodeName"] = json!("loadctl-sim");
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": p.name,
            "namespace": ns,
            "uid": p.uid,
            "labels": labels,
            "annotations": {"batch.kubernetes.io/job-completion-index": p.index.to_string()},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": j.uid, "controller": true}],
        },
        "spec": spec,
        "status": {
            "phase": p.phase,
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    })
}

fn status_of(j: &SimJob) -> Value {
    let count = |phase: &str| j.pods.iter().filter(|p| p.phase == phase).count();
    let ready = j
        .pods
        .iter()
        .filter(|p| p.phase == "Running" && p.port.lock().unwrap().is_some())
        .count();
    let mut v = j.job.clone();
    let mut status = json!({
        "active": count("Running") + count("Pending"),
        "ready": ready,
        "succeeded": count("Succeeded"),
        "failed": count("Failed"),
        "startTime": k8s_openapi::jiff::Timestamp::now()
            .checked_sub(k8s_openapi::jiff::SignedDuration::try_from(j.started.elapsed()).unwrap_or_default())
            .map(|t| t.to_string())
            .unwrap_or_default(),
    });
    if j.finished.is_some() {
        let kind = if count("Failed") > 0 {
            "Failed"
        } else {
            "Complete"
        };
        status["conditions"] = json!([{"type": kind, "status": "True"}]);
    }
    v["status"] = status;
    v
}
