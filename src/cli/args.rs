//! Argument parsing several commands share: operator times and durations with errors in
//! both languages, and the broker settings with a `--mqtt` override.

use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{parse_duration, parse_time};

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
