//! TLS for `https://` and `wss://` origins: the rustls client configuration a run shares
//! (roots, `[tls] ca`, client identity, ALPN, resumption, or no verification at all), and
//! why a handshake failed, as a user fixes it.
//!
//! Roots: the system's, or Mozilla's bundled ones when the system has none, plus the
//! scenario's CA. One configuration serves every connection of the run, so a reconnect can
//! resume the session an earlier one (on any thread) was given.

use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
};

use crate::metrics::connection::TlsReason;
use crate::scenario::plan::net::TlsPlan;

/// The run's client configuration. `alpn`: the protocols offered, most preferred first.
pub fn client_config(plan: &TlsPlan, alpn: &[&[u8]]) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no protocol version")?;
    let builder = if plan.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider, None)))
    } else {
        builder.with_root_certificates(roots(plan)?)
    };
    let mut config = match &plan.client_cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("cannot read tls.client_cert {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("cannot read tls.client_key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("tls.client_cert and tls.client_key do not make a usable identity (is the key the certificate's?)")?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if !plan.resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

fn roots(plan: &TlsPlan) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(ca) = &plan.ca {
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read tls.ca {}", ca.display()))?;
        for c in certs {
            store
                .add(c)
                .with_context(|| format!("tls.ca {}: not a usable CA certificate", ca.display()))?;
        }
    }
    Ok(store)
}

/// The name to verify and send in SNI: `[tls] server_name`, or the URL's host.
pub fn server_name(plan: &TlsPlan, host: &str) -> anyhow::Result<ServerName<'static>> {
    let name = plan
        .server_name
        .as_deref()
        .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'));
    ServerName::try_from(name.to_string())
        .with_context(|| format!("`{name}` is not a name TLS can verify; set [tls] server_name"))
}

/// Why a TLS connection failed, when `err` (or an error under it) says it did.
pub fn reason(err: &(dyn std::error::Error + 'static)) -> Option<TlsReason> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(classify(r));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(classify(r));
            }
        }
        cur = e.source();
    }
    None
}

fn classify(e: &rustls::Error) -> TlsReason {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsReason::UnknownIssuer,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsReason::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsReason::NameMismatch
            }
            _ => TlsReason::Handshake,
        },
        E::AlertReceived(a) => match a {
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown => TlsReason::ClientCert,
            AlertDescription::ProtocolVersion => TlsReason::ProtocolVersion,
            AlertDescription::NoApplicationProtocol => TlsReason::NoH2,
            _ => TlsReason::Handshake,
        },
        E::PeerIncompatible(_) => TlsReason::ProtocolVersion,
        E::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge)
        | E::InvalidMessage(rustls::InvalidMessage::MessageTooLarge)
        | E::InvalidMessage(rustls::InvalidMessage::CertificatePayloadTooLarge) => {
            TlsReason::CertificateTooLarge
        }
        _ => TlsReason::Handshake,
    }
}

/// `[tls] insecure = true`: any certificate is taken; handshake signatures are still
/// checked, so the connection is at least with the holder of the certificate's key. With a
/// pin (the SHA-256 of the certificate, as `loadctl agent` prints it), only that
/// certificate is taken: a self-signed agent is trusted by its fingerprint, not its name.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>, Option<[u8; 32]>);

/// A verifier that takes exactly the certificate whose SHA-256 is `pin`.
pub fn pinned(pin: [u8; 32]) -> Arc<dyn ServerCertVerifier> {
    Arc::new(NoVerification(
        Arc::new(rustls::crypto::ring::default_provider()),
        Some(pin),
    ))
}

/// The SHA-256 of a certificate (DER), as a pin.
pub fn fingerprint(cert: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, cert);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.1 {
            Some(pin) if fingerprint(end_entity) != pin => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
