//! The SQLite database file holds the VAPID private key and the owner-token secret in clear,
//! so it must be readable by its owner only, whatever the umask. The file is created 0600
//! before SQLite opens it ([`super::sqlite_file::create_private`]); SQLite gives the files it
//! creates beside it (`-wal`, `-shm`, `-journal`) the main file's mode. A file that already
//! exists is left as it is, with a warning when others can read it.

use std::path::{Path, PathBuf};

/// The files SQLite keeps for one database.
const COMPANIONS: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Warns about any of the database's files that group or others can read. Creating the file
/// owner-only is [`super::sqlite_file::create_private`]'s job.
pub(super) fn warn_if_exposed(url: &str) {
    let Some(path) = super::sqlite_file::database_path(url) else {
        return;
    };
    for path in exposed_files(&path) {
        tracing::warn!(
            file = %path.display(),
            "the database file is readable by group or others; it holds the VAPID private key and \
             the owner-token secret: chmod 600 it"
        );
    }
}

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
    fn a_new_database_file_is_private_and_an_exposed_one_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        super::super::sqlite_file::create_private(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(exposed_files(&path).is_empty());
        let wal = dir.path().join("h.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed_files(&path), vec![wal]);
    }
}
