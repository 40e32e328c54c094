//! `riverwatch audit verify`: walks the alert audit trail's hash chain; exit code 0 when it
//! holds, non-zero with the first broken link otherwise.

use clap::{Args, Subcommand};
use riverwatch_core::time::fmt_cst;

use super::{reader, store_error};
use crate::cli::render::print_json;
use crate::cli::{Context, user_error};

/// `riverwatch audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the alert audit trail's hash chain and report the first broken link.
    Verify(VerifyArgs),
}

/// `riverwatch audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `riverwatch audit verify`.
///
/// # Errors
/// A broken chain, or a store that cannot be read.
pub fn run(cmd: &AuditCommand, ctx: &Context) -> anyhow::Result<()> {
    let AuditCommand::Verify(a) = cmd;
    let v = reader(ctx)?.verify_audit().map_err(store_error)?;
    if a.json {
        print_json(&v)?;
    }
    let head = v
        .head
        .as_ref()
        .map(|(s, h)| format!("#{s} {h}"))
        .unwrap_or_else(|| "—".to_string());
    let Some(b) = &v.broken else {
        if !a.json {
            println!(
                "{}",
                ctx.lang.pick(
                    &format!("审计链完整：共 {} 条记录，链头 {head}", v.rows),
                    &format!("audit trail intact: {} rows, head {head}", v.rows),
                )
            );
        }
        return Ok(());
    };
    let r = &b.row;
    let row = format!(
        "#{} {} {} {} {} {}",
        r.seq,
        fmt_cst(r.at),
        r.actor,
        r.kind,
        r.alert_id.clone().unwrap_or_default(),
        r.detail
    );
    Err(user_error(
        format!(
            "审计链在第 {} 条记录处断开：{}\n  记录：{row}\n  此前 {} 条记录完好，最后完好的链头 {head}",
            b.seq,
            b.reason.describe_zh(),
            v.rows
        ),
        format!(
            "audit trail broken at row {}: {}\n  row: {row}\n  {} rows before it are intact, last good head {head}",
            b.seq,
            b.reason.describe_en(),
            v.rows
        ),
    ))
}
