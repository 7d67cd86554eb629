//! What the push exporters' tables have in common (`remote_write`, `otlp`,
//! `grafana_annotations`): an endpoint URL, durations within bounds, extra headers, a
//! bearer token read from the environment, a private CA. Each reader reports its error with the
//! position and the fix and returns `None`; the kind decides what to build.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use http::{HeaderName, HeaderValue};
use indexmap::IndexMap;
use toml::Spanned;

use crate::diag::Ctx;

/// `v` as an http(s) URL with a host; `example` is what a right one looks like.
pub fn url(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<String>>,
    span: Range<usize>,
    field: String,
    example: &str,
) -> Option<url::Url> {
    let Some(u) = v else {
        cx.err(span, field, format!("missing; such as {example}"));
        return None;
    };
    match url::Url::parse(u.get_ref()) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Some(p),
        _ => {
            cx.err(
                u.span(),
                field,
                format!("`{}` is not an http(s) URL such as {example}", u.get_ref()),
            );
            None
        }
    }
}

/// `v` as a duration within `lo..=hi`, `def` when absent.
pub fn duration(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<String>>,
    field: String,
    (def, lo, hi): (Duration, Duration, Duration),
) -> Option<Duration> {
    let Some(v) = v else { return Some(def) };
    match humantime::parse_duration(v.get_ref().trim()) {
        Ok(d) if (lo..=hi).contains(&d) => Some(d),
        _ => {
            cx.err(
                v.span(),
                field,
                format!(
                    "`{}`: a duration from {} to {}",
                    v.get_ref(),
                    humantime::format_duration(lo),
                    humantime::format_duration(hi)
                ),
            );
            None
        }
    }
}

/// A push's `timeout`: 100 ms to 60 s, 10 s when absent.
pub fn timeout(cx: &mut Ctx<'_>, v: Option<&Spanned<String>>, field: String) -> Option<Duration> {
    duration(
        cx,
        v,
        field,
        (
            Duration::from_secs(10),
            Duration::from_millis(100),
            Duration::from_secs(60),
        ),
    )
}

/// A push's `every`: 1 s to 10 min, 5 s when absent.
pub fn every(cx: &mut Ctx<'_>, v: Option<&Spanned<String>>, field: String) -> Option<Duration> {
    duration(
        cx,
        v,
        field,
        (
            Duration::from_secs(5),
            Duration::from_secs(1),
            Duration::from_secs(600),
        ),
    )
}

/// An address to listen on (`IP:PORT`); `example` is what a right one looks like.
pub fn listen(
    cx: &mut Ctx<'_>,
    v: &Spanned<String>,
    field: String,
    example: &str,
) -> Option<std::net::SocketAddr> {
    match v.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            cx.err(
                v.span(),
                field,
                format!(
                    "`{}` is not an address to listen on: write IP:PORT, such as \"{example}\"",
                    v.get_ref()
                ),
            );
            None
        }
    }
}

/// The largest CA file read: a bundle of a few hundred certificates.
const MAX_CA_BYTES: u64 = 1 << 20;

/// `ca`: a PEM file of certificates to trust beside the system's roots (a private CA),
/// relative to the scenario's folder; checked now, read again when the exporter starts.
pub fn ca(cx: &mut Ctx<'_>, v: Option<&Spanned<String>>, field: String) -> Option<PathBuf> {
    let v = v?;
    let full = cx.base().join(v.get_ref());
    let problem = match std::fs::metadata(&full) {
        Err(e) => Some(format!("cannot read {}: {e}", full.display())),
        Ok(m) if !m.is_file() || m.len() > MAX_CA_BYTES => Some(format!(
            "{} is not a PEM file of at most {MAX_CA_BYTES} bytes",
            full.display()
        )),
        Ok(_) => read_ca(&full).err().map(|e| format!("{e:#}")),
    };
    if let Some(p) = problem {
        cx.err(
            v.span(),
            field,
            format!("{p}; name a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"),
        );
    }
    Some(full)
}

