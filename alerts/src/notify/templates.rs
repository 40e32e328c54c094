//! Notification texts: email subject, plain text and HTML, and the markdown of the group
//! robots, in Simplified Chinese by default and English by configuration. Each alert shows
//! station and river, rule, parameter, value, limit, class against target, exceedance
//! multiple, AQI and level, attribution, incident, first and last seen (China Standard
//! Time), both provinces' acknowledgement state and the console link, and the alerts
//! attached to it (not notified on their own). The subject names the problem with its
//! figures: the parameter's value against its limit and, when the section's class alert
//! comes with it, the section's class against its target. Every body ends with the audit
//! anchor of the notification's own record (a placeholder here; the store fills it in when
//! it records the notification). Pure functions.
//!
//! The labelled lines of one alert are built in `templates/fields.rs`; the tests and their
//! snapshots are in `templates/tests.rs` and `templates/snapshots/`.

mod fields;

use std::fmt::Write as _;

use riverwatch_core::events::{Event, Rule, Severity};
use riverwatch_core::i18n::short_number;
use riverwatch_core::{Lang, Province, Registry};

use crate::audit::{ANCHOR_ARG_PLACEHOLDER, ANCHOR_HEX_DIGITS, ANCHOR_PLACEHOLDER};
use crate::model::{Acknowledgement, Alert, AlertStatus, NotificationKind, Role};

use fields::ack_howto;
pub use fields::fields;

/// One alert as a notification shows it.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// The alert.
    pub alert: &'a Alert,
    /// Its acknowledgements.
    pub acks: Vec<Acknowledgement>,
    /// The alerts attached to it and not notified on their own (downstream alerts of its
    /// incident, alerts an inhibit rule holds behind it); for a resolved alert, those that
    /// were attached when it resolved, as they stand now.
    pub attached: Vec<Alert>,
}

/// Who a notification is for and why.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Language.
    pub lang: Lang,
    /// Registry, for parameter and station names.
    pub registry: &'a Registry,
    /// Console base URL.
    pub console_url: &'a str,
    /// Recipient display name.
    pub recipient_name: &'a str,
    /// Recipient province.
    pub province: Province,
    /// That province's role.
    pub role: Role,
    /// Why it is sent.
    pub kind: NotificationKind,
    /// Recipient escalation level.
    pub level: u8,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

fn severity_label(s: Severity, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => s.label_zh(),
        Lang::En => match s {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        },
    }
}

fn province_name(p: Province, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => p.name_zh(),
        Lang::En => p.name_en(),
    }
}

/// The alert's title: place, rule and parameter.
pub fn title(alert: &Alert, ctx: &Context<'_>) -> String {
    let lang = ctx.lang;
    let rule = match lang {
        Lang::Zh => alert.rule.label_zh(),
        Lang::En => alert.rule.label_en(),
    };
    let param = alert
        .parameter
        .as_deref()
        .map(|p| param_name(ctx.registry, p, lang))
        .unwrap_or_default();
    match (lang, param.is_empty()) {
        (Lang::Zh, true) => format!("{} {rule}", alert.place_name(lang)),
        (Lang::Zh, false) => format!("{} {param} {rule}", alert.place_name(lang)),
        (Lang::En, true) => format!("{}: {rule}", alert.place_name(lang)),
        (Lang::En, false) => format!("{}: {rule}, {param}", alert.place_name(lang)),
    }
}

fn param_name(registry: &Registry, code: &str, lang: Lang) -> String {
    match (registry.parameter(code), lang) {
        (Some(p), Lang::Zh) => format!("{}（{code}）", p.name_zh),
        (Some(p), Lang::En) => format!("{} ({code})", p.name_en),
        (None, _) => code.to_string(),
    }
}

fn station_name(registry: &Registry, id: &str, lang: Lang) -> String {
    match (registry.station(id), lang) {
        (Some(s), Lang::Zh) => format!("{}（{id}）", s.name_zh),
        (Some(s), Lang::En) => format!("{} ({id})", s.name_pinyin),
        (None, _) => id.to_string(),
    }
}

