//! Hostile targets on loopback: servers that reset, stall, answer garbage, trickle, send
//! huge, short or badly chunked bodies, answer HTTP/1.0 until close, send 1xx first, send a
//! 1 MB header, answer twice, close after each answer, or refuse. For each: how the
//! requests are classified, and that the run ends within its documented bound
//! (`warmup + duration + timeout` plus the drain), whatever the server does.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use loadctl::summary::Summary;

use crate::support::{dead_port, plan, read_head, reset, run_plan};

/// How long a connection thread of a hostile server may live: longer than any run here.
const HOLD: Duration = Duration::from_secs(20);
/// Slack beyond the documented bound: thread start-up, the last interval, report writing.
const SLACK: Duration = Duration::from_secs(4);

/// A server on 127.0.0.1:0 that runs `behave` on every connection, in a thread of its own.
fn hostile(behave: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
    addr
}

fn hold(_: TcpStream) {
    std::thread::sleep(HOLD);
}

/// Open model, 40 req/s for 1 s, timeout 1 s, 4 connections: the run's bound is 2 s.
fn open_run(addr: SocketAddr) -> (Summary, Duration) {
    let p = plan(&format!(
        r#"
name = "hostile"
target = "http://{addr}"
[load]
rate = 40
duration = "1s"
timeout = "1s"
connections = 4
[generator]
max_send_lag_p99 = "1s"
threads = 1
[[requests]]
name = "get"
path = "/"
"#
    ));
    let started = Instant::now();
    let (out, _dir) = run_plan(&p);
    (out.summary, started.elapsed())
}

/// The run ended by duration + timeout (2 s) plus the slack.
fn within_bound(took: Duration) {
    let bound = Duration::from_secs(2) + SLACK;
    assert!(took <= bound, "the run took {took:?}, beyond {bound:?}");
}

fn kind(s: &Summary, k: &str) -> u64 {
    s.endpoints[0].errors_by_kind[k]
}

#[test]
fn a_reset_is_reset() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            reset(s);
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert!(s.totals.requests > 0);
    assert_eq!(
        kind(&s, "reset"),
        s.totals.requests,
        "{:?}",
        s.endpoints[0].errors_by_kind
    );
}

#[test]
fn a_stalling_server_times_out_and_the_run_ends_on_time() {
    let addr = hostile(hold);
    let (s, took) = open_run(addr);
    within_bound(took);
    let e = &s.endpoints[0];
    assert_eq!(
        kind(&s, "timeout"),
        s.totals.requests,
        "{:?}",
        e.errors_by_kind
    );
    // The four connections' requests and those that waited out their timeout in the queue
    // are timeouts; what still waited when the window closed was never sent.
    assert!(s.totals.requests >= 4, "{}", s.totals.requests);
    assert_eq!(
        s.totals.requests + e.unsent,
        40,
        "requests {} unsent {}",
        s.totals.requests,
        e.unsent
    );
    assert_eq!(s.totals.dropped, 0);
}

#[test]
fn garbage_is_a_protocol_error() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(b"HELLO THERE\r\n\r\n");
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(kind(&s, "protocol"), s.totals.requests);
}

#[test]
fn a_trickle_times_out() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            for _ in 0..200 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(kind(&s, "timeout"), s.totals.requests);
}

#[test]
fn a_huge_body_ends_by_the_timeout() {
    let addr = hostile(|mut s| {
        while read_head(&mut s) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 500000000\r\n\r\n");
            let chunk = vec![0u8; 64 * 1024];
            for _ in 0..(500_000_000 / chunk.len()) {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    let e = &s.endpoints[0];
    // Read to the end in time, or cut by the timeout: nothing else.
    assert_eq!(
        e.ok + kind(&s, "timeout"),
        s.totals.requests,
        "{:?}",
        e.errors_by_kind
    );
}

#[test]
fn a_short_body_is_a_body_error() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(
        kind(&s, "body"),
        s.totals.requests,
        "{:?}",
        s.endpoints[0].errors_by_kind
    );
}

#[test]
fn bad_chunking_is_a_body_error() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(
        kind(&s, "body"),
        s.totals.requests,
        "{:?}",
        s.endpoints[0].errors_by_kind
    );
}

#[test]
fn http_1_0_until_close_is_an_answer() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello");
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(
        s.endpoints[0].ok, s.totals.requests,
        "{:?}",
        s.endpoints[0].errors_by_kind
    );
    assert_eq!(s.totals.requests, 40);
}

