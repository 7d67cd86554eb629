//! `loadctl import har recording.har`: a browser's recording as one flow, a step per
//! request kept, with the values a response produced and a later request sent back
//! turned into extractions and `{{variables}}` (correlation), the user's own values
//! (credentials, cookies and auth the recording started with) moved into a feeder, and
//! the pauses between requests as `think` times.
//!
//! Dropped by default, and said so: static assets, analytics hosts, `data:` entries,
//! other hosts than the recording's main origin (unless `--include` names them), and
//! the browser's own headers.

use std::time::Duration;

use base64::Engine as _;
use regex::Regex;
use serde::Deserialize;

use super::curl::escape_templates;
use super::scenario::{step_name, Extract, Feeder, Scenario, Step};
use super::ImportError;

#[derive(Debug, Deserialize)]
struct Har {
    log: Log,
}

#[derive(Debug, Deserialize)]
struct Log {
    #[serde(default)]
    entries: Vec<Entry>,
    #[serde(default)]
    creator: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    started_date_time: String,
    /// Total time of the request, ms.
    #[serde(default)]
    time: f64,
    request: Request,
    response: Response,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<Pair>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    params: Vec<Pair>,
}

#[derive(Debug, Deserialize)]
struct Response {
    #[serde(default)]
    status: u16,
    #[serde(default)]
    headers: Vec<Pair>,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Pair {
    name: String,
    #[serde(default)]
    value: String,
}

/// What the user asked of the import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    pub no_think: bool,
    /// Longest think time kept.
    pub max_think: Duration,
    pub target: Option<String>,
    /// The scenario's file stem, for the feeder's file name.
    pub stem: String,
}

/// Entries read at most.
const MAX_ENTRIES: usize = 5_000;
/// Values shorter than this are not correlated (too likely to match by chance).
const MIN_VALUE: usize = 6;

fn static_asset() -> Regex {
    Regex::new(r"(?i)\.(png|jpe?g|gif|svg|ico|webp|avif|css|js|mjs|map|woff2?|ttf|otf|eot|mp4|webm|mp3)(\?|$)").expect("constant")
}

const ANALYTICS: &[&str] = &[
    "google-analytics.com",
    "googletagmanager.com",
    "doubleclick.net",
    "analytics.",
    "segment.io",
    "segment.com",
    "hotjar.com",
    "facebook.net",
    "connect.facebook",
    "clarity.ms",
    "sentry.io",
    "newrelic.com",
    "nr-data.net",
    "mixpanel.com",
    "amplitude.com",
];

/// Browser-managed headers, and those loadctl sets itself.
const NOISE: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "accept-encoding",
    "accept-language",
    "user-agent",
    "cache-control",
    "pragma",
    "upgrade-insecure-requests",
    "origin",
    "referer",
    "dnt",
    "te",
    "priority",
    "if-none-match",
    "if-modified-since",
    "keep-alive",
    "purpose",
];

/// Keys whose values are a user's own: they become feeder columns.
const PERSONAL: &[&str] = &[
    "user", "username", "login", "email", "password", "passwd", "pass",
];

fn decode_body(c: &Content) -> Option<String> {
    let text = c.text.as_ref()?;
    match c.encoding.as_deref() {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        _ => Some(text.clone()),
    }
}

/// Values an answer produced, with where: `(value, how to extract it)`.
fn produced(r: &Response) -> Vec<(String, Extract)> {
    let mut out = Vec::new();
    for h in &r.headers {
        if h.name.eq_ignore_ascii_case("set-cookie") {
            if let Some((k, v)) = h.value.split(';').next().and_then(|c| c.split_once('=')) {
                out.push((v.trim().to_string(), Extract::Cookie(k.trim().to_string())));
            }
        }
        if h.name.eq_ignore_ascii_case("location") && h.value.starts_with('/') {
            out.push((h.value.clone(), Extract::Header("location".into())));
        }
    }
    if let Some(doc) = r
        .content
        .as_ref()
        .and_then(decode_body)
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        fn walk(
            v: &serde_json::Value,
            ptr: String,
            out: &mut Vec<(String, Extract)>,
            depth: usize,
        ) {
            if depth > 8 || out.len() > 500 {
                return;
            }
            match v {
                serde_json::Value::String(s) => out.push((s.clone(), Extract::Json(ptr))),
                serde_json::Value::Number(n) => out.push((n.to_string(), Extract::Json(ptr))),
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        let key = k.replace('~', "~0").replace('/', "~1");
                        walk(x, format!("{ptr}/{key}"), out, depth + 1);
                    }
                }
                serde_json::Value::Array(a) => {
                    for (i, x) in a.iter().enumerate().take(20) {
                        walk(x, format!("{ptr}/{i}"), out, depth + 1);
                    }
                }
                _ => {}
            }
        }
        walk(&doc, String::new(), &mut out, 0);
    }
    out.retain(|(v, _)| v.len() >= MIN_VALUE && v.len() <= 4096);
    out
}

