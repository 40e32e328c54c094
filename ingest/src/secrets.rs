//! Loading the stations' HJ 212 access passwords, which stay out of the configuration file:
//! a secrets file named by `[ingest] station_secrets` (TOML, `MN or station id = "password"`,
//! refused when its group or others may read it) and environment variables
//! `RIVERWATCH_HJ212_PW_<MN or station id>` (the id upper-cased, `-` written `_`), which win
//! over the file. With neither, no station has a password and every frame is accepted as
//! before.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use riverwatch_core::StationId;
use riverwatch_core::registry::{Registry, Station};
use tracing::debug;

use crate::config::IngestConfig;
use crate::decode::password::StationPasswords;

/// Prefix of the environment variables holding station passwords.
pub const ENV_PREFIX: &str = "RIVERWATCH_HJ212_PW_";

/// A problem with the station secrets, found at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The file cannot be opened or read.
    #[error("cannot read the station secrets file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Group or others may read (or write) the file.
    #[error(
        "the station secrets file {path} is accessible to group or others (mode {mode:04o}); \
         make it readable by its owner only: chmod 600 {path}"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not TOML of `key = "password"` lines.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key names no station of the registry.
    #[error("{origin}: `{key}` is neither a station id nor an MN of the registry")]
    UnknownStation {
        /// The file or the environment variable.
        origin: String,
        /// The key.
        key: String,
    },
    /// A password HJ 212 cannot carry.
    #[error("{origin}: the password of `{key}` {why}")]
    BadPassword {
        /// The file or the environment variable.
        origin: String,
        /// The key.
        key: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// One station is given two passwords by one source.
    #[error("{origin}: station {station} is given a password twice (as `{first}` and `{second}`)")]
    Twice {
        /// The file, or `environment`.
        origin: String,
        /// The station.
        station: StationId,
        /// The first key naming it.
        first: String,
        /// The second key naming it.
        second: String,
    },
}

/// Loads the passwords of `[ingest] station_secrets` and of the process environment.
///
/// # Errors
/// See [`load`].
pub fn load_configured(
    config: &IngestConfig,
    registry: &Registry,
) -> Result<StationPasswords, SecretsError> {
    load(
        config.station_secrets.as_deref(),
        std::env::vars_os(),
        registry,
    )
}

/// Loads the passwords of the secrets file `path` (if any) and of the `RIVERWATCH_HJ212_PW_*`
/// variables among `env`; a variable replaces the file's password of the same station.
///
/// # Errors
/// The file cannot be read, group or others may access it, it is not TOML of string values,
/// a key names no station, a password is empty or not HJ 212 header text, or one source
/// names a station twice.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (OsString, OsString)>,
    registry: &Registry,
) -> Result<StationPasswords, SecretsError> {
    let mut passwords = StationPasswords::new();
    if let Some(path) = path {
        let text = read_private(path)?;
        for (station, password) in from_file(&text, path, registry)? {
            passwords.insert(station, &password);
        }
    }
    let mut seen: HashMap<StationId, String> = HashMap::new();
    for (name, value) in env {
        let Some(key) = name.to_str().and_then(|n| n.strip_prefix(ENV_PREFIX)) else {
            continue;
        };
        let origin = format!("{ENV_PREFIX}{key}");
        let station = station_of_env_key(key, registry, &origin)?;
        let Some(password) = value.to_str() else {
            return Err(SecretsError::BadPassword {
                origin,
                key: key.to_string(),
                why: "is not UTF-8 text",
            });
        };
        check_password(password, &origin, key)?;
        if let Some(first) = seen.insert(station.id.clone(), origin.clone()) {
            return Err(SecretsError::Twice {
                origin: "environment".to_string(),
                station: station.id.clone(),
                first,
                second: origin,
            });
        }
        if passwords.insert(station.id.clone(), password) {
            debug!(station = %station.id, variable = %origin, "Station access password from the environment replaces the file's.");
        }
    }
    Ok(passwords)
}

/// Reads the file after checking, on the open file itself, that only its owner may use it.
fn read_private(path: &Path) -> Result<String, SecretsError> {
    let read_error = |source| SecretsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(read_error)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_error)?;
    Ok(text)
}

