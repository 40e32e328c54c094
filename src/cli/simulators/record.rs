//! `riverwatch record`: the observations on a live broker to a Parquet or CSV recording.

use std::path::PathBuf;

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_simulators::RecordConfig;
use riverwatch_simulators::recording::FileKind;

use super::{sim_error, until_signal};
use crate::cli::Context;
use crate::cli::args::{broker, duration_arg};

/// `riverwatch record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Broker to record (default: the configured broker).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Output: FILE.parquet or FILE.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this long (wall clock); until Ctrl-C when absent.
    #[arg(long)]
    pub duration: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// MQTT client id.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// Runs `riverwatch record`.
///
/// # Errors
/// Bad arguments, broker or file errors.
pub async fn run(args: &RecordArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = RecordConfig {
        registry: ctx.loaded.registry.clone(),
        mqtt: broker(ctx, args.mqtt.as_deref())?,
        out: args.out.clone(),
        duration: duration_arg(args.duration.as_deref(), "--duration")?,
        max_messages: args.max_messages,
        client_id: args.client_id.clone(),
    };
    FileKind::of(&config.out).map_err(sim_error)?;
    let summary = until_signal(|token| riverwatch_simulators::record(config, token))
        .await
        .map_err(sim_error)?;
    let (messages, rows, skipped) = (summary.messages, summary.rows, summary.skipped);
    match ctx.lang {
        Lang::Zh => {
            println!("收到 {messages} 条消息，写入 {rows} 个读数，{skipped} 条无法解码已跳过")
        }
        Lang::En => println!(
            "{messages} messages received, {rows} readings written, {skipped} undecodable skipped"
        ),
    }
    println!("{}", summary.out.display());
    Ok(())
}
