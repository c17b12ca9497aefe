//! Building and running the server: the API and the background workers (delivery engine,
//! scheduler) run as sibling tasks under one shutdown signal. [`Application::build`] binds
//! the listener first, so tests can ask for port 0 and read the real port back.

use crate::api::{
    self,
    http_server::{self, ConnectionLimits},
};
use crate::app::AppState;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::{DeliveryEngine, DeliverySettings, Transport, TransportError};
use crate::endpoint_policy::EndpointPolicy;
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::secrets::{self, OwnerTokenKey};
use crate::storage::sqlite_file::{self, ServerLock};
use crate::storage::{settings, Store, StoreError};
use herald_push::keys::VapidKeyPair;
use herald_push::vapid::{VapidSigner, VapidSubject};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Why the server could not start. The texts are what the operator reads on stderr, so
/// each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Another server holds the SQLite file (the lock's own message names it and the holder).
    #[error(transparent)]
    DatabaseLocked(#[from] crate::storage::sqlite_file::LockError),
    #[error("HERALD_DATABASE_URL: cannot open the database: {0}")]
    OpenDatabase(StoreError),
    #[error("HERALD_LISTEN: cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("HERALD_VAPID_PRIVATE_KEY: {0}")]
    VapidKey(herald_push::Error),
    #[error("{0}")]
    VapidKeyGeneration(herald_push::Error),
    #[error("stored VAPID key: {0}")]
    StoredVapidKey(herald_push::Error),
    #[error("HERALD_VAPID_SUBJECT: {0}")]
    VapidSubject(herald_push::Error),
    #[error("database: {0}")]
    Database(#[from] StoreError),
}

/// Used when `HERALD_VAPID_SUBJECT` is unset; Apple refuses it, hence the warning at start.
pub const PLACEHOLDER_SUBJECT: &str = "mailto:herald@localhost";

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    engine: Arc<DeliveryEngine>,
    scheduler: Arc<Scheduler>,
    limits: ConnectionLimits,
    /// Held while this server uses a SQLite file, so a second server on it refuses to start.
    sqlite_lock: Option<ServerLock>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        // Before the database is opened (or created, or migrated): one server per SQLite file.
        let sqlite_lock = sqlite_file::database_path(&config.database_url)
            .map(|path| ServerLock::acquire(&path))
            .transpose()
            .map_err(StartupError::DatabaseLocked)?;
        let store = Store::connect(&config.database_url)
            .await
            .map_err(StartupError::OpenDatabase)?;
        let state = Arc::new(assemble_state(store, config, clock).await?);
        let open_file_limit = http_server::raise_open_file_limit();
        let listener = TcpListener::bind(state.config.listen)
            .await
            .map_err(|source| StartupError::Listen {
                address: state.config.listen,
                source,
            })?;
        let transport = Transport::new(
            &state.policy,
            state.config.push_timeout,
            state.config.ssl_cert_file.as_deref(),
            state.metrics.clone(),
        )?;
        let engine = Arc::new(DeliveryEngine::new(
            &state,
            transport,
            DeliverySettings::from_config(&state.config),
        ));
        let scheduler = Arc::new(Scheduler::new(state.clone()));
        let limits = ConnectionLimits {
            header_read_timeout: state.config.header_read_timeout,
            idle_timeout: state.config.idle_timeout,
            max_connections: http_server::effective_cap(state.config.max_connections, open_file_limit),
        };
        if limits.max_connections < state.config.max_connections {
            tracing::warn!(
                open_file_limit,
                max_connections = limits.max_connections,
                "HERALD_MAX_CONNECTIONS is above what the open-file limit allows; lowered"
            );
        }
        Ok(Self {
            listener,
            state,
            engine,
            scheduler,
            limits,
            sqlite_lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    pub fn engine(&self) -> Arc<DeliveryEngine> {
        self.engine.clone()
    }

    pub fn scheduler(&self) -> Arc<Scheduler> {
        self.scheduler.clone()
    }

    /// The connection limits in force (the cap may be below the configured one).
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Serves until `shutdown` is cancelled; in-flight requests and pushes finish first.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartupError> {
        // Released only after the store is closed below.
        let _sqlite_lock = self.sqlite_lock;
        let engine = tokio::spawn(self.engine.clone().run(shutdown.clone()));
        let scheduler = tokio::spawn(self.scheduler.clone().run(shutdown.clone()));
        http_server::serve(
            self.listener,
            api::router(self.state.clone()),
            self.limits,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = engine.await;
        let _ = scheduler.await;
        self.state.store.close().await;
        Ok(())
    }
}

/// Loads or creates the keys and tokens the server needs, then builds the shared state.
pub async fn assemble_state(store: Store, config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartupError> {
    let vapid_key = match &config.vapid_private_key {
        Some(text) => VapidKeyPair::parse(text).map_err(StartupError::VapidKey)?,
        None => {
            let fresh = VapidKeyPair::generate().map_err(StartupError::VapidKeyGeneration)?;
            let encoded = fresh
                .private_key_base64url()
                .map_err(StartupError::VapidKeyGeneration)?;
            let (stored, created) = store.setting_or_insert(settings::VAPID_PRIVATE_KEY, &encoded).await?;
            if created {
                tracing::info!("generated a VAPID key pair and stored it in the database");
            }
            VapidKeyPair::parse(&stored).map_err(StartupError::StoredVapidKey)?
        }
    };
    let subject = match &config.vapid_subject {
        Some(s) => VapidSubject::parse(s).map_err(StartupError::VapidSubject)?,
        None => {
            tracing::warn!(
                "HERALD_VAPID_SUBJECT is not set; using {PLACEHOLDER_SUBJECT}, which Apple's push service refuses. \
                 Set it to mailto:you@your-domain or an https:// URL."
            );
            VapidSubject::parse(PLACEHOLDER_SUBJECT).expect("valid placeholder")
        }
    };
    if subject.names_localhost() && config.vapid_subject.is_some() {
        tracing::warn!("HERALD_VAPID_SUBJECT names localhost; Apple's push service refuses such tokens");
    }
    let admin_token_hash = match &config.admin_token {
        Some(token) => secrets::hash_secret(token),
        None => {
            let (token, hash) = secrets::new_secret();
            let (stored, created) = store.setting_or_insert(settings::ADMIN_TOKEN_HASH, &hash).await?;
            if created {
                // Shown once: only the hash is kept.
                crate::logging::notice(&format!("Herald admin token (shown once, store it now): {token}"));
            }
            stored
        }
    };
    let owner_secret = match &config.owner_token_secret {
        Some(secret) => secret.clone(),
        None => {
            let (fresh, _) = secrets::new_secret();
            store.setting_or_insert(settings::OWNER_TOKEN_SECRET, &fresh).await?.0
        }
    };
    let policy = EndpointPolicy {
        allow_private: config.allow_private_endpoints,
        allow_http: config.allow_http_endpoints,
        host_allowlist: config.push_host_allowlist.clone(),
    };
    Ok(AppState {
        store,
        signer: Arc::new(VapidSigner::new(vapid_key, subject)),
        admin_token_hash,
        metrics_token_hash: config.metrics_token.as_deref().map(secrets::hash_secret),
        owner_tokens: OwnerTokenKey::new(owner_secret.as_bytes()),
        policy,
        metrics: Arc::new(Metrics::default()),
        clock,
        delivery_wake: Arc::new(Notify::new()),
        delivery_recorded: Arc::new(Notify::new()),
        scheduler_wake: Arc::new(Notify::new()),
        config: Arc::new(config),
    })
}
