//! TLS on the coordinator↔agent link (`wss://`), so that the token never crosses the
//! network in clear text. The agent serves a certificate (`--tls-cert`, `--tls-key`) and
//! prints its SHA-256; the coordinator trusts it through a CA (`--agent-ca`) or by that
//! fingerprint (`--agent-fingerprint`), the way a self-signed agent is best pinned.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::engine::transport::tls::{fingerprint, pinned};

/// A PEM file larger than this is not a certificate or a key.
const MAX_PEM: u64 = 1 << 20;

/// How the coordinator trusts its agents' certificates.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentTrust {
    /// Certificates issued by this CA (PEM), for the agent's host name.
    Ca(std::path::PathBuf),
    /// Exactly the certificate with this SHA-256.
    Fingerprint([u8; 32]),
}

fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?
        .len();
    if len > MAX_PEM {
        return Err(format!(
            "{flag} {}: larger than 1 MiB; not a PEM file",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

fn certs(pem: &[u8], path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no certificate in it (PEM)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The agent's configuration, and its certificate's fingerprint for the coordinator.
pub fn server_config(cert: &Path, key: &Path) -> Result<(Arc<ServerConfig>, String), String> {
    let chain = certs(&read_pem(cert, "--tls-cert")?, cert, "--tls-cert")?;
    let key_pem = read_pem(key, "--tls-key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let print = hex(&fingerprint(&chain[0]));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    Ok((Arc::new(config), print))
}

/// The coordinator's configuration for `wss://` agents.
pub fn client_config(trust: &AgentTrust) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match trust {
        AgentTrust::Ca(path) => {
            let mut roots = RootCertStore::empty();
            for c in certs(&read_pem(path, "--agent-ca")?, path, "--agent-ca")? {
                roots
                    .add(c)
                    .map_err(|e| format!("--agent-ca {}: {e}", path.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        AgentTrust::Fingerprint(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(pinned(*pin))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `sha256:` and 64 hex digits (colons and case are forgiven), as the agent prints it.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text
        .trim()
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let bad = || {
        format!("--agent-fingerprint: `{text}` is not a SHA-256 fingerprint; copy the `sha256:…` the agent prints when it starts")
    };
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip() {
        let pin = [0xabu8; 32];
        assert_eq!(parse_fingerprint(&hex(&pin)).unwrap(), pin);
        let colons: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_fingerprint(&colons.join(":")).unwrap(), pin);
        assert!(parse_fingerprint("sha256:abc").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
