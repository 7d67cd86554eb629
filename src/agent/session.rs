//! One coordinator's connection: the hello (token, version, one run at a time), the
//! scenario built in a scratch folder, the clock pings, then the run itself on a thread of
//! its own, steered through [`crate::run::Hooks`]: it waits at the gate for `start`,
//! streams its seconds through the uplink, and stops when told to or when the coordinator
//! is gone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::allow::AllowList;
use super::guard::{Bounded, Budget};
use super::scratch;
use super::uplink::Uplink;
use super::AgentOptions;
use crate::remote::bundle::Bundle;
use crate::remote::frame::{self, Rx, Tx};
use crate::remote::{
    token, unix_ns, Done, Prepare, ToAgent, ToCoordinator, BEAT, PROTOCOL, VERSION,
};
use crate::run::{Control, Hooks, RunOptions, RunOutcome};
use crate::scenario::{Plan, TargetSpec};

/// The Kubernetes API server's streaming subprotocol: offered when the connection comes
/// through the pod proxy, and accepted so that the proxy completes the upgrade.
const K8S_SUBPROTOCOL: &str = "v4.channel.k8s.io";
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The scenario and its files (up to 48 MiB) may take this long to arrive.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(60);
/// A coordinator that connects and never starts holds the agent at most this long.
const START_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) struct Serving {
    pub opts: Arc<AgentOptions>,
    pub busy: Arc<AtomicBool>,
    pub served: Arc<AtomicU64>,
    pub done: mpsc::UnboundedSender<()>,
}

/// Frees the agent for the next coordinator, however the session ends.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

// The signature is tungstenite's handshake callback's.
#[allow(clippy::result_large_err)]
fn pick_subprotocol(
    req: &Request,
    mut resp: Response,
) -> Result<Response, http::Response<Option<String>>> {
    let offered = req
        .headers()
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == K8S_SUBPROTOCOL);
    if offered {
        resp.headers_mut().insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static(K8S_SUBPROTOCOL),
        );
    }
    Ok(resp)
}

