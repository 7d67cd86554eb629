//! `[[export]] kind = "otlp"` against a receiver that decodes with the
//! `opentelemetry-proto` Python package (`tests/it/otlp_receiver.py`, installed by
//! ci/test.sh), over HTTP and over gRPC (grpcio): the resource attributes, the metric
//! names, the temporality asked for, and totals equal to the summary's. And against a
//! receiver that refuses: the run's results stand, the failures are counted in
//! `exports[]`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::support::{counting_target, plan, run_plan};

struct Receiver {
    child: Child,
    port: u16,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(protocol: &str, answer: Option<u16>) -> Receiver {
    receiver_with(protocol, answer, None)
}

/// A receiver; `tls` = `(cert, key)` PEM files serves gRPC over TLS.
fn receiver_with(protocol: &str, answer: Option<u16>, tls: Option<(&Path, &Path)>) -> Receiver {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/otlp_receiver.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(protocol).arg(&out);
    if let Some(a) = answer {
        cmd.arg("--answer").arg(a.to_string());
    }
    if let Some((cert, key)) = tls {
        cmd.arg("--tls").arg(cert).arg(key);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| {
        panic!("the OTLP receiver did not start (ci/test.sh installs opentelemetry-proto and grpcio): {line:?}")
    });
    Receiver {
        child,
        port,
        out,
        _dir: dir,
    }
}

/// Every request the receiver decoded, as protobuf's JSON mapping.
fn received(r: &Receiver) -> Vec<Value> {
    std::fs::read_to_string(&r.out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scenario(addr: std::net::SocketAddr, export: &str) -> String {
    format!(
        "name = \"otel\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 2\nthink_time = \"20ms\"\nduration = \"3s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[requests]]\nname = \"missing\"\npath = \"/nope\"\nweight = 0.2\n[[export]]\nkind = \"otlp\"\nevery = \"1s\"\n{export}"
    )
}

/// The metric `name` of a request, or `None` (a request with no metrics: the healthcheck).
fn metric<'a>(req: &'a Value, name: &str) -> Option<&'a Value> {
    req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
}

/// The int value of `metric`'s point whose `request` attribute is `request`.
fn point(m: &Value, kind: &str, request: &str) -> u64 {
    let p = m[kind]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["key"] == "request" && a["value"]["stringValue"] == request)
        })
        .unwrap();
    // protobuf's JSON mapping leaves a zero out.
    let v = match kind {
        "exponentialHistogram" => &p["count"],
        _ => &p["asInt"],
    };
    v.as_str().map_or(0, |s| s.parse().unwrap())
}

