//! Flows against in-process services on 127.0.0.1:0: extraction of each kind (and a
//! missing value), feeders and their exhaustion, outcome counting, `[[verify]]` passing
//! and failing, and the oversell that `unsafe_stock` causes being caught. Small rates,
//! no timing upper bounds.

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::support::{plan, run_plan};
use loadctl::report::Status;
use loadctl::testbed::password_for;

/// A CSV of `n` flash-sale customers (the fixture's format) in `dir`.
fn users_csv(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("user,password\n");
    for i in 1..=n {
        let user = format!("t{i:05}");
        text.push_str(&format!("{user},{}\n", password_for(&user)));
    }
    let path = dir.join("users.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Serves `app` on 127.0.0.1:0; returns the base URL.
fn serve(app: Router) -> String {
    format!("http://{}", crate::support::serve(app))
}

/// `/issue` hands out a token (JSON), a session id (header) and an order number (text);
/// `/use` answers 200 only when all three come back, 400 otherwise.
fn extraction_app() -> Router {
    Router::new()
        .route(
            "/issue",
            get(|| async {
                (
                    [("x-session", "s-77"), ("content-type", "application/json")],
                    r#"{"data":{"token":"tk-1"},"note":"order #4242 placed"}"#,
                )
            }),
        )
        .route(
            "/use",
            get(
                |headers: HeaderMap, q: axum::extract::RawQuery| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let ok =
                        auth == "Bearer tk-1" && q.0.as_deref() == Some("session=s-77&order=4242");
                    if ok {
                        StatusCode::OK.into_response()
                    } else {
                        (StatusCode::BAD_REQUEST, format!("{auth} {:?}", q.0)).into_response()
                    }
                },
            ),
        )
}

#[test]
fn each_extraction_kind_feeds_the_next_step() {
    let base = serve(extraction_app());
    let p = plan(&format!(
        r#"
name = "extract"
target = "{base}"
[load]
model = "closed"
vus = 2
iterations = 20
[flow]
[[flow.steps]]
name = "issue"
path = "/issue"
extract = {{ token = {{ json = "/data/token" }}, sid = {{ header = "x-session" }}, order = {{ regex = 'order #(\d+)' }} }}
[[flow.steps]]
name = "use"
path = "/use?session={{{{sid}}}}&order={{{{order}}}}"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
"#
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    assert_eq!(s.endpoints[0].ok, 20);
    assert_eq!(s.endpoints[1].ok, 20, "{:?}", s.endpoints[1]);
    assert_eq!(s.totals.errors, 0);
}

/// A cookie the answer sets is extracted by name; a step's `think` delays the next step,
/// whose latency counts from when it was due (after the pause), not from the pause's start.
#[test]
fn a_cookie_is_extracted_and_think_pauses_between_steps() {
    let app = Router::new()
        .route(
            "/set",
            get(|| async {
                axum::response::AppendHeaders([
                    ("set-cookie", "other=1"),
                    ("set-cookie", "SID=c-9f31; Path=/; HttpOnly"),
                ])
            }),
        )
        .route(
            "/use",
            get(|headers: HeaderMap| async move {
                let c = headers
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if c == "SID=c-9f31" {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                }
            }),
        );
    let base = serve(app);
    let p = plan(&format!(
        r#"
name = "cookie"
target = "{base}"
[load]
model = "closed"
vus = 1
iterations = 3
[flow]
[[flow.steps]]
name = "set"
path = "/set"
extract = {{ sid = {{ cookie = "SID" }} }}
think = "300ms"
[[flow.steps]]
name = "use"
path = "/use"
headers = {{ Cookie = "SID={{{{sid}}}}" }}
"#
    ));
    let started = std::time::Instant::now();
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    assert_eq!(s.endpoints[1].ok, 3, "{:?}", s.endpoints[1]);
    // Three pauses of 300 ms happened (a lower bound only: no timing threshold above).
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // The pause is not the next step's latency.
    assert!(
        s.endpoints[1].latency_ms.max < 300.0,
        "{:?}",
        s.endpoints[1].latency_ms
    );
}

#[test]
fn a_missing_value_is_extract_failed_and_skips_the_rest() {
    let base = serve(extraction_app());
    let p = plan(&format!(
        r#"
name = "extract-missing"
target = "{base}"
[load]
model = "closed"
vus = 1
iterations = 5
[flow]
[[flow.steps]]
name = "issue"
path = "/issue"
extract = {{ token = {{ json = "/data/nope" }} }}
[[flow.steps]]
name = "use"
path = "/use"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[[flow.steps]]
name = "again"
path = "/issue"
"#
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    let issue = &s.endpoints[0];
    assert_eq!(issue.errors_by_kind["extract_failed"], 5);
    assert_eq!(issue.ok, 0);
    assert_eq!(s.endpoints[1].requests, 0);
    assert_eq!(s.endpoints[1].skipped, 5);
    assert_eq!(s.endpoints[2].skipped, 5);
    // Nothing succeeded at all: a failed run, whatever the SLOs.
    assert_eq!(s.status, Status::Fail);
}

fn flash_scenario(users: &Path, extra: &str) -> String {
    format!(
        r#"
name = "flash"
[embedded]
service = "flash-sale"
items = 1
stock = 20
{extra}
[[feeders]]
name = "customers"
file = "{users}"
mode = "unique"
[flow]
[[flow.steps]]
name = "login"
once = true
method = "POST"
path = "/api/v1/auth/login"
body = {{ user = "{{{{user}}}}", password = "{{{{password}}}}" }}
extract = {{ token = {{ json = "/token" }} }}
[[flow.steps]]
name = "order"
method = "POST"
path = "/api/v1/flash/orders"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
body = {{ item_id = 1 }}
expect_status = 201
check = {{ "/status" = "created" }}
[flow.steps.outcomes]
sold_out = {{ status = 409, json = {{ "/error" = "sold_out" }} }}
already_ordered = {{ status = 409, json = {{ "/error" = "already_ordered" }} }}
[[verify]]
name = "ledger"
path = "/api/v1/flash/stats"
checks = ["sold <= initial_stock", "oversold == 0", "duplicate_buyers == 0", "orders == sold"]
"#,
        users = users.display()
    )
}

#[test]
fn token_flow_counts_outcomes_and_verifies_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 100);
    // 8 users, 3 orders each for the one item: the first succeeds (while stock lasts),
    // the others are duplicates; 20 units for 8 buyers never sell out.
    let p = plan(&flash_scenario(
        &users,
        "[load]\nmodel = \"closed\"\nvus = 8\niterations = 24",
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    let login = &s.endpoints[0];
    let order = &s.endpoints[1];
    assert_eq!(login.ok, 8, "each virtual user logs in once");
    assert_eq!(order.requests, 24);
    assert_eq!(order.ok, 8);
    assert_eq!(order.outcomes["already_ordered"], 16);
    assert_eq!(order.outcomes["sold_out"], 0);
    assert_eq!(s.outcomes["already_ordered"], 16);
    assert_eq!(s.totals.errors, 0, "outcomes are not errors");
    assert_eq!(s.totals.availability, 1.0);
    assert_eq!(s.verify.len(), 4);
    assert!(s.verify.iter().all(|c| c.pass), "{:?}", s.verify);
    assert!(
        s.verify[3].observed.contains("orders = 8"),
        "{:?}",
        s.verify
    );
}

#[test]
fn sold_out_is_an_outcome_and_stock_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 200);
    // Open model, a fresh customer per iteration: 150 buyers for 20 units.
    let p = plan(&flash_scenario(
        &users,
        "[load]\nrate = 100\nduration = \"1500ms\"\n[generator]\nmax_send_lag_p99 = \"1s\"",
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    let order = &s.endpoints[1];
    assert_eq!(order.ok, 20);
    assert_eq!(order.outcomes["sold_out"], 130);
    assert_eq!(
        s.endpoints[0].ok, 150,
        "a fresh session logs in every iteration"
    );
    assert!(s.verify.iter().all(|c| c.pass), "{:?}", s.verify);
}

#[test]
fn verification_catches_the_unsafe_stock_oversell() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 100);
    // 60 customers order the one item at once; read-then-write stock loses updates.
    let p = plan(&flash_scenario(
        &users,
        "unsafe_stock = true\n[load]\nmodel = \"closed\"\nvus = 60\niterations = 60",
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.status, Status::Fail);
    assert_eq!(out.exit_code(), 1);
    let failed: Vec<&str> = s
        .verify
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.check.as_str())
        .collect();
    assert!(failed.contains(&"oversold == 0"), "{:?}", s.verify);
    assert!(failed.contains(&"orders == sold"), "{:?}", s.verify);
    assert!(
        s.reasons
            .iter()
            .any(|r| r.starts_with("verification ledger failed: oversold == 0")),
        "{:?}",
        s.reasons
    );
    assert!(
        s.endpoints[1].ok > 20,
        "more orders than stock: {:?}",
        s.endpoints[1]
    );
}

/// The flash-sale flow at 100 iterations a second for 1 s over ten persistent sessions.
fn ten_sessions(users: &Path) -> String {
    flash_scenario(
        users,
        "stock = 1000\n[load]\nrate = 100\nduration = \"1s\"\n[generator]\nmax_send_lag_p99 = \"1s\"",
    )
    .replace("stock = 20\n", "")
    .replace("[flow]\n", "[flow]\nsessions = 10\n")
}

#[test]
fn sessions_persist_across_open_model_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 100);
    let text = ten_sessions(&users);
    let (out, _dir) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.endpoints[0].ok, 10, "ten sessions, each logged in once");
    assert_eq!(s.endpoints[1].requests, 100);
    assert_eq!(s.endpoints[1].ok, 10, "one order per customer");
    assert_eq!(s.endpoints[1].outcomes["already_ordered"], 90);
}

