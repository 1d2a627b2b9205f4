//! HTTPS: the certificate chain and private key of `--tls-cert`/`--tls-key`, PEM files, as
//! rustls serves them (with ring; TLS 1.2 and 1.3).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate chain {path}: {reason}")]
    Certificates { path: String, reason: String },
    #[error("{path} holds no certificate (PEM, `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The server side of TLS from PEM files: the certificate chain, leaf first, and its key.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| TlsError::Certificates {
            path: shown(cert),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: shown(cert) });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: shown(key),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?)
}

/// The client side, for `loggerator import --api https://...`: the web's root certificates
/// (compiled in: slim images have none), and `extra_roots` (PEM) for a private CA or a
/// self-signed service.
pub fn client_config(extra_roots: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| TlsError::Certificates {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(TlsError::NoCertificate {
                path: path.display().to_string(),
            });
        }
        for certificate in certificates {
            roots.add(certificate)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