fn unit_of(e: &Event) -> String {
    match e.unit.as_deref() {
        None | Some("" | "-") => String::new(),
        Some(u) => format!(" {u}"),
    }
}

/// The class against the target: `Ⅴ类（目标 Ⅲ类）`.
fn class_vs_target(e: &Event, lang: Lang) -> Option<String> {
    let (c, t) = (e.class?, e.target?);
    Some(match lang {
        Lang::Zh => format!("{}（目标 {}）", c.label_zh(), t.label_zh()),
        Lang::En => format!("{} (target {})", c.label_en(), t.label_en()),
    })
}

/// The value against the limit: `1.62 mg/L（限值 1 mg/L，超标 0.62 倍）`.
fn value_vs_limit(e: &Event, lang: Lang, with_multiple: bool) -> Option<String> {
    let (v, l) = (e.value?, e.limit?);
    let unit = unit_of(e);
    let m = e.exceedance_multiple.filter(|_| with_multiple);
    Some(match (lang, m) {
        (Lang::Zh, Some(m)) => format!(
            "{}{unit}（限值 {}{unit}，超标 {} 倍）",
            short_number(v),
            short_number(l),
            short_number(m)
        ),
        (Lang::Zh, None) => format!(
            "{}{unit}（限值 {}{unit}）",
            short_number(v),
            short_number(l)
        ),
        (Lang::En, Some(m)) => format!(
            "{}{unit} (limit {}{unit}, {}× over)",
            short_number(v),
            short_number(l),
            short_number(m)
        ),
        (Lang::En, None) => format!(
            "{}{unit} (limit {}{unit})",
            short_number(v),
            short_number(l)
        ),
    })
}

/// The figures that say how bad it is (or how it ended): the section's class against its
/// target for a section's class alert, the value against the limit otherwise.
pub fn figures(alert: &Alert, lang: Lang) -> Option<String> {
    let resolved = alert.status == AlertStatus::Resolved;
    let e = match (&alert.resolution, resolved) {
        (Some(r), true) => r,
        _ => &alert.event,
    };
    if alert.rule == Rule::SectionBelowTarget {
        class_vs_target(e, lang)
    } else {
        value_vs_limit(e, lang, !resolved)
    }
}

/// The section's class alert that comes with `first` (attached to it or in the same
/// notification): same station, another alert.
fn section_alert<'x>(first: &Item<'x>, all: &[&'x Item<'x>]) -> Option<&'x Alert> {
    let a = first.alert;
    if a.rule == Rule::SectionBelowTarget {
        return None;
    }
    let same = |s: &&Alert| s.rule == Rule::SectionBelowTarget && s.subject == a.subject;
    all.iter()
        .flat_map(|i| std::iter::once(i.alert).chain(i.attached.iter()))
        .find(same)
}

/// The email subject: kind and severity, the first alert with its figures, the section's
/// class against its target when its class alert comes along, and how many alerts.
pub fn subject(ctx: &Context<'_>, firing: &[Item<'_>], resolved: &[Item<'_>]) -> String {
    let lang = ctx.lang;
    let kind = match lang {
        Lang::Zh => ctx.kind.label_zh(),
        Lang::En => ctx.kind.label_en(),
    };
    let all: Vec<&Item<'_>> = firing.iter().chain(resolved).collect();
    let Some(first) = all.first() else {
        return format!("[riverwatch] {kind}");
    };
    let worst = all
        .iter()
        .map(|i| i.alert.severity)
        .max()
        .unwrap_or(Severity::Warning);
    let more = all.len() - 1;
    let cross = all.iter().any(|i| i.alert.cross_border);
    let head = match figures(first.alert, lang) {
        Some(f) => format!("{} {f}", title(first.alert, ctx)),
        None => title(first.alert, ctx),
    };
    let section = section_alert(first, &all).and_then(|s| {
        let f = figures(s, lang)?;
        Some(match (lang, s.status == AlertStatus::Resolved) {
            (Lang::Zh, false) => format!("；{} {f}", s.rule.label_zh()),
            (Lang::Zh, true) => format!("；断面水质已达标 {f}"),
            (Lang::En, false) => format!("; {}: {f}", s.rule.label_en()),
            (Lang::En, true) => format!("; section back to its target: {f}"),
        })
    });
    let section = section.unwrap_or_default();
    match lang {
        Lang::Zh => {
            let more = if more > 0 {
                format!(" 等 {} 条", all.len())
            } else {
                String::new()
            };
            let cross = if cross { "｜跨界" } else { "" };
            format!(
                "[riverwatch]【{kind}·{}{cross}】{head}{section}{more}",
                severity_label(worst, lang),
            )
        }
        Lang::En => {
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let cross = if cross { ", cross-border" } else { "" };
            format!(
                "[riverwatch] {kind} ({}{cross}): {head}{section}{more}",
                severity_label(worst, lang),
            )
        }
    }
}

