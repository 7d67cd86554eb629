//! Validation of `[balance]` (where a response names its backend, the fair-share band,
//! the affinity to check) and of `[load] source_ips` (the local addresses connections
//! bind, as a range `"127.0.0.2-127.0.0.200"` or a list).

use std::net::IpAddr;

use http::header::HeaderName;
use serde::Deserialize;
use toml::Spanned;

use super::load::RawLoad;
use crate::diag::Ctx;
use crate::scenario::plan::balance::{
    Affinity, BackendSource, BalancePlan, SourceIps, DEFAULT_BAND, MAX_SOURCE_IPS,
};

/// `[balance]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalance {
    pub backend: Option<Spanned<RawBackend>>,
    pub affinity: Option<Spanned<String>>,
    /// A new replica has its fair share once within this share of it (`"20%"`).
    pub band: Option<Spanned<String>>,
}

/// `backend = { header = "x-served-by" }`, `{ cookie = "SERVERID" }` or `{ json = "/pod" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub header: Option<Spanned<String>>,
    pub cookie: Option<Spanned<String>>,
    pub json: Option<Spanned<String>>,
}

/// A cookie name as RFC 6265 allows it (a token), kept short.
fn cookie_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn header(cx: &mut Ctx<'_>, v: &Spanned<String>, field: &str) -> Option<HeaderName> {
    match HeaderName::from_bytes(v.get_ref().trim().as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            cx.err(
                v.span(),
                field,
                format!("`{}` is not a header name", v.get_ref()),
            );
            None
        }
    }
}

fn backend(cx: &mut Ctx<'_>, raw: &Spanned<RawBackend>) -> Option<BackendSource> {
    let field = "balance.backend";
    let b = raw.get_ref();
    match (&b.header, &b.cookie, &b.json) {
        (Some(h), None, None) => header(cx, h, "balance.backend.header").map(BackendSource::Header),
        (None, Some(c), None) if cookie_name(c.get_ref()) => {
            Some(BackendSource::Cookie(c.get_ref().clone()))
        }
        (None, Some(c), None) => {
            cx.err(
                c.span(),
                "balance.backend.cookie",
                format!("`{}` is not a cookie name", c.get_ref()),
            );
            None
        }
        (None, None, Some(p)) if p.get_ref().starts_with('/') || p.get_ref().is_empty() => {
            Some(BackendSource::Json(p.get_ref().clone()))
        }
        (None, None, Some(p)) => {
            cx.err(
                p.span(),
                "balance.backend.json",
                format!(
                    "`{}` is not a JSON pointer; it starts with / (\"/served_by\")",
                    p.get_ref()
                ),
            );
            None
        }
        _ => {
            cx.err(raw.span(), field, "name one place a response says which backend served it: { header = \"x-served-by\" }, { cookie = \"SERVERID\" } or { json = \"/served_by\" }");
            None
        }
    }
}

fn affinity(cx: &mut Ctx<'_>, raw: &Spanned<String>) -> Option<Affinity> {
    let text = raw.get_ref().trim();
    let field = "balance.affinity";
    if text == "client-ip" {
        return Some(Affinity::ClientIp);
    }
    if let Some(name) = text.strip_prefix("cookie:") {
        if cookie_name(name) {
            return Some(Affinity::Cookie(name.to_string()));
        }
    }
    if let Some(name) = text.strip_prefix("header:") {
        if let Ok(h) = HeaderName::from_bytes(name.as_bytes()) {
            return Some(Affinity::Header(h));
        }
    }
    cx.err(raw.span(), field, format!("`{text}` is not an affinity; use \"client-ip\" (one source address stays on one backend; see [load] source_ips), \"cookie:NAME\" (one value of the request's cookie NAME) or \"header:NAME\" (one value of the request header NAME)"));
    None
}

pub(super) fn balance(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawBalance>>) -> Option<BalancePlan> {
    let spanned = raw?;
    let raw = spanned.get_ref();
    let before = cx.count();
    let backend = match &raw.backend {
        Some(b) => backend(cx, b),
        None => {
            cx.err(spanned.span(), "balance.backend", "missing; say where a response names its backend, such as backend = { header = \"x-served-by\" }");
            None
        }
    };
    let affinity = raw.affinity.as_ref().and_then(|a| affinity(cx, a));
    let mut band = DEFAULT_BAND;
    if let Some(b) = &raw.band {
        match cx.fraction(b, "balance.band") {
            Some(f) if f < 1.0 => band = f,
            Some(_) => cx.err(
                b.span(),
                "balance.band",
                "must be below 100%: a band of the whole share says nothing",
            ),
            None => {}
        }
    }
    (cx.count() == before).then(|| BalancePlan {
        backend: backend.expect("no error: set"),
        affinity,
        band,
    })
}

