//! A PostgreSQL or MariaDB database made for one test and dropped when the test is done, even
//! when it fails. Shared with `scale_out.rs`, which includes this file by path.

use sqlx::Connection;

/// Where the throwaway databases live; the administrative database to connect to.
#[derive(Clone, Copy, Debug)]
pub enum DatabaseServer {
    Postgres,
    MySql,
}

impl DatabaseServer {
    fn admin_url(self) -> &'static str {
        match self {
            Self::Postgres => "postgres://postgres@127.0.0.1:5432/postgres",
            Self::MySql => "mysql://root@127.0.0.1:3306/mysql",
        }
    }

    fn url_of(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("postgres://postgres@127.0.0.1:5432/{name}"),
            Self::MySql => format!("mysql://root@127.0.0.1:3306/{name}"),
        }
    }
}

/// A database that exists while this value does.
pub struct TestDatabase {
    pub url: String,
    /// The server and name to drop; `None` for a SQLite file, which goes with its directory.
    dropped_from: Option<(DatabaseServer, String)>,
}

impl TestDatabase {
    /// Creates an empty database named `prefix_<random>`.
    pub async fn create(server: DatabaseServer, prefix: &str) -> Result<Self, sqlx::Error> {
        let name = format!(
            "{prefix}_{}",
            herald::secrets::random_id().to_lowercase().replace(['-', '_'], "x")
        );
        let query = format!("CREATE DATABASE {name}");
        match server {
            DatabaseServer::Postgres => {
                let mut admin = sqlx::PgConnection::connect(server.admin_url()).await?;
                sqlx::query(&query).execute(&mut admin).await?;
            }
            DatabaseServer::MySql => {
                let mut admin = sqlx::MySqlConnection::connect(server.admin_url()).await?;
                sqlx::query(&query).execute(&mut admin).await?;
            }
        }
        Ok(Self {
            url: server.url_of(&name),
            dropped_from: Some((server, name)),
        })
    }

    /// A SQLite file in `dir`, created by the server on first use.
    pub fn sqlite(dir: &std::path::Path) -> Self {
        Self {
            url: format!("sqlite://{}/herald.db", dir.display()),
            dropped_from: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is not async, and may run inside the test's runtime or outside any: a thread
        // with a runtime of its own can wait for the database to go either way.
        let Some((server, name)) = self.dropped_from.take() else {
            return;
        };
        let what = name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(drop_database(server, &name))
        })
        .join()
        .unwrap_or_else(|_| Err("the dropping thread panicked".into()));
        if let Err(e) = dropped {
            eprintln!("could not drop test database {what}: {e}");
        }
    }
}

/// Drops `name`, closing the connections the test's server may still hold: its tasks can
/// outlive the test body, and a connection in a transaction would block the drop.
async fn drop_database(server: DatabaseServer, name: &str) -> Result<(), String> {
    let mut last_error = String::new();
    // A pool may open a new connection between closing the old ones and the drop: try again.
    for _ in 0..5 {
        let dropped = match server {
            DatabaseServer::Postgres => {
                let mut admin = sqlx::PgConnection::connect(server.admin_url())
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(drop)
            }
            DatabaseServer::MySql => {
                let mut admin = sqlx::MySqlConnection::connect(server.admin_url())
                    .await
                    .map_err(|e| e.to_string())?;
                // Fail rather than wait on a lock a killed connection's transaction held.
                let _ = sqlx::query("SET SESSION lock_wait_timeout = 10")
                    .execute(&mut admin)
                    .await;
                let holders: Vec<i64> =
                    sqlx::query_scalar("SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ?")
                        .bind(name)
                        .fetch_all(&mut admin)
                        .await
                        .map_err(|e| e.to_string())?;
                for id in holders {
                    // Gone already is fine.
                    let _ = sqlx::query(&format!("KILL {id}")).execute(&mut admin).await;
                }
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await
                    .map(drop)
            }
        };
        match dropped {
            Ok(()) => return Ok(()),
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(last_error)
}
