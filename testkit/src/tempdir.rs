//! A temporary directory removed on drop (no extra dependency for one helper, so the
//! benchmarks that link this crate need nothing more).

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temporary folder, removed with its contents when
/// dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `{tmp}/{prefix}-{pid}-{n}` for the first free `n`.
    ///
    /// # Errors
    /// When no directory can be created.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        for n in 0..1000u32 {
            let p = base.join(format!("{prefix}-{}-{n}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(Self(p));
            }
        }
        Err(std::io::Error::other(format!(
            "cannot create a temporary directory in {}",
            base.display()
        )))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
