//! Argument parsing several commands share: operator times and durations with errors in
//! both languages, the broker settings with a `--mqtt` override, and the deployment key
//! that the services sign and check internal messages with.

use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::keys::{KeyError, KeyRing, KeySource};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{parse_duration, parse_time};
use tracing::info;

use super::{Context, user_error};

/// Parses an operator time (RFC 3339, epoch ms, or China Standard Time) given to `flag`;
/// `hint_zh` follows the Chinese error, e.g. `：请使用 2026-11-22 08:00（北京时间）`.
///
/// # Errors
/// A time that does not parse.
pub fn time_arg(
    value: Option<&str>,
    flag: &str,
    hint_zh: &str,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    value
        .map(|t| {
            parse_time(t).map_err(|e| {
                user_error(
                    format!("{flag} 的时间 `{t}` 无法识别{hint_zh}"),
                    format!("{flag}: {e}"),
                )
            })
        })
        .transpose()
}

/// Parses a duration (`90s`, `15m`, `36h`, `7d`) given to `flag`.
///
/// # Errors
/// A duration that does not parse.
pub fn duration_arg(value: Option<&str>, flag: &str) -> anyhow::Result<Option<Duration>> {
    value
        .map(|d| {
            parse_duration(d).map_err(|e| {
                user_error(
                    format!("{flag} 的时长 `{d}` 无法识别：请使用 90s、15m、36h、7d"),
                    format!("{flag}: {e}"),
                )
            })
        })
        .transpose()
}

/// The configured broker with `url` overriding its address (credentials and TLS kept).
///
/// # Errors
/// An invalid broker URL.
pub fn broker(ctx: &Context, url: Option<&str>) -> anyhow::Result<MqttConfig> {
    let mut mqtt = ctx.loaded.config.mqtt.clone();
    if let Some(url) = url {
        mqtt.url = url.to_string();
    }
    mqtt.validate().map_err(|e| {
        user_error(
            format!("MQTT 代理地址 `{}` 无效：{e}", mqtt.url),
            format!("broker `{}`: {e}", mqtt.url),
        )
    })?;
    Ok(mqtt)
}

/// `mqtt` with the deployment key ring (unless it has one): `RIVERWATCH_INTERNAL_KEY`, else
/// `<data-dir>/internal.key`, created (0600) when missing and `create` is set
/// (`riverwatch up`). The key itself is never logged, only its id.
///
/// # Errors
/// No key (and `create` not set), a bad key, or a key file others may read.
pub fn keyed(ctx: &Context, mut mqtt: MqttConfig, create: bool) -> anyhow::Result<MqttConfig> {
    if mqtt.keys.is_some() {
        return Ok(mqtt);
    }
    let (keys, source) = KeyRing::resolve(&ctx.data_dir, create).map_err(key_error)?;
    match &source {
        KeySource::Environment => {
            info!(
                key = keys.signing().id(),
                "Internal message key from the environment."
            )
        }
        KeySource::File(path) => {
            info!(key = keys.signing().id(), file = %path.display(), "Internal message key.")
        }
        KeySource::Created(path) => info!(
            key = keys.signing().id(),
            file = %path.display(),
            "Created the internal message key (mode 0600)."
        ),
    }
    mqtt.keys = Some(keys);
    Ok(mqtt)
}

/// A key problem for an operator.
pub fn key_error(e: KeyError) -> anyhow::Error {
    let zh = match &e {
        KeyError::Missing { path } => format!(
            "没有内部消息密钥：未设置 {} 且 {} 不存在。请运行 riverwatch keys init（riverwatch up 会自动创建），或复制本部署的密钥文件",
            riverwatch_core::keys::ENV_KEY,
            path.display()
        ),
        KeyError::Permissions { path, mode } => format!(
            "密钥文件 {} 的权限为 {mode:o}，其他用户可读：请执行 chmod 600 {}",
            path.display(),
            path.display()
        ),
        KeyError::Format(m) => format!("内部消息密钥格式有误：{m}"),
        other => format!("内部消息密钥：{other}"),
    };
    user_error(zh, e.to_string())
}
