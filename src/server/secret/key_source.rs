//! Where the master key comes from: `DIFY_BENCH_SECRET_KEY`, or a key file
//! (`--secret-key-file`, `DIFY_BENCH_SECRET_KEY_FILE`, by default `secret.key` beside the SQLite
//! database or `data/secret.key` for PostgreSQL), created with mode 0600 on first start.
//!
//! A key generated on first start is written only when the store says so
//! ([`LoadedKey::save_if_new`]): after it has checked that the database holds nothing sealed under
//! another key, and before it seals anything under this one. A lost key file therefore gives a
//! clear error instead of a fresh key that silently cannot read the database.
//!
//! Rotation writes the new key beside the old one as `<file>.next` first, re-encrypts, then renames
//! it over the old. A rotation cut short leaves the `.next` file, which the next start either
//! adopts (the database was re-encrypted) or removes (it was not).

use super::master_key::{KeyParseError, MasterKey, RandomError};
use crate::server::private_files;
use std::fmt;
use std::path::{Path, PathBuf};

/// The key itself, base64 or hex.
pub const ENV_KEY: &str = "DIFY_BENCH_SECRET_KEY";
/// The key file's path (same as `--secret-key-file`).
pub const ENV_KEY_FILE: &str = "DIFY_BENCH_SECRET_KEY_FILE";
/// The key file's name beside a SQLite database.
pub const KEY_FILE_NAME: &str = "secret.key";
/// The key file of a PostgreSQL database, relative to the working directory.
pub const POSTGRES_KEY_FILE: &str = "data/secret.key";

/// What the operator configured. `Debug` never shows the key.
#[derive(Clone, Default)]
pub struct SecretKeyConfig {
    /// The key itself, from `DIFY_BENCH_SECRET_KEY`.
    pub key: Option<String>,
    /// A key file, from `--secret-key-file` or `DIFY_BENCH_SECRET_KEY_FILE`.
    pub file: Option<PathBuf>,
}

impl fmt::Debug for SecretKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeyConfig")
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("file", &self.file)
            .finish()
    }
}

impl SecretKeyConfig {
    /// `DIFY_BENCH_SECRET_KEY`, and the key file from `flag` or else `DIFY_BENCH_SECRET_KEY_FILE`.
    pub fn from_env(flag: Option<PathBuf>) -> SecretKeyConfig {
        let key = std::env::var(ENV_KEY).ok().filter(|k| !k.trim().is_empty());
        let file = flag.or_else(|| {
            std::env::var_os(ENV_KEY_FILE)
                .filter(|f| !f.is_empty())
                .map(PathBuf::from)
        });
        SecretKeyConfig { key, file }
    }
}

/// Where the key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Env,
    File(PathBuf),
    /// Generated for this process only (an in-memory database keeps nothing to protect).
    Ephemeral,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Env => f.write_str(ENV_KEY),
            KeyOrigin::File(path) => write!(f, "the key file {}", path.display()),
            KeyOrigin::Ephemeral => f.write_str("a key for this process only"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{ENV_KEY} {0}")]
    BadEnv(KeyParseError),
    #[error("the secret key file {path} {reason}")]
    BadFile { path: String, reason: KeyParseError },
    #[error(
        "both {ENV_KEY} and a secret key file ({0}) are set; set only one (unset \
         {ENV_KEY_FILE} or drop --secret-key-file to use the env var)"
    )]
    Both(String),
    #[error("cannot {action} the secret key file {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Random(#[from] RandomError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.display().to_string();
    move |source| KeyError::Io {
        action,
        path,
        source,
    }
}

/// The key to use, as found at start-up.
#[derive(Debug)]
pub struct LoadedKey {
    key: MasterKey,
    origin: KeyOrigin,
    /// Generated now, its file not written yet.
    unsaved: bool,
    /// A cut-short rotation's new key, found in `<file>.next`.
    next: Option<MasterKey>,
}

