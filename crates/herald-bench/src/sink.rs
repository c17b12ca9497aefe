//! A TLS push-service stand-in speaking HTTP/1.1 and HTTP/2 (ALPN). It answers every push
//! with 201, counts them, and decrypts a sample with the independent RustCrypto code.

use herald_testkit::{decrypt, Browser};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

pub struct Sink {
    pub browsers: Vec<Browser>,
    pub received: AtomicU64,
    pub sampled_ok: AtomicU64,
    pub sampled_bad: AtomicU64,
    pub http2: AtomicU64,
    /// TLS connections accepted: a client that multiplexes well opens a handful.
    pub connections: AtomicU64,
    pub last: Mutex<Option<Instant>>,
    /// Decrypt one push in this many.
    pub sample_every: u64,
}

impl Sink {
    pub fn reset(&self) {
        self.received.store(0, Ordering::SeqCst);
        self.http2.store(0, Ordering::SeqCst);
        self.connections.store(0, Ordering::SeqCst);
        *self.last.lock().unwrap() = None;
    }
}

/// Starts the sink; returns its port and the PEM of its self-signed certificate.
pub async fn start(sink: Arc<Sink>) -> (u16, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(certified.cert.der().to_vec())], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // The sink runs on one thread of its own: on a 2-core machine shared with Herald, a
    // multi-threaded runtime spends much of its time waking its own idle workers, which
    // would charge the sink's scheduling to the broadcast being measured.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                sink.connections.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                let sink = sink.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req| handle(sink.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (port, cert_pem)
}

async fn handle(sink: Arc<Sink>, req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let is_h2 = req.version() == hyper::Version::HTTP_2;
    let device: Option<usize> = req.uri().path().rsplit('/').next().and_then(|d| d.parse().ok());
    let encoding = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req.into_body().collect().await?.to_bytes();
    let n = sink.received.fetch_add(1, Ordering::SeqCst) + 1;
    if is_h2 {
        sink.http2.fetch_add(1, Ordering::Relaxed);
    }
    if n.is_multiple_of(sink.sample_every) {
        let ok = match (device.and_then(|d| sink.browsers.get(d)), encoding.as_deref()) {
            (Some(browser), Some(enc)) => decrypt(browser, enc, &body, None, None).is_ok(),
            _ => false,
        };
        let counter = if ok { &sink.sampled_ok } else { &sink.sampled_bad };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    *sink.last.lock().unwrap() = Some(Instant::now());
    Ok(Response::builder().status(201).body(Full::new(Bytes::new())).unwrap())
}
