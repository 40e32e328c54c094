//! `riverwatch evaluations …`: what the analytics service stored, one view per subcommand,
//! as a table or JSON. The reading is [`riverwatch_analytics::views::evaluations`].

use clap::{Args, Subcommand};
use riverwatch_analytics::describe::window_label;
use riverwatch_analytics::model::{
    AqiRecord, CurrentStatus, Incident, JointControlRecord, LedgerEntry, WarningRecord,
    WindowEvaluation,
};
use riverwatch_analytics::store::{EvaluationQuery, EvaluationReader};
use riverwatch_analytics::views::evaluations::{self, Filter, Rows, View};
use riverwatch_analytics::views::periods;
use riverwatch_analytics::windows::spans::Span;
use riverwatch_core::Lang;
use riverwatch_core::events::{Attribution, Event, WindowPeriod};
use riverwatch_core::i18n::short_number;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::{cst_date, fmt_cst};

use crate::cli::args::time_arg;
use crate::cli::render::{
    DASH, Format, Table, class_label, col, header, print_json, province, yes_no,
};
use crate::cli::{Context, user_error};

/// `riverwatch evaluations …`.
#[derive(Debug, Subcommand)]
pub enum EvaluationsCommand {
    /// Current (latest live) status of the stations.
    Current(ReadArgs),
    /// Hourly, daily or monthly classes, means and valid-data rates.
    Classes(ReadArgs),
    /// Hourly or daily AQI.
    Aqi(ReadArgs),
    /// City heavy-pollution warning levels per day.
    Warnings(ReadArgs),
    /// The regional joint-control state per day.
    Joint(ReadArgs),
    /// Pollution incidents moving downstream.
    Incidents(ReadArgs),
    /// The cross-border ecological compensation ledger.
    Ledger(ReadArgs),
    /// Events emitted.
    Events(ReadArgs),
}

impl EvaluationsCommand {
    fn parts(&self) -> (View, &ReadArgs) {
        match self {
            EvaluationsCommand::Current(a) => (View::Current, a),
            EvaluationsCommand::Classes(a) => (View::Classes, a),
            EvaluationsCommand::Aqi(a) => (View::Aqi, a),
            EvaluationsCommand::Warnings(a) => (View::Warnings, a),
            EvaluationsCommand::Joint(a) => (View::Joint, a),
            EvaluationsCommand::Incidents(a) => (View::Incidents, a),
            EvaluationsCommand::Ledger(a) => (View::Ledger, a),
            EvaluationsCommand::Events(a) => (View::Events, a),
        }
    }
}

/// Options of `riverwatch evaluations …`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Station id (or `REGION` for events).
    #[arg(long)]
    pub station: Option<String>,
    /// `hour`, `day` or `month` (classes, AQI); for classes also `week`, `quarter` or `year`,
    /// evaluated from the stored days of the period holding `--from`.
    #[arg(long, value_parser = parse_period)]
    pub period: Option<WindowPeriod>,
    /// From (RFC 3339, epoch ms, or China Standard Time `2026-09-01`).
    #[arg(long)]
    pub from: Option<String>,
    /// To (exclusive for times, inclusive for days and months).
    #[arg(long)]
    pub to: Option<String>,
    /// Every revision, not only the latest of each window.
    #[arg(long)]
    pub all_revisions: bool,
    /// At most this many (the latest).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format; a readable table when absent.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

fn parse_period(s: &str) -> Result<WindowPeriod, String> {
    WindowPeriod::ALL
        .into_iter()
        .chain(WindowPeriod::REPORTING)
        .find(|p| p.as_str() == s.trim())
        .ok_or_else(|| format!("`{s}`: use hour, day, week, month, quarter or year"))
}

