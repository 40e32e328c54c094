//! Checking `[alerts]` before anything starts: [`AlertsConfig::validate`] (pure, the first
//! problem found names its setting) and the SMTP relay URL check.

use std::collections::BTreeSet;

use riverwatch_core::Province;

use super::{
    AlertsConfig, ENV_SMTP_PASSWORD, ENV_SMTP_USERNAME, EmailTransport, GROUP_BY_ALL, LABELS,
    redact_url,
};

/// A configuration problem found before anything starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of its range or malformed.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting, e.g. `routing.HLJ.recipients[2].email`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Only one of the SMTP user name and password is set.
    #[error("set both {ENV_SMTP_USERNAME} and {ENV_SMTP_PASSWORD}, or neither")]
    HalfCredentials,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl AlertsConfig {
    /// Pure checks of every setting.
    ///
    /// # Errors
    /// The first problem found, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id_ok = (1..=64).contains(&self.client_id.len())
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'#');
        if !id_ok {
            return Err(invalid(
                "client_id",
                "must be 1–64 printable ASCII characters without spaces, + or #",
            ));
        }
        if self.database.trim().is_empty() {
            return Err(invalid("database", "must name a file"));
        }
        if let EmailTransport::Smtp(url) = self.transport() {
            check_smtp_url(&url, self.smtp_credentials.is_some())
                .map_err(|m| invalid("smtp_url", m))?;
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "from",
                format!("`{}` is not a mail address", self.from),
            ));
        }
        if !(self.console_url.starts_with("http://") || self.console_url.starts_with("https://")) {
            return Err(invalid(
                "console_url",
                "must start with http:// or https://",
            ));
        }
        if self.group_by.is_empty() {
            return Err(invalid("group_by", "name at least one label, or \"...\""));
        }
        for label in &self.group_by {
            if label != GROUP_BY_ALL && !LABELS.contains(&label.as_str()) {
                return Err(invalid(
                    "group_by",
                    format!("unknown label `{label}` (known: {})", LABELS.join(", ")),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            let field = |f: &str| format!("inhibit_rules[{i}].{f}");
            if rule.name.trim().is_empty() {
                return Err(invalid(field("name"), "give the rule a name"));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(
                    field("name"),
                    format!("`{}` is used twice", rule.name),
                ));
            }
            crate::inhibit::InhibitRule::from_config(rule)
                .map_err(|(f, m)| invalid(field(f), m))?;
        }
        if self.group_interval_secs == 0 {
            return Err(invalid("group_interval_secs", "must be at least 1"));
        }
        if self.repeat_interval_secs < self.group_interval_secs {
            return Err(invalid(
                "repeat_interval_secs",
                "must be at least group_interval_secs",
            ));
        }
        if self.retry_initial_secs == 0 || self.retry_max_secs < self.retry_initial_secs {
            return Err(invalid(
                "retry_initial_secs",
                "must be at least 1 and at most retry_max_secs",
            ));
        }
        if self.expire_after_secs == 0 {
            return Err(invalid("expire_after_secs", "must be at least 1"));
        }
        if !(10..=60_000).contains(&self.tick_ms) {
            return Err(invalid("tick_ms", "must be between 10 and 60000"));
        }
        if self.smtp_timeout_secs == 0 || self.webhook_timeout_secs == 0 {
            return Err(invalid(
                "smtp_timeout_secs",
                "timeouts must be at least 1 s",
            ));
        }
        let mut ids = BTreeSet::new();
        for p in Province::ALL {
            let routing = self.routing.province(p);
            let levels = routing.escalate_after_secs.len();
            for (i, r) in routing.recipients.iter().enumerate() {
                let field = |f: &str| format!("routing.{p}.recipients[{i}].{f}");
                if r.id.is_empty()
                    || !r
                        .id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(field("id"), "use letters, digits, - and _"));
                }
                if !ids.insert(r.id.clone()) {
                    return Err(invalid(field("id"), format!("`{}` is used twice", r.id)));
                }
                if r.email.is_empty() && r.webhook.is_none() {
                    return Err(invalid(
                        field("email"),
                        "give an email address or a webhook",
                    ));
                }
                for addr in &r.email {
                    if addr.parse::<lettre::Address>().is_err() {
                        return Err(invalid(
                            field("email"),
                            format!("`{addr}` is not a mail address"),
                        ));
                    }
                }
                if let Some(w) = &r.webhook
                    && !(w.url.starts_with("http://") || w.url.starts_with("https://"))
                {
                    return Err(invalid(field("webhook.url"), "must be http:// or https://"));
                }
                if usize::from(r.level) > levels {
                    return Err(invalid(
                        field("level"),
                        format!(
                            "level {} needs {} escalation delays in routing.{p}.escalate_after_secs",
                            r.level, r.level
                        ),
                    ));
                }
            }
            if !routing.recipients.iter().any(|r| r.level == 0) {
                return Err(invalid(
                    format!("routing.{p}.recipients"),
                    "at least one recipient of level 0 is needed",
                ));
            }
        }
        Ok(())
    }
}

/// Checks an SMTP relay URL without connecting.
fn check_smtp_url(url: &str, with_credentials: bool) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!(
            "`{}` is not smtp://host:port or smtps://host:port",
            redact_url(url)
        )
    })?;
    if scheme != "smtp" && scheme != "smtps" {
        return Err(format!("unknown scheme `{scheme}` (smtp or smtps)"));
    }
    if rest.contains('@') {
        return Err(format!(
            "put credentials in {ENV_SMTP_USERNAME} / {ENV_SMTP_PASSWORD}, not in the URL"
        ));
    }
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = hostport.trim_end_matches('/');
    let host = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port `{p}`"))?;
            h
        }
        None => hostport,
    };
    if host.is_empty() || host.contains('/') {
        return Err("no host".to_string());
    }
    let tls = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("");
    if !matches!(tls, "" | "required" | "opportunistic") {
        return Err(format!(
            "tls=`{tls}`: use tls=required or tls=opportunistic"
        ));
    }
    if scheme == "smtp" && with_credentials && tls != "required" {
        return Err(
            "credentials are only sent over TLS: use smtps://, or smtp://…?tls=required"
                .to_string(),
        );
    }
    Ok(())
}