fn resource_attr(req: &Value, key: &str) -> Option<String> {
    req["resourceMetrics"][0]["resource"]["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str().map(String::from))
}

#[test]
fn an_http_receiver_decodes_cumulative_metrics_equal_to_the_summary() {
    let r = receiver("http", None);
    let (addr, _) = counting_target();
    let text = scenario(
        addr,
        &format!(
            "endpoint = \"http://127.0.0.1:{}\"\nattributes = {{ \"deployment.environment\" = \"ci\" }}\n",
            r.port
        ),
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);
    let got = received(&r);
    let with: Vec<&Value> = got
        .iter()
        .filter(|q| metric(q, "loadctl.requests").is_some())
        .collect();
    assert!(
        with.len() >= 2,
        "a push per second and the last: {}",
        with.len()
    );
    let last = with.last().unwrap();
    assert_eq!(
        resource_attr(last, "service.name").as_deref(),
        Some("loadctl")
    );
    assert_eq!(
        resource_attr(last, "loadctl.scenario").as_deref(),
        Some("otel")
    );
    assert!(resource_attr(last, "loadctl.run_id").is_some_and(|id| id.starts_with("otel-")));
    assert_eq!(
        resource_attr(last, "deployment.environment").as_deref(),
        Some("ci")
    );
    let requests = metric(last, "loadctl.requests").unwrap();
    assert_eq!(
        requests["sum"]["aggregationTemporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert_eq!(requests["sum"]["isMonotonic"], true);
    let s = &o.summary;
    for e in &s.endpoints {
        assert_eq!(point(requests, "sum", &e.name), e.requests, "{}", e.name);
        let hist = metric(last, "loadctl.latency").unwrap();
        assert_eq!(point(hist, "exponentialHistogram", &e.name), e.requests);
        assert_eq!(hist["unit"], "s");
    }
    // The 404s are errors of their kind.
    let errors = metric(last, "loadctl.errors").expect("the 404s");
    let missing = s.endpoints.iter().find(|e| e.name == "missing").unwrap();
    assert!(missing.requests > 0);
    assert_eq!(point(errors, "sum", "missing"), missing.errors);
    let ex = &s.exports[0];
    assert_eq!((ex.kind.as_str(), ex.failed, ex.dropped), ("otlp", 0, 0));
    assert_eq!(
        ex.sent as usize,
        got.len() - 1,
        "every push but the healthcheck is counted"
    );
}

#[test]
fn a_grpc_receiver_decodes_delta_metrics_that_sum_to_the_summary() {
    let r = receiver("grpc", None);
    let (addr, _) = counting_target();
    let text = scenario(
        addr,
        &format!(
            "endpoint = \"http://127.0.0.1:{}\"\nprotocol = \"grpc\"\ntemporality = \"delta\"\n",
            r.port
        ),
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);
    let got = received(&r);
    let mut total = 0;
    let mut hist = 0;
    for q in got
        .iter()
        .filter(|q| metric(q, "loadctl.requests").is_some())
    {
        let m = metric(q, "loadctl.requests").unwrap();
        assert_eq!(
            m["sum"]["aggregationTemporality"],
            "AGGREGATION_TEMPORALITY_DELTA"
        );
        total += point(m, "sum", "u");
        let h = metric(q, "loadctl.latency").unwrap();
        assert_eq!(
            h["exponentialHistogram"]["aggregationTemporality"],
            "AGGREGATION_TEMPORALITY_DELTA"
        );
        hist += point(h, "exponentialHistogram", "u");
    }
    let u = o.summary.endpoints.iter().find(|e| e.name == "u").unwrap();
    assert_eq!(total, u.requests, "the deltas add up to the run's total");
    assert_eq!(hist, u.requests);
    assert_eq!(o.summary.exports[0].failed, 0, "{:?}", o.summary.exports);
}

#[test]
fn a_receiver_that_answers_429_then_500_is_counted_and_never_fails_the_load() {
    for code in [429u16, 500] {
        let r = receiver("http", Some(code));
        let (addr, _) = counting_target();
        let text = scenario(
            addr,
            &format!(
                "endpoint = \"http://127.0.0.1:{}/v1/metrics\"\ntimeout = \"2s\"\n",
                r.port
            ),
        );
        let (o, _d) = run_plan(&plan(&text));
        assert_eq!(
            o.exit_code(),
            0,
            "the target's verdict: {:?}",
            o.summary.reasons
        );
        let ex = &o.summary.exports[0];
        assert!(ex.retried > 0 && ex.failed > 0, "{code}: {ex:?}");
        assert_eq!(
            ex.last_error.as_deref(),
            Some(format!("answered {code}").as_str())
        );
        let console = loadctl::report::console::render(&o.summary, "out");
        assert!(console.contains("!export     otlp"), "{console}");
    }
}

#[test]
fn a_grpc_receiver_that_is_unavailable_is_retried_and_counted_with_its_status() {
    let r = receiver("grpc", Some(14));
    let (addr, _) = counting_target();
    let text = scenario(
        addr,
        &format!(
            "endpoint = \"http://127.0.0.1:{}\"\nprotocol = \"grpc\"\n",
            r.port
        ),
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(
        o.exit_code(),
        0,
        "the target's verdict: {:?}",
        o.summary.reasons
    );
    let ex = &o.summary.exports[0];
    assert!(ex.retried > 0 && ex.failed > 0 && ex.sent == 0, "{ex:?}");
    assert_eq!(
        ex.last_error.as_deref(),
        Some("grpc-status 14 overloaded"),
        "{ex:?}"
    );
}

#[test]
fn grpc_over_tls_trusts_the_ca_the_table_names_and_only_it() {
    use loadctl::testbed::tls::{Pki, Validity};
    let pki = Pki::new("otlp-test").unwrap();
    let leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let r = receiver_with("grpc", None, Some((&cert, &key)));
    let (addr, seen) = counting_target();
    let endpoint = format!(
        "endpoint = \"https://127.0.0.1:{}\"\nprotocol = \"grpc\"\n",
        r.port
    );
    // Without the CA: the healthcheck fails verification, exit 2, nothing sent.
    let dir2 = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir2.path().join("o")),
        ..Default::default()
    };
    let e = loadctl::run::run(&plan(&scenario(addr, &endpoint)), &opts).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e:#}");
    assert!(format!("{e:#}").contains("TLS"), "{e:#}");
    assert!(seen.lock().unwrap().is_empty());
    // With it: TLS, ALPN h2, the grpcio server decodes every push.
    let text = scenario(addr, &format!("{endpoint}ca = \"{}\"\n", ca.display()));
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);
    assert_eq!(o.summary.exports[0].failed, 0, "{:?}", o.summary.exports);
    let last = received(&r)
        .into_iter()
        .rev()
        .find(|q| metric(q, "loadctl.requests").is_some())
        .unwrap();
    let u = o.summary.endpoints.iter().find(|e| e.name == "u").unwrap();
    assert_eq!(
        point(metric(&last, "loadctl.requests").unwrap(), "sum", "u"),
        u.requests
    );
}

#[test]
fn otlp_tables_are_validated_with_positions() {
    let text = "name = \"v\"\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"u\"\npath = \"/\"\n[[export]]\nkind = \"otlp\"\nendpoint = \"udp://x\"\nprotocol = \"thrift\"\ntemporality = \"sometimes\"\nattributes = { \"service.name\" = \"a\" }\nca = \"no/such/ca.pem\"\n";
    let e = loadctl::scenario::parse(Path::new("s.toml"), text, &Default::default(), &|_| None)
        .unwrap_err();
    let msg = format!("{e:#}");
    for want in [
        "s.toml:10:12: export[0].endpoint",
        "s.toml:11:12: export[0].protocol",
        "\"http/protobuf\", \"grpc\"",
        "s.toml:12:15: export[0].temporality",
        "export[0].attributes.service.name",
        "s.toml:14:6: export[0].ca: cannot read",
    ] {
        assert!(msg.contains(want), "{want} in {msg}");
    }
}
