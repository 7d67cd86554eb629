//! The bounds of every scenario number, with why. Validation checks each value against
//! the bound of its field (`load.vus`, `load.stages[2].duration` → `load.stages.duration`),
//! so an absurd scenario is refused with its position and the bound instead of spinning,
//! allocating gigabytes or writing a log that never ends. README lists the same table.

use std::time::Duration;

/// Whole numbers: `(field, most, why)`.
pub const COUNTS: &[(&str, u64, &str)] = &[
    ("load.vus", 100_000, "each virtual user holds a connection and a task; for more, use the open model or several generators"),
    ("load.connections", 1_000_000, "each connection holds a socket, and the kernel's default ceiling on open files (fs.nr_open) is 1,048,576"),
    ("load.max_in_flight", 1_000_000, "each waiting request is kept in memory"),
    ("load.iterations", 1_000_000_000_000, "a count no run of at most 24 h reaches"),
    ("generator.threads", 256, "one worker thread per core is what the generator needs"),
    ("http.max_streams", 1_000, "concurrent streams per HTTP/2 connection; servers advertise 100 to 1,000"),
    ("http.max_requests_per_connection", 1_000_000_000, "a count no connection of a 24 h run reaches"),
    ("flow.sessions", 1_000_000, "each session keeps its variables in memory"),
    ("chat.groups", 100_000, "each group is tracked per message"),
    ("chat.members", 10_000, "each message fans out to every member"),
    ("chat.payload", 1_048_576, "bytes of padding per message"),
    ("embedded.items", 1_000_000, "the embedded shop keeps every item in memory"),
    ("embedded.max_connections", 1_000_000, "the embedded gateway's connection limit"),
    ("requests.stream.send", 100_000, "messages one gRPC call sends, each rendered and encoded before the call"),
    ("flow.steps.stream.send", 100_000, "messages one gRPC call sends"),
    ("requests.stream.receive", 100_000, "messages one gRPC call waits for"),
    ("flow.steps.stream.receive", 100_000, "messages one gRPC call waits for"),
    ("grpc.max_message", 67_108_864, "bytes of one answer's message; the first is kept while it is read"),
];

/// Durations: `(field, longest, why)`.
pub const DURATIONS: &[(&str, Duration, &str)] = &[
    (
        "load.duration",
        Duration::from_secs(86_400),
        "24 h; run a longer soak as several runs (the interval log grows with the run)",
    ),
    (
        "load.hold",
        Duration::from_secs(86_400),
        "24 h; run a longer soak as several runs",
    ),
    ("load.stages.duration", Duration::from_secs(86_400), "24 h"),
    ("load.warmup", Duration::from_secs(3_600), "1 h"),
    (
        "flow.steps.think",
        Duration::from_secs(600),
        "10 min; a longer pause is another iteration",
    ),
    (
        "http.retry_idle",
        Duration::from_secs(3_600),
        "1 h; servers close idle keep-alive connections within minutes",
    ),
    (
        "http.max_connection_age",
        Duration::from_secs(86_400),
        "24 h; a run is at most that long",
    ),
    (
        "distributed.start_tolerance",
        Duration::from_secs(10),
        "10 s; agents that start further apart are not one run",
    ),
    (
        "distributed.heartbeat_timeout",
        Duration::from_secs(60),
        "60 s; a lost agent must end the run soon",
    ),
    (
        "capacity.step",
        Duration::from_secs(3_600),
        "1 h per step; a search runs many",
    ),
    ("capacity.settle", Duration::from_secs(3_600), "1 h"),
    ("capacity.hold", Duration::from_secs(86_400), "24 h"),
    ("capacity.hpa_stable", Duration::from_secs(3_600), "1 h"),
    ("capacity.hpa_settle_max", Duration::from_secs(3_600), "1 h"),
    (
        "load.timeout",
        Duration::from_secs(600),
        "10 min: a request is awaited that long, and the run's end with it",
    ),
    ("load.think_time", Duration::from_secs(3_600), "1 h"),
    (
        "generator.max_send_lag_p99",
        Duration::from_secs(60),
        "1 min",
    ),
    (
        "generator.wake_grain",
        Duration::from_millis(1),
        "1 ms: a shared wake-up may make a request that late",
    ),
    ("chat.grace", Duration::from_secs(600), "10 min"),
    (
        "requests.stream.every",
        Duration::from_secs(600),
        "10 min; a call's sends must fit its timeout",
    ),
    (
        "flow.steps.stream.every",
        Duration::from_secs(600),
        "10 min; a call's sends must fit its timeout",
    ),
    (
        "requests.stream.timeout",
        Duration::from_secs(600),
        "10 min; as load.timeout",
    ),
    (
        "flow.steps.stream.timeout",
        Duration::from_secs(600),
        "10 min; as load.timeout",
    ),
    ("embedded.stall", Duration::from_secs(3_600), "1 h"),
    ("embedded.stall_every", Duration::from_secs(3_600), "1 h"),
];