impl LoadedKey {
    /// Finds the key. `default_file` is where the key file lives when none is configured; `None`
    /// means the database is not kept (in-memory SQLite), so the key lives in this process only.
    pub fn load(
        config: &SecretKeyConfig,
        default_file: Option<PathBuf>,
    ) -> Result<LoadedKey, KeyError> {
        let Some(default_file) = default_file else {
            return Ok(LoadedKey {
                key: MasterKey::generate()?,
                origin: KeyOrigin::Ephemeral,
                unsaved: false,
                next: None,
            });
        };
        match (&config.key, &config.file) {
            (Some(_), Some(file)) => Err(KeyError::Both(file.display().to_string())),
            (Some(text), None) => Ok(LoadedKey {
                key: MasterKey::parse(text).map_err(KeyError::BadEnv)?,
                origin: KeyOrigin::Env,
                unsaved: false,
                next: None,
            }),
            (None, file) => {
                let path = file.clone().unwrap_or(default_file);
                let (key, unsaved) = match read_key_file(&path)? {
                    Some(key) => (key, false),
                    None => (MasterKey::generate()?, true),
                };
                let next = read_key_file(&next_path(&path))?;
                Ok(LoadedKey {
                    key,
                    origin: KeyOrigin::File(path),
                    unsaved,
                    next,
                })
            }
        }
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// True when the key was generated now and no file holds it yet.
    pub fn is_new(&self) -> bool {
        self.unsaved
    }

    /// The new key of a rotation that was cut short, if its file is there.
    pub fn next(&self) -> Option<&MasterKey> {
        self.next.as_ref()
    }

    /// Writes a key generated now to its file (0600, folder 0700). If another process wrote the
    /// file first, its key is adopted instead.
    pub fn save_if_new(&mut self) -> Result<(), KeyError> {
        let KeyOrigin::File(path) = &self.origin else {
            return Ok(());
        };
        if !self.unsaved {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            private_files::create_dir(dir).map_err(io_error("create the folder of", path))?;
        }
        let contents = format!("{}\n", self.key.encode());
        if private_files::write_new(path, contents.as_bytes()).map_err(io_error("create", path))? {
            tracing::info!(
                path = %path.display(),
                key_id = %self.key.id(),
                "created the secret key file (mode 0600); back it up with the database"
            );
        } else if let Some(theirs) = read_key_file(path)? {
            self.key = theirs;
        }
        self.unsaved = false;
        Ok(())
    }

    /// Completes a cut-short rotation: the `.next` key replaces the key file's.
    pub fn adopt_next(&mut self) -> Result<(), KeyError> {
        let (KeyOrigin::File(path), Some(next)) = (&self.origin, self.next.take()) else {
            return Ok(());
        };
        private_files::rename(&next_path(path), path).map_err(io_error("replace", path))?;
        tracing::warn!(
            path = %path.display(),
            key_id = %next.id(),
            "completed a secret key rotation that was cut short"
        );
        self.key = next;
        self.unsaved = false;
        Ok(())
    }

    /// Drops the `.next` key of a rotation that never reached the database.
    pub fn discard_next(&mut self) -> Result<(), KeyError> {
        let (KeyOrigin::File(path), Some(_)) = (&self.origin, self.next.take()) else {
            return Ok(());
        };
        let next = next_path(path);
        std::fs::remove_file(&next).map_err(io_error("remove", &next))?;
        tracing::warn!(path = %next.display(), "removed the key of a rotation that did not happen");
        Ok(())
    }
}

/// Rotation, step 1: the new key is written beside the key file, so that it is on disk before
/// anything is sealed under it.
pub fn stage_rotation(path: &Path, new: &MasterKey) -> Result<(), KeyError> {
    let next = next_path(path);
    private_files::replace(&next, format!("{}\n", new.encode()).as_bytes())
        .map_err(io_error("write", &next))
}

/// Rotation, last step: the new key replaces the old in one rename.
pub fn finish_rotation(path: &Path) -> Result<(), KeyError> {
    private_files::rename(&next_path(path), path).map_err(io_error("replace", path))
}

/// Rotation abandoned (the database was not changed): the staged key goes.
pub fn abandon_rotation(path: &Path) {
    let _ = std::fs::remove_file(next_path(path));
}

fn next_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| KEY_FILE_NAME.to_string());
    path.with_file_name(format!("{name}.next"))
}

