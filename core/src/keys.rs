//! The deployment key that authenticates the services' internal messages (readings, events,
//! alert state, status; see [`crate::mqtt::auth`]).
//!
//! A key ring is one or more 32-byte keys written in hex: the first signs, every one verifies
//! (so a key can be rotated without refusing what is in flight). It comes from
//! `RIVERWATCH_INTERNAL_KEY` (keys separated by commas) or, when that is not set, from the
//! key file `<data-dir>/internal.key` (one key a line, `#` comments), which `riverwatch up`
//! and `riverwatch keys init` create with mode 0600 when it is missing. A key file that its
//! group or others may read is refused. A key never appears in logs or `Debug` output: only
//! its id, eight hex digits of a SHA-256 of the key.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::files;

/// Environment variable holding the key ring (hex keys separated by commas; the first signs).
pub const ENV_KEY: &str = "RIVERWATCH_INTERNAL_KEY";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "internal.key";
/// Bytes of a generated key.
pub const KEY_BYTES: usize = 32;
/// Fewest bytes an accepted key has.
pub const MIN_KEY_BYTES: usize = 32;

/// One key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    /// A key from its bytes.
    ///
    /// # Errors
    /// Fewer than [`MIN_KEY_BYTES`] bytes.
    pub fn new(secret: Vec<u8>) -> Result<Self, KeyError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyError::Format(format!(
                "a key has at least {MIN_KEY_BYTES} bytes ({} hex digits)",
                MIN_KEY_BYTES * 2
            )));
        }
        let digest = Sha256::new()
            .chain_update(b"riverwatch key id\n")
            .chain_update(&secret)
            .finalize();
        Ok(Self {
            id: hex(&digest[..4]),
            secret,
        })
    }

    /// Its id: eight hex digits, safe to log and to carry in messages.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's bytes.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// The keys of a deployment: the first signs, every one verifies.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
    }
}

/// Where a key ring came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `RIVERWATCH_INTERNAL_KEY`.
    Environment,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now.
    Created(PathBuf),
}

/// A key ring that cannot be read or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not hex keys of the right length.
    #[error("internal message key: {0}")]
    Format(String),
    /// No key in the environment and no key file.
    #[error(
        "no internal message key: {ENV_KEY} is not set and {path} does not exist; run `riverwatch keys init` (or `riverwatch up`, which creates it), or copy the key file of the deployment"
    )]
    Missing {
        /// The key file looked for.
        path: PathBuf,
    },
    /// The key file may be read by its group or others.
    #[error("the key file {path} may be read by others (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file cannot be read or written.
    #[error("key file {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No randomness for a new key.
    #[error("cannot draw a random key: {0}")]
    Random(String),
}