/// One attached alert in a line: title and id, its figures (or how it stands now), its
/// summary and why it is not notified on its own.
fn attached_line(a: &Alert, source: &Alert, ctx: &Context<'_>) -> String {
    let lang = ctx.lang;
    let state = match (a.status, source.status) {
        (AlertStatus::Resolved, _) => lang.pick("已恢复：", "resolved: "),
        (AlertStatus::Firing, AlertStatus::Resolved) => lang.pick(
            "仍在告警，将单独通知：",
            "still firing, notified on its own: ",
        ),
        _ => "",
    };
    let summary = match (a.status, &a.resolution) {
        (AlertStatus::Resolved, Some(r)) => lang.pick(&r.summary_zh, &r.summary_en).to_string(),
        _ => lang
            .pick(&a.event.summary_zh, &a.event.summary_en)
            .to_string(),
    };
    let why = match &a.inhibition {
        Some(i) if a.inhibited_by.as_deref() == Some(source.id.as_str()) => i.describe(lang),
        _ => lang
            .pick("此前随本告警通知", "notified with this alert")
            .to_string(),
    };
    let mut out = format!("{} [{}]", title(a, ctx), a.id);
    out.push_str(lang.pick("：", ": "));
    out.push_str(state);
    if let Some(f) = figures(a, lang) {
        out.push_str(&f);
        out.push_str(lang.pick("；", "; "));
    }
    if !summary.is_empty() {
        out.push_str(&summary);
        out.push_str(lang.pick("；", "; "));
    }
    out.push_str(lang.pick("原因：", "why: "));
    out.push_str(&why);
    out
}

/// The audit anchor line of a notification (its placeholders are filled in when the
/// notification is recorded).
fn anchor_line(lang: Lang) -> String {
    let bits = ANCHOR_HEX_DIGITS * 4;
    match lang {
        Lang::Zh => format!(
            "审计链头：{ANCHOR_PLACEHOLDER}（记录本通知的审计记录，SHA-256 前 {bits} 位）。请记入值班日志；日后可用 riverwatch audit verify --head {ANCHOR_ARG_PLACEHOLDER} 核对审计链未被截短或改写。"
        ),
        Lang::En => format!(
            "Audit head: {ANCHOR_PLACEHOLDER} (the audit row recording this notification, first {bits} bits of SHA-256). Keep it in your duty log; riverwatch audit verify --head {ANCHOR_ARG_PLACEHOLDER} later shows whether the audit trail was cut short or rewritten."
        ),
    }
}

fn role_line(ctx: &Context<'_>, items: &[&Item<'_>]) -> String {
    let lang = ctx.lang;
    let owner = items
        .iter()
        .find_map(|i| i.alert.owner)
        .unwrap_or(ctx.province);
    match (ctx.role, lang) {
        (Role::Equal, Lang::Zh) => {
            "省界断面或区域性事件：黑龙江省、吉林省同等通报，请各自确认本省一侧。".to_string()
        }
        (Role::Equal, Lang::En) => "Provincial-boundary section or regional event: Heilongjiang and Jilin are notified as equals; each acknowledges for its own side.".to_string(),
        (Role::Owner, Lang::Zh) => format!(
            "本告警属{}辖内断面/站点，由本省负责处置，请确认；已抄送{}知悉。",
            province_name(owner, lang),
            province_name(owner.other(), lang)
        ),
        (Role::Owner, Lang::En) => format!(
            "This alert concerns a station within {}, which handles it; please acknowledge. {} is informed.",
            province_name(owner, lang),
            province_name(owner.other(), lang)
        ),
        (Role::InfoCopy, Lang::Zh) => format!(
            "知会抄送：本告警属{}辖内断面/站点，由{}负责处置，特此告知，无需确认。",
            province_name(owner, lang),
            province_name(owner, lang)
        ),
        (Role::InfoCopy, Lang::En) => format!(
            "For information: this alert concerns a station within {}, which handles it. No acknowledgement needed.",
            province_name(owner, lang)
        ),
    }
}

