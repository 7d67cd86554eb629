//! The embedded reference service answers seed 000's routes as the scenarios expect.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use loadctl::testbed::{Embedded, Faults, ServiceConfig};

/// A one-shot HTTP/1.1 GET: (status, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    request(addr, "GET", path, "", "")
}

/// A one-shot HTTP/1.1 request with extra header lines and a JSON body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
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

/// `fixtures/users.csv` (written by `fixtures/gen_users.py`) and the flash-sale service
/// agree on every password, so the scenario's logins succeed.
#[test]
fn the_users_fixture_matches_the_services_password_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/users.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user,password"));
    let mut n = 0;
    for line in lines {
        let (user, pw) = line.split_once(',').unwrap();
        assert_eq!(pw, loadctl::testbed::password_for(user), "row {line}");
        n += 1;
    }
    assert_eq!(n, 100_000);
}

#[test]
fn flash_sale_routes() {
    use loadctl::testbed::{password_for, FlashConfig};
    let cfg = ServiceConfig {
        flash: FlashConfig {
            items: 2,
            stock: 1,
            ..FlashConfig::default()
        },
        ..Default::default()
    };
    let svc = Embedded::start("flash-sale", &cfg, 1).unwrap();
    let a = svc.addr;
    let login = |user: &str, pw: &str| {
        request(
            a,
            "POST",
            "/api/v1/auth/login",
            "",
            &format!(r#"{{"user":"{user}","password":"{pw}"}}"#),
        )
    };
    assert_eq!(login("u000001", "wrong").0, 401);
    let (code, _, body) = login("u000001", &password_for("u000001"));
    assert_eq!(code, 200);
    let token = json(&body)["token"].as_str().unwrap().to_string();
    let auth = format!("Authorization: Bearer {token}\r\n");
    let order = |item: u32, auth: &str| {
        request(
            a,
            "POST",
            "/api/v1/flash/orders",
            auth,
            &format!(r#"{{"item_id":{item}}}"#),
        )
    };

    let (code, _, body) = get(a, "/api/v1/flash/items/1");
    assert_eq!((code, json(&body)["remaining"].as_u64()), (200, Some(1)));
    assert_eq!(get(a, "/api/v1/flash/items/3").0, 404);
    assert_eq!(order(1, "").0, 401, "no token");
    assert_eq!(
        order(1, "Authorization: Bearer u000001.0000000000000000\r\n").0,
        401,
        "forged"
    );
    assert_eq!(order(9, &auth).0, 404);
    let (code, _, body) = order(1, &auth);
    assert_eq!(
        (code, json(&body)["status"].as_str()),
        (201, Some("created"))
    );
    let (code, _, body) = order(1, &auth);
    assert_eq!(
        (code, json(&body)["error"].as_str()),
        (409, Some("already_ordered"))
    );
    let other = json(&login("u000002", &password_for("u000002")).2)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, body) = order(1, &format!("Authorization: Bearer {other}\r\n"));
    assert_eq!(
        (code, json(&body)["error"].as_str()),
        (409, Some("sold_out"))
    );

    let stats = json(&get(a, "/api/v1/flash/stats").2);
    assert_eq!(stats["initial_stock"], 2);
    assert_eq!(stats["sold"], 1);
    assert_eq!(stats["orders"], 1);
    assert_eq!(stats["oversold"], 0);
    assert_eq!(request(a, "POST", "/api/v1/flash/reset", "", "").0, 200);
    let stats = json(&get(a, "/api/v1/flash/stats").2);
    assert_eq!(
        (stats["sold"].as_u64(), stats["orders"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        order(1, &auth).0,
        201,
        "a reset sale takes the same customer again"
    );
}

#[test]
fn chat_gateway_http_routes() {
    use loadctl::testbed::ChatConfig;
    let cfg = ServiceConfig {
        chat: ChatConfig {
            max_connections: 5,
            ..ChatConfig::default()
        },
        ..Default::default()
    };
    let svc = Embedded::start("chat", &cfg, 1).unwrap();
    let a = svc.addr;
    let (code, _, body) = get(a, "/health");
    assert_eq!((code, json(&body)["status"].as_str()), (200, Some("ok")));
    assert_eq!(get(a, "/ready").0, 200);
    let p = json(&get(a, "/api/v1/presence").2);
    assert_eq!(
        (p["online"].as_u64(), p["max_connections"].as_u64()),
        (Some(0), Some(5))
    );
    // A plain GET on /ws is not an upgrade: refused, and counted like any request.
    assert!(get(a, "/ws?user=u1").0 >= 400);
    let (code, head, text) = get(a, "/metrics");
    assert_eq!(code, 200);
    assert!(head.contains("text/plain"));
    assert!(
        text.contains(r#"http_requests_total{method="GET",path="/health",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    assert!(text.contains(r#"http_request_duration_seconds_bucket{path="/health",le="+Inf"} 1"#));
    assert!(text.contains("chat_connections_open 0"));
}
