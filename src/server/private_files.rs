//! Files only the server's own user may read: the SQLite database, its lock file and the secret
//! key file.
//!
//! Folders are created 0700 and files 0600; an existing one that is more open is tightened (the
//! caller logs it). New files are written whole under a temporary name in the same folder and then
//! linked or renamed into place, so a reader never sees half a file and a crash leaves either the
//! old file or the new one. Off Unix there are no modes to set: the functions only create and
//! write.
//!
//! This module knows nothing of keys or databases; `secret::key_source` and `store` use it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Mode of the folders created here.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files created here.
pub const FILE_MODE: u32 = 0o600;

/// A mode change made to an existing file or folder, for the caller to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    pub from: u32,
    pub to: u32,
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Removes the group and other bits of an existing file or folder, if it has any. `None`
/// when it does not exist or was already private.
pub fn tighten(path: &Path) -> std::io::Result<Option<Tightened>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let from = meta.permissions().mode() & 0o7777;
        let to = from & !0o077;
        if to == from {
            return Ok(None);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))?;
        Ok(Some(Tightened {
            path: path.to_path_buf(),
            from,
            to,
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// Whether a folder is one others share on purpose (sticky, like `/tmp`): such a folder is never
/// tightened, only the files in it.
pub fn is_shared_dir(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir) {
            Ok(m) => m.permissions().mode() & 0o1000 != 0,
            Err(_) => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        true
    }
}

/// Creates an empty file with mode 0600 if there is none (so that SQLite, which gives its WAL
/// and shared-memory files the mode of the database file, makes those 0600 too).
pub fn create_empty(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading and writing, creating it with mode 0600 if there is none; an
/// existing file keeps its contents (a lock file's holder is read before it is overwritten).
pub fn open_or_create(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path)
}

/// Writes `contents` to `path` only if there is no such file yet. False when another process
/// (or an earlier run) got there first; the existing file is left untouched.
pub fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let temp = write_temp(path, contents)?;
    // A hard link fails if the target exists, which a rename would silently replace.
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path`, replacing any file there in one step.
pub fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let temp = write_temp(path, contents)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    sync_dir(path);
    Ok(())
}

/// Renames `from` over `to` in one step (both in the same folder).
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(to);
    Ok(())
}

fn write_temp(path: &Path, contents: &[u8]) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let written = options.open(&temp).and_then(|mut file| {
        // The mode given at creation is masked by the umask; set it explicitly too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        }
        file.write_all(contents)?;
        file.sync_all()
    });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Makes a rename or link durable. Best effort: not every file system lets a folder be synced.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_private_folders_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("k");
        assert!(write_new(&file, b"one").unwrap());
        assert_eq!(mode(&file), 0o600);
        assert!(
            !write_new(&file, b"two").unwrap(),
            "an existing file is kept"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"one");
        replace(&file, b"three").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"three");
        assert_eq!(mode(&file), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn tightens_only_what_is_too_open() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let done = tighten(&file).unwrap().unwrap();
        assert_eq!((done.from, done.to), (0o644, 0o600));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(tighten(&file).unwrap(), None);
        assert_eq!(tighten(&tmp.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn sticky_folders_are_shared() {
        assert!(is_shared_dir(Path::new("/tmp")));
        let tmp = tempfile::tempdir().unwrap();
        assert!(!is_shared_dir(tmp.path()));
    }
}