fn body_of(r: &Request) -> (Option<String>, Option<String>) {
    let Some(p) = &r.post_data else {
        return (None, None);
    };
    let text = match (&p.text, p.params.is_empty()) {
        (Some(t), _) => Some(t.clone()),
        (None, false) => Some(
            p.params
                .iter()
                .map(|x| format!("{}={}", x.name, x.value))
                .collect::<Vec<_>>()
                .join("&"),
        ),
        (None, true) => None,
    };
    (text, (!p.mime_type.is_empty()).then(|| p.mime_type.clone()))
}

/// Moves the user's own values (in a JSON or form body) into feeder columns.
fn personal(body: &str, columns: &mut Vec<(String, String)>) -> String {
    let mut out = body.to_string();
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(body) {
        for (k, v) in &m {
            if let (true, Some(s)) = (PERSONAL.contains(&k.to_lowercase().as_str()), v.as_str()) {
                if !s.is_empty() && !columns.iter().any(|(c, _)| c == &k.to_lowercase()) {
                    columns.push((k.to_lowercase(), s.to_string()));
                }
            }
        }
    }
    for (col, value) in columns.iter() {
        out = out.replace(&format!("\"{value}\""), &format!("\"{{{{{col}}}}}\""));
        out = out.replace(&format!("={value}"), &format!("={{{{{col}}}}}"));
    }
    out
}

fn think_between(prev: &Entry, next: &Entry) -> Option<Duration> {
    let t = |s: &str| s.parse::<k8s_openapi::jiff::Timestamp>().ok();
    let (a, b) = (t(&prev.started_date_time)?, t(&next.started_date_time)?);
    let gap = b.as_millisecond() - a.as_millisecond() - prev.time.max(0.0) as i64;
    (gap > 100).then(|| Duration::from_millis(gap as u64))
}

/// The entries kept, each with its parsed URL.
type Selected<'a> = Vec<(&'a Entry, url::Url)>;

/// The entries to import and the main origin; what is left out goes to `dropped`.
fn select<'a>(
    har: &'a Har,
    o: &Options,
    dropped: &mut Vec<String>,
) -> Result<(Selected<'a>, String), ImportError> {
    let assets = static_asset();
    let mut kept: Vec<(&Entry, url::Url)> = Vec::new();
    for e in har.log.entries.iter().take(MAX_ENTRIES) {
        let u = &e.request.url;
        let why = if u.starts_with("data:") || u.starts_with("blob:") {
            Some("a data: or blob: entry")
        } else if o.exclude.as_ref().is_some_and(|r| r.is_match(u)) {
            Some("matched --exclude")
        } else if o.include.as_ref().is_some_and(|r| r.is_match(u)) {
            None
        } else if assets.is_match(u.split('#').next().unwrap_or(u)) {
            Some("a static asset")
        } else if ANALYTICS.iter().any(|a| u.contains(a)) {
            Some("an analytics host")
        } else {
            None
        };
        match (why, url::Url::parse(u)) {
            (None, Ok(parsed)) if matches!(parsed.scheme(), "http" | "https") => {
                kept.push((e, parsed))
            }
            (None, _) => dropped.push(format!("{u}: not an http(s) URL")),
            (Some(w), _) => dropped.push(format!("{} {u}: {w}", e.request.method)),
        }
    }
    if har.log.entries.len() > MAX_ENTRIES {
        dropped.push(format!("entries beyond the first {MAX_ENTRIES}"));
    }
    // The main origin: the one most requests went to (or --target's).
    let main = match &o.target {
        Some(t) => url::Url::parse(t)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|e| ImportError::Parse(format!("--target {t}: {e}")))?,
        None => {
            let mut count: std::collections::BTreeMap<String, usize> = Default::default();
            for (_, u) in &kept {
                *count.entry(u.origin().ascii_serialization()).or_default() += 1;
            }
            count.into_iter().max_by_key(|(_, n)| *n).map(|(o, _)| o).ok_or_else(|| {
                ImportError::Empty("no request left to import (everything was a static asset, analytics or filtered out)".into())
            })?
        }
    };
    kept.retain(|(e, u)| {
        let same = u.origin().ascii_serialization() == main;
        let asked = o.include.as_ref().is_some_and(|r| r.is_match(&e.request.url));
        let loopback = match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if !same && !asked {
            dropped.push(format!(
                "{} {}: another host than {main} (--include to keep it)",
                e.request.method, e.request.url
            ));
        } else if !same && !loopback {
            // A scenario sends to one named target, whatever it holds (traffic safety).
            dropped.push(format!("{} {}: another host than {main}; a scenario sends only to its target: import it on its own with --target", e.request.method, e.request.url));
            return false;
        }
        same || asked
    });
    if kept.is_empty() {
        return Err(ImportError::Empty(format!(
            "no request to {main} left to import"
        )));
    }
    Ok((kept, main))
}

