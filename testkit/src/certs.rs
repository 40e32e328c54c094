//! A throwaway certificate authority and a server certificate for TLS tests, made with the
//! `openssl` command.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `openssl` with `args`; its error output becomes the error.
fn openssl(args: &[&OsStr]) -> std::io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot run openssl ({e}); install it with `apt-get install -y openssl`"),
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "openssl {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// A throwaway certificate authority and a server certificate for 127.0.0.1 signed by it,
/// made with the `openssl` command (`apt-get install -y openssl`).
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The CA certificate (PEM): what a client trusts.
    pub ca: PathBuf,
    /// The server certificate (PEM), subjectAltName IP:127.0.0.1.
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

impl TestCertificates {
    /// Creates the files in `dir`.
    ///
    /// # Errors
    /// When `openssl` is missing or fails.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let ca_key = dir.join("ca.key");
        let ca = dir.join("ca.crt");
        let key = dir.join("server.key");
        let csr = dir.join("server.csr");
        let cert = dir.join("server.crt");
        let ext = dir.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )?;
        let s = OsStr::new;
        openssl(&[
            s("req"),
            s("-x509"),
            s("-newkey"),
            s("rsa:2048"),
            s("-nodes"),
            s("-days"),
            s("2"),
            s("-subj"),
            s("/CN=riverwatch test CA"),
            s("-keyout"),
            ca_key.as_os_str(),
            s("-out"),
            ca.as_os_str(),
        ])?;
        openssl(&[
            s("req"),
            s("-newkey"),
            s("rsa:2048"),
            s("-nodes"),
            s("-subj"),
            s("/CN=127.0.0.1"),
            s("-keyout"),
            key.as_os_str(),
            s("-out"),
            csr.as_os_str(),
        ])?;
        openssl(&[
            s("x509"),
            s("-req"),
            s("-days"),
            s("2"),
            s("-CAcreateserial"),
            s("-in"),
            csr.as_os_str(),
            s("-CA"),
            ca.as_os_str(),
            s("-CAkey"),
            ca_key.as_os_str(),
            s("-extfile"),
            ext.as_os_str(),
            s("-out"),
            cert.as_os_str(),
        ])?;
        // mosquitto drops to its own user, which must read the key.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [&cert, &key, &ca] {
                std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644))?;
            }
        }
        Ok(Self { ca, cert, key })
    }
}
