//! Where a push goes on the wire: `https` origins through the HTTP/2 pool (`pool.rs`), and
//! origins that do not speak HTTP/2 (or plain `http` ones, allowed only for tests and private
//! set-ups) through the reqwest client of `client.rs`, which keeps the same guarantees
//! (guarded resolver, no redirects, no proxies). Every exchange, fallback included, is
//! bounded by the push timeout.

use super::client::push_client;
use super::pool::{H2Pool, Pooled, PushResponse, SendError};
use super::tls;
use crate::endpoint_policy::EndpointPolicy;
use crate::metrics::Metrics;
use herald_push::request::PushRequest;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the push transport could not be built; reported at start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("SSL_CERT_FILE {path}: {reason}")]
    CertFile { path: String, reason: String },
    #[error("loading the trusted root certificates: {0}")]
    Roots(rustls::Error),
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
    #[error("building the HTTP client: {0}")]
    Client(reqwest::Error),
}

impl TransportError {
    pub fn cert_file(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::CertFile {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

pub struct Transport {
    pool: H2Pool,
    fallback: reqwest::Client,
    timeout: Duration,
}

impl Transport {
    pub fn new(
        policy: &EndpointPolicy,
        timeout: Duration,
        ssl_cert_file: Option<&Path>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, TransportError> {
        let connect_timeout = Duration::from_secs(5).min(timeout);
        Ok(Self {
            pool: H2Pool::new(
                tls::client_config(ssl_cert_file)?,
                policy.clone(),
                connect_timeout,
                metrics,
            ),
            fallback: push_client(policy, timeout, ssl_cert_file)?,
            timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn pool(&self) -> &H2Pool {
        &self.pool
    }

    /// Sends one push and returns the answer, within the push timeout or `limit` if that is
    /// shorter (what is left of the row's lease): the whole exchange, fallback included.
    pub async fn send(&self, request: PushRequest, limit: Duration) -> Result<PushResponse, SendError> {
        let exchange = async {
            let request = if request.url.scheme() == "https" {
                match self.pool.send(request).await? {
                    Pooled::Answered(response) => return Ok(response),
                    Pooled::Http1(request) => request,
                }
            } else {
                request
            };
            // Boxed: reqwest's future is kilobytes, and only HTTP/1.1 origins need it.
            Box::pin(self.send_http1(request)).await
        };
        match tokio::time::timeout(self.timeout.min(limit), exchange).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Failed("timed out".into())),
        }
    }

    /// Through reqwest, which has its own timeout (the same one).
    async fn send_http1(&self, request: PushRequest) -> Result<PushResponse, SendError> {
        let sent = self
            .fallback
            .post(request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await;
        let mut response = sent.map_err(|e| SendError::Failed(e.without_url().to_string()))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let body = if status.is_success() {
            Default::default()
        } else {
            response.bytes().await.unwrap_or_default()
        };
        Ok(PushResponse {
            status: status.as_u16(),
            headers,
            body,
        })
    }
}