/// Split over two generators, the ten sessions are split too: five logins each, not ten.
#[test]
fn sessions_are_split_between_shards() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 100);
    let text = ten_sessions(&users);
    for k in 0..2 {
        let mut p = plan(&text);
        loadctl::remote::shard::apply(&mut p, &format!("{k}/2")).unwrap();
        let (out, _dir) = run_plan(&p);
        let s = &out.summary;
        assert_eq!(
            s.endpoints[0].ok, 5,
            "shard {k}: five sessions, each logged in once"
        );
        assert_eq!(
            s.endpoints[1].requests, 50,
            "shard {k}: half the iterations"
        );
    }
    let mut p = plan(&text.replace("sessions = 10", "sessions = 1"));
    let e = loadctl::remote::shard::apply(&mut p, "0/2").unwrap_err();
    assert!(
        e.contains("flow.sessions = 1 cannot be split over 2"),
        "{e}"
    );
}

#[test]
fn a_unique_feeder_that_runs_out_stops_or_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 5);
    let load = "stock = 1000\n[load]\nrate = 50\nduration = \"4s\"\n[generator]\nmax_send_lag_p99 = \"1s\"";
    let text = flash_scenario(&users, load).replace("stock = 20\n", "");
    let (out, _dir) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(
        s.endpoints[0].requests, 5,
        "one login per row, then the load stops"
    );
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("feeder `customers` ran out")),
        "{:?}",
        s.notes
    );
    assert!(s.duration_s < 4.0, "the window ends when the feeder does");

    let failing = text.replace(
        "mode = \"unique\"",
        "mode = \"unique\"\non_exhausted = \"fail\"",
    );
    let (out, _dir) = run_plan(&plan(&failing));
    assert_eq!(out.summary.status, Status::Fail);
    assert!(
        out.summary
            .reasons
            .iter()
            .any(|r| r.contains("on_exhausted = \"fail\"")),
        "{:?}",
        out.summary.reasons
    );
}

