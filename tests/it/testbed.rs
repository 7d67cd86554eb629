//! The embedded reference service answers seed 000's routes as the scenarios expect.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use loadctl::testbed::{Embedded, Faults, ServiceConfig};

/// A one-shot HTTP/1.1 GET: (status, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn activities_routes() {
    let svc = Embedded::start("activities", &ServiceConfig::default(), 1).unwrap();
    let a = svc.addr;

    let (code, _, body) = get(a, "/api/v1/health/");
    assert_eq!(code, 200);
    assert_eq!(json(&body)["status"], "healthy");

    let (code, head, body) = get(a, "/api/v1/activities/");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/json"));
    let list = json(&body);
    assert_eq!(list["count"], 10_000);
    assert_eq!(list["results"].as_array().unwrap().len(), 20);
    assert_eq!(list["previous"], serde_json::Value::Null);
    assert_eq!(list["next"], "/api/v1/activities/?page=2&page_size=20");

    let (_, _, body) = get(a, "/api/v1/activities/?page=3&page_size=50&category=health");
    let page = json(&body);
    let results = page["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["category"] == "health"));
    assert!(page["count"].as_u64().unwrap() > 500);
    let (code, _, _) = get(a, "/api/v1/activities/?page=999");
    assert_eq!(code, 404);

    let (code, _, body) = get(a, "/api/v1/activities/42/");
    assert_eq!(code, 200);
    assert_eq!(json(&body)["id"], 42);
    assert_eq!(get(a, "/api/v1/activities/10001/").0, 404);

    let (code, _, body) = get(a, "/api/v1/users/7/");
    assert_eq!(code, 200);
    assert_eq!(json(&body)["avatar"], "/media/avatars/user-7.svg");

    let (code, _, body) = get(a, "/api/v1/notifications/?user=7");
    assert_eq!(code, 200);
    assert_eq!(
        body,
        get(a, "/api/v1/notifications/?user=7").2,
        "deterministic"
    );
    assert_eq!(get(a, "/api/v1/notifications/").0, 400);

    let (code, head, body) = get(a, "/media/avatars/user-7.svg");
    assert_eq!(code, 200);
    assert!(
        head.contains("cache-control: public, max-age=2592000, immutable"),
        "{head}"
    );
    assert!(body.starts_with("<svg"));
}

#[test]
fn faults_spare_the_health_route() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let svc = Embedded::start(
        "activities",
        &ServiceConfig {
            faults,
            ..Default::default()
        },
        1,
    )
    .unwrap();
    assert_eq!(get(svc.addr, "/api/v1/activities/1/").0, 500);
    assert_eq!(get(svc.addr, "/api/v1/health/").0, 200);
}
