//! `loadctl agent` against hostile peers: floods of unauthenticated connections with huge
//! first messages, a coordinator that hangs without closing, two agents sharing a scratch
//! folder, a scratch that is a link, and a coordinator aiming outside `--allow-target`.

use std::io::Write;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::distributed::{loadctl, scenario, Agent};

/// The agent's peak resident memory, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb / 1024
}

/// `loadctl run FILE --agents AGENTS` with `extra` flags, into a fresh folder: the exit
/// code and what it said.
fn coordinate(file: &std::path::Path, agents: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = tempfile::tempdir().unwrap();
    let o = loadctl()
        .arg("run")
        .arg(file)
        .args(["--no-progress", "--agents", agents, "--out"])
        .arg(out.path().join("run"))
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn unauthenticated_floods_cannot_grow_the_agent_and_it_still_serves() {
    let agent = Agent::start("flooded", &[]);
    let before = peak_mib(agent.child.id());
    let addr = agent.addr.clone();
    // 32 peers at once, each upgrading and then sending the head of a 60 MiB message.
    let peers: Vec<_> = (0..32)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(&addr) else { return };
                let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
                let upgrade = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
                let _ = s.write_all(upgrade.as_bytes());
                // A masked text frame announcing 60 MiB (64-bit length), then its payload.
                let len: u64 = 60 << 20;
                let mut head = vec![0x81, 0x80 | 127];
                head.extend_from_slice(&len.to_be_bytes());
                head.extend_from_slice(&[1, 2, 3, 4]);
                let _ = s.write_all(&head);
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..60 {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    for p in peers {
        let _ = p.join();
    }
    let after = peak_mib(agent.child.id());
    eprintln!("32 unauthenticated 60-MiB hellos: the agent's peak {before} → {after} MiB");
    assert!(
        after <= before + 64,
        "the agent's peak went from {before} MiB to {after} MiB"
    );
    // And it still serves a coordinator with the token.
    let (target, _seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{target}"), 50, "1s", "");
    let (code, err) = coordinate(&file, &agent.addr, &[]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn an_agent_stops_its_load_when_its_coordinator_hangs() {
    let (target, seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{target}"), 100, "60s", "");
    let agent = Agent::start("orphan", &[]);
    let mut coordinator = loadctl()
        .arg("run")
        .arg(&file)
        .args(["--no-progress", "--agents", &agent.addr, "--out"])
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the load to begin, then freeze the coordinator: no FIN, no word.
    let t = Instant::now();
    while seen.lock().unwrap().len() < 50 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen.lock().unwrap().len() >= 50, "the load never began");
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(coordinator.id() as i32, libc::SIGSTOP) };
    let frozen = Instant::now();
    // The heartbeat timeout (3 s), the drain (the request timeout, 10 s by default, is
    // not reached by a fast target) and slack.
    std::thread::sleep(Duration::from_secs(7));
    let settled = seen.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(2));
    let later = seen.lock().unwrap().len();
    // SAFETY: as above.
    unsafe { libc::kill(coordinator.id() as i32, libc::SIGKILL) };
    let _ = coordinator.wait();
    assert_eq!(
        settled,
        later,
        "the agent kept sending {:?} after its coordinator froze",
        frozen.elapsed()
    );
    assert!(
        later < 60 * 100,
        "it stopped well before the end of its schedule"
    );
}

#[test]
fn two_agents_sharing_a_scratch_folder_never_share_a_run_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path().to_str().unwrap().to_string();
    let a = Agent::start("left", &["--scratch", &s]);
    let b = Agent::start("right", &["--scratch", &s]);
    let (target, _seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{target}"), 100, "1s", "");
    for round in 0..3 {
        let out = dir.path().join(format!("out{round}"));
        let o = loadctl()
            .arg("run")
            .arg(&file)
            .args([
                "--no-progress",
                "--agents",
                &format!("{},{}", a.addr, b.addr),
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let runs = std::fs::read_dir(scratch.path()).unwrap().count();
    assert_eq!(runs, 6, "each agent kept a folder of its own per run");
}

#[test]
fn a_scratch_link_and_a_bad_allow_list_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = loadctl()
        .args(["agent", "--listen", "127.0.0.1:0", "--scratch"])
        .arg(&link)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link"));
    let o = loadctl()
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--allow-target",
            "10.0.0.0/33",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-target"));
}

#[test]
fn an_agent_refuses_a_target_outside_its_allow_list() {
    let agent = Agent::start("fenced", &["--allow-target", "127.0.0.2/32"]);
    let (target, seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{target}"), 50, "1s", "");
    let (code, stderr) = coordinate(&file, &agent.addr, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--allow-target"), "{stderr}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[test]
fn agents_over_tls_are_trusted_by_ca_or_fingerprint_and_nothing_else() {
    use loadctl::testbed::tls::{Pki, Validity};
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("agents CA").unwrap();
    let leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    let (cert, key, ca) = (
        dir.path().join("agent.pem"),
        dir.path().join("agent.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(leaf.cert_pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let pin: String = loadctl::engine::transport::tls::fingerprint(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let agent = Agent::start(
        "sealed",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let (target, _seen) = crate::support::counting_target();
    let file = scenario(dir.path(), &format!("http://{target}"), 50, "1s", "");
    let wss = format!("wss://{}", agent.addr);
    let fp = format!("sha256:{pin}");
    let (code, err) = coordinate(&file, &wss, &["--agent-fingerprint", &fp]);
    assert_eq!(code, Some(0), "pinned: {err}");
    let (code, err) = coordinate(&file, &wss, &["--agent-ca", ca.to_str().unwrap()]);
    assert_eq!(code, Some(0), "by CA: {err}");
    let wrong = format!("sha256:{}", "00".repeat(32));
    let (code, err) = coordinate(&file, &wss, &["--agent-fingerprint", &wrong]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("TLS handshake"), "{err}");
    let (code, err) = coordinate(&file, &wss, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--agent-fingerprint"), "{err}");
    // In clear text to a TLS agent: no hello ever reaches it.
    let (code, err) = coordinate(&file, &agent.addr, &[]);
    assert_eq!(code, Some(2), "{err}");
}
