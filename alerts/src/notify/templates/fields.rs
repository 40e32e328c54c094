//! The labelled lines of one alert in a notification: station and river, rule, parameter,
//! value against limit, class against target, attribution with its upstream stations,
//! incident, times in China Standard Time and each province's acknowledgement state.

use riverwatch_core::events::Attribution;
use riverwatch_core::i18n::short_number;
use riverwatch_core::time::fmt_cst;
use riverwatch_core::{Lang, Province, Registry};

use crate::model::{AlertStatus, Role};

use super::{
    Context, Item, attached_line, param_name, province_name, severity_label, station_name,
};

/// The labelled lines of one alert, in order.
pub fn fields(item: &Item<'_>, ctx: &Context<'_>) -> Vec<(String, String)> {
    let a = item.alert;
    let e = &a.event;
    let lang = ctx.lang;
    let zh = lang == Lang::Zh;
    let l = |zh_label: &str, en_label: &str| lang.pick(zh_label, en_label).to_string();
    let mut out = Vec::new();
    out.push((l("告警编号", "Alert id"), a.id.clone()));
    out.push((
        l("级别", "Severity"),
        severity_label(a.severity, lang).to_string(),
    ));
    match &a.place {
        Some(p) => {
            let kind = match (p.boundary, zh) {
                (true, true) => "，省界断面",
                (true, false) => ", provincial-boundary station",
                (false, _) => "",
            };
            out.push((
                l("站点", "Station"),
                if zh {
                    format!(
                        "{} {}（{}），{} {}{kind}",
                        p.name_zh,
                        p.name_pinyin,
                        a.subject,
                        p.province.name_zh(),
                        p.city_zh
                    )
                } else {
                    format!(
                        "{} {} ({}), {}, {}{kind}",
                        p.name_pinyin,
                        p.name_zh,
                        a.subject,
                        p.city_zh,
                        p.province.name_en()
                    )
                },
            ));
            if let (Some(rz), Some(rp)) = (&p.river_zh, &p.river_pinyin) {
                let km = p
                    .river_km
                    .map(|k| {
                        if zh {
                            format!("，河道里程 {} km", short_number(k))
                        } else {
                            format!(", river km {}", short_number(k))
                        }
                    })
                    .unwrap_or_default();
                out.push((l("河流", "River"), format!("{rz} {rp}{km}")));
            }
        }
        None => out.push((l("范围", "Scope"), a.place_name(lang))),
    }
    let rule = if zh {
        a.rule.label_zh()
    } else {
        a.rule.label_en()
    };
    out.push((
        l("规则", "Rule"),
        if zh {
            format!("{rule}（{}）", e.standard)
        } else {
            format!("{rule} ({})", e.standard)
        },
    ));
    if let Some(p) = &a.parameter {
        out.push((l("指标", "Parameter"), param_name(ctx.registry, p, lang)));
    }
    let unit = e.unit.clone().unwrap_or_default();
    let with_unit = |v: f64| {
        if unit.is_empty() || unit == "-" {
            short_number(v)
        } else {
            format!("{} {unit}", short_number(v))
        }
    };
    if let Some(v) = e.value {
        out.push((l("监测值", "Value"), with_unit(v)));
    }
    if let Some(limit) = e.limit {
        let class = e
            .target
            .map(|t| {
                if zh {
                    format!("（{}标准）", t.label_zh())
                } else {
                    format!(" ({} limit)", t.label_en())
                }
            })
            .unwrap_or_default();
        out.push((l("限值", "Limit"), format!("{}{class}", with_unit(limit))));
    }
    if e.class.is_some() || e.target.is_some() {
        let text = match (e.class, e.target, zh) {
            (Some(c), Some(t), true) => format!("{}（目标 {}）", c.label_zh(), t.label_zh()),
            (Some(c), Some(t), false) => format!("{} (target {})", c.label_en(), t.label_en()),
            (Some(c), None, true) => c.label_zh().to_string(),
            (Some(c), None, false) => c.label_en().to_string(),
            (None, Some(t), true) => format!("目标 {}", t.label_zh()),
            (None, Some(t), false) => format!("target {}", t.label_en()),
            (None, None, _) => String::new(),
        };
        out.push((l("水质类别", "Class"), text));
    }
    if let Some(m) = e.exceedance_multiple {
        out.push((l("超标倍数", "Exceedance multiple"), short_number(m)));
    }
    if let Some(aqi) = e.aqi {
        out.push(("AQI".to_string(), aqi.to_string()));
    }
    if let Some(level) = &e.level {
        out.push((l("级别/状态", "Level"), level.clone()));
    }
    if let Some(attr) = &e.attribution {
        out.push((l("跨界归因", "Attribution"), attribution(attr, &unit, ctx)));
    }
    if let Some(inc) = &e.incident {
        let next = e
            .expected_next
            .as_ref()
            .map(|n| {
                if zh {
                    format!(
                        "；预计 {} 到达 {}",
                        fmt_cst(n.at),
                        station_name(ctx.registry, &n.station, lang)
                    )
                } else {
                    format!(
                        "; expected at {} around {} (UTC+8)",
                        station_name(ctx.registry, &n.station, lang),
                        fmt_cst(n.at)
                    )
                }
            })
            .unwrap_or_default();
        out.push((l("污染事件", "Incident"), format!("{inc}{next}")));
    }
    out.push((
        l("首次发现", "First seen"),
        format!("{}{}", fmt_cst(a.first_seen), l("（北京时间）", " (UTC+8)")),
    ));
    out.push((l("最近监测", "Last seen"), fmt_cst(a.last_seen)));
    if a.status == AlertStatus::Resolved
        && let Some(r) = a.resolved_at
    {
        out.push((l("恢复时间", "Resolved at"), fmt_cst(r)));
        if let Some(v) = a.resolution.as_ref().and_then(|r| r.value) {
            out.push((l("恢复时监测值", "Value at resolution"), with_unit(v)));
        }
    }
    if a.status != AlertStatus::Notice {
        out.push((l("确认状态", "Acknowledgement"), ack_state(item, ctx)));
    }
    for d in &item.attached {
        out.push((
            l(
                "关联告警（不单独通知）",
                "Attached (not notified on its own)",
            ),
            attached_line(d, a, ctx),
        ));
    }
    out.push((
        l("摘要", "Summary"),
        if zh {
            e.summary_zh.clone()
        } else {
            e.summary_en.clone()
        },
    ));
    out.push((
        l("控制台", "Console"),
        format!("{}/alerts/{}", ctx.console_url.trim_end_matches('/'), a.id),
    ));
    out
}

