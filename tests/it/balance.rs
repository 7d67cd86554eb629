//! `[balance]` against in-process targets with a known truth: which backend answers is
//! decided by the test's own server (in turn, by weight, by a hash of the client's
//! address, at random, or not said at all), and the run must report exactly that.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;

use super::support::{plan, run_plan, spawn_server};

/// What the target saw: every peer (one per connection) and every peer address.
#[derive(Default)]
pub struct Seen {
    turn: AtomicU64,
    pub peers: Mutex<HashSet<SocketAddr>>,
}

async fn answer(
    State(seen): State<Arc<Seen>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(mode): Path<String>,
) -> (HeaderMap, &'static str) {
    seen.peers.lock().unwrap().insert(peer);
    let n = seen.turn.fetch_add(1, Ordering::Relaxed);
    let ip = match peer.ip() {
        std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
        std::net::IpAddr::V6(_) => 0,
    };
    let backend = match mode.as_str() {
        "rr" => Some(n % 4),
        // 70 / 10 / 10 / 10.
        "weighted" => Some(match n % 10 {
            0..=6 => 0,
            k => k - 6,
        }),
        "hash" => Some(ip.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61),
        "random" => Some(fastrand::u64(..5)),
        // Hostile: a new, long name for every answer.
        "flood" => Some(n),
        _ => None,
    };
    let mut h = HeaderMap::new();
    if let Some(b) = backend {
        let pad = if mode == "flood" {
            "x".repeat(4000)
        } else {
            String::new()
        };
        h.insert("x-served-by", format!("backend-{b}{pad}").parse().unwrap());
    }
    (h, "ok")
}

pub fn target() -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/{mode}", axum::routing::get(answer))
        .with_state(seen.clone());
    let addr = spawn_server(|l| async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    (addr, seen)
}

fn scenario(addr: SocketAddr, mode: &str, load: &str, extra: &str) -> String {
    format!(
        "name = \"balance\"\ntarget = \"http://{addr}\"\n[load]\n{load}\n[[requests]]\nname = \"r\"\npath = \"/{mode}\"\n[balance]\nbackend = {{ header = \"x-served-by\" }}\n{extra}"
    )
}

const CLOSED: &str = "model = \"closed\"\nvus = 2\niterations = 400\nduration = \"30s\"";

#[test]
fn shares_follow_what_the_target_did() {
    let (addr, _) = target();
    let (o, _d) = run_plan(&plan(&scenario(addr, "rr", CLOSED, "")));
    let b = o.summary.balance.clone().expect("balance reported");
    assert!(b.known && b.unnamed == 0 && b.answered == 400, "{b:?}");
    assert_eq!(b.backends.len(), 4);
    assert!(b.backends.iter().all(|x| x.requests == 100), "{b:?}");
    let imbalance = b.imbalance.unwrap();
    // In turn per request: even, up to the few requests of a second's edge.
    assert!((0.95..=1.1).contains(&imbalance), "imbalance {imbalance}");

    let (addr, _) = target();
    let (o, dir) = run_plan(&plan(&scenario(addr, "weighted", CLOSED, "")));
    let b = o.summary.balance.clone().unwrap();
    let share = |name: &str| b.backends.iter().find(|x| x.name == name).unwrap().share;
    assert!((share("backend-0") - 0.7).abs() < 1e-9, "{b:?}");
    for k in 1..4 {
        assert!((share(&format!("backend-{k}")) - 0.1).abs() < 1e-9);
    }
    let csv = std::fs::read_to_string(dir.path().join("out/balance.csv")).unwrap();
    assert!(
        csv.starts_with("backend,requests,share") && csv.lines().count() == 5,
        "{csv}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("Which backend served") && html.contains("Share of answers per backend"));
}

#[test]
fn a_missing_backend_header_is_unknown_never_perfect() {
    let (addr, _) = target();
    let text = scenario(
        addr,
        "none",
        CLOSED,
        "[slo]\n\"balance.imbalance\" = \"<= 1.3\"\n",
    );
    let (o, _d) = run_plan(&plan(&text));
    let b = o.summary.balance.clone().unwrap();
    assert!(
        !b.known && b.unnamed == 400 && b.imbalance.is_none(),
        "{b:?}"
    );
    assert_eq!(b.notes.len(), 1, "said once: {:?}", b.notes);
    assert!(b.notes[0].contains("no answer named its backend"));
    let slo = &o.summary.slo[0];
    assert!(!slo.pass && slo.observed.is_none(), "{slo:?}");
    assert_eq!(o.exit_code(), 1);
}

#[test]
fn a_target_naming_every_answer_anew_is_bounded_and_said() {
    let (addr, _) = target();
    let load = "model = \"closed\"\nvus = 4\niterations = 2000\nduration = \"30s\"";
    let (o, dir) = run_plan(&plan(&scenario(addr, "flood", load, "")));
    let b = o.summary.balance.clone().unwrap();
    assert_eq!(b.answered, 2000);
    let threads = o.summary.generator.threads as usize;
    assert!(
        b.backends.len() <= threads * 256 + 1,
        "{} backends",
        b.backends.len()
    );
    assert!(b.backends.iter().all(|x| x.name.len() <= 100));
    let other = b
        .backends
        .iter()
        .find(|x| x.name == "(other)")
        .expect("the rest counted");
    assert!(other.requests >= 2000 - (threads as u64) * 256);
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("more than 256 backend names")),
        "{:?}",
        b.notes
    );
    // The report re-renders from what was written, balance included.
    let out = dir.path().join("out");
    let before = std::fs::read(out.join("balance.csv")).unwrap();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .arg("report")
        .arg(&out)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(std::fs::read(out.join("balance.csv")).unwrap(), before);
}

