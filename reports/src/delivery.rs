//! A report as an email and who receives it, shared by `riverwatch report --send` and the
//! schedule ([`crate::schedule`]): the file name and outbox key of a report, its subject
//! (`拉林河 2026年11月 月报`, marked 修订 for a revision), the [`ReportMail`] with the
//! workbook attached, and the recipients taken from the alert routing (`[alerts.routing]`).

use chrono::{DateTime, Datelike, Utc};
use riverwatch_alerts::config::{Recipient, RecipientKind, Routing};
use riverwatch_alerts::operator::{ReportMail, ReportRecipient};
use riverwatch_alerts::store::Attachment;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::{Lang, Province};

use crate::model::Report;

/// The MIME type of an Excel workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// How long a queued report email may wait for delivery before it expires, days.
pub const EXPIRE_AFTER_DAYS: i64 = 7;

/// The base file name of a report: `riverwatch-month-2026-11-01[-lalin]`.
pub fn base_name(report: &Report) -> String {
    let river = report
        .river
        .as_deref()
        .map_or(String::new(), |r| format!("-{r}"));
    format!(
        "riverwatch-{}-{}{river}",
        report.period.as_str(),
        report.first_day
    )
}

/// The outbox key of a report in a language: the same for every revision, so the outbox
/// tells revisions apart by their digest.
pub fn report_key(report: &Report, lang: Lang) -> String {
    format!("{}-{lang}", base_name(report))
}

/// A report email's subject: `拉林河 2026年11月 月报`, `Lālín Hé November 2026 monthly
/// report`; revision `n > 0` is marked `【修订】… （第n次修订）` / `[Revised] … (revision n)`.
pub fn subject(report: &Report, lang: Lang, revision: u32) -> String {
    let scope = report
        .rivers
        .iter()
        .find(|x| Some(&x.id) == report.river.as_ref())
        .map(|x| lang.pick(&x.name_zh, &x.name_pinyin).to_string())
        .unwrap_or_else(|| lang.pick("哈长一体化区域", "Harbin–Changchun zone").into());
    let d = report.first_day;
    let (y, m) = (d.year(), d.month());
    let plain = match (lang, report.period) {
        (Lang::Zh, WindowPeriod::Day) => format!("{scope} {y}年{m}月{}日 日报", d.day()),
        (Lang::Zh, WindowPeriod::Week) => {
            format!("{scope} {d}至{} 周报", report.last_day)
        }
        (Lang::Zh, WindowPeriod::Quarter) => {
            format!("{scope} {y}年第{}季度 季报", (m - 1) / 3 + 1)
        }
        (Lang::Zh, WindowPeriod::Year) => format!("{scope} {y}年 年报"),
        (Lang::Zh, _) => format!("{scope} {y}年{m}月 月报"),
        (Lang::En, WindowPeriod::Day) => format!("{scope} {} daily report", d.format("%-d %B %Y")),
        (Lang::En, WindowPeriod::Week) => {
            format!("{scope} weekly report {d} to {}", report.last_day)
        }
        (Lang::En, WindowPeriod::Quarter) => {
            format!("{scope} Q{} {y} quarterly report", (m - 1) / 3 + 1)
        }
        (Lang::En, WindowPeriod::Year) => format!("{scope} {y} annual report"),
        (Lang::En, _) => format!("{scope} {} monthly report", d.format("%B %Y")),
    };
    match (revision, lang) {
        (0, _) => plain,
        (n, Lang::Zh) => format!("【修订】{plain}（第{n}次修订）"),
        (n, Lang::En) => format!("[Revised] {plain} (revision {n})"),
    }
}

/// The report email: the workbook attached, the HTML body with the summary and the
/// sections and rivers tables, a plain-text body; revision `n > 0` is marked 修订 in the
/// subject, the titles and the body, and carries a digest of its own (`<digest>-r<n>`) so
/// the outbox queues it even when an earlier issue had the same numbers.
///
/// # Errors
/// The workbook cannot be built.
pub fn report_mail(
    report: &Report,
    lang: Lang,
    revision: u32,
    from: &str,
    now: DateTime<Utc>,
) -> Result<ReportMail, rust_xlsxwriter::XlsxError> {
    let workbook = crate::xlsx::workbook(report, lang, revision > 0)?;
    Ok(mail_with_workbook(
        report, lang, revision, from, now, workbook,
    ))
}

