//! The one HTTP client every push goes through: pooled connections, HTTP/2 where the push
//! service offers it, bounded timeouts, no redirects, no proxies, and the guarded resolver.

use super::transport::TransportError;
use crate::endpoint_policy::EndpointPolicy;
use std::path::Path;
use std::time::Duration;

/// Builds the push client. `ssl_cert_file` adds roots to the system's (for private push
/// services and test stand-ins).
pub fn push_client(
    policy: &EndpointPolicy,
    timeout: Duration,
    ssl_cert_file: Option<&Path>,
) -> Result<reqwest::Client, TransportError> {
    let mut builder = reqwest::Client::builder()
        .dns_resolver(policy.resolver())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .http2_adaptive_window(true)
        .tcp_nodelay(true)
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ssl_cert_file {
        let pem = std::fs::read(path).map_err(|e| TransportError::cert_file(path, e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TransportError::cert_file(path, e))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(TransportError::Client)
}