/// 50 clients, each its own source address, each on one connection for the run.
const CLIENTS: &str = "model = \"closed\"\nvus = 50\nthink_time = \"100ms\"\nduration = \"3s\"\nsource_ips = \"127.0.0.2-127.0.0.51\"";

#[test]
fn client_ip_affinity_holds_on_a_hashing_target_and_fails_on_a_random_one() {
    let (addr, seen) = target();
    let extra = "affinity = \"client-ip\"\n[slo]\n\"affinity.violations\" = \"== 0\"\n";
    let (o, _d) = run_plan(&plan(&scenario(addr, "hash", CLIENTS, extra)));
    let ips: HashSet<_> = seen.peers.lock().unwrap().iter().map(|p| p.ip()).collect();
    assert_eq!(ips.len(), 50, "the target saw each source address: {ips:?}");
    assert!(ips.iter().all(|ip| ip.to_string().starts_with("127.0.0.")));
    let a = o.summary.balance.clone().unwrap().affinity.unwrap();
    assert_eq!((a.clients, a.violations), (50, 0), "{a:?}");
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);

    let (addr, _) = target();
    let (o, _d) = run_plan(&plan(&scenario(addr, "random", CLIENTS, extra)));
    let a = o.summary.balance.clone().unwrap().affinity.unwrap();
    assert!(
        a.violations >= 40,
        "a random pick moves nearly every client: {a:?}"
    );
    assert!(!a.examples.is_empty() && a.examples[0].contains(" → "));
    assert_eq!(o.exit_code(), 1);
}

#[test]
fn connections_are_replaced_by_count_and_by_age() {
    let (addr, seen) = target();
    let load = "model = \"closed\"\nvus = 1\niterations = 50\nduration = \"30s\"";
    let text = format!(
        "{}[http]\nmax_requests_per_connection = 10\n",
        scenario(addr, "rr", load, "")
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(
        seen.peers.lock().unwrap().len(),
        5,
        "50 requests, 10 a connection"
    );
    let c = &o.summary.transport.as_ref().unwrap().connections;
    assert_eq!((c.opened, c.rotated), (5, 4), "{c:?}");

    let (addr, seen) = target();
    let load = "model = \"closed\"\nvus = 1\nthink_time = \"50ms\"\nduration = \"2s\"";
    let text = format!(
        "{}[http]\nmax_connection_age = \"400ms\"\n",
        scenario(addr, "rr", load, "")
    );
    let (o, _d) = run_plan(&plan(&text));
    let peers = seen.peers.lock().unwrap().len();
    let c = &o.summary.transport.as_ref().unwrap().connections;
    // Two seconds at 400 ms a connection: about 5, however busy the machine.
    assert!(
        peers >= 3 && c.rotated as usize == peers - 1,
        "{peers} {c:?}"
    );
}

#[test]
fn http2_connections_are_replaced_by_count_too() {
    let (addr, seen) = target();
    let load = "model = \"closed\"\nvus = 1\niterations = 50\nduration = \"30s\"";
    let text = format!(
        "{}[http]\nversion = \"h2c\"\nmax_requests_per_connection = 10\n",
        scenario(addr, "rr", load, "")
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.summary.totals.errors, 0, "{:?}", o.summary.reasons);
    assert_eq!(
        seen.peers.lock().unwrap().len(),
        5,
        "50 streams, 10 a connection"
    );
    let c = &o.summary.transport.as_ref().unwrap().connections;
    assert_eq!((c.opened, c.rotated), (5, 4), "{c:?}");
}

#[test]
fn source_ips_that_are_not_this_machines_are_refused_before_any_load() {
    let (addr, seen) = target();
    // TEST-NET-1 (RFC 5737): never an address of this machine; nothing is sent to it.
    let load = "model = \"closed\"\nvus = 1\niterations = 5\nduration = \"5s\"\nsource_ips = [\"127.0.0.2\", \"192.0.2.1\"]";
    let p = plan(&scenario(addr, "rr", load, ""));
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("out")),
        ..Default::default()
    };
    let e = loadctl::run::run(&p, &opts).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(format!("{e:#}").contains("cannot bind 192.0.2.1"), "{e:#}");
    assert!(seen.peers.lock().unwrap().is_empty());
}

