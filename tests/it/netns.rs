//! Agents on separate "hosts" of one machine: network namespaces this test creates (as
//! root, which CI is), joined by veth pairs to a bridge in a namespace of their own. The
//! coordinator, each agent and the target each live in their own namespace and reach one
//! another only over the veth addresses (10.77.x.0/24, never leaving the namespaces). The
//! run is the planned one exactly, and what the coordinator merged equals `loadctl merge`
//! of the agents' own folders.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::distributed::{Agent, TOKEN};

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Namespaces on one bridge, deleted (with their links) when dropped.
struct Net {
    tag: String,
    subnet: u8,
    names: Vec<String>,
}

impl Net {
    /// A bridge namespace and one namespace per host `(name, last octet)`.
    fn new(hosts: &[(&str, u8)]) -> Net {
        let tag = format!("{:x}", std::process::id() % 0xffff);
        let subnet = (std::process::id() % 200) as u8 + 20;
        let sw = format!("lcsw{tag}");
        let mut net = Net {
            tag: tag.clone(),
            subnet,
            names: vec![sw.clone()],
        };
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for (host, octet) in hosts {
            let ns = net.ns(host);
            net.names.push(ns.clone());
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let (inner, outer) = (format!("e{host}{tag}"), format!("s{host}{tag}"));
            ip(&[
                "-n", &ns, "link", "add", &inner, "type", "veth", "peer", "name", &outer, "netns",
                &sw,
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", net.addr(*octet)),
                "dev",
                &inner,
            ]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &sw, "link", "set", &outer, "master", "br0"]);
            ip(&["-n", &sw, "link", "set", &outer, "up"]);
        }
        net
    }

    fn ns(&self, host: &str) -> String {
        format!("lc{host}{}", self.tag)
    }

    fn addr(&self, octet: u8) -> String {
        format!("10.77.{}.{octet}", self.subnet)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// `loadctl testbed serve activities` inside namespace `ns`, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_in(ns: &str, listen: &str) -> Served {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_loadctl")])
        .args(["testbed", "serve", "activities", "--listen", listen])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("serving activities"), "{first}");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Served(child)
}

#[test]
fn agents_in_network_namespaces_reach_a_target_in_its_own() {
    // SAFETY: reads the effective user id.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating network namespaces needs root (CI runs as root)");
        return;
    }
    let net = Net::new(&[("co", 1), ("a0", 10), ("a1", 11), ("tg", 20)]);
    let target = format!("{}:8000", net.addr(20));
    let _svc = serve_in(&net.ns("tg"), &target);
    let a0 = Agent::start_in(Some(&net.ns("a0")), &net.addr(10), "ns-a0", &[]);
    let a1 = Agent::start_in(Some(&net.ns("a1")), &net.addr(11), "ns-a1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netns.toml");
    std::fs::write(
        &file,
        format!(
            r#"
name = "netns"
target = "http://{target}"
[load]
rate = 300
duration = "3s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list"
path = "/api/v1/activities/?page={{{{rand_int(1, 50)}}}}"
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.ns("co"),
            env!("CARGO_BIN_EXE_loadctl"),
        ])
        .env(loadctl::remote::token::ENV, TOKEN)
        .arg("run")
        .arg(&file)
        .args([
            "--no-progress",
            "--agents",
            &format!("{},{}", a0.addr, a1.addr),
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let s = loadctl::summary::load_summary(&out).unwrap();
    assert_eq!(s.totals.requests, 900);
    assert_eq!(s.totals.ok, 900);
    assert_eq!(
        s.agents
            .iter()
            .map(|a| a.address.clone())
            .collect::<Vec<_>>(),
        [a0.addr.clone(), a1.addr.clone()]
    );
    assert!(a0.addr.starts_with("10.77.") && a1.addr.starts_with("10.77."));
    for a in &s.agents {
        assert_eq!(a.requests, 450, "{a:?}");
    }
    let offline = crate::distributed::merge_agents(&s, &dir.path().join("offline"));
    assert_eq!(offline.latency_ms, s.latency_ms);
    assert_eq!(offline.totals, s.totals);
}