/// Runs `riverwatch evaluations …`.
///
/// # Errors
/// A missing store or bad options.
pub async fn run(cmd: &EvaluationsCommand, ctx: &Context) -> anyhow::Result<()> {
    let reader =
        EvaluationReader::open_in(&ctx.data_dir, &ctx.loaded.config.analytics).map_err(|e| {
            user_error(
                format!("尚无评价结果（{e}）：请先运行 riverwatch analytics 或 riverwatch up"),
                format!(
                    "no evaluations yet ({e}): run riverwatch analytics or riverwatch up first"
                ),
            )
        })?;
    let (view, args) = cmd.parts();
    const HINT: &str = "：请使用 2026-09-01 或 2026-09-10 12:00（北京时间）";
    let filter: Filter = EvaluationQuery {
        station: args.station.clone(),
        period: args.period,
        from: time_arg(args.from.as_deref(), "--from", HINT)?,
        to: time_arg(args.to.as_deref(), "--to", HINT)?,
        all_revisions: args.all_revisions,
        limit: args.limit,
    };
    let rows = match (view, filter.period) {
        (View::Classes, Some(p)) if !p.is_stored() => {
            let from = filter.from.ok_or_else(|| {
                user_error(
                    "--period week、quarter、year 需要 --from（该周期内的任一天）",
                    "--period week, quarter or year needs --from (any day of the period)",
                )
            })?;
            let span = Span::containing(p, cst_date(from)).ok_or_else(|| {
                user_error("--from 超出日历范围", "--from is outside the calendar")
            })?;
            let (registry, config) = (
                ctx.loaded.registry.clone(),
                ctx.loaded.config.analytics.clone(),
            );
            let station = filter.station.clone();
            let now = chrono::Utc::now();
            let rows = tokio::task::spawn_blocking(move || {
                periods::period_evaluations(
                    &reader,
                    &registry,
                    &config,
                    &span,
                    station.as_deref(),
                    now,
                )
            })
            .await??;
            Rows::Classes(rows)
        }
        _ => evaluations::read(&reader, view, &filter).await?,
    };
    if args.format == Some(Format::Json) {
        return print_json(&rows);
    }
    let names = Names {
        registry: &ctx.loaded.registry,
        lang: ctx.lang,
    };
    match &rows {
        Rows::Current(r) => current(r, &names),
        Rows::Classes(r) => classes(r, &names),
        Rows::Aqi(r) => aqi(r, &names),
        Rows::Warnings(r) => warnings(r, ctx.lang),
        Rows::Joint(r) => joint(r, &names),
        Rows::Incidents(r) => incidents(r, &names),
        Rows::Ledger(r) => ledger(r, &names),
        Rows::Events(r) => events(r, ctx.lang),
    }
    Ok(())
}

/// Station names in the language.
struct Names<'a> {
    registry: &'a Registry,
    lang: Lang,
}

impl Names<'_> {
    fn of(&self, id: &str) -> String {
        self.registry
            .station(id)
            .map(|s| self.lang.pick(&s.name_zh, &s.name_pinyin).to_string())
            .unwrap_or_else(|| id.to_string())
    }
}

fn meets(c: Option<bool>, lang: Lang) -> String {
    c.map_or(DASH.into(), |c| yes_no(c, lang))
}

fn period(p: WindowPeriod, lang: Lang) -> String {
    lang.pick(p.label_zh(), p.as_str()).to_string()
}

fn current(rows: &[CurrentStatus], n: &Names<'_>) {
    let lang = n.lang;
    let rows = rows.iter().map(|s| {
        vec![
            s.station.clone(),
            n.of(&s.station),
            fmt_cst(s.observed_at),
            match (s.class, s.aqi, &s.flood_state) {
                (Some(c), _, _) => class_label(Some(c), lang),
                (None, Some(a), _) => format!("AQI {a}"),
                (None, None, Some(f)) => flood_label(f, lang),
                _ => DASH.into(),
            },
            class_label(s.target, lang),
            meets(s.compliant, lang),
        ]
    });
    Table::with_rows(
        &[
            col::STATION,
            col::NAME,
            header("观测时间（北京时间）", "observed (UTC+8)"),
            header("类别/AQI", "class / AQI"),
            col::TARGET,
            col::MEETS,
        ],
        rows,
    )
    .print(lang);
}