/// The (station, password) pairs of a secrets file's text.
fn from_file(
    text: &str,
    path: &Path,
    registry: &Registry,
) -> Result<Vec<(StationId, String)>, SecretsError> {
    let origin = path.display().to_string();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // The message quotes the line it failed on; a password may be on it.
        let line = e
            .span()
            .map(|s| text.bytes().take(s.start).filter(|&b| b == b'\n').count() + 1);
        SecretsError::Syntax {
            path: path.to_path_buf(),
            message: match line {
                Some(l) => format!("line {l} is not `MN or station id = \"password\"`"),
                None => "not TOML of `MN or station id = \"password\"` lines".to_string(),
            },
        }
    })?;
    let mut seen: HashMap<StationId, String> = HashMap::new();
    let mut out = Vec::with_capacity(table.len());
    for (key, value) in table {
        let Some(password) = value.as_str() else {
            return Err(SecretsError::BadPassword {
                origin,
                key,
                why: "must be a quoted string (and the file holds no tables)",
            });
        };
        let Some(station) = registry
            .station(&key)
            .or_else(|| registry.station_by_mn(&key))
        else {
            return Err(SecretsError::UnknownStation { origin, key });
        };
        check_password(password, &origin, &key)?;
        if let Some(first) = seen.insert(station.id.clone(), key.clone()) {
            return Err(SecretsError::Twice {
                origin,
                station: station.id.clone(),
                first,
                second: key,
            });
        }
        out.push((station.id.clone(), password.to_string()));
    }
    Ok(out)
}

/// The station an environment variable's key names: an MN, or a station id upper-cased
/// with every character other than a letter or digit written `_`.
fn station_of_env_key<'r>(
    key: &str,
    registry: &'r Registry,
    origin: &str,
) -> Result<&'r Station, SecretsError> {
    if let Some(s) = registry.station_by_mn(key) {
        return Ok(s);
    }
    registry
        .stations()
        .iter()
        .find(|s| env_key(s.id.as_str()) == key)
        .ok_or_else(|| SecretsError::UnknownStation {
            origin: origin.to_string(),
            key: key.to_string(),
        })
}

