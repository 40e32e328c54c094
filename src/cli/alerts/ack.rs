//! `riverwatch alerts ack`: one province acknowledges an alert for its own side.

use clap::Args;
use riverwatch_alerts::operator::acknowledge;
use riverwatch_core::Province;
use riverwatch_core::time::{Clock, SystemClock, fmt_cst};

use super::{store_error, writer};
use crate::cli::{Context, user_error};

/// `riverwatch alerts ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// Alert id (or a unique prefix).
    pub id: String,
    /// The province acknowledging for its own side: HLJ or JL.
    #[arg(long)]
    pub province: Province,
    /// Name of the duty officer.
    #[arg(long)]
    pub by: String,
    /// Comment (what was done).
    #[arg(long)]
    pub comment: Option<String>,
}

/// Runs `riverwatch alerts ack`.
///
/// # Errors
/// No name, no such alert, an acknowledgement already recorded, or a store failure.
pub fn run(a: &AckArgs, ctx: &Context) -> anyhow::Result<()> {
    let by = a.by.trim();
    if by.is_empty() {
        return Err(user_error(
            "--by 需填写确认人姓名",
            "--by needs the officer's name",
        ));
    }
    let mut store = writer(ctx)?;
    let ack = acknowledge(
        &mut store,
        &a.id,
        a.province,
        by,
        a.comment.as_deref(),
        SystemClock.now(),
    )
    .map_err(store_error)?;
    println!(
        "{}",
        ctx.lang.pick(
            &format!(
                "已确认：告警 {}，{}，确认人 {}，时间 {}（北京时间）。本省升级通知停止。",
                ack.alert_id,
                a.province.name_zh(),
                ack.by,
                fmt_cst(ack.at)
            ),
            &format!(
                "acknowledged: alert {} for {} by {} at {} (UTC+8); this province's escalation stops.",
                ack.alert_id,
                a.province.name_en(),
                ack.by,
                fmt_cst(ack.at)
            ),
        )
    );
    Ok(())
}
