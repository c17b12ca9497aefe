//! Storage: one SQL schema, three engines (SQLite by default, PostgreSQL, MySQL/MariaDB).
//!
//! Queries go through `sqlx::Any` and use only portable types (i64, text). SQL is written
//! with `$1, $2, …` placeholders, each used once and in order, and [`Store::sql`] rewrites
//! them to `?` for MySQL. Where the engines truly differ (claiming outbox rows, upserts),
//! the dialect is matched explicitly in the module that needs it.
//!
//! Layout: [`settings`] (generated keys and token hashes), [`subscriptions`], [`messages`]
//! (messages, audience expansion, the tickle inbox and receipts), [`outbox`] (per-target
//! delivery state: claiming, recording results, cleanup), [`api_keys`] (scoped keys),
//! [`rollups`] (the overview's counters), [`sqlite_file`] (where a SQLite
//! database lives, and the one-server lock on it).
//!
//! Only the server (and `herald init`) create a database: [`Store::connect`]. Every other
//! command uses [`Store::open_existing`], which refuses a missing SQLite file or a database
//! without Herald's tables instead of creating an empty one beside the real one.

pub mod api_keys;
mod database_file;
pub mod messages;
pub mod outbox;
pub mod reminders;
pub mod rollups;
pub mod settings;
pub mod sqlite_file;
pub mod subscriptions;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

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
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database, shared by the API, the delivery engine and the scheduler.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Queuing writers here, instead of letting them race
    /// for the file lock, avoids `SQLITE_BUSY` (a deferred transaction that read first cannot
    /// upgrade once another writer committed) and SQLite's sleeping busy handler.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction; on SQLite it also holds the in-process writer lock.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
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
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
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
            .connect(&url)
            .await?;
        let store = Self {
            pool,
            backend,
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
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
        let row = sqlx::query(query).fetch_one(&self.pool).await?;
        Ok(col::<i64>(&row, "n")? > 0)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::MySql => &MYSQL_MIGRATIONS,
        }
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` under the writer lock on SQLite, so it
    /// holds the write lock from the start; a plain `BEGIN` elsewhere.
    pub async fn begin(&self) -> StoreResult<WriteTx> {
        if self.backend == Backend::Sqlite {
            let writer = self.sqlite_writer.clone().lock_owned().await;
            let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            Ok(WriteTx {
                tx,
                _writer: Some(writer),
            })
        } else {
            Ok(WriteTx {
                tx: self.pool.begin().await?,
                _writer: None,
            })
        }
    }

    /// Holds the SQLite writer lock for a single write statement outside a transaction.
    pub async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if self.backend == Backend::Sqlite {
            Some(self.sqlite_writer.clone().lock_owned().await)
        } else {
            None
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Rewrites `$N` placeholders to `?` for MySQL; other engines take them as written.
    pub fn sql<'q>(&self, query: &'q str) -> Cow<'q, str> {
        if self.backend != Backend::MySql {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len());
        let mut chars = query.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// `$first, $first+1, …` for an `IN (…)` list of `count` values, built at run time; pass
    /// the result through [`Self::sql`] like any other query. The list is as long as
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

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
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
                    .map(|b| String::from_utf8(b).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e)))))
                    .transpose()
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl FromColumn for String {
    fn from_column(row: &AnyRow, name: &str) -> StoreResult<Self> {
        Option::<String>::from_column(row, name)?
            .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(format!("{name} is NULL"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mysql_placeholders_are_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        assert_eq!(store.sql("SELECT $1, $2"), "SELECT $1, $2");
        let mysql = Store {
            pool: store.pool.clone(),
            backend: Backend::MySql,
            sqlite_writer: store.sqlite_writer.clone(),
        };
        assert_eq!(
            mysql.sql("a = $1 AND b IN ($2, $10) AND c = '$'"),
            "a = ? AND b IN (?, ?) AND c = '$'"
        );
        assert_eq!(Store::placeholders(3, 2), "$3, $4");
        assert_eq!(Store::placeholders(1, 3), "$1, $2, $3, $4");
        assert_eq!(Store::padded(&[1, 2, 3]).copied().collect::<Vec<_>>(), [1, 2, 3, 3]);
        assert_eq!(Store::padded(&[7]).copied().collect::<Vec<_>>(), [7]);
        assert_eq!(Store::padded::<i64>(&[]).count(), 0);
    }
}