fn upstream_name(registry: &Registry, id: &str, province: Province, lang: Lang) -> String {
    match (registry.station(id), lang) {
        (Some(s), Lang::Zh) => format!("{}（{id}，{}）", s.name_zh, province.name_zh()),
        (Some(s), Lang::En) => format!("{} ({id}, {})", s.name_pinyin, province.name_en()),
        (None, Lang::Zh) => format!("{id}（{}）", province.name_zh()),
        (None, Lang::En) => format!("{id} ({})", province.name_en()),
    }
}

fn attribution(attr: &Attribution, unit: &str, ctx: &Context<'_>) -> String {
    let lang = ctx.lang;
    let zh = lang == Lang::Zh;
    match attr {
        Attribution::ArrivedFromUpstream {
            upstream_station,
            upstream_province,
            upstream_value,
            travel_hours,
        } => {
            let name = upstream_name(ctx.registry, upstream_station, *upstream_province, lang);
            if zh {
                format!(
                    "来自上游：{} 约 {} 小时前已超标（{} {unit}）",
                    name,
                    short_number(*travel_hours),
                    short_number(*upstream_value)
                )
            } else {
                format!(
                    "arrived from upstream: {} exceeded about {} h earlier ({} {unit})",
                    name,
                    short_number(*travel_hours),
                    short_number(*upstream_value)
                )
            }
        }
        Attribution::ArisenBetween {
            upstream_station,
            upstream_province,
            upstream_value,
            travel_hours,
        } => {
            let name = upstream_name(ctx.registry, upstream_station, *upstream_province, lang);
            if zh {
                format!(
                    "产生于两断面之间：上游 {} 约 {} 小时前未超标（{} {unit}）",
                    name,
                    short_number(*travel_hours),
                    short_number(*upstream_value)
                )
            } else {
                format!(
                    "arose between sections: upstream {} was within the limit about {} h earlier ({} {unit})",
                    name,
                    short_number(*travel_hours),
                    short_number(*upstream_value)
                )
            }
        }
        Attribution::Undetermined { reason } => {
            if zh {
                format!("无法判定（{reason}）")
            } else {
                format!("undetermined ({reason})")
            }
        }
    }
}

fn ack_state(item: &Item<'_>, ctx: &Context<'_>) -> String {
    let lang = ctx.lang;
    let zh = lang == Lang::Zh;
    let parts: Vec<String> = Province::ALL
        .into_iter()
        .map(|p| {
            let role = item.alert.role_of(p);
            let name = province_name(p, lang);
            match (item.acks.iter().find(|a| a.province == p), role, zh) {
                (Some(a), _, true) => format!(
                    "{name} 已确认（{}，{}{}）",
                    a.by,
                    fmt_cst(a.at),
                    a.comment
                        .as_deref()
                        .map(|c| format!("，{c}"))
                        .unwrap_or_default()
                ),
                (Some(a), _, false) => format!(
                    "{name} acknowledged ({}, {}{})",
                    a.by,
                    fmt_cst(a.at),
                    a.comment
                        .as_deref()
                        .map(|c| format!(", {c}"))
                        .unwrap_or_default()
                ),
                (None, Role::InfoCopy, true) => format!("{name} 知会（无需确认）"),
                (None, Role::InfoCopy, false) => {
                    format!("{name} informed (no acknowledgement needed)")
                }
                (None, _, true) => format!("{name} 未确认"),
                (None, _, false) => format!("{name} not acknowledged"),
            }
        })
        .collect();
    parts.join(if zh { "；" } else { "; " })
}

pub(super) fn ack_howto(ctx: &Context<'_>, ids: &[&str]) -> String {
    let id = ids.first().copied().unwrap_or("<ID>");
    match ctx.lang {
        Lang::Zh => format!(
            "确认（各省分别确认本省一侧）：riverwatch alerts ack {id} --province {} --by 姓名 [--comment 说明]，或在控制台点击“确认”。",
            ctx.province.code()
        ),
        Lang::En => format!(
            "Acknowledge (each province for its own side): riverwatch alerts ack {id} --province {} --by NAME [--comment TEXT], or use the console.",
            ctx.province.code()
        ),
    }
}