/// The certificates of a PEM file, at least one.
pub fn read_ca(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Extra headers, at most 32; each name and value must be valid in HTTP.
pub fn headers(
    cx: &mut Ctx<'_>,
    h: &IndexMap<String, Spanned<String>>,
    span: Range<usize>,
    field: &str,
) -> Vec<(String, String)> {
    if h.len() > 32 {
        cx.err(span, format!("{field}.headers"), "at most 32 headers");
    }
    for (k, v) in h {
        if HeaderName::from_bytes(k.as_bytes()).is_err()
            || HeaderValue::from_str(v.get_ref()).is_err()
        {
            cx.err(
                v.span(),
                format!("{field}.headers.{k}"),
                "not a valid header name and value",
            );
        }
    }
    h.iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect()
}

/// The name of an environment variable that holds a token.
pub fn env_name(cx: &mut Ctx<'_>, v: Option<&Spanned<String>>, field: String) -> Option<String> {
    let b = v?;
    let ok = !b.get_ref().is_empty()
        && b.get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        cx.err(
            b.span(),
            field,
            "the name of an environment variable (letters, digits, `_`)",
        );
    }
    Some(b.get_ref().clone())
}

/// How a push kind reaches its receiver, beyond the URL: the user's headers, the token's
/// variable, a private CA, the timeout of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub headers: Vec<(String, String)>,
    pub bearer_env: Option<String>,
    pub ca: Option<PathBuf>,
    pub timeout: Duration,
}

/// A push kind's `headers`, `bearer_env`, `ca` and `timeout`, as written.
pub struct RawAccess<'a> {
    pub headers: &'a IndexMap<String, Spanned<String>>,
    pub bearer_env: Option<&'a Spanned<String>>,
    pub ca: Option<&'a Spanned<String>>,
    pub timeout: Option<&'a Spanned<String>>,
}

/// The [`RawAccess`] of a push kind's raw table (every one names these four keys alike):
/// `access_of!(r)`.
macro_rules! access_of {
    ($r:expr) => {
        $crate::export::config::RawAccess {
            headers: &$r.headers,
            bearer_env: $r.bearer_env.as_ref(),
            ca: $r.ca.as_ref(),
            timeout: $r.timeout.as_ref(),
        }
    };
}
pub(crate) use access_of;

/// A push kind's `headers`, `bearer_env`, `ca` and `timeout`, checked.
pub fn access(
    cx: &mut Ctx<'_>,
    raw: RawAccess<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Access> {
    let headers = headers(cx, raw.headers, span, field);
    let bearer_env = env_name(cx, raw.bearer_env, format!("{field}.bearer_env"));
    let ca = ca(cx, raw.ca, format!("{field}.ca"));
    let timeout = timeout(cx, raw.timeout, format!("{field}.timeout"));
    Some(Access {
        headers,
        bearer_env,
        ca,
        timeout: timeout?,
    })
}

/// The headers to send: `fixed` (the kind's own), the user's, and `Authorization: Bearer`
/// from the variable `bearer_env` (an unset one is an error before any load).
pub fn header_values(
    fixed: Vec<(HeaderName, HeaderValue)>,
    user: &[(String, String)],
    bearer_env: Option<&str>,
) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
    let mut out = fixed;
    for (k, v) in user {
        out.push((
            HeaderName::from_bytes(k.as_bytes())?,
            HeaderValue::from_str(v)?,
        ));
    }
    if let Some(var) = bearer_env {
        let token = std::env::var(var).map_err(|_| {
            anyhow::anyhow!("bearer_env: the environment variable {var} is not set; export it, or remove bearer_env")
        })?;
        let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| anyhow::anyhow!("bearer_env: {var} holds what cannot be a header"))?;
        v.set_sensitive(true);
        out.push((http::header::AUTHORIZATION, v));
    }
    Ok(out)
}

/// A URL as shown to a person: without a password or a query (where secrets live).
pub fn shown(u: &url::Url) -> url::Url {
    let mut s = u.clone();
    let _ = s.set_password(None);
    s.set_query(None);
    s
}