#[test]
fn a_wrapping_feeder_reuses_rows() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(dir.path(), 3);
    let text = flash_scenario(
        &users,
        "stock = 1000\n[load]\nmodel = \"closed\"\nvus = 1\niterations = 1",
    )
    .replace("stock = 20\n", "")
    .replace("mode = \"unique\"", "mode = \"sequential\"")
    .replace(
        "[load]\nmodel = \"closed\"\nvus = 1\niterations = 1",
        "[load]\nrate = 40\nduration = \"500ms\"\n[generator]\nmax_send_lag_p99 = \"1s\"",
    );
    let (out, _dir) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.endpoints[0].ok, 20, "every iteration logged in");
    // Three customers, one order each; the rest are duplicates of wrapped rows.
    assert_eq!(s.endpoints[1].ok, 3);
    assert_eq!(s.endpoints[1].outcomes["already_ordered"], 17);
}

#[test]
fn seed_002_rate_limits_answer_429_beyond_the_auth_budget() {
    use loadctl::testbed::{Embedded, RateLimits, ServiceConfig};
    let svc = Embedded::start(
        "flash-sale",
        &ServiceConfig {
            rate_limits: Some(RateLimits {
                auth: 12,
                ..RateLimits::seed_002()
            }),
            ..Default::default()
        },
        1,
    )
    .unwrap();
    let pw = password_for("t00001");
    let p = plan(&format!(
        r#"
name = "limits"
target = "http://{addr}"
[load]
model = "closed"
vus = 1
iterations = 30
[[requests]]
name = "login"
method = "POST"
path = "/api/v1/auth/login"
body = {{ user = "t00001", password = "{pw}" }}
outcomes = {{ throttled = 429 }}
"#,
        addr = svc.addr
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.endpoints[0].ok, 12);
    assert_eq!(s.endpoints[0].outcomes["throttled"], 18);
    assert_eq!(s.totals.error_rate, 0.0);
}

#[test]
fn a_failed_setup_request_stops_the_run_before_any_load() {
    let p = plan(
        r#"
name = "setup-fails"
[embedded]
service = "flash-sale"
[load]
rate = 10
duration = "1s"
[[requests]]
name = "item"
path = "/api/v1/flash/items/1"
[[setup]]
name = "restock"
method = "POST"
path = "/api/v1/flash/no-such-route"
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        ..Default::default()
    };
    let err = loadctl::run::run(&p, &opts).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("setup request `restock` failed: status (status 404, expected 2xx)"),
        "{text}"
    );
    assert!(!dir.path().join("out").join("summary.json").exists());
}
