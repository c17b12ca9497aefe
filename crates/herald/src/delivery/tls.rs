//! TLS for the HTTP/2 pool: rustls with the aws-lc-rs provider, verifying push services
//! against the same roots the reqwest fallback client trusts (the platform's, through
//! `rustls-platform-verifier`, plus the certificates in `SSL_CERT_FILE`), offering `h2` and
//! `http/1.1` by ALPN so an origin that cannot speak HTTP/2 is recognised and handed to the
//! fallback client.

use super::transport::TransportError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

/// The client configuration every pooled connection uses.
pub fn client_config(ssl_cert_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let extra = match ssl_cert_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| TransportError::cert_file(path, e))?;
            extra_roots(&pem).map_err(|e| TransportError::cert_file(path, e))?
        }
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
    }
    .map_err(TransportError::Roots)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TransportError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM bundle; an empty or unreadable bundle is an error, so a wrong
/// `SSL_CERT_FILE` is reported at start rather than as failing pushes.
fn extra_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(BundleError::NotPem)?;
    if certs.is_empty() {
        return Err(BundleError::Empty);
    }
    Ok(certs)
}

/// Why a certificate bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a PEM certificate bundle: {0}")]
    NotPem(rustls::pki_types::pem::Error),
    #[error("no certificate in the file")]
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        assert!(extra_roots(b"").is_err());
        assert!(extra_roots(b"not pem at all").is_err());
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let roots = extra_roots(cert.cert.pem().as_bytes()).unwrap();
        assert_eq!(roots.len(), 1);
    }
}
