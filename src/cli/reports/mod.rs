//! `riverwatch reports`: the report schedule alone (`reports run`, as `riverwatch up` runs
//! it beside the other services) and the archive of the reports it issued (`reports list`).
//! The schedule is [`riverwatch_reports::schedule`]; `[reports]` configures it.
//!
//! - [`list`]: `riverwatch reports list`.

pub mod list;

use std::sync::Arc;

use clap::Subcommand;
use riverwatch_core::time::SystemClock;
use riverwatch_reports::schedule::ScheduleArgs;
use tokio_util::sync::CancellationToken;

use super::{Context, until_signal_then_stop, user_error};

/// `riverwatch reports …`.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Run the report schedule until Ctrl-C: issue, archive and queue the daily, weekly,
    /// monthly, quarterly and annual reports at their due times, and their revisions.
    Run,
    /// List the archived reports: period, river, revision, digest, file, when queued.
    List(list::ListArgs),
}

/// What the schedule gets from the configuration: `[reports]`, `[analytics]`, `[alerts]`,
/// the language (`[reports] lang`, else `--lang` / `lang`), the system clock.
///
/// # Errors
/// An invalid `[alerts]` section (the sender and recipients come from it).
pub fn schedule_args(ctx: &Context) -> anyhow::Result<ScheduleArgs> {
    let config = &ctx.loaded.config;
    config
        .alerts
        .validate()
        .map_err(|e| user_error(format!("告警配置有误：{e}"), format!("[alerts] {e}")))?;
    Ok(ScheduleArgs {
        config: config.reports.clone(),
        lang: config.reports.lang.unwrap_or(ctx.lang),
        registry: ctx.loaded.registry.clone(),
        analytics: config.analytics.clone(),
        alerts: config.alerts.clone(),
        data_dir: ctx.data_dir.clone(),
        clock: Arc::new(SystemClock),
    })
}

/// Runs `riverwatch reports …`.
///
/// # Errors
/// A bad configuration, a missing archive, a service failure.
pub async fn run(cmd: &ReportsCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        ReportsCommand::Run => {
            if !ctx.loaded.config.reports.enabled {
                return Err(user_error(
                    "[reports] enabled = false：报表计划未启用",
                    "[reports] enabled = false: the report schedule is off",
                ));
            }
            let args = schedule_args(ctx)?;
            let token = CancellationToken::new();
            let service = tokio::spawn(riverwatch_reports::schedule::run(args, token.clone()));
            until_signal_then_stop(service, token, ctx).await
        }
        ReportsCommand::List(args) => list::run(args, ctx),
    }
}