impl Serving {
    /// Serves one connection; `unauthenticated` is its place among the connections that
    /// have not shown the token yet, given up once the hello is accepted.
    pub(super) async fn serve(
        self,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        unauthenticated: tokio::sync::OwnedSemaphorePermit,
    ) {
        let (tcp, budget) = Bounded::new(tcp);
        let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        match self.opts.tls.as_ref().map(|(c, _)| c.clone()) {
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let Ok(Ok(tls)) = tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await
                else {
                    return;
                };
                self.over(tls, peer, (budget, unauthenticated), deadline)
                    .await
            }
            None => {
                self.over(tcp, peer, (budget, unauthenticated), deadline)
                    .await
            }
        }
    }

    /// The session over `stream` (TCP, or TLS over it), the upgrade due by `deadline`.
    async fn over<S>(
        self,
        stream: S,
        peer: SocketAddr,
        (budget, unauthenticated): (Budget, tokio::sync::OwnedSemaphorePermit),
        deadline: tokio::time::Instant,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let accepted = tokio::time::timeout_at(
            deadline,
            tokio_tungstenite::accept_hdr_async_with_config(
                stream,
                pick_subprotocol,
                Some(frame::config()),
            ),
        )
        .await;
        let Ok(Ok(ws)) = accepted else {
            return;
        };
        let (mut tx, mut rx) = frame::split(ws);
        let Some(busy) = self.hello(&mut tx, &mut rx, peer).await else {
            let _ = futures_util::SinkExt::close(&mut tx).await;
            return;
        };
        budget.lift();
        drop(unauthenticated);
        let prep =
            match tokio::time::timeout(PREPARE_TIMEOUT, frame::recv::<ToAgent>(&mut rx)).await {
                Ok(Ok(ToAgent::Prepare(p))) => p,
                _ => return,
            };
        // A fresh private folder per run, then the plan built in it from what was sent.
        let dir = scratch::new_run(&self.opts.scratch);
        let plan = match &dir {
            Ok(d) => build(d, &prep, self.opts.allow.as_ref()),
            Err(e) => Err(e.clone()),
        };
        let dir = dir.ok();
        match plan {
            Ok(plan) => {
                eprintln!(
                    "loadctl agent: run of {} for {peer}: share {}/{}",
                    plan.name, prep.index, prep.of
                );
                let dir = dir.as_deref().expect("a plan is built in its folder");
                self.run(plan, dir, tx, rx).await;
            }
            Err(e) => {
                eprintln!("loadctl agent: {peer}'s scenario: {e}");
                let _ = frame::send(&mut tx, &ToCoordinator::Failed { error: e, code: 2 }).await;
                let _ = futures_util::SinkExt::close(&mut tx).await;
            }
        }
        if let Some(dir) = dir.filter(|_| !self.opts.keep_runs) {
            let _ = std::fs::remove_dir_all(dir);
        }
        drop(busy);
        self.served.fetch_add(1, Ordering::SeqCst);
        let _ = self.done.send(());
    }

    /// The token, the version, and one run at a time; `None` when refused.
    async fn hello(&self, tx: &mut Tx, rx: &mut Rx, peer: SocketAddr) -> Option<Busy> {
        let Ok(Ok(ToAgent::Hello {
            protocol,
            version,
            token: theirs,
        })) = tokio::time::timeout(HELLO_TIMEOUT, frame::recv::<ToAgent>(rx)).await
        else {
            return None;
        };
        let refusal = if !token::same(&theirs, &self.opts.token) {
            Some(format!(
                "wrong token: set {} on the coordinator to this agent's token",
                token::ENV
            ))
        } else if protocol != PROTOCOL || version != VERSION {
            Some(format!("this agent is loadctl {VERSION} (protocol {PROTOCOL}) and the coordinator is loadctl {version} (protocol {protocol}): run the same version on both"))
        } else if self.busy.swap(true, Ordering::SeqCst) {
            Some("busy with another coordinator's run".into())
        } else {
            None
        };
        if let Some(reason) = refusal {
            eprintln!("loadctl agent: refused {peer}: {reason}");
            let _ = frame::send(tx, &ToCoordinator::Refused { reason }).await;
            return None;
        }
        let busy = Busy(self.busy.clone());
        let welcome = ToCoordinator::Welcome {
            protocol: PROTOCOL,
            version: VERSION.into(),
            name: self.opts.name.clone(),
        };
        frame::send(tx, &welcome).await.ok()?;
        Some(busy)
    }

    /// Runs the share, answering pings and commands, until the run ends.
    async fn run(&self, plan: Plan, dir: &std::path::Path, mut tx: Tx, mut rx: Rx) {
        let heartbeat = plan.distributed.heartbeat_timeout;
        let (out, mut out_rx) = mpsc::unbounded_channel::<ToCoordinator>();
        let (start_tx, start_rx) = std::sync::mpsc::channel::<u64>();
        let (ctl, ctl_rx) = watch::channel(Control::Go);
        let (end_tx, mut end_rx) = oneshot::channel::<crate::error::Result<RunOutcome>>();
        let opts = RunOptions {
            out: Some(dir.join("run")),
            ..RunOptions::default()
        };
        let (up, delay) = (out.clone(), self.opts.delay_start);
        let origin = Arc::new(AtomicU64::new(0));
        let origin_gate = origin.clone();
        std::thread::spawn(move || {
            // Hooks hold closures and sinks that stay on the run's thread.
            let hooks = Hooks {
                gate: Some(gate(
                    up.clone(),
                    start_rx,
                    (plan.generator.threads, delay),
                    origin_gate,
                )),
                sinks: vec![Box::new(Uplink {
                    out: up,
                    names: plan.endpoint_names(),
                    warmup: plan.warmup,
                })],
                control: Some(ctl_rx),
            };
            let _ = end_tx.send(crate::run::run_with(&plan, &opts, hooks));
        });
        let writer = tokio::spawn(async move {
            let mut beat = tokio::time::interval(BEAT);
            loop {
                let msg = tokio::select! {
                    m = out_rx.recv() => match m { Some(m) => m, None => break },
                    _ = beat.tick() => ToCoordinator::Beat,
                };
                if frame::send(&mut tx, &msg).await.is_err() {
                    break;
                }
            }
            let _ = futures_util::SinkExt::close(&mut tx).await;
        });
        let mut start_tx = Some(start_tx);
        let mut connected = true;
        let mut heard = Instant::now();
        let mut started = false;
        let mut check = tokio::time::interval(BEAT / 2);
        let ended = loop {
            tokio::select! {
                _ = check.tick(), if connected && started => {
                    if heard.elapsed() >= heartbeat {
                        // A hung coordinator sends no FIN: its silence is the only sign.
                        eprintln!("loadctl agent: no word from the coordinator for {heartbeat:?}; stopping");
                        connected = false;
                        let _ = ctl.send(Control::Stop);
                    }
                }
                msg = frame::recv::<ToAgent>(&mut rx), if connected => match msg {
                    Ok(ToAgent::Ping { id }) => {
                        heard = Instant::now();
                        let _ = out.send(ToCoordinator::Pong { id, now_ns: unix_ns(SystemTime::now()) });
                    }
                    Ok(ToAgent::Start { at_ns }) => {
                        heard = Instant::now();
                        started = true;
                        if let Some(s) = start_tx.take() {
                            let _ = s.send(at_ns);
                        }
                    }
                    Ok(ToAgent::Beat) => heard = Instant::now(),
                    Ok(ToAgent::Stop) => { let _ = ctl.send(Control::Stop); }
                    Ok(ToAgent::Abort) => { let _ = ctl.send(Control::Abort); }
                    Ok(_) => {}
                    Err(_) => {
                        // The coordinator is gone: no start will come, and a started load
                        // stops by itself.
                        eprintln!("loadctl agent: the coordinator is gone; stopping");
                        connected = false;
                        start_tx = None;
                        let _ = ctl.send(Control::Stop);
                    }
                },
                r = &mut end_rx => break r,
            }
        };
        let end = match ended {
            Ok(Ok(o)) => ToCoordinator::Done(Box::new(done(
                &o,
                self.opts.keep_runs,
                origin.load(Ordering::SeqCst),
            ))),
            Ok(Err(e)) => ToCoordinator::Failed {
                error: format!("{e:#}"),
                code: e.exit_code(),
            },
            Err(_) => ToCoordinator::Failed {
                error: "the run's thread ended without a word".into(),
                code: 1,
            },
        };
        let _ = out.send(end);
        drop(out);
        let _ = writer.await;
    }
}