#[test]
fn balance_mistakes_are_reported_with_their_position() {
    let text = "name = \"b\"\n[load]\nvus = 1\nduration = \"1s\"\nsource_ips = \"127.0.0.9-127.0.0.2\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[http]\nmax_connection_age = \"0s\"\n[balance]\nbackend = { header = \"x\", cookie = \"y\" }\naffinity = \"sticky\"\nband = \"120%\"\n[slo]\n\"balance.violations\" = \"== 0\"\n\"imbalance\" = \"<= 1.3\"\n";
    let e = loadctl::scenario::parse(
        std::path::Path::new("b.toml"),
        text,
        &Default::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    for want in [
        "b.toml:5:14: load.source_ips: `127.0.0.9-127.0.0.2` ends before it starts",
        "b.toml:10:22: http.max_connection_age: must be longer than 0",
        "b.toml:12:11: balance.backend: name one place",
        "b.toml:13:12: balance.affinity: `sticky` is not an affinity",
        "b.toml:14:8: balance.band",
        "slo.\"balance.violations\": write it as `affinity.violations`",
        "slo.\"imbalance\": write it as `balance.imbalance`",
    ] {
        assert!(e.contains(want), "missing `{want}` in:\n{e}");
    }
}

/// The simulated Service picks a pod per connection: the run's connections, opened before
/// the scale-out and kept, never reach the new pods; replaced every second, they do.
#[test]
fn pinned_connections_starve_new_replicas_and_rotation_feeds_them() {
    let text = |rotate: &str| {
        format!(
            "name = \"pin\"\n[embedded]\nservice = \"flash-sale\"\nsimulate_cluster = true\ntime_scale = 10\nreplica_capacity = 150\nbalancer = \"random\"\n[load]\nmodel = \"open\"\nstages = [{{ duration = \"2s\", target = 300 }}, {{ duration = \"2s\", target = 1200 }}, {{ duration = \"16s\", target = 1200 }}]\nstart_rate = 300\nconnections = 128\ntimeout = \"5s\"\n[[requests]]\nname = \"item\"\npath = \"/api/v1/flash/items/1\"\n[http]\n{rotate}\n[balance]\nbackend = {{ header = \"x-served-by\" }}\n[kube]\nnamespace = \"flash-sale\"\n[[kube.expect]]\nhpa = \"flash-order\"\nreplicas_at_least = 6\nwithin = \"19s\"\n"
        )
    };
    let (pinned, _d1) = run_plan(&plan(&text("")));
    let (rotated, _d2) = run_plan(&plan(&text("max_connection_age = \"1s\"")));
    let p = pinned.summary.balance.clone().unwrap();
    let r = rotated.summary.balance.clone().unwrap();
    assert!(p.known && r.known && p.fair_over == "ready pods");
    assert!(
        !p.new_replicas.is_empty() && !r.new_replicas.is_empty(),
        "the HPA scaled out in both: {:?} / {:?}",
        p.new_replicas,
        r.new_replicas
    );
    // Every backend name is a pod the watch saw.
    assert!(r
        .backends
        .iter()
        .all(|b| b.name.starts_with("flash-order-")));
    let starved = p
        .new_replicas
        .iter()
        .filter(|n| n.fair_share_s.is_none())
        .count();
    assert!(
        starved * 2 >= p.new_replicas.len(),
        "pinned: {:?}",
        p.new_replicas
    );
    let fed = r
        .new_replicas
        .iter()
        .filter(|n| n.fair_share_s.is_some())
        .count();
    assert!(
        fed * 4 >= r.new_replicas.len() * 3,
        "rotated: {:?}",
        r.new_replicas
    );
    assert!(
        p.imbalance.unwrap() > r.imbalance.unwrap(),
        "{:?} vs {:?}",
        p.imbalance,
        r.imbalance
    );
    let c = &rotated.summary.transport.as_ref().unwrap().connections;
    assert!(c.rotated > 0, "{c:?}");
}