/// A station id as it appears in an environment variable name: `LLH-CJG` → `LLH_CJG`.
pub fn env_key(station: &str) -> String {
    station
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A password must fit an HJ 212 header field: printable ASCII without `;`, not empty.
fn check_password(password: &str, origin: &str, key: &str) -> Result<(), SecretsError> {
    let why = if password.is_empty() {
        Some("is empty")
    } else if !password.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        Some("must be printable ASCII without spaces or ';' (an HJ 212 header field)")
    } else {
        None
    };
    match why {
        Some(why) => Err(SecretsError::BadPassword {
            origin: origin.to_string(),
            key: key.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::password::PasswordCheck;

    fn registry() -> Registry {
        Registry::builtin().unwrap()
    }

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("stations.toml");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        path
    }

    fn no_env() -> Vec<(OsString, OsString)> {
        vec![]
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn a_private_file_gives_passwords_by_station_id_or_mn() {
        let r = registry();
        let mn = r.station("LLH-HK").unwrap().mn.clone();
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!("LLH-CJG = \"s3cret\"\n\"{mn}\" = \"other\"\n"),
            0o600,
        );
        let p = load(Some(&path), no_env(), &r).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.check("LLH-CJG", "s3cret"), PasswordCheck::Accepted);
        assert_eq!(p.check("LLH-HK", "other"), PasswordCheck::Accepted);
        assert_eq!(p.check("LLH-HK", "s3cret"), PasswordCheck::Wrong);
        assert_eq!(p.check("LLH-WC", ""), PasswordCheck::NotRequired);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_group_or_others_can_read_is_refused() {
        let r = registry();
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            let path = write(dir.path(), "LLH-CJG = \"s3cret\"\n", mode);
            let err = load(Some(&path), no_env(), &r).unwrap_err();
            assert!(
                matches!(err, SecretsError::Permissions { mode: m, .. } if m == mode),
                "{mode:o}: {err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        let path = write(dir.path(), "LLH-CJG = \"s3cret\"\n", 0o400);
        assert!(load(Some(&path), no_env(), &r).is_ok());
    }

    #[test]
    fn mistakes_in_the_file_are_refused_without_quoting_passwords() {
        let r = registry();
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("NO-SUCH = \"x\"\n", "NO-SUCH"),
            ("LLH-CJG = \"\"\n", "is empty"),
            ("LLH-CJG = \"a;b\"\n", "';'"),
            ("LLH-CJG = \"a b\"\n", "printable"),
            ("LLH-CJG = 123456\n", "quoted string"),
            ("[stations]\nLLH-CJG = \"x\"\n", "quoted string"),
            ("LLH-CJG = \"x\"\nLLH-CJG = \"y\"\n", "line 2"),
            ("LLH-CJG = \"hunter2\n", "line 1"),
        ];
        for (text, want) in cases {
            let path = write(dir.path(), text, 0o600);
            let err = load(Some(&path), no_env(), &r).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let mn = r.station("LLH-CJG").unwrap().mn.clone();
        let path = write(
            dir.path(),
            &format!("LLH-CJG = \"x\"\n\"{mn}\" = \"y\"\n"),
            0o600,
        );
        let err = load(Some(&path), no_env(), &r).unwrap_err();
        assert!(matches!(err, SecretsError::Twice { .. }), "{err}");
        let err = load(Some(&dir.path().join("missing.toml")), no_env(), &r).unwrap_err();
        assert!(matches!(err, SecretsError::Read { .. }), "{err}");
    }

    #[test]
    fn environment_variables_name_stations_by_id_or_mn_and_win_over_the_file() {
        let r = registry();
        let mn = r.station("LLH-HK").unwrap().mn.clone();
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "LLH-CJG = \"from-file\"\n", 0o600);
        let vars = env(&[
            ("RIVERWATCH_HJ212_PW_LLH_CJG", "from-env"),
            (&format!("RIVERWATCH_HJ212_PW_{mn}"), "by-mn"),
            ("PATH", "/usr/bin"),
            ("RIVERWATCH_MQTT_PASSWORD", "not-a-station"),
        ]);
        let p = load(Some(&path), vars, &r).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.check("LLH-CJG", "from-env"), PasswordCheck::Accepted);
        assert_eq!(p.check("LLH-CJG", "from-file"), PasswordCheck::Wrong);
        assert_eq!(p.check("LLH-HK", "by-mn"), PasswordCheck::Accepted);
        let p = load(None, env(&[("RIVERWATCH_HJ212_PW_AIR_SC", "a")]), &r).unwrap();
        assert_eq!(p.check("AIR-SC", "a"), PasswordCheck::Accepted);
    }

    #[test]
    fn environment_mistakes_are_refused() {
        let r = registry();
        let err = load(None, env(&[("RIVERWATCH_HJ212_PW_NOPE", "x")]), &r).unwrap_err();
        assert!(matches!(err, SecretsError::UnknownStation { .. }), "{err}");
        let err = load(None, env(&[("RIVERWATCH_HJ212_PW_LLH_CJG", "")]), &r).unwrap_err();
        assert!(matches!(err, SecretsError::BadPassword { .. }), "{err}");
        let mn = r.station("LLH-CJG").unwrap().mn.clone();
        let err = load(
            None,
            env(&[
                ("RIVERWATCH_HJ212_PW_LLH_CJG", "a"),
                (&format!("RIVERWATCH_HJ212_PW_{mn}"), "b"),
            ]),
            &r,
        )
        .unwrap_err();
        assert!(matches!(err, SecretsError::Twice { .. }), "{err}");
    }

    #[test]
    fn nothing_configured_means_no_passwords() {
        let p = load(None, env(&[("PATH", "/usr/bin")]), &registry()).unwrap();
        assert!(p.is_empty());
    }

    #[test]
    fn station_ids_map_to_variable_names() {
        assert_eq!(env_key("LLH-CJG"), "LLH_CJG");
        assert_eq!(env_key("air.sc"), "AIR_SC");
    }
}