fn classes(rows: &[WindowEvaluation], n: &Names<'_>) {
    let lang = n.lang;
    let rows = rows.iter().map(|e| {
        vec![
            e.station.clone(),
            n.of(&e.station),
            period(e.period, lang),
            window_label(e.period, e.start),
            e.revision.to_string(),
            class_label(e.class, lang),
            class_label(e.target, lang),
            meets(e.compliant, lang),
            format!("{:.0}%", e.completeness * 100.0),
            e.deciding.join(","),
        ]
    });
    Table::with_rows(
        &[
            col::STATION,
            col::NAME,
            col::PERIOD,
            header("窗口（北京时间）", "window (UTC+8)"),
            col::REVISION,
            header("类别", "class"),
            col::TARGET,
            col::MEETS,
            header("有效数据率", "valid rate"),
            header("定类指标", "deciding"),
        ],
        rows,
    )
    .print(lang);
}

fn aqi(rows: &[AqiRecord], n: &Names<'_>) {
    let lang = n.lang;
    let rows = rows.iter().map(|a| {
        vec![
            a.station.clone(),
            n.of(&a.station),
            period(a.period, lang),
            window_label(a.period, a.start),
            a.revision.to_string(),
            a.aqi.map_or(DASH.into(), |x| x.to_string()),
            a.level.map_or(DASH.into(), |x| x.to_string()),
            a.category_zh.clone().unwrap_or_default(),
            a.primary.join(","),
            a.edition.clone(),
        ]
    });
    Table::with_rows(
        &[
            col::STATION,
            col::NAME,
            col::PERIOD,
            header("时间（北京时间）", "time (UTC+8)"),
            col::REVISION,
            header("AQI", "AQI"),
            header("级别", "level"),
            header("类别", "category"),
            header("首要污染物", "primary"),
            header("标准", "edition"),
        ],
        rows,
    )
    .print(lang);
}

fn warnings(rows: &[WarningRecord], lang: Lang) {
    let rows = rows.iter().map(|w| {
        vec![
            w.station.clone(),
            w.city_zh.clone(),
            w.date.to_string(),
            w.revision.to_string(),
            w.daily_aqi.map_or(DASH.into(), |a| a.to_string()),
            w.run_days.to_string(),
            w.severe_days.to_string(),
            lang.pick(w.level.name_zh(), w.level.name_en()).to_string(),
        ]
    });
    Table::with_rows(
        &[
            col::STATION,
            header("城市", "city"),
            col::DATE,
            col::REVISION,
            col::DAILY_AQI,
            header("连续重污染天数", "run > 200"),
            header(">300天数", "> 300"),
            header("预警", "warning"),
        ],
        rows,
    )
    .print(lang);
}

fn joint(rows: &[JointControlRecord], n: &Names<'_>) {
    let lang = n.lang;
    let cities = |ids: &[String]| ids.iter().map(|s| n.of(s)).collect::<Vec<_>>().join("、");
    let rows = rows.iter().map(|j| {
        vec![
            j.date.to_string(),
            j.revision.to_string(),
            lang.pick(
                if j.active { "启动" } else { DASH },
                if j.active { "active" } else { DASH },
            )
            .to_string(),
            cities(&j.heavy_hlj),
            cities(&j.heavy_jl),
        ]
    });
    Table::with_rows(
        &[
            col::DATE,
            col::REVISION,
            header("联防联控", "joint control"),
            header("黑龙江重污染城市", "heavy in HLJ"),
            header("吉林重污染城市", "heavy in JL"),
        ],
        rows,
    )
    .print(lang);
}

