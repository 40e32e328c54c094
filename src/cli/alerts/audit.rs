//! `riverwatch audit verify [--head SEQ:HASH]…`: walks the alert audit trail's hash chain;
//! exit code 0 when it holds (and contains every head given), 2 with the first broken link or
//! the head it no longer contains otherwise. Plain verification cannot see rows deleted from
//! the end (what is left is a valid, shorter chain); a head kept from a notification can.

use clap::{Args, Subcommand};
use riverwatch_alerts::audit::{Anchor, AnchorCheck, AnchorState, MIN_ANCHOR_HEX_DIGITS};
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
    /// A head the chain must still contain, as notifications show it: `SEQ:HASH` (or
    /// `"#SEQ HASH"`), the hash's first 16 to 64 hex digits. May be given several times.
    #[arg(long = "head", value_name = "SEQ:HASH")]
    pub heads: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `riverwatch audit verify`.
///
/// # Errors
/// A broken chain, a head the chain no longer contains, a malformed `--head`, or a store
/// that cannot be read.
pub fn run(cmd: &AuditCommand, ctx: &Context) -> anyhow::Result<()> {
    let AuditCommand::Verify(a) = cmd;
    let anchors = a
        .heads
        .iter()
        .map(|h| {
            h.parse::<Anchor>().map_err(|e| {
                user_error(
                    format!(
                        "--head `{h}` 格式有误：应为 序号:哈希（如 1234:3f9a1c2b7e4d5a60c1d2，哈希至少 {MIN_ANCHOR_HEX_DIGITS} 位十六进制）。{e}"
                    ),
                    format!("--head `{h}`: {e} (expected SEQ:HASH, e.g. 1234:3f9a1c2b7e4d5a60c1d2)"),
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let v = reader(ctx)?
        .verify_audit_with(&anchors)
        .map_err(store_error)?;
    if a.json {
        print_json(&v)?;
    }
    let head = v
        .head_anchor()
        .map(|h| h.to_string())
        .unwrap_or_else(|| "—".to_string());
    if let Some(b) = &v.broken {
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
        return Err(user_error(
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
        ));
    }
    let failed: Vec<&AnchorCheck> = v
        .anchors
        .iter()
        .filter(|c| c.state != AnchorState::Holds)
        .collect();
    if !failed.is_empty() {
        let zh: Vec<String> = failed.iter().map(|c| missing_zh(c, &head)).collect();
        let en: Vec<String> = failed.iter().map(|c| missing_en(c, &head)).collect();
        return Err(user_error(zh.join("\n"), en.join("\n")));
    }
    if !a.json {
        let held: Vec<String> = v.anchors.iter().map(|c| c.anchor.to_string()).collect();
        let (zh, en) = if held.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!("；包含链头 {}", held.join("、")),
                format!("; contains head {}", held.join(", ")),
            )
        };
        let arg = v.head_anchor().map(|h| h.arg()).unwrap_or_default();
        println!(
            "{}",
            ctx.lang.pick(
                &format!(
                    "审计链完整：共 {} 条记录，链头 {head}{zh}\n（记下链头，日后可用 riverwatch audit verify --head {arg} 核对末尾未被删除）",
                    v.rows
                ),
                &format!(
                    "audit trail intact: {} rows, head {head}{en}\n(keep the head: riverwatch audit verify --head {arg} later shows whether rows were removed from the end)",
                    v.rows
                ),
            )
        );
    }
    Ok(())
}

fn missing_zh(c: &AnchorCheck, head: &str) -> String {
    let a = &c.anchor;
    match &c.state {
        AnchorState::Missing { rows } => format!(
            "审计链不包含链头 {a}：链中只有 {rows} 条记录，第 {} 条及其后的记录已被删除（末尾被截短）；当前链头 {head}",
            rows + 1
        ),
        AnchorState::Differs { stored } => format!(
            "审计链不包含链头 {a}：第 {} 条记录的哈希为 {}，与之不符（该记录或此前的记录被改写后重算了哈希）",
            a.seq,
            Anchor::of(a.seq, stored).hash
        ),
        AnchorState::Unreached | AnchorState::Holds => {
            format!("审计链在链头 {a} 之前断开")
        }
    }
}

fn missing_en(c: &AnchorCheck, head: &str) -> String {
    let a = &c.anchor;
    match &c.state {
        AnchorState::Missing { rows } => format!(
            "the audit trail no longer contains head {a}: it has {rows} rows, rows from {} on were deleted (cut short at the end); current head {head}",
            rows + 1
        ),
        AnchorState::Differs { stored } => format!(
            "the audit trail no longer contains head {a}: row {} has hash {} (it or an earlier row was rewritten and the hashes recomputed)",
            a.seq,
            Anchor::of(a.seq, stored).hash
        ),
        AnchorState::Unreached | AnchorState::Holds => {
            format!("the audit trail breaks before head {a}")
        }
    }
}
