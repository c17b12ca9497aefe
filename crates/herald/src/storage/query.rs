//! The one way SQL reaches the database, so that its two rules cannot be forgotten:
//!
//! - SQL is written with `$1, $2, …` and rewritten to `?` for MySQL ([`dialect`]);
//! - on SQLite, every write holds the in-process writer lock.
//!
//! [`Store::read`] runs a statement on the pool; [`Store::write`] does too, under the writer
//! lock; [`WriteTx::query`] runs one inside a transaction, which holds the lock already.

use super::{Backend, Store, StoreResult};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyConnection, Arguments, Encode, Type};
use std::borrow::Cow;
use tokio::sync::OwnedMutexGuard;

/// A statement being built: its SQL in the engine's dialect, its values, and where it runs.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'s, 'q> {
    on: On<'s>,
    sql: Cow<'q, str>,
    /// The first value that failed to encode is reported when the statement runs.
    args: Result<AnyArguments<'q>, BoxDynError>,
}

enum On<'s> {
    /// A statement of its own; `write` holds SQLite's writer lock while it runs.
    Pool { store: &'s Store, write: bool },
    /// Inside a write transaction, which holds the lock already.
    Tx(&'s mut AnyConnection),
}

/// Runs `$query.$method(executor)` on wherever the statement goes, under the writer lock
/// when it is a write on the pool.
macro_rules! run {
    ($self:ident, $method:ident) => {{
        let Query { on, sql, args } = $self;
        let query = sqlx::query_with(&sql, args.map_err(sqlx::Error::Encode)?);
        match on {
            On::Pool { store, write } => {
                let _writer = if write { store.writer().await } else { None };
                query.$method(&store.pool).await?
            }
            On::Tx(conn) => query.$method(conn).await?,
        }
    }};
}

impl<'s, 'q> Query<'s, 'q> {
    fn new(on: On<'s>, backend: Backend, sql: impl Into<Cow<'q, str>>) -> Self {
        Self {
            on,
            sql: dialect(backend, sql.into()),
            args: Ok(AnyArguments::default()),
        }
    }

    /// Binds the next `$n`.
    pub fn bind<T: 'q + Encode<'q, Any> + Type<Any>>(mut self, value: T) -> Self {
        if let Ok(args) = &mut self.args {
            if let Err(error) = args.add(value) {
                self.args = Err(error);
            }
        }
        self
    }

    /// Runs the statement; returns how many rows it changed.
    pub async fn execute(self) -> StoreResult<u64> {
        Ok(run!(self, execute).rows_affected())
    }

    pub async fn fetch_all(self) -> StoreResult<Vec<AnyRow>> {
        Ok(run!(self, fetch_all))
    }

    pub async fn fetch_one(self) -> StoreResult<AnyRow> {
        Ok(run!(self, fetch_one))
    }

    pub async fn fetch_optional(self) -> StoreResult<Option<AnyRow>> {
        Ok(run!(self, fetch_optional))
    }

    /// The first column of the one row (a `COUNT(*)`, a `MIN(…)`).
    pub async fn fetch_scalar<T>(self) -> StoreResult<T>
    where
        T: for<'r> sqlx::Decode<'r, Any> + Type<Any>,
    {
        use sqlx::Row;
        Ok(self.fetch_one().await?.try_get(0)?)
    }
}

/// A write transaction; on SQLite it also holds the in-process writer lock.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// A statement inside this transaction (the writer lock is held already).
    pub fn query<'t, 'q>(&'t mut self, sql: impl Into<Cow<'q, str>>) -> Query<'t, 'q> {
        let backend = self.backend;
        Query::new(On::Tx(&mut self.tx), backend, sql)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }

    /// Undoes the transaction now, before the writer lock is let go (dropping it would too,
    /// a moment later).
    pub async fn rollback(self) -> StoreResult<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl Store {
    /// A statement that only reads, on the pool.
    pub fn read<'q>(&self, sql: impl Into<Cow<'q, str>>) -> Query<'_, 'q> {
        Query::new(
            On::Pool {
                store: self,
                write: false,
            },
            self.backend,
            sql,
        )
    }

    /// A single write statement outside a transaction; on SQLite it waits for the writer lock.
    pub fn write<'q>(&self, sql: impl Into<Cow<'q, str>>) -> Query<'_, 'q> {
        Query::new(
            On::Pool {
                store: self,
                write: true,
            },
            self.backend,
            sql,
        )
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` under the writer lock on SQLite, so it
    /// holds the write lock from the start; a plain `BEGIN` elsewhere.
    pub async fn begin(&self) -> StoreResult<WriteTx> {
        let writer = self.writer().await;
        let tx = if writer.is_some() {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        };
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _writer: writer,
        })
    }

    /// SQLite has one writer at a time: queuing writers here, instead of letting them race
    /// for the file lock, avoids `SQLITE_BUSY` and SQLite's sleeping busy handler.
    async fn writer(&self) -> Option<OwnedMutexGuard<()>> {
        if self.backend == Backend::Sqlite {
            Some(self.sqlite_writer.clone().lock_owned().await)
        } else {
            None
        }
    }
}

/// Rewrites `$N` placeholders to `?` for MySQL; other engines take the SQL as written, without
/// copying it.
fn dialect(backend: Backend, sql: Cow<'_, str>) -> Cow<'_, str> {
    if backend != Backend::MySql {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_placeholders_are_rewritten() {
        let sql = "a = $1 AND b IN ($2, $10) AND c = '$'";
        assert!(matches!(dialect(Backend::Sqlite, sql.into()), Cow::Borrowed(s) if s == sql));
        assert!(matches!(dialect(Backend::Postgres, sql.into()), Cow::Borrowed(s) if s == sql));
        assert_eq!(dialect(Backend::MySql, sql.into()), "a = ? AND b IN (?, ?) AND c = '$'");
    }
}