fn incidents(rows: &[Incident], n: &Names<'_>) {
    let lang = n.lang;
    for i in rows {
        println!(
            "{} {} {}（{}）{}",
            i.id,
            lang.pick("起始", "origin"),
            n.of(&i.origin_station),
            i.origin_station,
            fmt_cst(i.started_at)
        );
        let sections = i.sections.iter().map(|s| {
            vec![
                format!("{} {}", s.station, n.of(&s.station)),
                province(s.province, lang).to_string(),
                s.parameter.clone(),
                fmt_cst(s.first_at),
                short_number(s.value),
                attribution(&s.attribution, lang),
            ]
        });
        Table::with_rows(
            &[
                col::SECTION,
                header("省份", "province"),
                col::PARAMETER,
                header("首次超标（北京时间）", "first exceedance (UTC+8)"),
                col::VALUE,
                header("溯源结论", "attribution"),
            ],
            sections,
        )
        .print(lang);
        if let Some(next) = &i.expected_next {
            println!(
                "{} {} {}",
                lang.pick("预计到达", "expected at"),
                next.station,
                fmt_cst(next.at)
            );
        }
    }
}

fn ledger(rows: &[LedgerEntry], n: &Names<'_>) {
    let lang = n.lang;
    let party = |p: Option<riverwatch_core::Province>| {
        p.map_or(DASH.to_string(), |p| province(p, lang).to_string())
    };
    let rows = rows.iter().map(|l| {
        vec![
            l.station.clone(),
            n.of(&l.station),
            l.month.clone(),
            l.revision.to_string(),
            class_label(l.class, lang),
            class_label(Some(l.target), lang),
            match l.compliant {
                Some(c) => yes_no(c, lang),
                None => lang.pick("数据不足", "not assessed").to_string(),
            },
            party(l.payer),
            party(l.payee),
            format!("{:.0}", l.amount_yuan),
        ]
    });
    Table::with_rows(
        &[
            col::SECTION,
            col::NAME,
            header("月份", "month"),
            col::REVISION,
            header("月均类别", "class"),
            col::TARGET,
            col::MEETS,
            header("付款方", "payer"),
            header("收款方", "payee"),
            header("金额（元）", "yuan"),
        ],
        rows,
    )
    .print(lang);
    println!(
        "{}",
        lang.pick(
            "注：金额为示例规则（豫鲁黄河协议类别差模型按月折算），需按两省协议配置。",
            "Note: the amounts follow an example rule (the Henan–Shandong class-step model per month); configure the agreed figures."
        )
    );
}

fn events(rows: &[Event], lang: Lang) {
    for e in rows {
        println!(
            "{} [{}] {}",
            fmt_cst(e.observed_at),
            lang.pick(e.severity.label_zh(), &format!("{:?}", e.severity)),
            lang.pick(&e.summary_zh, &e.summary_en)
        );
    }
}

/// An attribution verdict in the language.
fn attribution(a: &Attribution, lang: Lang) -> String {
    match a {
        Attribution::ArrivedFromUpstream {
            upstream_station,
            upstream_province,
            ..
        } => match lang {
            Lang::Zh => format!(
                "来自上游 {upstream_station}（{}）",
                upstream_province.name_zh()
            ),
            Lang::En => format!(
                "arrived from {upstream_station} ({})",
                upstream_province.name_en()
            ),
        },
        Attribution::ArisenBetween {
            upstream_station,
            upstream_province,
            ..
        } => match lang {
            Lang::Zh => format!(
                "产生于 {upstream_station}（{}）与本断面之间",
                upstream_province.name_zh()
            ),
            Lang::En => format!(
                "arisen between {upstream_station} ({}) and here",
                upstream_province.name_en()
            ),
        },
        Attribution::Undetermined { .. } => lang
            .pick("无法判定（上游无数据）", "undetermined")
            .to_string(),
    }
}

/// A stored flood state (`normal`, `above_warning`, `above_guaranteed`) in the language.
fn flood_label(state: &str, lang: Lang) -> String {
    match state {
        "normal" => lang.pick("正常", "normal"),
        "above_warning" => lang.pick("超警戒水位", "above warning level"),
        "above_guaranteed" => lang.pick("超保证水位", "above guaranteed level"),
        other => other,
    }
    .to_string()
}
