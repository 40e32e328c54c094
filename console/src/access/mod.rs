//! Who may do what: console and API tokens per province and role, the sessions pages keep
//! after signing in with one, and the slowing down of repeated bad tokens.
//!
//! A token is `rwt_` and 43 characters of base64url (32 random bytes from the operating
//! system), shown once when created; only its SHA-256 is stored ([`store`]). Both provinces
//! read everything; a duty officer acknowledges for their own province only; admins manage
//! silences and tokens ([`Role`], [`Principal`]).

pub mod store;
pub mod throttle;

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use riverwatch_core::Province;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use store::{TokenInfo, TokenStore, TokenStoreError};
pub use throttle::Throttle;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads everything and acknowledges alerts for its province.
    Duty,
    /// Everything a duty officer does, and silences and tokens.
    Admin,
}

impl Role {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Duty => "duty",
            Role::Admin => "admin",
        }
    }

    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Role::Viewer => "只读",
            Role::Duty => "值班",
            Role::Admin => "管理员",
        }
    }

    /// Whether this role may acknowledge alerts (for its own province).
    pub const fn may_acknowledge(self) -> bool {
        matches!(self, Role::Duty | Role::Admin)
    }

    /// Whether this role may manage silences and tokens.
    pub const fn is_admin(self) -> bool {
        matches!(self, Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "duty" => Ok(Role::Duty),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected viewer, duty or admin)"
            )),
        }
    }
}

/// Who is asking: a token's holder, or an anonymous reader when anonymous reading is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's id (`None` for an anonymous reader).
    pub token_id: Option<String>,
    /// The token's name (the officer), or `anonymous`.
    pub name: String,
    /// The province the token acts for (`None` for an anonymous reader).
    pub province: Option<Province>,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// An anonymous reader.
    pub fn anonymous() -> Self {
        Self {
            token_id: None,
            name: "anonymous".to_string(),
            province: None,
            role: Role::Viewer,
        }
    }

    /// The province this principal may acknowledge for, if any.
    pub fn acknowledges_for(&self) -> Option<Province> {
        self.province.filter(|_| self.role.may_acknowledge())
    }
}

/// The prefix of every token, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "rwt_";

/// 32 random bytes from the operating system, base64url without padding.
///
/// # Errors
/// When the operating system's random source fails.
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A new token: `rwt_` and a random secret.
///
/// # Errors
/// When the operating system's random source fails.
pub fn new_token() -> Result<String, getrandom::Error> {
    Ok(format!("{TOKEN_PREFIX}{}", random_secret()?))
}

/// The stored form of a token or session id: SHA-256, hex. A token carries 256 random bits,
/// so a plain hash suffices (no salt or slow hash: there is nothing to guess).
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` has the shape of a token (checked before any store look-up).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_PREFIX.len() + 43
        && s.starts_with(TOKEN_PREFIX)
        && s[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_stored_as_sha256() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(looks_like_token(&a), "{a}");
        assert!(!looks_like_token("rwt_short"));
        assert!(!looks_like_token(&a.replace("rwt_", "xyz_")));
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("DUTY".parse::<Role>(), Ok(Role::Duty));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin.may_acknowledge() && !Role::Viewer.may_acknowledge());
        let p = Principal {
            token_id: Some("a".into()),
            name: "李娜".into(),
            province: Some(Province::Jilin),
            role: Role::Viewer,
        };
        assert_eq!(p.acknowledges_for(), None);
    }
}
