//! The SQLite database as a file: where a `sqlite:` URL points, and the lock that keeps a
//! second `herald serve` off a file one server already uses.
//!
//! SQLite is for one server process (the in-process writer queue in [`super::Store`] only
//! orders the writers of one process). [`ServerLock`] is an advisory `flock` on a sibling
//! file, `<database>.lock`, held for the server's lifetime; the kernel releases it when the
//! process ends, even on `kill -9`. CLI commands do not take it: they run beside the server.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The file a `sqlite:` URL names, made absolute against the current directory (relative
/// paths are how an operator ends up with a second, empty database). `None` for other
/// engines and for in-memory databases.
pub fn database_path(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Creates an empty database file that only its owner can read: it will hold the VAPID private
/// key and every subscription, and SQLite gives the `-wal` and `-shm` files the same mode. An
/// existing file is left as it is.
pub fn create_private(database: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(database) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The lock file beside `database`: `herald.db` → `herald.db.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on a SQLite database for one server process, released on drop (or
/// when the process dies). The lock file stays: deleting it would let a third process lock
/// a fresh file while the second still holds the old one.
/// Why the one-server lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{database} is already served by {holder} (it holds {lock}). A SQLite database serves one \
             `herald serve` at a time; stop the other server first, or use PostgreSQL or \
             MySQL to run several instances (docs/deployment.md)."
    )]
    Held {
        database: String,
        lock: String,
        /// `process <pid>`, or `another process` when the file does not say.
        holder: String,
    },
    #[error("cannot {action} the lock file {lock}: {source}")]
    File {
        action: &'static str,
        lock: String,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// Takes the lock for `database` without waiting; the error names the file and the
    /// process that holds it.
    pub fn acquire(database: &Path) -> Result<Self, LockError> {
        let path = lock_path(database);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        // Owner-only like the database beside it, so a directory listing shows one rule.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(|source| LockError::File {
            action: "open",
            lock: path.display().to_string(),
            source,
        })?;
        if let Err(e) = try_lock_exclusive(&file) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(LockError::File {
                    action: "lock",
                    lock: path.display().to_string(),
                    source: e,
                });
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!("process {pid}"),
                Err(_) => "another process".to_owned(),
            };
            return Err(LockError::Held {
                database: database.display().to_string(),
                lock: path.display().to_string(),
                holder,
            });
        }
        // Ours now: record who holds it, for the next one's message.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|source| LockError::File {
                action: "write",
                lock: path.display().to_string(),
                source,
            })?;
        Ok(Self { _file: file })
    }
}

#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn try_lock_exclusive(_file: &File) -> std::io::Result<()> {
    // No advisory lock on this platform; the deployment guide's rule still applies.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_and_memory_has_none() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(database_path("sqlite://herald.db"), Some(cwd.join("herald.db")));
        assert_eq!(database_path("sqlite:data/h.db?mode=rwc"), Some(cwd.join("data/h.db")));
        assert_eq!(
            database_path("sqlite:///var/lib/herald/herald.db"),
            Some(PathBuf::from("/var/lib/herald/herald.db"))
        );
        assert_eq!(database_path("sqlite::memory:"), None);
        assert_eq!(database_path("postgres://localhost/herald"), None);
        assert_eq!(lock_path(Path::new("/x/herald.db")), PathBuf::from("/x/herald.db.lock"));
    }

    #[cfg(unix)]
    #[test]
    fn a_second_lock_on_one_file_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("herald.db");
        let first = ServerLock::acquire(&db).unwrap();
        let err = ServerLock::acquire(&db).unwrap_err().to_string();
        assert!(err.contains(&db.display().to_string()), "{err}");
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        drop(first);
        ServerLock::acquire(&db).expect("free again once the holder is gone");
    }
}
