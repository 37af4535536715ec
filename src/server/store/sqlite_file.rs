//! The SQLite database file: where a `sqlite:` URL puts it, where its key file goes, and that it
//! and its folder are private (0600 / 0700) before SQLite opens it.
//!
//! SQLite gives its `-wal` and `-shm` files the mode of the database file, so creating the
//! database file 0600 ourselves makes those private too; existing ones that are more open are
//! tightened and logged. A shared folder (sticky, like `/tmp`) is left as it is.

use super::{StoreError, StoreResult};
use crate::server::private_files::{self, Tightened};
use crate::server::secret::key_source::KEY_FILE_NAME;
use std::path::{Path, PathBuf};

/// The file a `sqlite:` URL names; `None` for an in-memory database.
pub(super) fn path_of(url: &str) -> Option<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The default key file of a SQLite database: `secret.key` in the same folder.
pub(super) fn key_file_beside(db: &Path) -> PathBuf {
    db.with_file_name(KEY_FILE_NAME)
}

/// Creates the folder (0700) and an empty database file (0600) if missing; tightens existing ones.
pub(super) fn prepare(db: &Path) -> StoreResult<()> {
    let folder = db.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(folder) = folder {
        private_files::create_dir(folder).map_err(|source| StoreError::Folder {
            path: folder.display().to_string(),
            source,
        })?;
        if !private_files::is_shared_dir(folder) {
            // Not fatal: the file itself is what must be private, and it is checked below.
            match private_files::tighten(folder) {
                Ok(done) => log(done),
                Err(e) => tracing::warn!(
                    folder = %folder.display(),
                    "cannot restrict the database folder to its owner: {e}"
                ),
            }
        }
    }
    private_files::create_empty(db).map_err(file_error(db))?;
    for file in [db.to_path_buf(), sidecar(db, "-wal"), sidecar(db, "-shm")] {
        log(private_files::tighten(&file).map_err(file_error(&file))?);
    }
    Ok(())
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::File {
        path: path.display().to_string(),
        source,
    }
}

fn log(done: Option<Tightened>) {
    if let Some(t) = done {
        tracing::warn!(
            path = %t.path.display(),
            "{} was open to other users (mode {:o}); changed it to {:o}",
            t.path.display(),
            t.from,
            t.to
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sqlite_file_and_its_key_file() {
        assert_eq!(
            path_of("sqlite://data/dify-bench.db?mode=rwc"),
            Some("data/dify-bench.db".into())
        );
        assert_eq!(path_of("sqlite:x.db"), Some("x.db".into()));
        assert_eq!(path_of("sqlite::memory:"), None);
        // The empty name: SQLite's private temporary database (what `run` uses).
        assert_eq!(path_of("sqlite:"), None);
        assert_eq!(path_of("sqlite://x.db?mode=memory"), None);
        assert_eq!(
            key_file_beside(Path::new("data/dify-bench.db")),
            Path::new("data/secret.key")
        );
        assert_eq!(key_file_beside(Path::new("x.db")), Path::new("secret.key"));
    }

    #[cfg(unix)]
    #[test]
    fn creates_and_tightens_the_file_and_its_folder() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("new/bench.db");
        prepare(&db).unwrap();
        assert_eq!((mode(db.parent().unwrap()), mode(&db)), (0o700, 0o600));

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = open.join("bench.db");
        for f in [db.clone(), sidecar(&db, "-wal")] {
            std::fs::write(&f, b"").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare(&db).unwrap();
        assert_eq!(mode(&open), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&sidecar(&db, "-wal")), 0o600);
    }
}
