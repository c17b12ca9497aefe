//! Storage: one SQL schema, three engines (SQLite by default, PostgreSQL, MySQL/MariaDB).
//!
//! Queries go through `sqlx::Any` and use only portable types (i64, text). Every statement
//! goes through [`query`] ([`Store::read`], [`Store::write`], [`WriteTx::query`]): SQL is
//! written with `$1, $2, …` placeholders, each used once and in order, and rewritten to `?`
//! for MySQL and SQLite there; writes on SQLite go through its one writer connection. Where
//! the engines truly differ (claiming outbox rows, upserts), the dialect is matched
//! explicitly in the module that needs it. Kinds and states are stored as the codes in
//! [`crate::domain::states`] and bound as values; a code no variant has reads as
//! [`StoreError::Decode`].
//!
//! Layout: [`settings`] (generated keys and token hashes), [`subscriptions`], [`messages`]
//! (messages, audience expansion, the tickle inbox), [`receipts`] (displayed and clicked,
//! clicks by button), [`outbox`] (per-target delivery state: claiming, recording results,
//! cleanup), [`api_keys`] (scoped keys),
//! [`rollups`] (the overview's counters), [`sqlite_file`] (where a SQLite
//! database lives, and the one-server lock on it), [`export`] (what a subscriptions export
//! carries beside the rows).
//!
//! Only the server (and `herald init`) create a database: [`Store::connect`]. Every other
//! command uses [`Store::open_existing`], which refuses a missing SQLite file or a database
//! without Herald's tables instead of creating an empty one beside the real one.

pub mod api_keys;
mod database_file;
pub mod export;
pub mod messages;
pub mod outbox;
mod query;
pub mod receipts;
pub mod reminders;
pub mod rollups;
pub mod settings;
pub mod sqlite_file;
pub mod subscription_locale;
pub mod subscriptions;
pub mod tags;

use crate::domain::states::UnknownCode;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::time::Duration;

pub use query::{Query, WriteTx};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/mysql");

/// Which engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// A storage failure. Callers log it and answer 500; its text never reaches clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    /// The database to open does not exist, or holds no Herald tables; the text says which.
    #[error("{0}")]
    Missing(String),
    /// A stored value Herald cannot read back: an unknown code, a NULL where a value is
    /// required, text that does not parse. Nothing falls back to a default in its place.
    #[error("stored value: {0}")]
    Decode(String),
    /// The change would break a rule that only the stored rows can tell (a subscription's
    /// tag count); nothing was written. The API answers it like any invalid field.
    #[error("`{}`: {}", .0.field, .0.message)]
    Invalid(crate::domain::ValidationError),
}

