//! `[balance]` on the hot path: which backend an answer names (a header, a cookie it
//! sets, or a JSON pointer into its body) and which client the request went as (its
//! source address, or the value of a cookie or header it sent), recorded beside the
//! request's own sample. Nothing here runs without a `[balance]` table.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{HeaderMap, COOKIE, SET_COOKIE};

use super::request::{ClientKey, Response};
use super::ThreadCtx;
use crate::metrics::balance::Client;
use crate::metrics::micros;
use crate::scenario::plan::balance::{Affinity, BackendSource, BalancePlan};

/// The value of cookie `name` in a `Cookie` or `Set-Cookie` header value.
fn cookie<'a>(value: &'a str, name: &str, set: bool) -> Option<&'a str> {
    // `Set-Cookie` holds one cookie and then its attributes; `Cookie` several pairs.
    let mut pairs = value.split(';');
    let first = if set {
        pairs.next().into_iter().collect()
    } else {
        pairs.collect::<Vec<_>>()
    };
    first.into_iter().find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

fn cookie_in<'a>(headers: &'a HeaderMap, name: &str, set: bool) -> Option<&'a str> {
    let h = if set { SET_COOKIE } else { COOKIE };
    headers
        .get_all(h)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie(v, name, set))
}

/// The client of a request about to be sent, by the affinity's rule; `None` when the
/// request does not carry what identifies it (that request is not followed).
pub fn client_of(a: &Affinity, headers: &HeaderMap, source: Option<IpAddr>) -> Option<ClientKey> {
    match a {
        // Without `source_ips` every connection comes from the machine's one address.
        Affinity::ClientIp => Some(ClientKey::Ip(source.unwrap_or(IpAddr::from([0, 0, 0, 0])))),
        Affinity::Cookie(name) => {
            cookie_in(headers, name, false).map(|v| ClientKey::Text(v.into()))
        }
        Affinity::Header(h) => headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|v| ClientKey::Text(v.into())),
    }
}

/// The backend an answer names, if it names one.
pub fn backend_of<'r>(source: &BackendSource, resp: &'r Response) -> Option<Cow<'r, str>> {
    match source {
        BackendSource::Header(h) => {
            let v = resp.headers.as_deref()?.get(h)?.to_str().ok()?.trim();
            (!v.is_empty()).then_some(Cow::Borrowed(v))
        }
        BackendSource::Cookie(name) => {
            cookie_in(resp.headers.as_deref()?, name, true).map(Cow::Borrowed)
        }
        BackendSource::Json(ptr) => {
            let doc: serde_json::Value = serde_json::from_slice(resp.body.as_deref()?).ok()?;
            match doc.pointer(ptr)? {
                serde_json::Value::String(s) => Some(Cow::Owned(s.clone())),
                serde_json::Value::Null => None,
                other => Some(Cow::Owned(other.to_string())),
            }
        }
    }
}

/// Records an answered request's backend (and its client's, for the affinity check);
/// `latency` from its intended start. Requests that got no answer name no backend.
pub(super) fn record(
    ctx: &ThreadCtx,
    plan: &BalancePlan,
    resp: &Response,
    error: bool,
    latency: std::time::Duration,
) {
    if resp.status.is_none() {
        return;
    }
    let name = backend_of(&plan.backend, resp);
    // Counted under the thread's bounded name; the affinity follows the same name, and
    // nothing is allocated for it per request.
    let counted = ctx
        .rec
        .borrow_mut()
        .balance(name.as_deref(), error, micros(latency));
    let (Some(name), Some(client)) = (counted, &resp.client) else {
        return;
    };
    let since = std::time::Instant::now().saturating_duration_since(ctx.shared.measure_start);
    let idx = since.as_secs() as i64;
    let client = match client {
        ClientKey::Ip(ip) => Client::Ip(*ip),
        ClientKey::Text(t) => Client::Text(t),
    };
    ctx.affinity.borrow_mut().record(client, &name, idx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_from_either_side() {
        assert_eq!(
            cookie("SERVERID=pod-a; Path=/; HttpOnly", "SERVERID", true),
            Some("pod-a")
        );
        assert_eq!(cookie("Path=/; SERVERID=x", "SERVERID", true), None);
        assert_eq!(
            cookie("a=1; SERVERID=\"pod-b\"", "SERVERID", false),
            Some("pod-b")
        );
        assert_eq!(cookie("a=1", "SERVERID", false), None);
    }

    #[test]
    fn backends_come_from_where_the_plan_says() {
        let mut resp = Response {
            status: Some(200),
            ..Default::default()
        };
        let header = BackendSource::Header(http::HeaderName::from_static("x-served-by"));
        assert_eq!(backend_of(&header, &resp), None);
        let mut h = HeaderMap::new();
        h.insert("x-served-by", "pod-1".parse().unwrap());
        h.insert(SET_COOKIE, "SRV=pod-2; Path=/".parse().unwrap());
        resp.headers = Some(Box::new(h));
        resp.body = Some(br#"{"served": {"by": "pod-3"}}"#.to_vec());
        assert_eq!(backend_of(&header, &resp).as_deref(), Some("pod-1"));
        let c = BackendSource::Cookie("SRV".into());
        assert_eq!(backend_of(&c, &resp).as_deref(), Some("pod-2"));
        let j = BackendSource::Json("/served/by".into());
        assert_eq!(backend_of(&j, &resp).as_deref(), Some("pod-3"));
    }
}
