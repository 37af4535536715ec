//! One `serve` per SQLite file: an OS file lock on `<database>.lock`, beside the database, held
//! for as long as the server runs.
//!
//! SQLite keeps the file consistent between processes, but two servers on one file would both
//! resume the same unfinished batches (every remaining test called twice), keep two progress
//! registries (a watcher on one blind to the other's batches) and cancel only their own runs.
//! Several instances are PostgreSQL's job. So the second `serve` refuses to start, naming the
//! file and the process that holds it.
//!
//! Only `serve` takes the lock: `user`, `token`, `compare` and the tests open the database
//! briefly beside a running server, which SQLite handles. An in-memory database (the headless
//! `run`) and PostgreSQL take none.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through std's
//! `File::try_lock`), so it goes with the process however the process ends, `kill -9` included:
//! there is never a stale lock to clean up. It is taken on the file, not the name, so two
//! spellings of one path meet on one lock. The file is left in place when the lock is released
//! (deleting a lock file races with the next process opening it); it holds the holder's pid,
//! for the refusal message.
//!
//! It does not own where the database file is (`sqlite_file`) or opening it (`Store::open`).

use super::{sqlite_file, StoreError, StoreResult};
use crate::server::private_files;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock of one `serve` on one SQLite file; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    /// Kept open: closing it would release the lock.
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock for a server on `url`, or fails with [`StoreError::InUse`] when another
    /// process holds it. `None` for PostgreSQL and in-memory SQLite, and (with a warning) on a
    /// file system without file locks.
    pub fn acquire(url: &str) -> StoreResult<Option<InstanceLock>> {
        if !url.starts_with("sqlite:") {
            return Ok(None);
        }
        let Some(db) = sqlite_file::path_of(url) else {
            return Ok(None);
        };
        let path = lock_file_of(&db);
        let lock_error = |source| StoreError::Lock {
            path: path.display().to_string(),
            source,
        };
        // The database's folder may not exist yet on a first start; `Store::open` tightens it.
        if let Some(folder) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_files::create_dir(folder).map_err(|source| StoreError::Folder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        let mut file = private_files::open_or_create(&path).map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    db: db.display().to_string(),
                    lock: path.display().to_string(),
                    holder: holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                tracing::warn!(
                    lock = %path.display(),
                    "this file system has no file locks: a second `serve` on this database \
                     would not be refused"
                );
                return Ok(None);
            }
            Err(TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        // Not fatal: the pid only makes the other process's message more useful.
        if let Err(e) = record_holder(&mut file) {
            tracing::warn!(lock = %path.display(), "cannot write this server's pid: {e}");
        }
        Ok(Some(InstanceLock { _file: file, path }))
    }

    /// The lock file (`<database>.lock`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `data/dify-bench.db` → `data/dify-bench.db.lock`.
fn lock_file_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn record_holder(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

/// The pid the holder wrote, if it has written one yet and it can be read.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_in(dir: &Path) -> String {
        format!("sqlite://{}/sub/bench.db?mode=rwc", dir.display())
    }

    #[test]
    fn a_second_server_on_one_file_is_refused_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let url = url_in(tmp.path());
        let first = InstanceLock::acquire(&url).unwrap().expect("a lock");
        assert_eq!(first.path(), tmp.path().join("sub/bench.db.lock"));

        // `flock` locks belong to an open file, so a second open in this process conflicts as
        // another process's would.
        let err = InstanceLock::acquire(&url).unwrap_err();
        let message = err.to_string();
        let db = tmp.path().join("sub/bench.db");
        assert!(
            matches!(&err, StoreError::InUse { holder: Some(pid), .. } if *pid == std::process::id()),
            "{err:?}"
        );
        assert!(message.contains(&db.display().to_string()), "{message}");
        assert!(message.contains("another dify-bench process"), "{message}");
        assert!(message.contains("PostgreSQL"), "{message}");

        // Another spelling of the same path meets the same lock.
        let other = format!("sqlite:{}/sub/./bench.db", tmp.path().display());
        assert!(matches!(
            InstanceLock::acquire(&other),
            Err(StoreError::InUse { .. })
        ));

        drop(first);
        let again = InstanceLock::acquire(&url).unwrap();
        assert!(
            again.is_some(),
            "the lock is free once its holder is dropped"
        );
    }

    #[test]
    fn memory_and_postgres_take_no_lock() {
        for url in [
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
            "postgres://bench@localhost/db",
        ] {
            assert!(InstanceLock::acquire(url).unwrap().is_none(), "{url}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_file_is_private_and_names_its_holder() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let lock = InstanceLock::acquire(&url_in(tmp.path()))
            .unwrap()
            .expect("a lock");
        let mode = std::fs::metadata(lock.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(
            lock_file_of(Path::new("data/dify-bench.db")),
            Path::new("data/dify-bench.db.lock")
        );
    }
}