/// [`report_mail`] with a workbook already built (the archived file). A revision's
/// attachment is named `…-r<n>.xlsx`.
pub fn mail_with_workbook(
    report: &Report,
    lang: Lang,
    revision: u32,
    from: &str,
    now: DateTime<Utc>,
    workbook: Vec<u8>,
) -> ReportMail {
    let file_name = match revision {
        0 => format!("{}.xlsx", base_name(report)),
        n => format!("{}-r{n}.xlsx", base_name(report)),
    };
    let title = crate::tables::title(report, lang);
    let digest = crate::json::digest(report);
    let note = match (revision, lang) {
        (0, _) => String::new(),
        (n, Lang::Zh) => {
            format!("本报告为第{n}次修订：迟到的数据改变了其中的数值，请以本版为准。\n\n")
        }
        (n, Lang::En) => format!(
            "This is revision {n}: late data changed its numbers; it replaces the earlier issue.\n\n"
        ),
    };
    let mut body_html = crate::html::email(report, lang, revision > 0, &file_name);
    if !note.is_empty() {
        let p = format!(
            "\n<p style=\"font-size:14px;color:#b00\">{}</p>",
            crate::html::esc(note.trim())
        );
        if let Some(at) = body_html.find("</h2>") {
            body_html.insert_str(at + "</h2>".len(), &p);
        }
    }
    let mark = if revision > 0 {
        lang.pick("【修订】", "[Revised] ")
    } else {
        ""
    };
    ReportMail {
        key: report_key(report, lang),
        digest: if revision == 0 {
            digest
        } else {
            format!("{digest}-r{revision}")
        },
        subject: subject(report, lang, revision),
        body_text: format!(
            "{mark}{title}\n\n{note}{} {file_name}\n",
            lang.pick("完整报表见附件：", "The full workbook is attached:")
        ),
        body_html,
        attachment: Attachment {
            file_name,
            content_type: XLSX.to_string(),
            bytes: workbook,
        },
        expires_at: now + chrono::Duration::days(EXPIRE_AFTER_DAYS),
        message_domain: from
            .rsplit('@')
            .next()
            .unwrap_or(from)
            .trim_end_matches('>')
            .to_string(),
    }
}

fn recipient(p: Province, r: &Recipient) -> ReportRecipient {
    ReportRecipient {
        id: r.id.clone(),
        name: r.name.clone(),
        province: p,
        addresses: r.email.clone(),
    }
}

/// Level-0 recipients with an email address.
fn first_line(routing: &Routing) -> impl Iterator<Item = (Province, &Recipient)> {
    routing
        .all()
        .filter(|(_, r)| r.level == 0 && !r.email.is_empty())
}

/// The recipients of `riverwatch report --send` without `--to`: the river-chief offices of
/// the report's river (every office for a zone report) and the provincial departments,
/// level 0, with an address.
pub fn default_recipients(routing: &Routing, river: Option<&str>) -> Vec<ReportRecipient> {
    first_line(routing)
        .filter(|(_, r)| match r.kind {
            RecipientKind::Department => true,
            RecipientKind::RiverChief => {
                river.is_none_or(|id| r.rivers.is_empty() || r.rivers.iter().any(|x| x == id))
            }
            RecipientKind::CityBureau | RecipientKind::Other => false,
        })
        .map(|(p, r)| recipient(p, r))
        .collect()
}

/// The recipients of a scheduled report (level 0, with an address): a river's report goes to
/// the river-chief offices listing that river; the zone's report to the provincial
/// departments and to the river-chief offices that list no river (they cover every one).
pub fn scheduled_recipients(routing: &Routing, river: Option<&str>) -> Vec<ReportRecipient> {
    first_line(routing)
        .filter(|(_, r)| match (r.kind, river) {
            (RecipientKind::Department, None) => true,
            (RecipientKind::RiverChief, None) => r.rivers.is_empty(),
            (RecipientKind::RiverChief, Some(id)) => r.rivers.iter().any(|x| x == id),
            _ => false,
        })
        .map(|(p, r)| recipient(p, r))
        .collect()
}

/// The rivers that get a scheduled report of their own: those a level-0 river-chief office
/// with an address lists, each once, in the order of the routing.
pub fn scheduled_rivers(routing: &Routing) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, r) in first_line(routing).filter(|(_, r)| r.kind == RecipientKind::RiverChief) {
        for river in &r.rivers {
            if !out.contains(river) {
                out.push(river.clone());
            }
        }
    }
    out
}

/// `--to` addresses: named and filed under a province as the configured recipient holding
/// the address, or under the address itself (and 黑龙江) when none does.
pub fn given_recipients(routing: &Routing, to: &[String]) -> Vec<ReportRecipient> {
    to.iter()
        .map(|addr| {
            let addr = addr.trim().to_string();
            let known = routing
                .all()
                .find(|(_, r)| r.email.iter().any(|e| e.eq_ignore_ascii_case(&addr)));
            ReportRecipient {
                id: addr.clone(),
                name: known.map_or_else(|| addr.clone(), |(_, r)| r.name.clone()),
                province: known.map_or(Province::Heilongjiang, |(p, _)| p),
                addresses: vec![addr],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Routing {
        Routing::default()
    }

    #[test]
    fn a_river_report_goes_to_its_river_chief_offices_and_the_zone_report_to_the_departments() {
        let r = routing();
        let ids = |v: Vec<ReportRecipient>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
        let lalin = ids(scheduled_recipients(&r, Some("lalin")));
        assert!(lalin.contains(&"hlj-hzb-lalin".to_string()), "{lalin:?}");
        assert!(!lalin.iter().any(|id| id == "hlj-duty"), "{lalin:?}");
        assert!(!lalin.iter().any(|id| id == "hlj-hzb-songhua"), "{lalin:?}");
        let zone = ids(scheduled_recipients(&r, None));
        assert!(zone.contains(&"hlj-duty".to_string()), "{zone:?}");
        // Level 1 and 2 are escalation recipients, not report readers.
        assert!(!zone.iter().any(|id| id == "hlj-leader"), "{zone:?}");
        assert!(!zone.iter().any(|id| id == "hlj-harbin"), "{zone:?}");
        let rivers = scheduled_rivers(&r);
        assert!(rivers.contains(&"lalin".to_string()), "{rivers:?}");
        assert!(rivers.contains(&"songhua".to_string()), "{rivers:?}");
        assert_eq!(
            rivers.len(),
            rivers
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }
}