impl From<UnknownCode> for StoreError {
    fn from(unknown: UnknownCode) -> Self {
        Self::Decode(unknown.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database, shared by the API, the delivery engine and the scheduler.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the one connection every write goes through (a pool of one).
    /// - SQLite has one writer at a time. Queuing writers for this connection, instead of
    ///   letting them race for the file lock, avoids `SQLITE_BUSY` (a deferred transaction that
    ///   read first cannot upgrade once another writer committed) and SQLite's sleeping busy
    ///   handler.
    /// - A connection drops its page cache whenever another connection has written since its
    ///   last transaction. With writes spread over the pool, every claim and settle read its
    ///   pages back from the file; one writer keeps its cache (about 2 % of a push's CPU).
    sqlite_writer: Option<AnyPool>,
}

impl Store {
    /// Connects, creating a SQLite file when needed, and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::open(url, true).await
    }

    /// Connects to a database Herald already set up (a `herald serve` or `herald init` ran
    /// on it), and applies pending migrations. A missing SQLite file, or a database without
    /// Herald's tables, is [`StoreError::Missing`]; nothing is created.
    pub async fn open_existing(url: &str) -> StoreResult<Self> {
        if let Some(path) = sqlite_file::database_path(url) {
            if !path.is_file() {
                return Err(StoreError::Missing(format!(
                    "no Herald database at {} (database URL {url}; a relative path is resolved from the current directory)",
                    path.display()
                )));
            }
        }
        Self::open(url, false).await
    }

    async fn open(url: &str, create: bool) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let given = url;
        if create {
            if let Some(path) = sqlite_file::database_path(url) {
                sqlite_file::create_private(&path).map_err(|e| {
                    StoreError::Database(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", path.display()).into(),
                    ))
                })?;
            }
        }
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::MySql
        };
        let (url, max_connections) = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let mode = if create { "rwc" } else { "rw" };
                (format!("{url}{sep}mode={mode}"), 8)
            }
            Backend::Sqlite => (url.to_owned(), 8),
            Backend::MySql => (url.replacen("mariadb://", "mysql://", 1), 16),
            Backend::Postgres => (url.to_owned(), 16),
        };
        if backend == Backend::Sqlite {
            database_file::warn_if_exposed(&url);
        }
        let options = || {
            AnyPoolOptions::new().after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL sync is durable
                        // across process crashes, which is what the outbox needs.
                        // The busy timeout first: the other pragmas may already need the lock.
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
        };
        let pool = options()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        let sqlite_writer = if backend == Backend::Sqlite {
            // Waiting here is waiting for the write lock: as long as a long import takes. The
            // connection is kept (no idle or age limit) so its cache stays, and a local file
            // needs no test before each use.
            let writer = options()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(600))
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false)
                .connect(&url)
                .await;
            match writer {
                Ok(writer) => Some(writer),
                Err(e) => {
                    pool.close().await;
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        let store = Self {
            pool,
            backend,
            sqlite_writer,
        };
        if !create && !store.has_herald_tables().await? {
            store.close().await;
            return Err(StoreError::Missing(format!(
                "the database {} has no Herald tables: it is not the one a Herald server uses",
                redacted(given)
            )));
        }
        store.migrator().run(&store.pool).await?;
        Ok(store)
    }

    /// Whether a server ever set this database up: sqlx's migration table exists.
    async fn has_herald_tables(&self) -> StoreResult<bool> {
        let query = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
            Backend::MySql => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'"
            }
        };
        let row = self.read(query).fetch_one().await?;
        Ok(col::<i64>(&row, "n")? > 0)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::MySql => &MYSQL_MIGRATIONS,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool itself, for tests that look at rows directly; Herald's own statements go
    /// through [`Self::read`], [`Self::write`] and [`Self::begin`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> StoreResult<()> {
        self.read("SELECT 1").execute().await?;
        Ok(())
    }

    /// The longest `IN (…)` list: longer lists go in chunks of this size. A power of two, so
    /// [`Self::padded`] lists stay within it.
    pub const IN_LIST_MAX: usize = 512;

    /// `$first, $first+1, …` for an `IN (…)` list of `count` values, built at run time; pass
    /// the result to [`Self::read`] or [`Self::write`] like any other query. The list is as long as
    /// [`Self::padded`] makes it.
    pub fn placeholders(first: usize, count: usize) -> String {
        let padded = if count == 0 { 0 } else { count.next_power_of_two() };
        (first..first + padded)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The values of an `IN (…)` list, padded to a power of two by repeating the last one
    /// (which `IN` ignores). Each distinct list length is a statement that every connection
    /// prepares and keeps in its cache; with batches of every size that cache grew by
    /// megabytes during a broadcast, and each new length paid for a prepare. Padded, a query
    /// has one length per power of two. [`Self::placeholders`] counts the padded length, so
    /// bind through this whenever the list comes from there.
    pub fn padded<T>(values: &[T]) -> impl Iterator<Item = &T> + '_ {
        let padding = values.len().next_power_of_two() - values.len();
        values.iter().chain(values.last().into_iter().cycle().take(padding))
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// True when the error is a unique-constraint violation (a concurrent insert won).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Reads a column. Text may arrive as a BLOB: MySQL flags columns with a binary collation
/// (`utf8mb4_bin`, used so ids and owner ids compare exactly as on the other engines) as
/// binary, so text is decoded from bytes when it is not offered as a string.
pub(crate) fn col<T: FromColumn>(row: &AnyRow, name: &str) -> StoreResult<T> {
    T::from_column(row, name)
}

pub(crate) trait FromColumn: Sized {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self>;
}

impl FromColumn for i64 {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self> {
        use sqlx::Row;
        Ok(row.try_get(name)?)
    }
}

impl FromColumn for Option<i64> {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self> {
        use sqlx::Row;
        Ok(row.try_get(name)?)
    }
}

impl FromColumn for Option<String> {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self> {
        use sqlx::Row;
        match row.try_get::<Option<String>, _>(name) {
            Ok(v) => Ok(v),
            Err(sqlx::Error::ColumnDecode { .. }) => {
                let bytes: Option<Vec<u8>> = row.try_get(name)?;
                bytes
                    .map(|b| String::from_utf8(b).map_err(|e| StoreError::Decode(format!("{name}: {e}"))))
                    .transpose()
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl FromColumn for String {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self> {
        Option::<String>::from_column(row, name)?.ok_or_else(|| StoreError::Decode(format!("{name} is NULL")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_are_padded_to_a_power_of_two() {
        assert_eq!(Store::placeholders(3, 2), "$3, $4");
        assert_eq!(Store::placeholders(1, 3), "$1, $2, $3, $4");
        assert_eq!(Store::padded(&[1, 2, 3]).copied().collect::<Vec<_>>(), [1, 2, 3, 3]);
        assert_eq!(Store::padded(&[7]).copied().collect::<Vec<_>>(), [7]);
        assert_eq!(Store::padded::<i64>(&[]).count(), 0);
    }

    #[tokio::test]
    async fn unreadable_stored_values_are_decode_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let insert = "INSERT INTO subscriptions (id, owner_kind, owner_id, endpoint, endpoint_hash, p256dh, auth, \
                      secret_hash, created_at, push_service) VALUES ($1, $2, $3, $4, $5, 'k', 'a', 'h', 0, 0)";
        // An owner kind no variant has, and an owner id that no longer parses.
        for (id, kind, owner) in [("s1", 7, "42"), ("s2", 0, "")] {
            store
                .write(insert)
                .bind(id)
                .bind(kind)
                .bind(owner)
                .bind(format!("https://push.example/{id}"))
                .bind(id)
                .execute()
                .await
                .unwrap();
            let read = store.subscription_auth(id).await;
            assert!(matches!(read, Err(StoreError::Decode(_))), "{id}: {read:?}");
        }
        store
            .write(
                "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) VALUES ('k1', 'n', 'root', 'h', 0)",
            )
            .execute()
            .await
            .unwrap();
        assert!(matches!(store.api_key_auth("k1").await, Err(StoreError::Decode(_))));
    }
}
