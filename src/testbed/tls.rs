//! TLS for the reference services and the tests: a throwaway certificate authority made at
//! run time (rcgen; no key is ever committed or written), server and client certificates
//! it signs, rustls server configurations (ALPN `h2` and `http/1.1`, optionally requiring a
//! client certificate), and serving a router over TLS with HTTP/1.1 and HTTP/2.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// How long a leaf is valid: now ± a year, or a window that ended yesterday.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validity {
    Current,
    Expired,
}

/// A certificate authority made for one process.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> anyhow::Result<Pki> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().context("cannot generate a CA key")?;
        let ca = CertifiedIssuer::self_signed(params, key).context("cannot sign the CA")?;
        Ok(Pki { ca })
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str], validity: Validity) -> anyhow::Result<Leaf> {
        self.leaf(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate (mutual TLS).
    pub fn client(&self, name: &str) -> anyhow::Result<Leaf> {
        self.leaf(
            &[name],
            Validity::Current,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(
        &self,
        names: &[&str],
        validity: Validity,
        usage: ExtendedKeyUsagePurpose,
    ) -> anyhow::Result<Leaf> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .context("not a name a certificate can hold")?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("loadctl"),
        );
        params.extended_key_usages = vec![usage];
        let now = time_now();
        let day = time::Duration::days(1);
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (now - day, now + day * 365),
            Validity::Expired => (now - day * 30, now - day),
        };
        let key = KeyPair::generate().context("cannot generate a key")?;
        let cert = params
            .signed_by(&key, &self.ca)
            .context("cannot sign the certificate")?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A server configuration for `leaf`, offering HTTP/2 and HTTP/1.1 over ALPN (`alpn` to
/// restrict it), requiring a client certificate signed by `client_ca` when given.
pub fn server_config(
    leaf: &Leaf,
    client_ca: Option<&str>,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version")?;
    let builder = match client_ca {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(c.context("bad client CA PEM")?)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("cannot build the client verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("bad certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).context("bad key PEM")?;
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the key does not match the certificate")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// ALPN of the reference services: HTTP/2 first, HTTP/1.1 for the rest (WebSockets).
pub const ALPN_H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Serves `router` over TLS on `listener` (HTTP/1.1 with upgrades, or HTTP/2 as ALPN
/// agreed) until `shutdown` resolves. A failed handshake ends that connection only.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of files or the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = TowerToHyperService::new(router);
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// The reference service's TLS: a fresh CA and a certificate for `localhost`, 127.0.0.1
/// and ::1 (plus `extra` names), the CA's PEM for clients to trust.
pub fn self_signed(extra: &[&str]) -> anyhow::Result<(String, Arc<ServerConfig>)> {
    let pki = Pki::new("loadctl testbed CA")?;
    let mut names = vec!["localhost", "127.0.0.1", "::1"];
    names.extend_from_slice(extra);
    let leaf = pki.server(&names, Validity::Current)?;
    Ok((pki.ca_pem(), server_config(&leaf, None, ALPN_H2_H1)?))
}