/// `balance.imbalance` and `affinity.violations` are `[balance]`'s: each key in its own
/// scope, the affinity's only with an affinity to check, and those scopes take nothing else.
pub(super) fn scopes(
    cx: &mut Ctx<'_>,
    slos: &[crate::slo::Slo],
    (declared, plan): (bool, Option<&BalancePlan>),
    raw: &indexmap::IndexMap<String, Spanned<toml::Value>>,
) {
    use crate::slo::Metric;
    for s in slos {
        let at = || raw.get(&s.name).map_or(0..0, Spanned::span);
        let field = format!("slo.\"{}\"", s.name);
        let scope = s.scope.as_deref();
        match s.metric {
            Metric::Balance(b) if !declared => cx.err(at(), field, format!("`{}` is measured by [balance]; add it with backend = {{ header = \"x-served-by\" }}", b.name())),
            Metric::Balance(b) if scope != Some(b.scope()) => cx.err(at(), field, format!("write it as `{}.{}`", b.scope(), b.name())),
            Metric::Balance(crate::slo::BalanceStat::Violations) if plan.is_some_and(|p| p.affinity.is_none()) => cx.err(at(), field, "affinity.violations needs the affinity to check: [balance] affinity = \"client-ip\", \"cookie:NAME\" or \"header:NAME\""),
            Metric::Balance(_) => {}
            _ if matches!(scope, Some("balance" | "affinity")) && declared => cx.err(at(), field, "the balance scope takes imbalance, cv, new_replica_first_request_s and new_replica_fair_share_s; the affinity scope takes violations"),
            _ => {}
        }
    }
}

/// `[balance]` and `[load] source_ips`; with `[balance]`, its SLO scopes join `names`.
pub(super) fn sections(
    cx: &mut Ctx<'_>,
    (raw, load): (Option<&Spanned<RawBalance>>, Option<&Spanned<RawLoad>>),
    names: &mut Vec<&str>,
) -> (Option<BalancePlan>, SourceIps) {
    let plan = balance(cx, raw);
    let ips = source_ips(cx, load.and_then(|l| l.get_ref().source_ips.as_ref()));
    if raw.is_some() {
        names.extend(["balance", "affinity"]);
    }
    (plan, ips)
}

/// `"127.0.0.2-127.0.0.200"`: every address from the first to the last.
fn range(text: &str) -> Result<Vec<IpAddr>, String> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let parse = |s: &str| {
        s.trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("`{}` is not an IP address", s.trim()))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    let (lo, hi) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b))),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
        _ => return Err("both ends of a range are IPv4, or both IPv6".into()),
    };
    if hi < lo {
        return Err(format!("`{text}` ends before it starts"));
    }
    if hi - lo >= MAX_SOURCE_IPS as u128 {
        return Err(format!(
            "`{text}` holds more than {MAX_SOURCE_IPS} addresses"
        ));
    }
    Ok((lo..=hi)
        .map(|n| match a {
            IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(n as u32)),
            IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(n)),
        })
        .collect())
}

/// `[load] source_ips`: a range string or a list of addresses and ranges. Whether each is
/// an address of this machine is checked before the run (binding it), not here.
pub(super) fn source_ips(cx: &mut Ctx<'_>, raw: Option<&Spanned<toml::Value>>) -> SourceIps {
    let Some(v) = raw else { return Vec::new() };
    let field = "load.source_ips";
    let items: Vec<&str> = match v.get_ref() {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(a) if a.iter().all(toml::Value::is_str) => {
            a.iter().filter_map(toml::Value::as_str).collect()
        }
        _ => {
            cx.err(
                v.span(),
                field,
                "write a range (\"127.0.0.2-127.0.0.200\") or a list of addresses and ranges",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match range(item) {
            Ok(ips) => out.extend(ips),
            Err(e) => {
                cx.err(v.span(), field, e);
                return Vec::new();
            }
        }
    }
    if out.len() > MAX_SOURCE_IPS {
        cx.err(
            v.span(),
            field,
            format!("{} addresses; at most {MAX_SOURCE_IPS}", out.len()),
        );
        return Vec::new();
    }
    if out.is_empty() {
        cx.err(v.span(), field, "no address given");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_in_order() {
        let ips = range("127.0.0.2-127.0.0.5").unwrap();
        assert_eq!(ips.len(), 4);
        assert_eq!(ips[3].to_string(), "127.0.0.5");
        assert_eq!(range("::1").unwrap().len(), 1);
        assert!(range("127.0.0.5-127.0.0.2")
            .unwrap_err()
            .contains("ends before"));
        assert!(range("127.0.0.1-::1").is_err());
        assert!(range("10.0.0.0-10.1.0.0")
            .unwrap_err()
            .contains("more than"));
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!(cookie_name("SERVERID"));
        assert!(!cookie_name("a b") && !cookie_name("") && !cookie_name("a=b"));
    }
}
