//! The SQLite database file holds the VAPID private key and the owner-token secret in clear,
//! so it must be readable by its owner only, whatever the umask. The file is created 0600
//! before SQLite opens it; SQLite gives the files it creates beside it (`-wal`, `-shm`,
//! `-journal`) the main file's mode. A file that already exists is left as it is, with a
//! warning when others can read it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The files SQLite keeps for one database.
const COMPANIONS: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Creates the database file owner-only if it does not exist yet, and warns about any of its
/// files that group or others can read. Problems are left for SQLite to report.
pub(super) fn prepare(url: &str) {
    let Some(path) = file_of(url) else { return };
    if !path.exists() {
        create_private(&path);
    }
    for path in exposed_files(&path) {
        tracing::warn!(
            file = %path.display(),
            "the database file is readable by group or others; it holds the VAPID private key and \
             the owner-token secret: chmod 600 it"
        );
    }
}

/// The database file a `sqlite:` URL names, or `None` for an in-memory database.
fn file_of(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let text = path.to_string_lossy();
    // sqlx names in-memory databases `file:sqlx-in-memory-N`.
    let in_memory = text.contains(":memory:") || text.starts_with("file:") || url.contains("mode=memory");
    (!text.is_empty() && !in_memory).then(|| path.to_path_buf())
}

#[cfg(unix)]
fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: never truncate, and lose no race with another process creating it.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

#[cfg(not(unix))]
fn create_private(_: &Path) {}

/// The database's files that exist and that group or others may read or write.
#[cfg(unix)]
pub(crate) fn exposed_files(database: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    COMPANIONS
        .iter()
        .map(|suffix| {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0))
        .collect()
}

#[cfg(not(unix))]
pub(crate) fn exposed_files(_: &Path) -> Vec<PathBuf> {
    Vec::new()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(file_of("sqlite://herald.db"), Some(PathBuf::from("herald.db")));
        assert_eq!(
            file_of("sqlite:///tmp/x/h.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/h.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
    }

    #[test]
    fn a_new_database_file_is_private_and_an_exposed_one_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        prepare(&format!("sqlite://{}", path.display()));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(exposed_files(&path).is_empty());
        let wal = dir.path().join("h.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed_files(&path), vec![wal]);
    }
}
