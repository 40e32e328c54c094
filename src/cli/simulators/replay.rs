//! `riverwatch replay`: a recording re-published as JSON observations, keeping its timing.

use std::path::PathBuf;

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_simulators::ReplayConfig;

use super::{sim_error, until_signal};
use crate::cli::Context;
use crate::cli::args::broker;

/// `riverwatch replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recording: FILE.csv or FILE.parquet.
    pub file: PathBuf,
    /// Broker to publish to (default: the configured broker).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Move the times so the replay looks live (no time after the moment it is sent).
    #[arg(long)]
    pub shift_to_now: bool,
    /// MQTT client id.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// Runs `riverwatch replay`.
///
/// # Errors
/// Bad arguments, an unreadable recording, broker errors.
pub async fn run(args: &ReplayArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ReplayConfig {
        input: args.file.clone(),
        mqtt: broker(ctx, args.mqtt.as_deref())?,
        speed: args.speed,
        shift_to_now: args.shift_to_now,
        client_id: args.client_id.clone(),
    };
    let summary = until_signal(|token| riverwatch_simulators::replay(config, token))
        .await
        .map_err(sim_error)?;
    let interrupted = if summary.interrupted {
        ctx.lang.pick("（已中断）", " (interrupted)")
    } else {
        ""
    };
    let (messages, readings, acked) = (summary.messages, summary.readings, summary.acked);
    match ctx.lang {
        Lang::Zh => {
            println!("重放 {messages} 条消息（{readings} 个读数），代理确认 {acked}{interrupted}")
        }
        Lang::En => println!(
            "replayed {messages} messages ({readings} readings), {acked} acknowledged{interrupted}"
        ),
    }
    Ok(())
}