/// A request as it will be sent.
struct Req {
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// The recorded request, without what the browser adds, with literal `{{` kept literal.
fn request_of(
    e: &Entry,
    u: &url::Url,
    main: &str,
    (dropped, noise): (&mut Vec<String>, &mut std::collections::BTreeSet<String>),
) -> Req {
    let path = if u.origin().ascii_serialization() == main {
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    } else {
        u.as_str().to_string()
    };
    let (body, mime) = body_of(&e.request);
    let empty = |p: &PostData| p.text.is_none() && p.params.is_empty();
    if body.is_none() && e.request.post_data.as_ref().is_some_and(empty) {
        dropped.push(format!(
            "{} {u}: a body the recording did not keep",
            e.request.method
        ));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &e.request.headers {
        let n = h.name.to_lowercase();
        if n.starts_with(':') || n.starts_with("sec-") || NOISE.contains(&n.as_str()) {
            noise.insert(n);
            continue;
        }
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&h.name)) {
            headers.push((h.name.clone(), escape_templates(&h.value)));
        }
    }
    if let (Some(m), true) = (&mime, body.is_some()) {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), m.clone()));
        }
    }
    Req {
        path: escape_templates(&path),
        headers,
        body: body.map(|b| escape_templates(&b)),
    }
}

/// The values answers produced so far, and the user's own values (feeder columns).
#[derive(Default)]
struct Correlation {
    /// `(value, producing step, extraction, variable once named)`.
    pool: Vec<(String, usize, Extract, Option<String>)>,
    /// Value → its index in `pool`: a request's words are looked up, so the cost of a
    /// request is its length, not the number of values answers produced.
    index: std::collections::HashMap<String, usize>,
    /// Variable and feeder column names given so far.
    names: super::scenario::Unique,
    columns: Vec<(String, String)>,
}

/// Produced values followed at most: a long recording's answers are full of ids.
const MAX_POOL: usize = 100_000;

/// The words of `text` a produced value could be: split where JSON, query strings,
/// headers and cookies separate values, again at `/` (path segments), and coarser.
fn words(text: &str) -> impl Iterator<Item = &str> {
    const SEP: &[char] = &[
        ' ', '\t', '\n', '\r', '"', '\'', '&', '=', ';', ',', ':', '?', '{', '}', '[', ']', '(',
        ')', '<', '>', '\\',
    ];
    // Coarser words too, for values that hold `=`, `:` or `/` themselves (base64, URLs).
    const COARSE: &[char] = &[
        ' ', '\t', '\n', '\r', '"', '\'', '&', ';', ',', '{', '}', '[', ']',
    ];
    text.split(SEP)
        .flat_map(|w| std::iter::once(w).chain(w.split('/')))
        .chain(text.split(COARSE))
        .filter(|w| w.len() >= MIN_VALUE)
}

impl Correlation {
    /// The variable of produced value `k`, named (and its extraction added to the step
    /// that produced it) the first time a request sends it back.
    fn var_for(&mut self, k: usize, steps: &mut [Step]) -> String {
        if let Some(v) = &self.pool[k].3 {
            return v.clone();
        }
        let base = match &self.pool[k].2 {
            Extract::Cookie(c) | Extract::Header(c) => c.clone(),
            Extract::Json(p) => p
                .rsplit('/')
                .find(|s| !s.is_empty() && s.parse::<usize>().is_err())
                .unwrap_or("value")
                .to_string(),
        };
        let var = self.names.name(&base).replace('-', "_");
        let (producer, from) = (self.pool[k].1, self.pool[k].2.clone());
        steps[producer].extract.push((var.clone(), from));
        steps[producer].comments.push(format!(
            "`{var}` is sent back by a later request (found by correlation)"
        ));
        self.pool[k].3 = Some(var.clone());
        var
    }

