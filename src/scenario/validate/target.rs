//! Validation of where traffic goes: `target =` or `--target` (an http://, https://, ws://
//! or wss:// URL),
//! or, with neither, the `[embedded]` reference service and its faults.

use serde::Deserialize;
use toml::Spanned;

use crate::diag::Ctx;
use crate::scenario::plan::embedded::{
    ClusterConfig, LatencySpec, RateLimits, ServiceConfig, SERVICES,
};
use crate::scenario::plan::target::{EmbeddedPlan, Origin, TargetSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbedded {
    pub service: Option<Spanned<String>>,
    pub latency: Option<Spanned<String>>,
    pub error_rate: Option<Spanned<String>>,
    /// Requests per second the service holds, as one FIFO server.
    pub capacity: Option<Spanned<f64>>,
    pub stall: Option<Spanned<String>>,
    pub stall_every: Option<Spanned<String>>,
    pub items: Option<Spanned<i64>>,
    pub stock: Option<Spanned<i64>>,
    pub unsafe_stock: Option<bool>,
    pub rate_limits: Option<bool>,
    pub max_connections: Option<Spanned<i64>>,
    pub drop_rate: Option<Spanned<String>>,
    pub relay_latency: Option<Spanned<String>>,
    /// flash-sale: run it under a simulated control plane that `[kube]` then watches.
    pub simulate_cluster: Option<bool>,
    pub time_scale: Option<Spanned<f64>>,
    pub replica_capacity: Option<Spanned<f64>>,
    /// Pods removed by a rollout drain first (a preStop hook), or drop what they serve.
    pub prestop_drain: Option<Spanned<bool>>,
    /// How the simulated Service picks a pod per connection.
    pub balancer: Option<Spanned<String>>,
    /// `"client-ip"`: the simulated Service's `sessionAffinity`.
    pub session_affinity: Option<Spanned<String>>,
}

pub(super) fn target(
    cx: &mut Ctx<'_>,
    file: Option<&Spanned<String>>,
    cli: Option<&str>,
    embedded: Option<&RawEmbedded>,
) -> Option<TargetSpec> {
    let (text, span, field) = match (cli, file) {
        (Some(cli), _) => (cli.to_string(), 0..0, "--target"),
        (None, Some(f)) => (f.get_ref().clone(), f.span(), "target"),
        (None, None) => {
            return embedded_plan(cx, embedded).map(TargetSpec::Embedded);
        }
    };
    match parse_url(&text) {
        Ok((origin, path)) => Some(TargetSpec::Url {
            origin,
            base_path: path.trim_end_matches('/').to_string(),
        }),
        Err(e) => {
            cx.err(span, field, e);
            None
        }
    }
}

/// Splits `http[s]://host[:port][/path]` (or `ws[s]://`). Templates are not allowed in the origin.
pub(crate) fn parse_url(text: &str) -> Result<(Origin, String), String> {
    // A WebSocket URL names the same origin; the chat load upgrades on it.
    let (rest, tls) = [("http://", false), ("ws://", false), ("https://", true), ("wss://", true)]
        .iter()
        .find_map(|(scheme, tls)| text.strip_prefix(scheme).map(|r| (r, *tls)))
        .ok_or_else(|| {
            format!("`{text}` is not an http://, https://, ws:// or wss:// URL; write it as http://127.0.0.1:8080")
        })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: unclosed `[` in the host"))?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host.contains("{{") {
        return Err(format!(
            "`{text}` has no host (templates are not allowed in the host)"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "`{text}`: user information (`user@`) is not supported in a URL; name the host alone, and put credentials in a header"
        ));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !bare
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!(
            "`{text}`: `{host}` is not a host name or IP address (letters, digits, `.`, `-`)"
        ));
    }
    if http::uri::PathAndQuery::try_from(path).is_err() {
        return Err(format!(
            "`{text}`: the path is not a valid URL path; percent-encode spaces and control characters (a space is %20)"
        ));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{text}`: `{p}` is not a port number"))?,
        None if tls => 443,
        None => 80,
    };
    Ok((Origin { host, port, tls }, path.to_string()))
}

/// `[embedded] capacity`: requests per second the service holds, as one FIFO server.
fn capacity(cx: &mut Ctx<'_>, raw: &RawEmbedded, plan: &mut EmbeddedPlan) -> bool {
    let Some(c) = &raw.capacity else { return true };
    match cx.rate_bound(c, "embedded.capacity") {
        Some(r) if r.is_finite() && r > 0.0 => {
            plan.config.faults.capacity = Some(r);
            true
        }
        Some(r) => {
            cx.err(
                c.span(),
                "embedded.capacity",
                format!("must be a positive number of requests per second, not {r}"),
            );
            false
        }
        None => false,
    }
}

fn embedded_plan(cx: &mut Ctx<'_>, raw: Option<&RawEmbedded>) -> Option<EmbeddedPlan> {
    let mut plan = EmbeddedPlan {
        service: "activities".into(),
        config: ServiceConfig::default(),
    };
    let Some(raw) = raw else { return Some(plan) };
    let mut ok = true;
    if let Some(s) = &raw.service {
        if SERVICES.split(", ").any(|k| k == s.get_ref()) {
            plan.service = s.get_ref().clone();
        } else {
            cx.err(
                s.span(),
                "embedded.service",
                format!(
                    "unknown reference service `{}`; available: {SERVICES}",
                    s.get_ref()
                ),
            );
            ok = false;
        }
    }
    if let Some(n) = &raw.items {
        match cx.positive(n, "embedded.items") {
            Some(n) => plan.config.flash.items = n.min(u32::MAX as usize) as u32,
            None => ok = false,
        }
    }
    if let Some(n) = &raw.stock {
        match usize::try_from(*n.get_ref()) {
            Ok(n) => plan.config.flash.stock = n as u64,
            Err(_) => {
                cx.err(n.span(), "embedded.stock", "must be zero or more");
                ok = false;
            }
        }
    }
    if let Some(u) = raw.unsafe_stock {
        plan.config.flash.unsafe_stock = u;
    }
    if raw.rate_limits == Some(true) {
        plan.config.rate_limits = Some(RateLimits::seed_002());
    }
    if let Some(n) = &raw.max_connections {
        match cx.positive(n, "embedded.max_connections") {
            Some(n) => plan.config.chat.max_connections = n,
            None => ok = false,
        }
    }
    if let Some(r) = &raw.drop_rate {
        match cx.fraction(r, "embedded.drop_rate") {
            Some(f) => plan.config.chat.drop_rate = f,
            None => ok = false,
        }
    }
    if let Some(l) = &raw.relay_latency {
        match LatencySpec::parse(l.get_ref()) {
            Ok(spec) => plan.config.chat.relay_latency = Some(spec),
            Err(e) => {
                cx.err(l.span(), "embedded.relay_latency", e);
                ok = false;
            }
        }
    }
    if let Some(l) = &raw.latency {
        match LatencySpec::parse(l.get_ref()) {
            Ok(spec) => plan.config.faults.latency = Some(spec),
            Err(e) => {
                cx.err(l.span(), "embedded.latency", e);
                ok = false;
            }
        }
    }
    if let Some(r) = &raw.error_rate {
        match cx.fraction(r, "embedded.error_rate") {
            Some(f) => plan.config.faults.error_rate = f,
            None => ok = false,
        }
    }
    ok &= capacity(cx, raw, &mut plan);
    match (&raw.stall, &raw.stall_every) {
        (Some(stall), Some(every)) => {
            let s = cx.duration(stall, "embedded.stall");
            let e = cx.duration(every, "embedded.stall_every");
            match (s, e) {
                (Some(s), Some(e)) if s < e => plan.config.faults.stall = Some((s, e)),
                (Some(_), Some(_)) => {
                    cx.err(
                        stall.span(),
                        "embedded.stall",
                        "must be shorter than stall_every",
                    );
                    ok = false;
                }
                _ => ok = false,
            }
        }
        (Some(v), None) | (None, Some(v)) => {
            cx.err(
                v.span(),
                "embedded",
                "`stall` and `stall_every` go together (stall = \"1s\", stall_every = \"10s\")",
            );
            ok = false;
        }
        (None, None) => {}
    }
    ok &= cluster(cx, raw, &mut plan);
    ok.then_some(plan)
}

/// `simulate_cluster` and what shapes the simulated cluster; `false` when an error was
/// reported.
fn cluster(cx: &mut Ctx<'_>, raw: &RawEmbedded, plan: &mut EmbeddedPlan) -> bool {
    let mut ok = true;
    let scale = raw.time_scale.as_ref();
    let capacity = raw.replica_capacity.as_ref();
    if raw.simulate_cluster == Some(true) {
        let mut c = ClusterConfig::default();
        if let Some(t) = scale {
            if t.get_ref().is_finite() && (0.1..=1000.0).contains(t.get_ref()) {
                c.time_scale = *t.get_ref();
            } else {
                cx.err(
                    t.span(),
                    "embedded.time_scale",
                    "use a factor from 0.1 to 1000 (simulated seconds per second)",
                );
                ok = false;
            }
        }
        if let Some(r) = capacity {
            if r.get_ref().is_finite() && *r.get_ref() > 0.0 {
                c.replica_capacity = *r.get_ref();
            } else {
                cx.err(
                    r.span(),
                    "embedded.replica_capacity",
                    "use requests per second above 0",
                );
                ok = false;
            }
        }
        if let Some(d) = &raw.prestop_drain {
            c.prestop_drain = *d.get_ref();
        }
        ok &= service_balance(cx, raw, &mut c);
        if plan.service != "flash-sale" {
            cx.err(
                raw.service.as_ref().map_or(0..0, |s| s.span()),
                "embedded.simulate_cluster",
                "the simulated cluster runs the flash-sale service only; set service = \"flash-sale\"",
            );
            ok = false;
        }
        plan.config.cluster = Some(c);
    } else if let Some(span) = scale
        .map(|s| s.span())
        .or(capacity.map(|c| c.span()))
        .or(raw.prestop_drain.as_ref().map(|d| d.span()))
        .or(raw.balancer.as_ref().map(|d| d.span()))
        .or(raw.session_affinity.as_ref().map(|d| d.span()))
    {
        cx.err(span, "embedded", "`time_scale`, `replica_capacity`, `prestop_drain`, `balancer` and `session_affinity` shape the simulated cluster; add simulate_cluster = true");
        ok = false;
    }
    ok
}

/// `balancer` and `session_affinity` of the simulated Service; `false` on an error.
fn service_balance(cx: &mut Ctx<'_>, raw: &RawEmbedded, c: &mut ClusterConfig) -> bool {
    use crate::scenario::plan::embedded::Strategy;
    let mut ok = true;
    if let Some(b) = &raw.balancer {
        match Strategy::NAMES
            .iter()
            .find(|(n, _)| *n == b.get_ref().as_str())
        {
            Some((_, s)) => c.balancer = Some(*s),
            None => {
                cx.err(
                    b.span(),
                    "embedded.balancer",
                    format!(
                        "`{}` is not a strategy; use {}",
                        b.get_ref(),
                        crate::diag::kind_names(&Strategy::NAMES)
                    ),
                );
                ok = false;
            }
        }
    }
    if let Some(a) = &raw.session_affinity {
        match a.get_ref().as_str() {
            "client-ip" if c.balancer.is_some() => c.session_affinity = true,
            "client-ip" => {
                cx.err(a.span(), "embedded.session_affinity", "a Service's session affinity picks per connection: set `balancer` too (\"random\", as iptables does)");
                ok = false;
            }
            "none" => {}
            other => {
                cx.err(
                    a.span(),
                    "embedded.session_affinity",
                    format!("`{other}` is not an affinity; use \"client-ip\" or \"none\""),
                );
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path() {
        let (o, p) = parse_url("http://127.0.0.1:30081/api").unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, p.as_str()),
            ("127.0.0.1", 30081, "/api")
        );
        let (o, p) = parse_url("http://[::1]:8080").unwrap();
        assert_eq!((o.host.as_str(), o.port, p.as_str()), ("[::1]", 8080, "/"));
        let (o, _) = parse_url("https://example.test").unwrap();
        assert_eq!((o.port, o.tls), (443, true));
        let (o, _) = parse_url("wss://127.0.0.1:8443/ws").unwrap();
        assert_eq!((o.port, o.tls), (8443, true));
        assert!(!parse_url("ws://127.0.0.1/ws").unwrap().0.tls);
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://x:99999").is_err());
    }
}