/// Rates per second: `(field, most, why)`.
pub const RATES: &[(&str, f64, &str)] = &[
    (
        "load.rate",
        10_000_000.0,
        "requests per second; one generator core sends about 80,000",
    ),
    ("load.start_rate", 10_000_000.0, "requests per second"),
    ("load.stages.target", 10_000_000.0, "requests per second"),
    ("load.connect_rate", 100_000.0, "new connections per second"),
    ("embedded.capacity", 10_000_000.0, "requests per second"),
    ("capacity.min", 10_000_000.0, "requests per second"),
    ("capacity.max", 10_000_000.0, "requests per second"),
    (
        "chat.publish_rate",
        10_000.0,
        "messages per second per group",
    ),
];

/// The longest a whole schedule (warmup and stages included) may last.
pub const MAX_RUN: Duration = Duration::from_secs(86_400 + 3_600);

/// `load.stages[2].duration` → `load.stages.duration`.
pub fn key(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut skip = false;
    for c in field.chars() {
        match c {
            '[' => skip = true,
            ']' => skip = false,
            c if !skip => out.push(c),
            _ => {}
        }
    }
    out
}

pub fn count(field: &str) -> Option<(u64, &'static str)> {
    let k = key(field);
    COUNTS
        .iter()
        .find(|(f, ..)| *f == k)
        .map(|(_, m, w)| (*m, *w))
}

pub fn duration(field: &str) -> Option<(Duration, &'static str)> {
    let k = key(field);
    DURATIONS
        .iter()
        .find(|(f, ..)| *f == k)
        .map(|(_, m, w)| (*m, *w))
}

pub fn rate(field: &str) -> Option<(f64, &'static str)> {
    let k = key(field);
    RATES
        .iter()
        .find(|(f, ..)| *f == k)
        .map(|(_, m, w)| (*m, *w))
}

#[cfg(test)]
mod readme {
    //! README's "Limits" table is checked against these tables: every field is in a row,
    //! and that row states its bound.

    use super::{COUNTS, DURATIONS, RATES};

    const README: &str = include_str!("../../README.md");

    fn rows() -> Vec<&'static str> {
        let start = README
            .find("### Limits")
            .expect("README has a Limits section");
        let section = &README[start..];
        let end = section[3..].find("\n### ").map_or(section.len(), |i| i + 3);
        section[..end]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .collect()
    }

    /// The row naming `field` (`load.stages.target` may be written `load.stages[].target`).
    fn row_of(rows: &[&'static str], field: &str) -> Option<&'static str> {
        rows.iter().copied().find(|r| {
            let first = r.split('|').nth(1).unwrap_or("").replace("[]", "");
            first.contains(&format!("`{field}`"))
        })
    }

    fn commas(n: u64) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn says_count(row: &str, n: u64) -> bool {
        let mib = n
            .is_multiple_of(1 << 20)
            .then(|| format!("{} MiB", n >> 20));
        let pow = (n >= 1000
            && n.to_string()
                .trim_start_matches('1')
                .bytes()
                .all(|b| b == b'0'))
        .then(|| format!("10^{}", n.to_string().len() - 1));
        row.contains(&commas(n))
            || mib.is_some_and(|m| row.contains(&m))
            || pow.is_some_and(|p| row.contains(&p))
    }

    #[test]
    fn every_bound_is_in_the_readme_table() {
        let rows = rows();
        let mut wrong = Vec::new();
        for (field, n, _) in COUNTS {
            match row_of(&rows, field) {
                Some(r) if says_count(r, *n) => {}
                Some(_) => wrong.push(format!("{field}: its row does not say {}", commas(*n))),
                None => wrong.push(format!("{field}: no row")),
            }
        }
        for (field, _, why) in DURATIONS {
            let bound: Vec<&str> = why.split_whitespace().take(2).collect();
            let bound = bound.join(" ").trim_end_matches([';', ':']).to_string();
            match row_of(&rows, field) {
                Some(r) if r.contains(&bound) => {}
                Some(_) => wrong.push(format!("{field}: its row does not say {bound}")),
                None => wrong.push(format!("{field}: no row")),
            }
        }
        for (field, n, _) in RATES {
            match row_of(&rows, field) {
                Some(r) if says_count(r, *n as u64) => {}
                Some(_) => wrong.push(format!("{field}: its row does not say {n}")),
                None => wrong.push(format!("{field}: no row")),
            }
        }
        assert!(
            wrong.is_empty(),
            "README.md, \"Limits\", differs from src/diag/limits.rs:\n{}",
            wrong.join("\n")
        );
    }
}
