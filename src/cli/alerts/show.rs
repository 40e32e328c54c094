//! `riverwatch alerts show`: one alert — values, both provinces, notifications sent, audit
//! trail — as text or JSON.

use clap::Args;
use riverwatch_alerts::model::{Inhibition, severity_str};
use riverwatch_alerts::views::alert_detail;
use riverwatch_core::time::fmt_cst;
use riverwatch_core::{Lang, Province};

use super::list::{province_cell, state_label, title, value_cell};
use super::{reader, store_error};
use crate::cli::Context;
use crate::cli::render::{Format, Table, header, print_json};

/// `riverwatch alerts show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Alert id (or a unique prefix of at least 4 digits).
    pub id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `riverwatch alerts show`.
///
/// # Errors
/// No such alert, or a store failure.
pub fn run(a: &ShowArgs, ctx: &Context) -> anyhow::Result<()> {
    let detail = alert_detail(&reader(ctx)?, &a.id).map_err(store_error)?;
    if a.format == Format::Json {
        // Through a JSON value, whose keys are sorted: the order this command has always
        // printed.
        return print_json(&serde_json::to_value(&detail)?);
    }
    let lang = ctx.lang;
    let view = &detail.alert;
    let al = &view.alert;
    let e = &al.event;
    let kv = |k_zh: &str, k_en: &str, v: String| {
        println!("{}{}{v}", lang.pick(k_zh, k_en), lang.pick("：", ": "))
    };
    println!("{}", title(view, &ctx.loaded.registry, lang));
    kv("编号", "Id", al.id.clone());
    kv("指纹", "Fingerprint", al.fingerprint.clone());
    kv("状态", "State", state_label(view, lang));
    kv("级别", "Severity", severity_str(al.severity).to_string());
    kv("跨界", "Cross-border", al.cross_border.to_string());
    kv("监测值/限值", "Value/limit", value_cell(view));
    if let (Some(c), Some(t)) = (e.class, e.target) {
        kv(
            "水质类别",
            "Class",
            format!("{} / {}", c.label_zh(), t.label_zh()),
        );
    }
    if let Some(m) = e.exceedance_multiple {
        kv("超标倍数", "Exceedance multiple", m.to_string());
    }
    if let Some(inc) = &e.incident {
        kv("污染事件", "Incident", inc.clone());
    }
    kv("首次发现", "First seen", fmt_cst(al.first_seen));
    kv("最近监测", "Last seen", fmt_cst(al.last_seen));
    if let Some(r) = al.resolved_at {
        kv("恢复时间", "Resolved at", fmt_cst(r));
    }
    kv(
        "摘要",
        "Summary",
        lang.pick(&e.summary_zh, &e.summary_en).to_string(),
    );
    for p in Province::ALL {
        kv(p.name_zh(), p.name_en(), province_cell(view, p, lang));
        if let Some(ack) = view.ack(p) {
            kv(
                "  确认",
                "  acknowledged",
                format!(
                    "{} {} {}",
                    ack.by,
                    fmt_cst(ack.at),
                    ack.comment.clone().unwrap_or_default()
                ),
            );
        }
    }
    if !view.silenced_by.is_empty() {
        kv("静默", "Silenced by", view.silenced_by.join(", "));
    }
    if let (Some(up), true) = (&al.inhibited_by, al.is_firing()) {
        let why = al
            .inhibition
            .clone()
            .unwrap_or(Inhibition::Incident {
                incident: e.incident.clone().unwrap_or_default(),
            })
            .describe(lang);
        kv(
            "未单独通知",
            "Not notified on its own",
            match lang {
                Lang::Zh => format!("附属于告警 {up}，随其通知一并发送（{why}）"),
                Lang::En => format!("attached to alert {up}, listed in its notifications ({why})"),
            },
        );
    }
    if !view.attached.is_empty() {
        kv(
            "关联告警（随本告警通知）",
            "Attached (listed in this alert's notifications)",
            view.attached.join(", "),
        );
    }
    if !al.attached_when_resolved.is_empty() {
        kv(
            "恢复时关联的告警",
            "Attached when it resolved",
            al.attached_when_resolved.join(", "),
        );
    }
    println!("\n{}", lang.pick("通知记录：", "Notifications:"));
    let rows = detail.notifications.iter().map(|n| {
        vec![
            n.id.to_string(),
            fmt_cst(n.created_at),
            n.recipient_id.clone(),
            n.channel.as_str().to_string(),
            n.kind.as_str().to_string(),
            lang.pick(n.status.label_zh(), n.status.as_str())
                .to_string(),
            n.attempts.to_string(),
            n.sent_at.map(fmt_cst).unwrap_or_default(),
            n.last_reply.clone().unwrap_or_default(),
            // Other alerts in the same notification (grouped with this one).
            n.alert_ids
                .iter()
                .filter(|id| **id != al.id)
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ]
    });
    Table::with_rows(
        &[
            header("序号", "#"),
            header("决定时间", "queued"),
            header("接收方", "recipient"),
            header("渠道", "channel"),
            header("类型", "kind"),
            header("状态", "status"),
            header("尝试", "attempts"),
            header("发送时间", "sent"),
            header("最后应答", "last reply"),
            header("同发告警", "sent with"),
        ],
        rows,
    )
    .print(lang);
    println!("\n{}", lang.pick("审计记录：", "Audit trail:"));
    for r in &detail.audit {
        println!(
            "  #{} {} {} {} {}",
            r.seq,
            fmt_cst(r.at),
            r.actor,
            r.kind,
            r.detail
        );
    }
    Ok(())
}
