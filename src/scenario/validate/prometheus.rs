//! Validation of `[[prometheus.scrape]]`: a name that can scope an SLO, an http:// URL
//! (the scenario names it, as it names a target) or a path on the target, a period, and
//! selectors that parse.

use serde::Deserialize;
use std::time::Duration;

use toml::Spanned;

use crate::diag::Ctx;
use crate::metrics::promtext::Selector;
use crate::scenario::plan::prometheus::ScrapePlan;

/// `[prometheus]`: `[[prometheus.scrape]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    #[serde(default)]
    pub scrape: Vec<Spanned<RawScrape>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrape {
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub requests: Option<Spanned<String>>,
    pub latency: Option<Spanned<String>>,
}

/// At most this many scrapes: each is a thread's worth of polling.
const MAX_SCRAPES: usize = 16;

pub(super) fn scrapes(
    cx: &mut Ctx<'_>,
    raw: Option<&RawPrometheus>,
    requests: &[&str],
) -> Vec<ScrapePlan> {
    let Some(raw) = raw else { return Vec::new() };
    let mut out: Vec<ScrapePlan> = Vec::new();
    if raw.scrape.len() > MAX_SCRAPES {
        cx.err(
            raw.scrape[MAX_SCRAPES].span(),
            "prometheus.scrape",
            format!("at most {MAX_SCRAPES} scrapes"),
        );
        return out;
    }
    for (i, s) in raw.scrape.iter().enumerate() {
        let field = |k: &str| format!("prometheus.scrape[{i}].{k}");
        let r = s.get_ref();
        let name = match &r.name {
            Some(n) if super::request::valid_name(n.get_ref()) => {
                if requests.contains(&n.get_ref().as_str())
                    || out.iter().any(|o| o.name == *n.get_ref())
                {
                    cx.err(
                        n.span(),
                        field("name"),
                        "is already a request or scrape name; an SLO scope must be one thing",
                    );
                }
                n.get_ref().clone()
            }
            Some(n) => {
                cx.err(
                    n.span(),
                    field("name"),
                    "use letters, digits, `-` and `_` only",
                );
                continue;
            }
            None => {
                cx.err(
                    s.span(),
                    field("name"),
                    "missing; add name = \"gateway\" (it scopes SLOs: \"gateway.server_p99\")",
                );
                continue;
            }
        };
        let Some(url) = &r.url else {
            cx.err(
                s.span(),
                field("url"),
                "missing; add url = \"http://127.0.0.1:30083/metrics\"",
            );
            continue;
        };
        let (origin, path) = if url.get_ref().starts_with('/') {
            // A path alone: on the run's target (the embedded service included).
            match http::uri::PathAndQuery::try_from(url.get_ref().as_str()) {
                Ok(_) => (None, url.get_ref().clone()),
                Err(_) => {
                    cx.err(
                        url.span(),
                        field("url"),
                        "not a valid URL path; percent-encode spaces",
                    );
                    continue;
                }
            }
        } else {
            match super::target::parse_url(url.get_ref()) {
                Ok((o, _)) if o.tls => {
                    cx.err(url.span(), field("url"), "scrapes speak plain http://");
                    continue;
                }
                Ok((o, p)) => (Some(o), p),
                Err(e) => {
                    cx.err(url.span(), field("url"), e);
                    continue;
                }
            }
        };
        let every = match &r.every {
            Some(e) => match cx.duration(e, &field("every")) {
                Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(300) => d,
                Some(_) => {
                    cx.err(e.span(), field("every"), "use 1s to 5m");
                    continue;
                }
                None => continue,
            },
            None => Duration::from_secs(5),
        };
        let selector = |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, k: &str| {
            let v = v.as_ref()?;
            match Selector::parse(v.get_ref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    cx.err(v.span(), field(k), format!("not a series selector such as http_requests_total{{path=\"/ws\"}}: {e}"));
                    None
                }
            }
        };
        let requests = selector(cx, &r.requests, "requests");
        let latency = selector(cx, &r.latency, "latency").map(|mut s| {
            // `…_bucket` as written names the histogram.
            if let Some(base) = s.name.strip_suffix("_bucket") {
                s.name = base.to_string();
            }
            s
        });
        if requests.is_none() && latency.is_none() {
            cx.err(
                s.span(),
                field("requests"),
                "a scrape needs `requests` (a counter) or `latency` (a histogram), or both",
            );
            continue;
        }
        out.push(ScrapePlan {
            name,
            origin,
            path,
            every,
            requests,
            latency,
        });
    }
    out
}
