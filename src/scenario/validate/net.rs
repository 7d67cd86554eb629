//! Validation of `[http]` (version, streams, keep-alive) and `[tls]` (CA, client identity,
//! server name): PEM files are read here, so a missing or malformed one is a scenario error
//! with its position, not a failed run.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use toml::Spanned;

use crate::diag::Ctx;
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::plan::net::{HttpVersion, Protocol, RetryPolicy, TlsPlan};
use crate::scenario::plan::target::TargetSpec;

/// `[http]`: the protocol version and connection reuse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub version: Option<Spanned<toml::Value>>,
    pub max_streams: Option<Spanned<i64>>,
    pub keep_alive: Option<Spanned<bool>>,
    pub retry: Option<Spanned<String>>,
    pub retry_idle: Option<Spanned<String>>,
    pub max_requests_per_connection: Option<Spanned<i64>>,
    pub max_connection_age: Option<Spanned<String>>,
}

/// `[tls]`: verification and client identity; paths relative to the scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub insecure: Option<Spanned<bool>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
    pub resumption: Option<Spanned<bool>>,
}

/// A PEM file larger than this is not a certificate or a key.
const MAX_PEM_BYTES: u64 = 1 << 20;

pub(super) fn http(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawHttp>>) -> Protocol {
    let mut plan = Protocol::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return plan;
    };
    if let Some(v) = &raw.version {
        // `version = 2` and `version = 1.1` are what people type; accept them as numbers too.
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => format!("{other:?}"),
        };
        match HttpVersion::parse(&text) {
            Some(v) => plan.version = v,
            None => cx.err(
                v.span(),
                "http.version",
                format!("`{text}` is not an HTTP version; use \"1.1\", \"2\" (HTTP/2 over TLS, agreed with ALPN) or \"h2c\" (HTTP/2 with prior knowledge over plain TCP)"),
            ),
        }
    }
    if let Some(n) = &raw.max_streams {
        if let Some(n) = cx.positive(n, "http.max_streams") {
            plan.max_streams = n;
        }
    }
    if let Some(k) = &raw.keep_alive {
        plan.keep_alive = *k.get_ref();
    }
    if let Some(r) = &raw.retry {
        match RetryPolicy::NAMES.iter().find(|(n, _)| *n == r.get_ref().as_str()) {
            Some((_, p)) => plan.retry = *p,
            None => cx.err(
                r.span(),
                "http.retry",
                format!("`{}` is not a retry rule; use \"idle-only\" (the default: only what an idle close explains), \"never\" (nothing is sent twice) or \"idempotent\" (any idempotent request whose reused connection failed before an answer)", r.get_ref()),
            ),
        }
    }
    if let Some(d) = &raw.retry_idle {
        if let Some(d) = cx.duration(d, "http.retry_idle") {
            plan.retry_idle = d;
        }
    }
    if let Some(n) = &raw.max_requests_per_connection {
        let field = "http.max_requests_per_connection";
        plan.max_requests_per_connection = cx.positive(n, field).map(|n| n as u32);
    }
    if let Some(d) = &raw.max_connection_age {
        match cx.duration(d, "http.max_connection_age") {
            Some(age) if age.is_zero() => cx.err(
                d.span(),
                "http.max_connection_age",
                "must be longer than 0; leave it out to keep connections for the whole run",
            ),
            age => plan.max_connection_age = age,
        }
    }
    if !plan.keep_alive && plan.rotates() {
        let at = raw
            .max_requests_per_connection
            .as_ref()
            .map(Spanned::span)
            .or(raw.max_connection_age.as_ref().map(Spanned::span))
            .unwrap_or(0..0);
        cx.err(at, "http", "keep_alive = false already opens a connection per request; drop max_requests_per_connection and max_connection_age");
    }
    plan
}

pub(super) fn tls(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawTls>>, base: &Path) -> TlsPlan {
    let mut plan = TlsPlan::default();
    let Some(spanned) = raw else { return plan };
    let raw = spanned.get_ref();
    if let Some(ca) = &raw.ca {
        plan.ca = pem(cx, ca, "tls.ca", base, Kind::Certs);
    }
    if let Some(b) = &raw.insecure {
        plan.insecure = *b.get_ref();
    }
    if let Some(b) = &raw.resumption {
        plan.resumption = *b.get_ref();
    }
    match (&raw.client_cert, &raw.client_key) {
        (Some(c), Some(k)) => {
            let cert = pem(cx, c, "tls.client_cert", base, Kind::Certs);
            let key = pem(cx, k, "tls.client_key", base, Kind::Key);
            plan.client_cert = cert.zip(key);
        }
        (Some(c), None) => cx.err(
            c.span(),
            "tls.client_cert",
            "needs `client_key` too (the certificate's private key, PEM)",
        ),
        (None, Some(k)) => cx.err(
            k.span(),
            "tls.client_key",
            "needs `client_cert` too (the certificate chain, PEM)",
        ),
        (None, None) => {}
    }
    if let Some(n) = &raw.server_name {
        if rustls_pki_types::ServerName::try_from(n.get_ref().as_str()).is_ok() {
            plan.server_name = Some(n.get_ref().clone());
        } else {
            cx.err(
                n.span(),
                "tls.server_name",
                format!(
                    "`{}` is not a DNS name or IP address to verify the certificate against",
                    n.get_ref()
                ),
            );
        }
    }
    plan
}