fn heading(ctx: &Context<'_>, resolved: bool, n: usize) -> String {
    match (ctx.lang, resolved) {
        (Lang::Zh, false) => format!("告警中（{n} 条）"),
        (Lang::Zh, true) => format!("已恢复（{n} 条）"),
        (Lang::En, false) => format!("Firing ({n})"),
        (Lang::En, true) => format!("Resolved ({n})"),
    }
}

fn intro(ctx: &Context<'_>) -> Option<String> {
    match (ctx.kind, ctx.lang) {
        (NotificationKind::Escalation, Lang::Zh) => Some(format!(
            "升级通知（第 {} 级）：以下告警在规定时间内未获{}确认。",
            ctx.level,
            ctx.province.name_zh()
        )),
        (NotificationKind::Escalation, Lang::En) => Some(format!(
            "Escalation (level {}): {} has not acknowledged these alerts in time.",
            ctx.level,
            ctx.province.name_en()
        )),
        (NotificationKind::Repeat, Lang::Zh) => {
            Some("重复提醒：以下告警仍在持续且本省尚未确认。".to_string())
        }
        (NotificationKind::Repeat, Lang::En) => Some(
            "Reminder: these alerts still fire and your province has not acknowledged them."
                .to_string(),
        ),
        _ => None,
    }
}

/// The email: subject, plain text and HTML.
pub fn email(ctx: &Context<'_>, firing: &[Item<'_>], resolved: &[Item<'_>]) -> Email {
    let lang = ctx.lang;
    let all: Vec<&Item<'_>> = firing.iter().chain(resolved).collect();
    let ids: Vec<&str> = firing.iter().map(|i| i.alert.id.as_str()).collect();
    let greeting = match lang {
        Lang::Zh => format!("{}：", ctx.recipient_name),
        Lang::En => format!("To {}:", ctx.recipient_name),
    };
    let role = role_line(ctx, &all);
    let footer = match lang {
        Lang::Zh => {
            "—— riverwatch 哈长城市群跨界河流与大气环境监测告警服务。时间均为北京时间（UTC+8）。本邮件的 Message-ID 记录在告警审计链中。"
        }
        Lang::En => {
            "— riverwatch cross-border river and air monitoring, Harbin–Changchun zone. Times are China Standard Time (UTC+8). This email's Message-ID is recorded in the alert audit trail."
        }
    };

    let mut text = String::new();
    let _ = writeln!(text, "{greeting}\n");
    if let Some(i) = intro(ctx) {
        let _ = writeln!(text, "{i}");
    }
    let _ = writeln!(text, "{role}\n");
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family: sans-serif; font-size: 14px;\">\n<p>{}</p>\n",
        lang.pick("zh-CN", "en"),
        esc(&subject(ctx, firing, resolved)),
        esc(&greeting)
    );
    if let Some(i) = intro(ctx) {
        let _ = writeln!(html, "<p><strong>{}</strong></p>", esc(&i));
    }
    let _ = writeln!(html, "<p>{}</p>", esc(&role));
    let console_key = lang.pick("控制台", "Console");
    for (is_resolved, items) in [(false, firing), (true, resolved)] {
        if items.is_empty() {
            continue;
        }
        let head = heading(ctx, is_resolved, items.len());
        let _ = writeln!(text, "{head}\n{}", "=".repeat(24));
        let colour = if is_resolved { "#2e7d32" } else { "#c62828" };
        let _ = writeln!(html, "<h2 style=\"color: {colour};\">{}</h2>", esc(&head));
        for (n, item) in items.iter().enumerate() {
            let t = title(item.alert, ctx);
            let _ = writeln!(text, "{}. {t}", n + 1);
            let _ = writeln!(
                html,
                "<h3>{}. {}</h3>\n<table cellpadding=\"4\" style=\"border-collapse: collapse;\">",
                n + 1,
                esc(&t)
            );
            for (k, v) in fields(item, ctx) {
                let sep = lang.pick("：", ": ");
                let _ = writeln!(text, "   {k}{sep}{v}");
                // The one link: the console row, built from `console_url` and the alert id.
                // Nothing from a message's content becomes a link.
                let cell = if k == console_key && is_console_link(ctx, &v) {
                    format!("<a href=\"{0}\">{0}</a>", esc(&v))
                } else {
                    esc(&v)
                };
                let _ = writeln!(
                    html,
                    "<tr><th align=\"left\" style=\"border: 1px solid #ccc; background: #f5f5f5;\">{}</th><td style=\"border: 1px solid #ccc;\">{cell}</td></tr>",
                    esc(&k)
                );
            }
            let _ = writeln!(text);
            let _ = writeln!(html, "</table>");
        }
    }
    if !firing.is_empty() && ctx.role != Role::InfoCopy {
        let how = ack_howto(ctx, &ids);
        let _ = writeln!(text, "{how}\n");
        let _ = writeln!(html, "<p>{}</p>", esc(&how));
    }
    let anchor = anchor_line(lang);
    let _ = writeln!(text, "{anchor}\n");
    let _ = writeln!(text, "{footer}");
    let _ = writeln!(html, "<p style=\"color: #666;\">{}</p>", esc(&anchor));
    let _ = writeln!(
        html,
        "<p style=\"color: #666;\">{}</p>\n</body></html>",
        esc(footer)
    );
    Email {
        subject: subject(ctx, firing, resolved),
        text,
        html,
    }
}

