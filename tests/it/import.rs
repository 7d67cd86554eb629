//! `loadctl import`: a real browser's recording (headless Chromium through playwright-core)
//! of the flash-sale shop page, imported and run against a fresh instance of the service
//! (whose token secret differs, so only an extracted token works); HAR files with
//! redirects, cookies, base64 bodies, HTTP/2 pseudo-headers and other hosts; OpenAPI with
//! `$ref`s, parameters, enums and bodies; curl flags; each imported scenario validated and
//! run against the reference service; broken inputs refused with their position.

use std::path::Path;
use std::process::Command;

use loadctl::testbed::{Embedded, ServiceConfig};

use super::support::loadctl_out as loadctl;

fn flash_sale() -> Embedded {
    Embedded::start("flash-sale", &ServiceConfig::default(), 1).unwrap()
}

/// Runs `scenario` once (one iteration, no warmup) against `addr`; its summary.
fn run_once(scenario: &Path, addr: std::net::SocketAddr, out: &Path) -> loadctl::summary::Summary {
    let (code, stdout, stderr) = loadctl(&[
        "run",
        scenario.to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
        "--set",
        "load.warmup=0s",
        // One request judged for what it imported, not for the generator's lateness on a
        // machine busy with the other tests (a late first send made this run "invalid").
        "--set",
        "generator.max_send_lag_p99=1m",
        "--rate",
        "1",
        "--duration",
        "1s",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    loadctl::summary::load_summary(out).unwrap()
}

#[test]
fn a_browser_recording_imports_and_runs_with_the_token_extracted() {
    let recorded_against = flash_sale();
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("shop.har");
    let st = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/js/record_har.js"))
        .arg(format!("http://{}/shop", recorded_against.addr))
        .arg(&har)
        .env("NODE_PATH", super::support::node_modules())
        .status()
        .expect("node runs");
    assert!(st.success(), "recording failed");
    let toml = dir.path().join("shop.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--out",
        toml.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(
        text.contains("extract = { token = { json = \"/token\" } }"),
        "{text}"
    );
    assert!(text.contains("Bearer {{token}}"), "{text}");
    assert!(
        !text.contains("f1bab276"),
        "the password is in the feeder, not the scenario"
    );
    assert!(text.contains("think = "), "{text}");
    assert_eq!(loadctl(&["validate", toml.to_str().unwrap()]).0, 0);
    drop(recorded_against);

    // Another instance signs with another secret: only a token taken from its own answer works.
    let fresh = flash_sale();
    let s = run_once(&toml, fresh.addr, &dir.path().join("run"));
    assert_eq!(
        s.totals.errors,
        0,
        "{:?}",
        s.endpoints
            .iter()
            .map(|e| (&e.name, &e.errors_by_kind))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.totals.requests, 4);
    let order = s
        .endpoints
        .iter()
        .find(|e| e.name.contains("orders"))
        .unwrap();
    assert_eq!(order.status_codes.get("201"), Some(&1));
    // The control: the token as recorded is refused by the fresh instance.
    let stale = std::fs::read_to_string(&toml).unwrap();
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let token = recorded["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| {
            let text = e["response"]["content"]["text"].as_str()?;
            serde_json::from_str::<serde_json::Value>(text).ok()?["token"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap();
    let literal = dir.path().join("literal.toml");
    std::fs::write(&literal, stale.replace("{{token}}", &token)).unwrap();
    let s = run_once(&literal, fresh.addr, &dir.path().join("run2"));
    let order = s
        .endpoints
        .iter()
        .find(|e| e.name.contains("orders"))
        .unwrap();
    assert_eq!(
        order.status_codes.get("401"),
        Some(&1),
        "a stale token must be refused"
    );
}

/// A HAR with what browsers record besides the calls: a redirect, a cookie the server set,
/// a base64 body, HTTP/2 pseudo-headers, an image, an analytics beacon, another host.
fn synthetic_har(origin: &str) -> String {
    let b64 = base64_of(r#"{"session": {"id": "sess-4f9a2c1b"}}"#);
    serde_json::json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        {"startedDateTime": "2026-12-01T10:00:00.000Z", "time": 10,
         "request": {"method": "POST", "url": format!("{origin}/api/v1/auth/login"), "headers": [
            {"name": ":authority", "value": "x"}, {"name": "content-type", "value": "application/json"},
            {"name": "user-agent", "value": "Browser"}],
          "postData": {"mimeType": "application/json", "text": "{\"user\":\"u000002\",\"password\":\"f1bab576\"}"}},
         "response": {"status": 302, "headers": [{"name": "Set-Cookie", "value": "SID=cookie-77aa99; Path=/"},
            {"name": "Location", "value": "/api/v1/flash/items/4"}],
          "content": {"mimeType": "application/json", "text": b64, "encoding": "base64"}}},
        {"startedDateTime": "2026-12-01T10:00:01.000Z", "time": 5,
         "request": {"method": "GET", "url": format!("{origin}/api/v1/flash/items/4"), "headers": [
            {"name": "cookie", "value": "SID=cookie-77aa99"}, {"name": "x-session", "value": "sess-4f9a2c1b"}]},
         "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}}},
        {"startedDateTime": "2026-12-01T10:00:01.100Z", "time": 5,
         "request": {"method": "GET", "url": format!("{origin}/logo.png"), "headers": []},
         "response": {"status": 200, "headers": [], "content": {}}},
        {"startedDateTime": "2026-12-01T10:00:01.200Z", "time": 5,
         "request": {"method": "POST", "url": "https://www.google-analytics.com/collect", "headers": []},
         "response": {"status": 204, "headers": [], "content": {}}},
        {"startedDateTime": "2026-12-01T10:00:01.300Z", "time": 5,
         "request": {"method": "GET", "url": "https://cdn.example.net/api/thing", "headers": []},
         "response": {"status": 200, "headers": [], "content": {}}},
        {"startedDateTime": "2026-12-01T10:00:30.000Z", "time": 5,
         "request": {"method": "GET", "url": "data:image/png;base64,AAAA", "headers": []},
         "response": {"status": 200, "headers": [], "content": {}}}
    ]}})
    .to_string()
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_har_with_redirects_cookies_and_other_hosts_is_imported_and_said() {
    let svc = flash_sale();
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("r.har");
    std::fs::write(&har, synthetic_har(&format!("http://{}", svc.addr))).unwrap();
    let toml = dir.path().join("r.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--out",
        toml.to_str().unwrap(),
        "--no-think",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&toml).unwrap();
    // The redirect is its recorded answer; the cookie and the id in the base64 body are
    // extracted where they were produced and sent back as variables.
    assert!(text.contains("expect_status = 302"), "{text}");
    assert!(text.contains("sid = { cookie = \"SID\" }"), "{text}");
    assert!(text.contains("{ json = \"/session/id\" }"), "{text}");
    assert!(text.contains("\"cookie\" = \"SID={{sid}}\""), "{text}");
    // Pseudo-headers and the browser's own headers are left out (and listed as such).
    assert!(
        text.contains("headers = { \"content-type\" = \"application/json\" }"),
        "{text}"
    );
    assert!(
        !text.contains("Browser") && text.contains("browser headers: :authority, user-agent"),
        "{text}"
    );
    for said in [
        "logo.png: a static asset",
        "google-analytics.com/collect: an analytics host",
        "cdn.example.net/api/thing: another host",
        "data: or blob:",
    ] {
        assert!(
            text.contains(said) || err.contains(said),
            "`{said}` not said:\n{text}\n{err}"
        );
    }
    assert!(!text.contains("think ="), "--no-think: {text}");
    let s = run_once(&toml, svc.addr, &dir.path().join("run"));
    // The service answers the login 200, not the recorded 302: an honest mismatch, counted,
    // and the flow's next step is skipped (and counted as such).
    assert_eq!(
        (s.totals.requests, s.totals.errors),
        (1, 1),
        "{:?}",
        s.endpoints
    );
    assert_eq!(s.endpoints[1].skipped, 1, "{:?}", s.endpoints);

    // --include keeps another loopback origin's request (as a full URL); a host that is not
    // loopback stays out even when asked for, and says why.
    let second = flash_sale();
    let two = synthetic_har(&format!("http://{}", svc.addr)).replace(
        "https://cdn.example.net",
        &format!("http://{}", second.addr),
    );
    std::fs::write(&har, two).unwrap();
    let kept = dir.path().join("k.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--out",
        kept.to_str().unwrap(),
        "--include",
        "/api/thing",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(
        text.contains(&format!("path = \"http://{}/api/thing\"", second.addr)),
        "{text}"
    );
    std::fs::write(&har, synthetic_har(&format!("http://{}", svc.addr))).unwrap();
    let (code, _, err) = loadctl(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--out",
        kept.to_str().unwrap(),
        "--include",
        "cdn\\.example\\.net",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("a scenario sends only to its target"), "{err}");
}

#[test]
fn broken_inputs_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("bad.har");
    std::fs::write(&har, "{\"log\": {\"entries\": [\n  {\"request\": 5}\n]}}").unwrap();
    let (code, _, err) = loadctl(&["import", "har", har.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.har:2:"), "{err}");
    let yaml = dir.path().join("bad.yaml");
    std::fs::write(&yaml, "openapi: 3.0.3\npaths:\n  /x:\n    get: [unclosed\n").unwrap();
    let (code, _, err) = loadctl(&["import", "openapi", yaml.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:"), "{err}");
    let swagger = dir.path().join("s.json");
    std::fs::write(&swagger, "{\"swagger\": \"2.0\", \"paths\": {}}").unwrap();
    let (code, _, err) = loadctl(&["import", "openapi", swagger.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("Swagger 2.0"), "{err}");
    let (code, _, err) = loadctl(&["import", "curl", "curl 'http://127.0.0.1/x"]);
    assert_eq!(code, 2);
    assert!(err.contains("unclosed"), "{err}");
    assert_eq!(loadctl(&["import", "curl", "wget http://127.0.0.1/"]).0, 2);
    assert_eq!(loadctl(&["import", "har", "/nonexistent.har"]).0, 2);
}

#[test]
fn an_openapi_document_imports_every_operation_and_runs() {
    let svc = flash_sale();
    let dir = tempfile::tempdir().unwrap();
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/import/flash-sale.openapi.yaml");
    let toml = dir.path().join("api.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "openapi",
        spec.to_str().unwrap(),
        "--out",
        toml.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&toml).unwrap();
    for want in [
        "path = \"/api/v1/flash/items/3\"", // a path parameter's example, through $ref
        "path = \"/api/v1/flash/stats?detail=summary\"", // a required query parameter's first enum value
        "\\\"user\\\":\\\"u000001\\\"", // a body from the schema's examples, through $ref
        "expect_status = 201",          // the documented success
        "\"Authorization\" = \"Bearer token\"", // a required header parameter
        "name = \"get_item\"",
    ] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
    assert_eq!(loadctl(&["validate", toml.to_str().unwrap()]).0, 0);
    // Only the operations that need no login, chosen by id globs.
    let some = dir.path().join("some.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "openapi",
        spec.to_str().unwrap(),
        "--out",
        some.to_str().unwrap(),
        "--operations",
        "get*,login",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!std::fs::read_to_string(&some)
        .unwrap()
        .contains("post_order"));
    let s = run_once(&some, svc.addr, &dir.path().join("run"));
    assert!(s.totals.requests >= 1);
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints);
    assert_eq!(
        loadctl(&[
            "import",
            "openapi",
            spec.to_str().unwrap(),
            "--operations",
            "nothing*"
        ])
        .0,
        2
    );
}

#[test]
fn curl_commands_import_their_flags_and_run() {
    let svc = flash_sale();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", svc.addr);
    let login = format!(
        "curl '{url}/api/v1/auth/login' -H 'Content-Type: application/json' --data-binary '{{\"user\":\"u000001\",\"password\":\"f1bab276\"}}' --compressed -s"
    );
    let toml = dir.path().join("login.toml");
    let (code, _, err) = loadctl(&["import", "curl", &login, "--out", toml.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(
        text.contains("method = \"POST\"") && text.contains("Accept-Encoding"),
        "{text}"
    );
    assert!(
        err.contains("--compressed"),
        "what --compressed does is said: {err}"
    );
    let s = run_once(&toml, svc.addr, &dir.path().join("run"));
    assert_eq!(
        (s.totals.requests, s.totals.errors),
        (1, 0),
        "{:?}",
        s.endpoints
    );

    // -G moves the data into the query; -u is Basic auth.
    let (code, out, _) = loadctl(&[
        "import",
        "curl",
        &format!("curl -G {url}/api/v1/flash/stats -d detail=full -u me:pw"),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("path = \"/api/v1/flash/stats?detail=full\""),
        "{out}"
    );
    assert!(
        out.contains("\"Authorization\" = \"Basic bWU6cHc=\""),
        "{out}"
    );
    assert!(out.contains("method = \"GET\""), "{out}");
}

/// A long recording whose every answer is full of ids: the import's cost follows the
/// requests' length, not the product of requests and values (it once was quadratic).
#[test]
fn a_long_recording_full_of_ids_imports() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for i in 0..3000 {
        let ids: Vec<String> = (0..200).map(|k| format!("\"id-{i:05}-{k:04}\"")).collect();
        entries.push(serde_json::json!({
            "startedDateTime": "2026-12-01T10:00:00.000Z", "time": 1,
            "request": {"method": "GET", "url": format!("http://127.0.0.1:9/api/items/id-{:05}-0007", i.max(1) - 1), "headers": []},
            "response": {"status": 200, "headers": [], "content": {"text": format!("[{}]", ids.join(","))}}
        }));
    }
    let har = dir.path().join("long.har");
    std::fs::write(
        &har,
        serde_json::json!({"log": {"entries": entries}}).to_string(),
    )
    .unwrap();
    let toml = dir.path().join("long.toml");
    let (code, _, err) = loadctl(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--out",
        toml.to_str().unwrap(),
        "--no-think",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&toml).unwrap();
    // Each request sends back an id the answer before it produced.
    assert!(
        text.contains("path = \"/api/items/{{"),
        "{}",
        &text[..2000.min(text.len())]
    );
}
