//! `riverwatch alerts list`: alerts with both provinces' acknowledgement state, as a table
//! or JSON; and the cells `alerts show` shares with it.

use clap::{Args, ValueEnum};
use riverwatch_alerts::model::{AlertView, Inhibition, severity_str};
use riverwatch_alerts::reader::{AlertQuery, StateFilter};
use riverwatch_alerts::views::{Standing, province_side};
use riverwatch_core::registry::Registry;
use riverwatch_core::time::fmt_cst;
use riverwatch_core::{Lang, Province};

use super::{reader, store_error};
use crate::cli::Context;
use crate::cli::args::time_arg;
use crate::cli::render::{Format, Table, col, header, print_json};

/// Which alerts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
    /// Informational notices.
    Notice,
    /// Everything.
    All,
}

/// `riverwatch alerts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which alerts.
    #[arg(long, value_enum, default_value_t = StateArg::Firing)]
    pub state: StateArg,
    /// Only alerts this province acts on (HLJ or JL).
    #[arg(long)]
    pub province: Option<Province>,
    /// Only alerts changed since (RFC 3339, epoch ms, or China Standard Time).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `riverwatch alerts list`.
///
/// # Errors
/// A bad `--since` or a store failure.
pub fn run(a: &ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let reader = reader(ctx)?;
    let since = time_arg(a.since.as_deref(), "--since", "")?;
    let views = reader
        .alerts(&AlertQuery {
            state: match a.state {
                StateArg::Firing => StateFilter::Firing,
                StateArg::Resolved => StateFilter::Resolved,
                StateArg::Notice => StateFilter::Notice,
                StateArg::All => StateFilter::All,
            },
            province: a.province,
            subject: None,
            since,
            limit: a.limit,
        })
        .map_err(store_error)?;
    if a.format == Format::Json {
        return print_json(&views);
    }
    let lang = ctx.lang;
    let rows = views.iter().map(|v| {
        let mut notes = Vec::new();
        if !v.silenced_by.is_empty() {
            notes.push(format!(
                "{}{}",
                lang.pick("静默 ", "silenced "),
                v.silenced_by.join(",")
            ));
        }
        if let Some(note) = attached_note(v, lang) {
            notes.push(note);
        }
        vec![
            v.alert.id.clone(),
            state_label(v, lang),
            match lang {
                Lang::Zh => v.alert.severity.label_zh().to_string(),
                Lang::En => severity_str(v.alert.severity).to_string(),
            },
            title(v, &ctx.loaded.registry, lang),
            value_cell(v),
            fmt_cst(v.alert.first_seen),
            province_cell(v, Province::Heilongjiang, lang),
            province_cell(v, Province::Jilin, lang),
            notes.join("; "),
        ]
    });
    Table::with_rows(
        &[
            col::ID,
            col::STATE,
            header("级别", "severity"),
            header("告警", "alert"),
            header("监测值/限值", "value/limit"),
            header("首次发现", "first seen"),
            header("黑龙江", "HLJ"),
            header("吉林", "JL"),
            header("静默/关联", "silenced/attached"),
        ],
        rows,
    )
    .print(lang);
    if views.is_empty() {
        println!("{}", lang.pick("（无）", "(none)"));
    }
    Ok(())
}

/// Why a firing alert is not notified on its own, short: `附属于 29b50280d8b6（抑制规则
/// parameter_over_section）`. Resolved alerts keep the link they had; it is not shown.
pub(super) fn attached_note(v: &AlertView, lang: Lang) -> Option<String> {
    let up = v
        .alert
        .inhibited_by
        .as_ref()
        .filter(|_| v.alert.is_firing())?;
    let why = match &v.alert.inhibition {
        Some(Inhibition::Rule { name, .. }) => {
            lang.pick("抑制规则 ", "inhibit rule ").to_string() + name
        }
        Some(Inhibition::Incident { .. }) | None => {
            lang.pick("同一污染事件", "same incident").to_string()
        }
    };
    Some(match lang {
        Lang::Zh => format!("附属于 {up}（{why}）"),
        Lang::En => format!("attached to {up} ({why})"),
    })
}

/// The alert's state in the language.
pub(super) fn state_label(v: &AlertView, lang: Lang) -> String {
    match lang {
        Lang::Zh => v.alert.status.label_zh().to_string(),
        Lang::En => v.alert.status.as_str().to_string(),
    }
}

/// Where a province stands on the alert, in the language; empty when it is not concerned.
pub(super) fn province_cell(v: &AlertView, p: Province, lang: Lang) -> String {
    let Some(side) = province_side(v, p) else {
        return String::new();
    };
    let base = match (&side.standing, lang) {
        (Standing::Acknowledged { by }, Lang::Zh) => format!("已确认（{by}）"),
        (Standing::Acknowledged { by }, Lang::En) => format!("acked ({by})"),
        (Standing::Informed, _) => lang.pick("知会", "informed").to_string(),
        (Standing::Notice, _) => "—".to_string(),
        (Standing::Unacknowledged, _) => lang.pick("未确认", "not acked").to_string(),
    };
    match (side.escalation_level, lang) {
        (0, _) => base,
        (level, Lang::Zh) => format!("{base}，已升级{level}级"),
        (level, Lang::En) => format!("{base}, escalated to {level}"),
    }
}

/// The value against the limit with its unit, or the AQI, or the level.
pub(super) fn value_cell(v: &AlertView) -> String {
    let e = &v.alert.event;
    let unit = e.unit.as_deref().filter(|u| *u != "-").unwrap_or("");
    match (e.value, e.limit, e.aqi) {
        (Some(x), Some(l), _) => format!("{x} / {l} {unit}").trim_end().to_string(),
        (Some(x), None, _) => format!("{x} {unit}").trim_end().to_string(),
        (None, _, Some(aqi)) => format!("AQI {aqi}"),
        _ => e.level.clone().unwrap_or_default(),
    }
}

/// The place, the parameter's name and the rule, e.g. `蔡家沟 氨氮 参数超标`.
pub(super) fn title(v: &AlertView, registry: &Registry, lang: Lang) -> String {
    let a = &v.alert;
    let rule = match lang {
        Lang::Zh => a.rule.label_zh(),
        Lang::En => a.rule.label_en(),
    };
    let param = a
        .parameter
        .as_deref()
        .map(|p| match (registry.parameter(p), lang) {
            (Some(x), Lang::Zh) => format!(" {}", x.name_zh),
            (Some(x), Lang::En) => format!(" {}", x.name_en),
            (None, _) => format!(" {p}"),
        })
        .unwrap_or_default();
    format!("{}{param} {rule}", a.place_name(lang))
}