/// The key in a file; `None` if there is no file. A file readable by others is tightened first.
fn read_key_file(path: &Path) -> Result<Option<MasterKey>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    if let Some(t) = private_files::tighten(path).map_err(io_error("restrict", path))? {
        tracing::warn!(
            path = %path.display(),
            "the secret key file was readable by others (mode {:o}); changed it to {:o}",
            t.from,
            t.to
        );
    }
    MasterKey::parse(&text)
        .map(Some)
        .map_err(|reason| KeyError::BadFile {
            path: path.display().to_string(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_config(path: &Path) -> SecretKeyConfig {
        SecretKeyConfig {
            key: None,
            file: Some(path.to_path_buf()),
        }
    }

    #[test]
    fn a_new_key_file_is_written_only_when_asked_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys/secret.key");
        let mut first = LoadedKey::load(&SecretKeyConfig::default(), Some(path.clone())).unwrap();
        assert!(first.is_new());
        assert!(
            !path.exists(),
            "nothing is written before the store says so"
        );
        first.save_if_new().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let again =
            LoadedKey::load(&file_config(&path), Some(tmp.path().join("unused.key"))).unwrap();
        assert!(!again.is_new());
        assert_eq!(again.key().id(), first.key().id());
        assert_eq!(again.origin(), &KeyOrigin::File(path));
    }

    #[test]
    fn a_key_file_written_meanwhile_by_another_process_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        let mut mine = LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
        let theirs = MasterKey::generate().unwrap();
        std::fs::write(&path, theirs.encode()).unwrap();
        mine.save_if_new().unwrap();
        assert_eq!(mine.key().id(), theirs.id());
    }

    #[test]
    fn env_key_must_parse_and_excludes_a_key_file() {
        let env = |key: &str, file: Option<&str>| SecretKeyConfig {
            key: Some(key.into()),
            file: file.map(PathBuf::from),
        };
        let home = Some(PathBuf::from("unused/secret.key"));
        let good = MasterKey::generate().unwrap();
        let loaded = LoadedKey::load(&env(&good.encode(), None), home.clone()).unwrap();
        assert_eq!(loaded.key().id(), good.id());
        assert_eq!(loaded.origin(), &KeyOrigin::Env);
        let e = LoadedKey::load(&env("hunter2", None), home.clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("DIFY_BENCH_SECRET_KEY must be 32 bytes"),
            "{e}"
        );
        assert!(!e.contains("hunter2"));
        let e = LoadedKey::load(&env(&good.encode(), Some("k")), home)
            .unwrap_err()
            .to_string();
        assert!(e.contains("set only one"), "{e}");
        // An in-memory database ignores both: its key lives in the process.
        let mem = LoadedKey::load(&env("hunter2", None), None).unwrap();
        assert_eq!(mem.origin(), &KeyOrigin::Ephemeral);
    }

    #[test]
    fn a_bad_key_file_is_named_and_an_open_one_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        std::fs::write(&path, "short").unwrap();
        let e = LoadedKey::load(&file_config(&path), Some(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("32 bytes"),
            "{e}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, MasterKey::generate().unwrap().encode()).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_staged_rotation_is_adopted_or_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        let old = MasterKey::generate().unwrap();
        let new = MasterKey::generate().unwrap();
        std::fs::write(&path, old.encode()).unwrap();

        stage_rotation(&path, &new).unwrap();
        let mut loaded = LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
        assert_eq!(loaded.next().map(|k| k.id()), Some(new.id()));
        loaded.discard_next().unwrap();
        assert!(!next_path(&path).exists());
        assert_eq!(loaded.key().id(), old.id());

        stage_rotation(&path, &new).unwrap();
        let mut loaded = LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
        loaded.adopt_next().unwrap();
        assert_eq!(loaded.key().id(), new.id());
        let reread = LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
        assert_eq!(reread.key().id(), new.id());
        assert!(reread.next().is_none());

        stage_rotation(&path, &old).unwrap();
        finish_rotation(&path).unwrap();
        let reread = LoadedKey::load(&file_config(&path), Some(path.clone())).unwrap();
        assert_eq!(reread.key().id(), old.id());
    }
}
