//! `riverwatch reports list`: the archive of issued reports (`reports.db`), the newest period
//! first, each revision on its own line.

use clap::Args;
use riverwatch_core::time::fmt_cst_minutes;
use riverwatch_reports::archive::{Archive, ArchiveQuery};

use crate::cli::render::{Format, Table, header, print_json};
use crate::cli::{Context, user_error};

/// Options of `riverwatch reports list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this period: day, week, month, quarter or year.
    #[arg(long, value_parser = crate::cli::report::parse_period)]
    pub period: Option<riverwatch_core::events::WindowPeriod>,
    /// Only this river's reports (`zone` for the zone's).
    #[arg(long)]
    pub river: Option<String>,
    /// Only periods starting on or after this CST day.
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs `riverwatch reports list`.
///
/// # Errors
/// No archive yet, or an unreadable one.
pub fn run(args: &ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let lang = ctx.lang;
    let path = Archive::path_in(&ctx.data_dir, &ctx.loaded.config.reports.store_file);
    let archive = Archive::open_reader(&path).map_err(|e| {
        user_error(
            format!("尚无报表存档（{e}）：报表计划随 riverwatch up 或 riverwatch reports run 运行"),
            format!("no report archive yet ({e}): the schedule runs with riverwatch up or riverwatch reports run"),
        )
    })?;
    let entries = archive.list(&ArchiveQuery {
        period: args.period,
        river: args
            .river
            .as_deref()
            .map(|r| if r == "zone" { "" } else { r }.to_string()),
        from: args.from,
        limit: Some(args.limit),
    })?;
    if args.format == Format::Json {
        return print_json(&entries);
    }
    let rows = entries.iter().map(|e| {
        vec![
            e.period.as_str().to_string(),
            if e.first_day == e.last_day {
                e.first_day.to_string()
            } else {
                format!("{}–{}", e.first_day, e.last_day)
            },
            e.river
                .clone()
                .unwrap_or_else(|| lang.pick("全区域", "zone").to_string()),
            e.lang.to_string(),
            if e.revision == 0 {
                lang.pick("原版", "original").to_string()
            } else {
                format!("{}{}", lang.pick("修订", "revision "), e.revision)
            },
            e.digest.chars().take(12).collect(),
            fmt_cst_minutes(e.created_at),
            e.queued_at.map_or_else(
                || lang.pick("未入队", "not queued").to_string(),
                |t| format!("{} ({})", fmt_cst_minutes(t), e.recipients),
            ),
            e.file.display().to_string(),
        ]
    });
    Table::with_rows(
        &[
            header("周期", "period"),
            header("日期", "days"),
            header("河流", "river"),
            header("语言", "lang"),
            header("版本", "issue"),
            header("摘要", "digest"),
            header("生成时间", "created"),
            header("入队时间(收件方数)", "queued (recipients)"),
            header("文件", "file"),
        ],
        rows,
    )
    .print(lang);
    if entries.is_empty() {
        println!("{}", lang.pick("（无）", "(none)"));
    }
    Ok(())
}