/// Whether `v` is a link into the configured console: `console_url/alerts/` and an alert id
/// (hex digits only).
fn is_console_link(ctx: &Context<'_>, v: &str) -> bool {
    let base = format!("{}/alerts/", ctx.console_url.trim_end_matches('/'));
    v.strip_prefix(&base)
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Markdown for the DingTalk and WeCom group robots: title line and the key fields.
pub fn markdown(ctx: &Context<'_>, firing: &[Item<'_>], resolved: &[Item<'_>]) -> (String, String) {
    let lang = ctx.lang;
    let title_line = subject(ctx, firing, resolved);
    let mut md = format!("### {title_line}\n\n");
    let all: Vec<&Item<'_>> = firing.iter().chain(resolved).collect();
    let _ = writeln!(md, "> {}\n", role_line(ctx, &all));
    let keep = [
        lang.pick("告警编号", "Alert id"),
        lang.pick("级别", "Severity"),
        lang.pick("监测值", "Value"),
        lang.pick("限值", "Limit"),
        lang.pick("水质类别", "Class"),
        lang.pick("超标倍数", "Exceedance multiple"),
        "AQI",
        lang.pick("首次发现", "First seen"),
        lang.pick("恢复时间", "Resolved at"),
        lang.pick("确认状态", "Acknowledgement"),
    ];
    for (is_resolved, items) in [(false, firing), (true, resolved)] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(md, "**{}**\n", heading(ctx, is_resolved, items.len()));
        for item in items {
            let _ = writeln!(md, "- **{}**", title(item.alert, ctx));
            for (k, v) in fields(item, ctx) {
                if keep.contains(&k.as_str()) {
                    let _ = writeln!(md, "  - {k}: {v}");
                }
            }
            for d in &item.attached {
                let _ = writeln!(
                    md,
                    "  - {}: {}",
                    lang.pick(
                        "关联告警（不单独通知）",
                        "Attached (not notified on its own)"
                    ),
                    attached_line(d, item.alert, ctx)
                );
            }
            let _ = writeln!(
                md,
                "  - [{}]({}/alerts/{})",
                lang.pick("在控制台查看", "Open in the console"),
                ctx.console_url.trim_end_matches('/'),
                item.alert.id
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "> {}{ANCHOR_PLACEHOLDER}",
        lang.pick("审计链头 ", "Audit head ")
    );
    (title_line, md)
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
