//! Distributed runs: `loadctl agent` processes on loopback driven by a coordinator. The
//! schedule is split exactly (the target counts the planned requests, no unique row and no
//! `{{seq}}` twice), the merged figures equal `loadctl merge` of the agents' own folders,
//! clocks are estimated within their bound, and every failure ends the run with its
//! reason: a lost agent (killed, or stopped so that its heartbeat stops), a late agent, a
//! wrong token, another version, Ctrl-C on the coordinator.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadctl::remote::bundle;
use loadctl::run::{AgentAddr, Agents, RunOptions};
use loadctl::scenario::Overrides;

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub fn loadctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadctl"));
    c.env(loadctl::remote::token::ENV, TOKEN);
    c
}

/// A `loadctl agent` process on a loopback port of its own, killed when dropped.
pub struct Agent {
    pub child: Child,
    pub addr: String,
    /// The agent's scratch folder, removed with it.
    _scratch: tempfile::TempDir,
}

impl Agent {
    pub fn start(name: &str, extra: &[&str]) -> Agent {
        Agent::start_in(None, "127.0.0.1", name, extra)
    }

    /// Starts an agent, in network namespace `netns` when given, listening on `ip`.
    pub fn start_in(netns: Option<&str>, ip: &str, name: &str, extra: &[&str]) -> Agent {
        let scratch = tempfile::tempdir().unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_loadctl")]);
                c.env(loadctl::remote::token::ENV, TOKEN);
                c
            }
            None => loadctl(),
        };
        let mut child = cmd
            .args([
                "agent",
                "--listen",
                &format!("{ip}:0"),
                "--keep-runs",
                "--name",
                name,
            ])
            .args(if extra.contains(&"--scratch") {
                vec![]
            } else {
                vec!["--scratch".into(), scratch.path().display().to_string()]
            })
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .rsplit_once("listening on ")
            .unwrap_or_else(|| panic!("agent said: {first}"))
            .1
            .to_string();
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Agent {
            child,
            addr,
            _scratch: scratch,
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario against `target` with a unique feeder of 1000 users, in `dir`.
pub fn scenario(dir: &Path, target: &str, rate: u32, duration: &str, extra: &str) -> PathBuf {
    let users: String = (0..1000).map(|i| format!("u{i}\n")).collect();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/users.csv"), format!("user\n{users}")).unwrap();
    let file = dir.join("dist.toml");
    std::fs::write(
        &file,
        format!(
            r#"
name = "dist"
target = "{target}"
[load]
rate = {rate}
duration = "{duration}"
[generator]
max_send_lag_p99 = "1s"
[[feeders]]
name = "users"
file = "data/users.csv"
mode = "unique"
[[requests]]
name = "get"
path = "/u/{{{{user}}}}?seq={{{{seq}}}}"
[slo]
p99 = "< 1s"
{extra}
"#
        ),
    )
    .unwrap();
    file
}

/// `loadctl merge` of the folders a distributed run's agents kept, as a summary.
pub fn merge_agents(s: &loadctl::summary::Summary, out: &Path) -> loadctl::summary::Summary {
    let dirs: Vec<String> = s
        .agents
        .iter()
        .map(|a| a.out_dir.clone().unwrap())
        .collect();
    crate::support::merge_ok(&dirs, out)
}

pub fn agents_of(file: &Path, agents: &[&Agent]) -> Agents {
    let (_, b) = bundle::bundle(file, &Overrides::default()).unwrap();
    Agents {
        addrs: agents
            .iter()
            .map(|a| AgentAddr::Host(a.addr.clone()))
            .collect(),
        kube: None,
        token: TOKEN.into(),
        bundle: Arc::new(b),
    }
}

fn no_repeats(seen: &[String]) {
    let mut users: Vec<&str> = seen.iter().map(|s| s.split(' ').next().unwrap()).collect();
    let mut seqs: Vec<&str> = seen.iter().map(|s| s.split(' ').nth(1).unwrap()).collect();
    users.sort_unstable();
    seqs.sort_unstable();
    let n = users.len();
    users.dedup();
    seqs.dedup();
    assert_eq!(users.len(), n, "a unique row was used twice");
    assert_eq!(seqs.len(), n, "a {{{{seq}}}} was sent twice");
}

#[test]
fn agents_split_the_schedule_and_merge_exactly() {
    for n in [2usize, 3] {
        let (addr, seen) = crate::support::counting_target();
        let dir = tempfile::tempdir().unwrap();
        let file = scenario(dir.path(), &format!("http://{addr}"), 200, "3s", "");
        let agents: Vec<Agent> = (0..n)
            .map(|k| Agent::start(&format!("a{k}"), &[]))
            .collect();
        let plan = loadctl::scenario::load(&file, &Overrides::default()).unwrap();
        let opts = RunOptions {
            out: Some(dir.path().join("run")),
            agents: Some(agents_of(&file, &agents.iter().collect::<Vec<_>>())),
            ..RunOptions::default()
        };
        let o = loadctl::run::run(&plan, &opts).unwrap_or_else(|e| panic!("{e:#}"));
        let s = &o.summary;
        assert_eq!(s.status.exit_code(), 0, "{:?}", s.reasons);
        // The whole schedule, once: what one process would have sent.
        assert_eq!(s.totals.requests, 600);
        assert_eq!(seen.lock().unwrap().len(), 600);
        no_repeats(&seen.lock().unwrap());
        let d = s.distributed.as_ref().unwrap();
        assert_eq!(d.agents, n as u64);
        assert!(d.start_spread_ms <= d.start_tolerance_ms, "{d:?}");
        assert_eq!(s.agents.len(), n);
        for a in &s.agents {
            // Request i went to agent i mod n: an exact share each.
            assert_eq!(a.requests, 600 / n as u64, "{a:?}");
            assert!(a.valid, "{a:?}");
            // One machine, one clock: the estimate is within its own bound of 0.
            assert!(
                a.clock_offset_ms.abs() <= a.clock_uncertainty_ms + 1e-6,
                "{a:?}"
            );
        }
        // The coordinator's merge equals `loadctl merge` of the agents' own folders.
        let offline = merge_agents(s, &dir.path().join("offline"));
        assert_eq!(offline.totals, s.totals);
        assert_eq!(offline.latency_ms, s.latency_ms);
        assert_eq!(offline.service_latency_ms, s.service_latency_ms);
        assert_eq!(
            offline.generator.send_lag_p99_ms,
            s.generator.send_lag_p99_ms
        );
    }
}

/// Runs the coordinator binary; returns its exit code, stderr, the summary and how long
/// it took.
fn coordinate(
    file: &Path,
    agents: &[&Agent],
    out: &Path,
    signal_after: Option<(Duration, &dyn Fn())>,
) -> (Option<i32>, String, loadctl::summary::Summary, Duration) {
    let list: Vec<&str> = agents.iter().map(|a| a.addr.as_str()).collect();
    let t = Instant::now();
    let child = loadctl()
        .arg("run")
        .arg(file)
        .args(["--no-progress", "--agents", &list.join(","), "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some((after, act)) = signal_after {
        std::thread::sleep(after);
        act();
    }
    let o = child.wait_with_output().unwrap();
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let s = loadctl::summary::load_summary(out).unwrap_or_else(|e| panic!("{e:#}\n{stderr}"));
    (o.status.code(), stderr, s, took)
}

#[test]
fn a_lost_agent_ends_the_run_invalid_with_the_reason() {
    // One agent frozen (its heartbeat stops), one killed (its connection closes).
    for (sig, why) in [
        (libc::SIGSTOP, "heartbeat timeout"),
        (libc::SIGKILL, "connection closed"),
    ] {
        let (addr, _seen) = crate::support::counting_target();
        let dir = tempfile::tempdir().unwrap();
        let file = scenario(dir.path(), &format!("http://{addr}"), 100, "60s", "");
        let a = Agent::start("steady", &[]);
        let b = Agent::start("doomed", &[]);
        let out = dir.path().join("run");
        let kill = || b.signal(sig);
        let (code, stderr, s, took) = coordinate(
            &file,
            &[&a, &b],
            &out,
            Some((Duration::from_secs(2), &kill)),
        );
        assert_eq!(code, Some(3), "{stderr}\n{:?}", s.reasons);
        let lost = &s.agents[1];
        assert!(!lost.valid);
        assert!(lost.problems[0].contains(why), "{:?}", lost.problems);
        assert!(
            s.reasons
                .iter()
                .any(|r| r.contains("agent doomed") && r.contains(why)),
            "{:?}",
            s.reasons
        );
        // What was merged is kept: the steady agent's seconds up to the end.
        assert!(s.agents[0].requests > 0);
        // Ended by the heartbeat bound (3 s) plus the drain, far before the planned 60 s.
        assert!(took < Duration::from_secs(30), "took {took:?}");
    }
}

#[test]
fn a_late_agent_is_reported_and_makes_the_run_invalid() {
    let (addr, _seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{addr}"), 100, "2s", "");
    let a = Agent::start("prompt", &[]);
    let b = Agent::start("late", &["--delay-start", "400ms"]);
    let (code, stderr, s, _) = coordinate(&file, &[&a, &b], &dir.path().join("run"), None);
    assert_eq!(code, Some(3), "{stderr}");
    let d = s.distributed.unwrap();
    assert!((d.start_spread_ms - 400.0).abs() < 50.0, "{d:?}");
    assert!(s.agents[1].start_offset_ms.unwrap() > s.agents[0].start_offset_ms.unwrap());
    assert!(
        s.reasons.iter().any(
            |r| r.contains("ms apart, beyond distributed.start_tolerance 100 ms")
                && r.contains("late: late")
        ),
        "{:?}",
        s.reasons
    );
    // A tolerance that allows it: the same run is valid.
    let file = scenario(
        dir.path(),
        &format!("http://{addr}"),
        100,
        "2s",
        "[distributed]\nstart_tolerance = \"1s\"",
    );
    let (code, stderr, s, _) = coordinate(&file, &[&a, &b], &dir.path().join("run2"), None);
    assert_eq!(code, Some(0), "{stderr}\n{:?}", s.reasons);
}

#[test]
fn a_wrong_token_another_version_and_no_token_are_refused() {
    let (addr, _seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{addr}"), 100, "1s", "");
    let a = Agent::start("guarded", &[]);
    let o = loadctl()
        .env(loadctl::remote::token::ENV, "another-token-0123456789")
        .arg("run")
        .arg(&file)
        .args(["--no-progress", "--agents", &a.addr, "--out"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused: wrong token"), "{err}");
    assert!(!dir.path().join("r/summary.json").exists());

    // Another version, spoken by hand.
    let refused = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let tcp = tokio::net::TcpStream::connect(&a.addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{}/", a.addr), tcp)
            .await
            .unwrap();
        let (mut tx, mut rx) = loadctl::remote::frame::split(ws);
        let hello = loadctl::remote::ToAgent::Hello {
            protocol: loadctl::remote::PROTOCOL,
            version: "0.0.1-old".into(),
            token: TOKEN.into(),
        };
        loadctl::remote::frame::send(&mut tx, &hello).await.unwrap();
        loadctl::remote::frame::recv::<loadctl::remote::ToCoordinator>(&mut rx)
            .await
            .unwrap()
    });
    match refused {
        loadctl::remote::ToCoordinator::Refused { reason } => {
            assert!(reason.contains("run the same version on both"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // No token, no agent.
    let o = Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .env_remove(loadctl::remote::token::ENV)
        .args(["agent", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(loadctl::remote::token::ENV));
}

#[test]
fn ctrl_c_on_the_coordinator_stops_every_agent() {
    let (addr, _seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{addr}"), 100, "60s", "");
    let a = Agent::start("x", &[]);
    let b = Agent::start("y", &[]);
    let out = dir.path().join("run");
    let list = format!("{},{}", a.addr, b.addr);
    let t = Instant::now();
    let child = loadctl()
        .arg("run")
        .arg(&file)
        .args(["--no-progress", "--agents", &list, "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    let s = loadctl::summary::load_summary(&out).unwrap();
    assert_eq!(s.status.label(), "INTERRUPTED");
    // Each agent drained and said so: its own run ended interrupted, and it is free again.
    for ag in &s.agents {
        assert!(ag.valid, "{ag:?}");
        let own = loadctl::summary::load_summary(Path::new(ag.out_dir.as_ref().unwrap())).unwrap();
        assert_eq!(own.status.label(), "INTERRUPTED");
    }
    assert!(s.totals.requests > 0);
}

/// A distributed summary (one agent lost) round-trips through `summary.json`, and the
/// console and HTML name the agent and why.
#[test]
fn agents_round_trip_and_render() {
    use loadctl::summary::distributed::{AgentSummary, DistributedSummary};
    let mut s = crate::summary::synthetic();
    s.distributed = Some(DistributedSummary {
        agents: 2,
        start_spread_ms: 0.42,
        start_tolerance_ms: 100.0,
        heartbeat_timeout_s: 3.0,
        clock_uncertainty_ms: 0.05,
    });
    let agent = |k: u64, lost: bool| AgentSummary {
        name: format!("gen-{k}"),
        address: format!("10.0.0.{k}:7700"),
        index: k,
        requests: 3000 - 10 * k,
        errors: k,
        dropped: 0,
        send_lag_p99_ms: 0.25,
        clock_offset_ms: -1.5 * k as f64,
        clock_uncertainty_ms: 0.05,
        start_offset_ms: Some(0.42 * k as f64),
        valid: !lost,
        problems: if lost {
            vec!["lost: no word from it for 3s (heartbeat timeout)".into()]
        } else {
            vec![]
        },
        out_dir: None,
    };
    s.agents = vec![agent(0, false), agent(1, true)];
    let json = serde_json::to_string_pretty(&s).unwrap();
    let back: loadctl::summary::Summary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let text = loadctl::report::console::render(&s, "reports/x");
    let lines: String = text
        .lines()
        .filter(|l| l.contains("agents") || l.contains("gen-"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("console_agents", lines);
    let empty = loadctl::metrics::new_histogram();
    let html = loadctl::report::html::render(&loadctl::report::html::ReportData {
        summary: &s,
        series: &[],
        planned: &Vec::new(),
        latency: &empty,
        endpoint_latency: vec![&empty; s.endpoints.len()],
    });
    assert!(html.contains("id=\"agent-table\""));
    assert!(html
        .contains("<span class=\"bad\">lost: no word from it for 3s (heartbeat timeout)</span>"));
}

/// A chat load over two agents: whole groups per agent, so every fan-out stays on one and
/// the delivery counters add up to the single machine's plan.
#[test]
fn a_chat_load_is_split_by_whole_groups() {
    let a = Agent::start("c0", &[]);
    let b = Agent::start("c1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/chat-smoke.toml");
    let o = loadctl()
        .arg("run")
        .arg(&file)
        .args([
            "--set",
            "load.hold=2s",
            "--set",
            "generator.max_send_lag_p99=1s",
            "--no-progress",
            "--agents",
            &format!("{},{}", a.addr, b.addr),
            "--out",
        ])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let s = loadctl::summary::load_summary(&dir.path().join("run")).unwrap();
    let ws = s.ws.unwrap();
    assert_eq!((ws.connected, ws.groups), (200, 10));
    // 10 groups at 1 message a second for 2 s, each owed to its 19 other members.
    assert_eq!(ws.published, 20);
    assert_eq!((ws.expected, ws.delivered, ws.lost), (380, 380, 0));
    assert!(s.agents.iter().all(|a| a.requests > 0), "{:?}", s.agents);
}

/// Agents named wrong, or not there, or too many: exit 2 before anything is sent.
#[test]
fn agent_flags_are_checked_before_any_load() {
    let (addr, seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{addr}"), 100, "1s", "");
    let dead = format!("127.0.0.1:{}", crate::support::dead_port());
    for (args, needle) in [
        (vec!["--agents", "nohost"], "is not HOST:PORT"),
        (vec!["--agents", dead.as_str()], "cannot connect"),
        (vec!["--kube-agents", "0"], "from 1 to 256"),
        (
            vec!["--agents", dead.as_str(), "--kube-agents", "2"],
            "do not mix",
        ),
        (
            vec!["--agents", dead.as_str(), "--shard", "0/2"],
            "do not mix",
        ),
    ] {
        let o = loadctl()
            .arg("run")
            .arg(&file)
            .args(&args)
            .args(["--no-progress", "--out"])
            .arg(dir.path().join("r"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

/// Agents that cannot hold their share (here: too few requests allowed in flight for a
/// slow target, so most are dropped) make the run invalid, each named with its reason.
#[test]
fn an_agent_that_cannot_hold_its_share_is_named() {
    let addr = crate::support::serve(axum::Router::new().route(
        "/u/{user}",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            "slow"
        }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{addr}"), 100, "2s", "");
    let a = Agent::start("held", &[]);
    let b = Agent::start("swamped", &[]);
    let list = format!("{},{}", a.addr, b.addr);
    let out = dir.path().join("run");
    let o = loadctl()
        .arg("run")
        .arg(&file)
        .args([
            "--set",
            "load.connections=2",
            "--set",
            "load.max_in_flight=2",
        ])
        .args(["--no-progress", "--agents", &list, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = loadctl::summary::load_summary(&out).unwrap();
    for ag in &s.agents {
        assert!(!ag.valid && ag.dropped > 0, "{ag:?}");
        assert!(
            ag.problems[0].starts_with("could not hold its share: generator dropped"),
            "{ag:?}"
        );
    }
    assert!(
        s.reasons
            .iter()
            .any(|r| r.starts_with("agent swamped (") && r.contains("could not hold its share")),
        "{:?}",
        s.reasons
    );
}

#[test]
fn agents_merge_the_backends_and_their_clients() {
    let (addr, seen) = crate::balance::target();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bal.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"bal\"\ntarget = \"http://{addr}\"\n[load]\nrate = 200\nduration = \"2s\"\nsource_ips = \"127.0.0.2-127.0.0.11\"\n[generator]\nmax_send_lag_p99 = \"1s\"\n[[requests]]\nname = \"r\"\npath = \"/rr\"\n[balance]\nbackend = {{ header = \"x-served-by\" }}\naffinity = \"client-ip\"\n"
        ),
    )
    .unwrap();
    let agents: Vec<Agent> = (0..2)
        .map(|k| Agent::start(&format!("b{k}"), &[]))
        .collect();
    let plan = loadctl::scenario::load(&file, &Overrides::default()).unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("run")),
        agents: Some(agents_of(&file, &agents.iter().collect::<Vec<_>>())),
        ..RunOptions::default()
    };
    let o = loadctl::run::run(&plan, &opts).unwrap_or_else(|e| panic!("{e:#}"));
    let b = o
        .summary
        .balance
        .clone()
        .expect("balance merged on the coordinator");
    assert_eq!(b.answered, 400, "{b:?}");
    // In turn at the target, whoever sent: exactly a quarter each.
    assert!(
        b.backends.iter().all(|x| x.requests == 100),
        "{:?}",
        b.backends
    );
    let a = b.affinity.unwrap();
    let ips: std::collections::HashSet<_> =
        seen.peers.lock().unwrap().iter().map(|p| p.ip()).collect();
    // Each agent's connections bind their own addresses (agent k of 2 takes every other
    // one): the clients are every address the target saw, merged from both.
    assert!(ips.len() >= 2, "{ips:?}");
    assert_eq!(a.clients as usize, ips.len(), "{a:?} {ips:?}");
}