/// The run's gate: says `ready`, waits for `start`, and turns its instant (the agent's
/// wall clock) into the schedule's origin.
fn gate(
    out: mpsc::UnboundedSender<ToCoordinator>,
    start: std::sync::mpsc::Receiver<u64>,
    (threads, delay): (usize, Duration),
    origin: Arc<AtomicU64>,
) -> Box<dyn FnOnce() -> anyhow::Result<Instant>> {
    Box::new(move || {
        let _ = out.send(ToCoordinator::Ready { threads });
        let at_ns = start
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| anyhow::anyhow!("the coordinator did not start the run"))?;
        let at_ns = at_ns.saturating_add(delay.as_nanos() as u64);
        let now_ns = unix_ns(SystemTime::now());
        let now = Instant::now();
        let wait = Duration::from_nanos(at_ns.saturating_sub(now_ns));
        origin.store(at_ns.max(now_ns), Ordering::SeqCst);
        let _ = out.send(ToCoordinator::Started {
            origin_ns: at_ns.max(now_ns),
        });
        Ok(now + wait)
    })
}

fn done(o: &RunOutcome, keep: bool, origin_ns: u64) -> Done {
    let g = &o.summary.generator;
    Done {
        generator_valid: g.valid,
        generator_problems: if g.valid {
            Vec::new()
        } else {
            o.summary
                .reasons
                .iter()
                .filter(|r| r.starts_with("generator"))
                .cloned()
                .collect()
        },
        exhausted: o.exhausted.clone(),
        out_dir: keep.then(|| o.out_dir.display().to_string()),
        chat: o.chat.clone(),
        affinity: o.affinity.clone(),
        first_send_ns: o
            .first_send
            .map(|d| origin_ns.saturating_add(d.as_nanos() as u64)),
    }
}