enum Kind {
    Certs,
    Key,
}

/// Checks that `path` (relative to the scenario) is a readable PEM file holding what
/// `kind` asks for; returns it resolved.
fn pem(
    cx: &mut Ctx<'_>,
    path: &Spanned<String>,
    field: &str,
    base: &Path,
    kind: Kind,
) -> Option<PathBuf> {
    let full = base.join(path.get_ref());
    let problem = match std::fs::metadata(&full) {
        Err(e) => Some(format!("cannot read {}: {e}", full.display())),
        Ok(m) if !m.is_file() => Some(format!("{} is not a file", full.display())),
        Ok(m) if m.len() > MAX_PEM_BYTES => Some(format!(
            "{} is {} bytes; a PEM certificate or key is at most {MAX_PEM_BYTES}",
            full.display(),
            m.len()
        )),
        Ok(_) => match kind {
            Kind::Certs => match CertificateDer::pem_file_iter(&full) {
                Ok(it) => {
                    let certs: Result<Vec<_>, _> = it.collect();
                    match certs {
                        Ok(c) if !c.is_empty() => None,
                        Ok(_) => Some(format!(
                            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            full.display()
                        )),
                        Err(e) => Some(format!("{} is not valid PEM: {e}", full.display())),
                    }
                }
                Err(e) => Some(format!("cannot read {}: {e}", full.display())),
            },
            Kind::Key => PrivateKeyDer::from_pem_file(&full).err().map(|e| {
                format!(
                    "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
                    full.display()
                )
            }),
        },
    };
    match problem {
        Some(p) => {
            cx.err(
                path.span(),
                field,
                format!("{p}; the path is relative to the scenario file"),
            );
            None
        }
        None => Some(full),
    }
}

/// `[http]` against the target and the load: HTTP/2 needs TLS (h2c does not), a chat
/// upgrades over HTTP/1.1, and connections × streams stay within what memory holds.
pub(super) fn protocol_fits(
    cx: &mut Ctx<'_>,
    (http, span): (&Protocol, std::ops::Range<usize>),
    (chat, grpc): (bool, Option<std::ops::Range<usize>>),
    target: Option<&TargetSpec>,
    load: Option<&LoadPlan>,
) {
    if let (Some(at), false) = (grpc, http.version.is_h2()) {
        let fix = match target {
            Some(TargetSpec::Url { origin, .. }) if origin.tls => "version = \"2\"",
            _ => "version = \"h2c\"",
        };
        cx.err(
            at,
            "grpc",
            format!("gRPC runs over HTTP/2: add [http] {fix}"),
        );
    }
    let tls = match target {
        Some(TargetSpec::Url { origin, .. }) => Some(origin.tls),
        Some(TargetSpec::Embedded(_)) => Some(false),
        None => None,
    };
    match (http.version, tls) {
        (HttpVersion::Http2, Some(false)) => cx.err(
            span.clone(),
            "http.version",
            "\"2\" is HTTP/2 over TLS (agreed with ALPN) and the target is plain http://; use an https:// target, or version = \"h2c\" for HTTP/2 with prior knowledge over TCP",
        ),
        (HttpVersion::H2c, Some(true)) => cx.err(
            span.clone(),
            "http.version",
            "\"h2c\" is HTTP/2 over plain TCP and the target is https://; use version = \"2\"",
        ),
        _ => {}
    }
    if chat && http.version.is_h2() {
        cx.err(
            span.clone(),
            "http.version",
            "a [chat] load opens WebSockets with an HTTP/1.1 upgrade; remove `version` or set it to \"1.1\"",
        );
    }
    if let Some(LoadPlan::Open { connections, .. }) = load {
        let in_flight = connections.saturating_mul(http.streams_per_connection());
        if in_flight > 1_000_000 {
            cx.err(
                span,
                "http.max_streams",
                format!("load.connections × http.max_streams is {in_flight}; at most 1000000 requests can be in flight (each is kept in memory)"),
            );
        }
    }
}