impl KeyRing {
    /// A ring of `keys`, the first signing.
    ///
    /// # Errors
    /// No key.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Format("no key".to_string()));
        }
        Ok(Self { keys })
    }

    /// A ring of one fresh random key.
    ///
    /// # Errors
    /// The system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = vec![0u8; KEY_BYTES];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::new(vec![Key::new(secret)?])
    }

    /// Parses hex keys separated by newlines or commas; `#` starts a comment.
    ///
    /// # Errors
    /// Something that is not a hex key of at least 32 bytes, or no key at all.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            for word in line.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                let secret = unhex(word).ok_or_else(|| {
                    KeyError::Format(format!(
                        "a key is written as hex digits; found {} characters that are not",
                        word.len()
                    ))
                })?;
                keys.push(Key::new(secret)?);
            }
        }
        Self::new(keys)
    }

    /// The key that signs.
    pub fn signing(&self) -> &Key {
        // `new` refuses an empty ring.
        &self.keys[0]
    }

    /// The key with this id.
    pub fn find(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The ids of the keys, the signing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The key file's text: a comment, then one key a line.
    fn file_text(&self) -> String {
        let mut s = String::from(
            "# riverwatch internal message keys (keep this file 0600; the same on every host).\n\
             # The first key signs, every key verifies. Never share it with stations.\n",
        );
        for k in &self.keys {
            s.push_str(&hex(&k.secret));
            s.push('\n');
        }
        s
    }

    /// The ring from `RIVERWATCH_INTERNAL_KEY`, when set and not empty.
    ///
    /// # Errors
    /// A value that is not a key ring.
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        match std::env::var(ENV_KEY) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// Reads a key file, refusing one its group or others may read.
    ///
    /// # Errors
    /// A missing or unreadable file, loose permissions, or not a key ring.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let io = |e: std::io::Error| KeyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if !path.exists() {
            return Err(KeyError::Missing {
                path: path.to_path_buf(),
            });
        }
        let mode = files::mode_of(path).map_err(io)?;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text).map_err(|e| match e {
            KeyError::Format(m) => KeyError::Format(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Creates a key file with a fresh key (mode 0600, its folder 0700); never overwrites.
    ///
    /// # Errors
    /// The file exists, or cannot be written.
    pub fn create_file(path: &Path) -> Result<Self, KeyError> {
        let ring = Self::generate()?;
        files::write_new_private(path, ring.file_text().as_bytes()).map_err(|e| KeyError::Io {
            path: path.to_path_buf(),
            reason: e.source.to_string(),
        })?;
        Ok(ring)
    }

    /// The deployment's ring: `RIVERWATCH_INTERNAL_KEY` when set, else the key file
    /// `<data_dir>/internal.key`, created with a fresh key when missing and `create` is set.
    ///
    /// # Errors
    /// A bad environment value or key file, or none when `create` is not set.
    pub fn resolve(data_dir: &Path, create: bool) -> Result<(Self, KeySource), KeyError> {
        if let Some(ring) = Self::from_env()? {
            return Ok((ring, KeySource::Environment));
        }
        let path = data_dir.join(KEY_FILE);
        match Self::read_file(&path) {
            Ok(ring) => Ok((ring, KeySource::File(path))),
            Err(KeyError::Missing { .. }) if create => match Self::create_file(&path) {
                Ok(ring) => Ok((ring, KeySource::Created(path))),
                // Another process created it meanwhile.
                Err(_) if path.exists() => {
                    Self::read_file(&path).map(|ring| (ring, KeySource::File(path)))
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Bytes from hex digits (either case); `None` for anything else or an odd count.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_parses_from_lines_or_commas_and_the_first_key_signs() {
        let a = "11".repeat(32);
        let b = "22".repeat(32);
        let ring = KeyRing::parse(&format!("# comment\n{a}\n\n{b}  # old\n")).unwrap();
        let same = KeyRing::parse(&format!("{a},{b}")).unwrap();
        assert_eq!(ring, same);
        assert_eq!(ring.ids().len(), 2);
        assert_eq!(ring.signing().secret(), &[0x11; 32]);
        assert!(ring.find(ring.ids()[1]).is_some());
        assert!(KeyRing::parse("").is_err());
        assert!(
            KeyRing::parse(&"ab".repeat(16)).is_err(),
            "16 bytes is too short"
        );
        assert!(KeyRing::parse(&format!("{a}zz")).is_err());
    }

    #[test]
    fn a_key_is_never_shown() {
        let ring = KeyRing::parse(&"ab".repeat(32)).unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(shown.contains(ring.signing().id()));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_0600_once_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let path = data.join(KEY_FILE);
        let created = KeyRing::create_file(&path).unwrap();
        assert_eq!(files::mode_of(&path).unwrap(), 0o600);
        assert_eq!(files::mode_of(&data).unwrap(), 0o700);
        assert!(KeyRing::create_file(&path).is_err(), "never overwritten");
        assert_eq!(KeyRing::read_file(&path).unwrap(), created);
        let other = KeyRing::generate().unwrap();
        assert_ne!(other, created, "fresh randomness each time");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeyRing::read_file(&path),
            Err(KeyError::Permissions { .. })
        ));
        assert!(matches!(
            KeyRing::read_file(&tmp.path().join("none")),
            Err(KeyError::Missing { .. })
        ));
    }
}