    /// Replaces, in `r`, the values earlier answers produced by their variables (the
    /// longest first, so a token is not cut by an id).
    fn apply(&mut self, r: &mut Req, steps: &mut [Step], comments: &mut Vec<String>) {
        let mut found: Vec<usize> = {
            let texts = std::iter::once(r.path.as_str())
                .chain(r.headers.iter().map(|(_, v)| v.as_str()))
                .chain(r.body.as_deref());
            texts
                .flat_map(words)
                .filter_map(|w| self.index.get(w).copied())
                .collect()
        };
        found.sort_unstable();
        found.dedup();
        // The longest first, so a token is not cut by an id inside it.
        found.sort_by_key(|k| std::cmp::Reverse(self.pool[*k].0.len()));
        for k in found {
            let value = self.pool[k].0.clone();
            // A path must start with a literal `/`: a produced value that is the path's
            // beginning (a relative Location) stays as recorded there.
            let path_ok = !r.path.starts_with(&value);
            let in_path = path_ok && r.path.contains(&value);
            let in_headers = r.headers.iter().any(|(_, v)| v.contains(&value));
            let in_body = r.body.as_ref().is_some_and(|b| b.contains(&value));
            if !(in_path || in_headers || in_body) {
                continue;
            }
            let var = self.var_for(k, steps);
            let t = format!("{{{{{var}}}}}");
            if path_ok {
                r.path = r.path.replace(&value, &t);
            }
            for (_, v) in r.headers.iter_mut() {
                *v = v.replace(&value, &t);
            }
            r.body = r.body.take().map(|b| b.replace(&value, &t));
            comments.push(format!(
                "`{var}` was recorded as a value an earlier answer produced"
            ));
        }
    }

    /// The user's own values: credentials in the body, and a `Cookie` or `Authorization`
    /// the recording started with.
    fn personal(&mut self, r: &mut Req) {
        if let Some(b) = &r.body {
            r.body = Some(personal(b, &mut self.columns));
            for (c, _) in &self.columns {
                self.names.take(c);
            }
        }
        for (k, v) in r.headers.iter_mut() {
            let n = k.to_lowercase();
            if (n == "cookie" || n == "authorization") && !v.contains("{{") {
                let col = self.names.name(&n);
                self.columns.push((col.clone(), v.clone()));
                *v = format!("{{{{{col}}}}}");
            }
        }
    }

    fn produced_by(&mut self, step: usize, r: &Response) {
        for (v, from) in produced(r) {
            if self.pool.len() < MAX_POOL && !self.index.contains_key(&v) {
                self.index.insert(v.clone(), self.pool.len());
                self.pool.push((v, step, from, None));
            }
        }
    }
}

/// The scenario of a HAR recording.
pub fn import(text: &str, source: &str, o: &Options) -> Result<Scenario, ImportError> {
    let har: Har = serde_json::from_str(text).map_err(|e| ImportError::At {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut dropped: Vec<String> = Vec::new();
    let (kept, main) = select(&har, o, &mut dropped)?;
    let mut steps: Vec<Step> = Vec::new();
    let mut corr = Correlation::default();
    let mut step_names = super::scenario::Unique::default();
    let mut noise = std::collections::BTreeSet::new();
    for (i, (e, u)) in kept.iter().enumerate() {
        let mut r = request_of(e, u, &main, (&mut dropped, &mut noise));
        let mut comments = vec![format!("{} {u} → {}", e.request.method, e.response.status)];
        corr.apply(&mut r, &mut steps, &mut comments);
        corr.personal(&mut r);
        let status = e.response.status;
        let think = match (o.no_think, kept.get(i + 1)) {
            (false, Some((next, _))) => think_between(e, next).map(|t| t.min(o.max_think)),
            _ => None,
        };
        steps.push(Step {
            name: step_names.name(&format!("{} {}", e.request.method.to_lowercase(), u.path())),
            method: e.request.method.to_uppercase(),
            path: r.path,
            headers: r.headers,
            body: r.body,
            expect_status: (!(200..300).contains(&status) && status != 0).then_some(status),
            think,
            comments,
            ..Default::default()
        });
        corr.produced_by(steps.len() - 1, &e.response);
    }
    if !noise.is_empty() {
        dropped.push(format!(
            "browser headers: {}",
            noise.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let creator = har
        .log
        .creator
        .as_ref()
        .map(|c| format!(" by {} {}", c.name, c.version))
        .filter(|c| c.trim() != "by")
        .unwrap_or_default();
    let first = kept
        .first()
        .map(|(e, _)| e.started_date_time.clone())
        .unwrap_or_default();
    let feeders = if corr.columns.is_empty() {
        Vec::new()
    } else {
        vec![Feeder {
            name: "recorded".into(),
            file: format!("{}.users.csv", o.stem),
            columns: corr.columns.iter().map(|c| c.0.clone()).collect(),
            rows: vec![corr.columns.iter().map(|c| c.1.clone()).collect()],
        }]
    };
    Ok(Scenario {
        name: step_name(&o.stem, &[]),
        description: format!(
            "Imported from the HAR recording {source}: {} requests to {main}",
            steps.len()
        ),
        header: vec![
            format!(
                "Imported by `loadctl import har` from {source}, recorded {first}{}.",
                creator.trim_end()
            ),
            "Correlated values are extracted where an answer produced them; the user's own".into(),
            "values (credentials, cookies) are in the feeder's CSV: add a row per user.".into(),
        ],
        target: Some(main),
        flow: true,
        steps,
        feeders,
        dropped,
        ..Default::default()
    })
}
