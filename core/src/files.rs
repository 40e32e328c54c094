//! Private files and folders: the data directory and every folder riverwatch makes in it are
//! created 0700, every file it writes there 0600, whatever the process umask (the modes are
//! set explicitly after creation, not left to `umask`). SQLite files go through
//! [`crate::sqlite`], which uses these; SQLite gives their `-wal` and `-shm` files the
//! database file's mode.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Mode of the data directory and the folders in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file riverwatch writes in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// A file or folder that cannot be created or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {path}: {source}")]
pub struct FileError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and its missing parents with mode 0700. A folder that already exists keeps
/// its mode (an operator may have chosen it); the folders created here get 0700 exactly.
///
/// # Errors
/// A folder that cannot be created.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(dir) {
        Ok(()) => set_mode(dir, DIR_MODE),
        // Another process made it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(err(dir)(e)),
    }
}

/// Creates an empty file with mode 0600 (and its folder, 0700) unless it exists; returns
/// whether it was created.
///
/// # Errors
/// The folder or the file cannot be created.
pub fn create_private_file(path: &Path) -> Result<bool, FileError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    match open_new(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(err(path)(e)),
    }
}

/// Writes `bytes` to a new file `path` with mode 0600 (its folder 0700); fails when it exists.
///
/// # Errors
/// The file exists, or cannot be written.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut f = open_new(path).map_err(err(path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(err(path))
}

/// Replaces `path` with `bytes`, mode 0600: written to a temporary file beside it, then
/// renamed over it, so a reader sees the old or the new content, never a part.
///
/// # Errors
/// The file cannot be written or renamed.
pub fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    write_new_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(err(path))
}

/// Opens a new file for writing with mode 0600 set on the open file (so the umask does not
/// decide it).
fn open_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let f = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(f)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), FileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err(path))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The permission bits of a file or folder (0 where there are none).
pub fn mode_of(path: &Path) -> std::io::Result<u32> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        Ok(meta.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(0)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn folders_are_0700_and_files_0600_even_with_a_permissive_umask() {
        // The process umask is whatever the test runner has (often 0022); the modes must
        // not depend on it, and a file written with group/other bits in the way of a
        // plain `fs::write` would show them.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").join("outbox");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir).unwrap(), 0o700);
        assert_eq!(mode_of(&tmp.path().join("data")).unwrap(), 0o700);
        let f = tmp.path().join("data").join("a.db");
        assert!(create_private_file(&f).unwrap());
        assert!(
            !create_private_file(&f).unwrap(),
            "an existing file is kept"
        );
        assert_eq!(mode_of(&f).unwrap(), 0o600);
        let g = dir.join("m.eml");
        replace_private(&g, b"one").unwrap();
        replace_private(&g, b"two").unwrap();
        assert_eq!(std::fs::read(&g).unwrap(), b"two");
        assert_eq!(mode_of(&g).unwrap(), 0o600);
        assert!(write_new_private(&g, b"x").is_err(), "never overwritten");
    }
}
