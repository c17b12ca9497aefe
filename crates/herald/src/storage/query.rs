//! The one way SQL reaches the database, so that its two rules cannot be forgotten:
//!
//! - SQL is written with `$1, $2, …`, each once and in order, and rewritten to `?` for MySQL
//!   and SQLite ([`dialect`]);
//! - on SQLite, every write goes through the one writer connection.
//!
//! [`Store::read`] runs a statement on the pool; [`Store::write`] on the writer connection
//! (SQLite) or the pool; [`WriteTx::query`] runs one inside a transaction.

use super::{Backend, Store, StoreResult};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyConnection, AnyPool, Arguments, Encode, Type};
use std::borrow::Cow;

/// A statement being built: its SQL in the engine's dialect, its values, and where it runs.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'s, 'q> {
    on: On<'s>,
    sql: Cow<'q, str>,
    /// The first value that failed to encode is reported when the statement runs.
    args: Result<AnyArguments<'q>, BoxDynError>,
}

enum On<'s> {
    /// A statement of its own, on this pool.
    Pool(&'s AnyPool),
    /// Inside a write transaction.
    Tx(&'s mut AnyConnection),
}

/// Runs `$query.$method(executor)` on wherever the statement goes.
macro_rules! run {
    ($self:ident, $method:ident) => {{
        let Query { on, sql, args } = $self;
        let query = sqlx::query_with(&sql, args.map_err(sqlx::Error::Encode)?);
        match on {
            On::Pool(pool) => query.$method(pool).await?,
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

/// A write transaction; on SQLite it holds the writer connection.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
}

impl WriteTx {
    /// A statement inside this transaction.
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

    /// Undoes the transaction now, before the writer connection is let go (dropping it would
    /// too, a moment later).
    pub async fn rollback(self) -> StoreResult<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl Store {
    /// A statement that only reads, on the pool.
    pub fn read<'q>(&self, sql: impl Into<Cow<'q, str>>) -> Query<'_, 'q> {
        Query::new(On::Pool(&self.pool), self.backend, sql)
    }

    /// A single write statement outside a transaction; on SQLite it waits for the writer
    /// connection.
    pub fn write<'q>(&self, sql: impl Into<Cow<'q, str>>) -> Query<'_, 'q> {
        Query::new(On::Pool(self.writer()), self.backend, sql)
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite's writer connection, so it
    /// holds the write lock from the start (another process may share the file); a plain
    /// `BEGIN` elsewhere.
    pub async fn begin(&self) -> StoreResult<WriteTx> {
        let tx = match &self.sqlite_writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            backend: self.backend,
        })
    }

    /// Where writes go: SQLite's one writer connection, or the pool.
    fn writer(&self) -> &AnyPool {
        self.sqlite_writer.as_ref().unwrap_or(&self.pool)
    }
}

/// Rewrites `$N` placeholders to `?` for MySQL and SQLite; PostgreSQL takes the SQL as
/// written, without copying it.
///
/// SQLite would take `$N`, but its driver looks each named parameter up by a linear walk, so
/// binding a 512-id list cost a quadratic 130,000 steps per statement (about 1 % of a push's
/// CPU); positional `?` binds in order. Either way the placeholders must run `$1, $2, …`, each
/// once: checked here in debug builds, so every test on these engines enforces it.
fn dialect(backend: Backend, sql: Cow<'_, str>) -> Cow<'_, str> {
    if backend == Backend::Postgres {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut placeholders = 0u32;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut number = 0u32;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                number = number.saturating_mul(10).saturating_add(digit);
                chars.next();
            }
            placeholders += 1;
            debug_assert_eq!(
                number, placeholders,
                "placeholders must run $1, $2, … each once (they become `?`): {sql}"
            );
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
    fn placeholders_become_positional_on_mysql_and_sqlite() {
        let sql = "a = $1 AND b IN ($2, $3) AND c = '$'";
        assert!(matches!(dialect(Backend::Postgres, sql.into()), Cow::Borrowed(s) if s == sql));
        for backend in [Backend::MySql, Backend::Sqlite] {
            assert_eq!(dialect(backend, sql.into()), "a = ? AND b IN (?, ?) AND c = '$'");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "placeholders must run")]
    fn placeholders_out_of_order_are_caught() {
        let _ = dialect(Backend::Sqlite, "a = $2 AND b = $1".into());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "placeholders must run")]
    fn a_placeholder_used_twice_is_caught() {
        let _ = dialect(Backend::MySql, "a = $1 OR b = $1".into());
    }
}