/// The plan of the coordinator's scenario, built in `dir` (fresh and private) from what
/// was sent only, refused when it aims outside `allow`.
fn build(dir: &std::path::Path, p: &Prepare, allow: Option<&AllowList>) -> Result<Plan, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files = Vec::new();
    for f in &p.files {
        let data = b64
            .decode(&f.data)
            .map_err(|e| format!("file {}: not base64: {e}", f.name))?;
        files.push((f.name.clone(), data));
    }
    let bundle = Bundle {
        text: p.scenario.clone(),
        files,
        env: p.env.clone(),
    };
    let mut plan = crate::remote::bundle::unbundle(dir, &bundle, p.embedded_target.clone())
        .map_err(|e| format!("{e}"))?;
    if let Some(t) = &p.embedded_target {
        let loopback =
            matches!(&plan.target, TargetSpec::Url { origin, .. } if origin.is_loopback());
        if !loopback {
            return Err(format!("the coordinator's embedded service {t} is not on loopback, and the scenario names no target: an agent sends elsewhere only to a target the scenario names"));
        }
    }
    if let Some(allow) = allow {
        allow.check(&plan)?;
    }
    crate::remote::shard::apply(&mut plan, &format!("{}/{}", p.index, p.of))?;
    // Once per run, on the coordinator.
    plan.setup.clear();
    plan.verify.clear();
    plan.kube = None;
    plan.scrapes.clear();
    // The coordinator exports the merged run; an agent's share would bind the same
    // listen address, or push a part as if it were the whole.
    plan.exports.clear();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(target_line: &str, embedded: Option<&str>) -> Prepare {
        Prepare {
            scenario: format!(
                "name = \"s\"\n{target_line}\n[load]\nrate = 10\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[[setup]]\nname = \"reset\"\npath = \"/reset\"\n"
            ),
            files: Vec::new(),
            env: Vec::new(),
            embedded_target: embedded.map(str::to_string),
            index: 1,
            of: 3,
        }
    }

    #[test]
    fn the_share_is_taken_and_setup_left_to_the_coordinator() {
        let dir = tempfile::tempdir().unwrap();
        let plan = build(
            dir.path(),
            &prepare("", Some("http://127.0.0.1:8000")),
            None,
        )
        .unwrap();
        assert_eq!(plan.shard.map(|s| (s.index, s.of)), Some((1, 3)));
        assert!(plan.setup.is_empty());
    }

    #[test]
    fn an_embedded_target_off_loopback_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = |n: &str| {
            let d = dir.path().join(n);
            std::fs::create_dir(&d).unwrap();
            d
        };
        let off = prepare("", Some("http://10.1.2.3:8000"));
        let e = build(&fresh("off"), &off, None).unwrap_err();
        assert!(e.contains("not on loopback"), "{e}");
        // A target the scenario names may be anywhere.
        let named = prepare("target = \"http://10.1.2.3:8000\"", None);
        assert!(build(&fresh("named"), &named, None).is_ok());
        // Unless the agent allows only other networks.
        let allow = AllowList::parse("127.0.0.0/8").unwrap();
        let e = build(&fresh("fenced"), &named, Some(&allow)).unwrap_err();
        assert!(
            e.contains("--allow-target") && e.contains("10.1.2.3"),
            "{e}"
        );
        let local = prepare("", Some("http://127.0.0.1:8000"));
        assert!(build(&fresh("local"), &local, Some(&allow)).is_ok());
        // A link planted where the scenario goes is never written through.
        let planted = fresh("planted");
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, planted.join("scenario.toml")).unwrap();
        assert!(build(&planted, &local, None).is_err());
        assert!(!elsewhere.exists());
    }
}