#[test]
fn an_informational_answer_first_is_skipped() {
    let addr = hostile(|mut s| {
        while read_head(&mut s) {
            let _ = s.write_all(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(s.endpoints[0].ok, 40, "{:?}", s.endpoints[0].errors_by_kind);
}

#[test]
fn a_megabyte_header_is_a_protocol_error() {
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
            head.extend(std::iter::repeat_n(b'a', 1 << 20));
            head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(&head);
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    assert_eq!(
        kind(&s, "protocol"),
        s.totals.requests,
        "{:?}",
        s.endpoints[0].errors_by_kind
    );
}

#[test]
fn an_unsolicited_answer_does_not_derail_the_run() {
    let addr = hostile(|mut s| {
        while read_head(&mut s) {
            let one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let _ = s.write_all(&[&one[..], &one[..]].concat());
        }
    });
    let (s, took) = open_run(addr);
    within_bound(took);
    let e = &s.endpoints[0];
    assert!(e.ok >= 1, "{:?}", e.errors_by_kind);
    assert_eq!(s.totals.requests, 40);
}

#[test]
fn a_server_closing_after_each_answer_is_charged_unless_retries_are_asked_for() {
    // Keep-alive by default, yet it closes after every answer without saying so: a request
    // written on a connection that answered moments ago and then failed is the target's
    // reset under the default rule; `retry = "idempotent"` sends it again, as browsers do,
    // and counts every retry.
    let addr = hostile(|mut s| {
        if read_head(&mut s) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    for rule in ["idle-only", "idempotent"] {
        let p = plan(&format!(
            r#"
name = "closer"
target = "http://{addr}"
[load]
vus = 4
duration = "2s"
timeout = "1s"
[http]
retry = "{rule}"
[[requests]]
name = "get"
path = "/"
"#
        ));
        let started = Instant::now();
        let (out, _dir) = run_plan(&p);
        assert!(started.elapsed() <= Duration::from_secs(3) + SLACK);
        let s = &out.summary;
        assert!(s.totals.requests > 100, "{}", s.totals.requests);
        let c = &s.transport.as_ref().unwrap().connections;
        let retried = c.retried.values().sum::<u64>();
        let errors = s.totals.errors;
        assert_eq!(
            errors,
            kind(s, "reset"),
            "{:?}",
            s.endpoints[0].errors_by_kind
        );
        if rule == "idempotent" {
            assert_eq!(errors, 0, "{:?}", s.endpoints[0].errors_by_kind);
        } else {
            // Whatever hyper saw first (the close, or the reset of the request written
            // into it), nothing is hidden: a failure is either a reset or a counted retry.
            assert!(errors + retried > 0, "{c:?}");
        }
    }
}

#[test]
fn a_refusing_listener_gets_a_bounded_connect_rate() {
    let port = dead_port();
    let p = plan(&format!(
        r#"
name = "refused"
target = "http://127.0.0.1:{port}"
[load]
vus = 2
duration = "2s"
timeout = "1s"
[[requests]]
name = "get"
path = "/"
"#
    ));
    let started = Instant::now();
    let (out, _dir) = run_plan(&p);
    assert!(started.elapsed() <= Duration::from_secs(3) + SLACK);
    let s = &out.summary;
    // Refused, or out of time while waiting to reconnect.
    assert!(kind(s, "connect") >= 2);
    assert_eq!(kind(s, "connect") + kind(s, "timeout"), s.totals.requests);
    // Backoff from 50 ms doubling to 1 s per lane: a handful of attempts per user in 2 s,
    // where a loop without backoff makes tens of thousands.
    assert!(
        (2..=40).contains(&s.totals.requests),
        "{} connect attempts",
        s.totals.requests
    );
}
