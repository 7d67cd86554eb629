//! `[[export]] kind = "grafana_annotations"` against a double of Grafana's HTTP API
//! (`POST /api/annotations`, a bearer token; no Grafana package is in Debian's archive, so
//! the double answers as Grafana's documentation says: 200 with the id, 401 without the
//! token). The run's start, the warmup and each stage as spans, and the verdict over the
//! whole run arrive with the run's tags; a wrong token stops the run before any load.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::support::{counting_target, plan, serve};

type Seen = Arc<Mutex<Vec<Value>>>;

/// A Grafana under `/grafana` that takes annotations with the token `t0ken`.
fn grafana() -> (std::net::SocketAddr, Seen) {
    let seen: Seen = Default::default();
    let s2 = seen.clone();
    let addr = serve(axum::Router::new().route(
        "/grafana/api/annotations",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let s2 = s2.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some("Bearer t0ken") {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(serde_json::json!({"message": "Unauthorized"})),
                        );
                    }
                    s2.lock().unwrap().push(body);
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(serde_json::json!({"id": 1, "message": "Annotation added"})),
                    )
                }
            },
        ),
    ));
    (addr, seen)
}

fn scenario(target: std::net::SocketAddr, grafana: std::net::SocketAddr, env: &str) -> String {
    format!(
        "name = \"annotated\"\ntarget = \"http://{target}\"\n[load]\nwarmup = \"1s\"\nstart_rate = 20\nstages = [{{ duration = \"1s\", target = 40 }}, {{ duration = \"1s\", target = 40 }}]\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[slo]\n\"error_rate\" = \"< 0.1%\"\n\"p99\" = \"< 1us\"\n[[export]]\nkind = \"grafana_annotations\"\nurl = \"http://{grafana}/grafana/\"\nbearer_env = \"{env}\"\ndashboard_uid = \"shop-slo\"\ntags = [\"perf\"]\n"
    )
}

#[test]
fn the_run_its_stages_and_its_verdict_are_annotated() {
    let (g, seen) = grafana();
    let (addr, _) = counting_target();
    std::env::set_var("LOADCTL_TEST_GRAFANA_TOKEN", "t0ken");
    let p = plan(&scenario(addr, g, "LOADCTL_TEST_GRAFANA_TOKEN"));
    let (o, _d) = super::support::run_plan(&p);
    let seen = seen.lock().unwrap().clone();
    let texts: Vec<&str> = seen.iter().map(|a| a["text"].as_str().unwrap()).collect();
    assert!(
        texts[0].starts_with("loadctl: annotated starts (run annotated-"),
        "{texts:?}"
    );
    for a in &seen {
        let tags: Vec<&str> = a["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tags.starts_with(&["loadctl", "annotated"]) && tags.contains(&"perf"),
            "{tags:?}"
        );
        assert!(
            tags.iter().any(|t| t.starts_with("run:annotated-")),
            "{tags:?}"
        );
        assert_eq!(a["dashboardUID"], "shop-slo");
        assert!(
            a["time"].as_u64().unwrap() > 1_700_000_000_000,
            "milliseconds since the epoch"
        );
    }
    let span = |text: &str| {
        let a = seen
            .iter()
            .find(|a| a["text"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("{text} in {texts:?}"));
        a["timeEnd"].as_u64().unwrap() - a["time"].as_u64().unwrap()
    };
    // The warmup and each stage are spans of their planned length.
    assert_eq!(span("warmup"), 1000);
    assert_eq!(span("20 → 40 req/s over 1s"), 1000);
    assert_eq!(span("40 req/s for 1s"), 1000);
    // The verdict, as the summary says it (the 1 µs p99 fails a valid run), covers the run.
    let status = o.summary.status.label();
    assert_ne!(status, "PASS");
    let verdict = seen.last().unwrap();
    let head = format!("loadctl: annotated {status}");
    assert!(
        verdict["text"].as_str().unwrap().starts_with(&head),
        "{verdict}"
    );
    assert!(verdict["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == status));
    assert!(span(&head) >= 2500, "the whole run: {}", span(&head));
    assert_eq!(o.summary.exports[0].kind, "grafana_annotations");
    assert_eq!(o.summary.exports[0].failed, 0, "{:?}", o.summary.exports);
}

#[test]
fn a_refused_token_stops_the_run_before_any_load() {
    let (g, seen) = grafana();
    let (addr, sent) = counting_target();
    std::env::set_var("LOADCTL_TEST_GRAFANA_WRONG", "nope");
    let p = plan(&scenario(addr, g, "LOADCTL_TEST_GRAFANA_WRONG"));
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("o")),
        ..Default::default()
    };
    let e = loadctl::run::run(&p, &opts).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e:#}");
    assert!(format!("{e:#}").contains("answered 401"), "{e:#}");
    assert!(sent.lock().unwrap().is_empty() && seen.lock().unwrap().is_empty());
    // And an unset variable says which, before anything is sent.
    let p = plan(&scenario(addr, g, "LOADCTL_TEST_GRAFANA_UNSET"));
    let e = loadctl::run::run(&p, &opts).unwrap_err();
    assert!(
        format!("{e:#}").contains("LOADCTL_TEST_GRAFANA_UNSET is not set"),
        "{e:#}"
    );
}
