//! A report as titled tables of typed cells, in the operator's language: what the CSV, HTML
//! and Excel formats render, so every format shows the same rows and headers. Headers carry
//! the unit of their numbers; numbers stay numbers (the Excel writer keeps them so).

use riverwatch_core::events::{Attribution, WindowPeriod};
use riverwatch_core::time::fmt_cst_minutes;
use riverwatch_core::{Lang, Province, WaterClass};

use crate::model::{Report, SectionRow};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A number shown with this many decimals.
    Number(f64, usize),
    /// A water class, written out and coloured.
    Class(Option<WaterClass>),
    /// Nothing known.
    Empty,
}

impl Cell {
    /// The cell as plain text (CSV, HTML).
    pub fn text(&self, lang: Lang) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Number(v, d) => format!("{v:.d$}"),
            Cell::Class(c) => class_label(*c, lang),
            Cell::Empty => String::new(),
        }
    }
}

/// One table of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Stable key (`sections`, `rivers`, …): the CSV file and sheet order.
    pub key: &'static str,
    /// Title in the language (also the sheet name).
    pub title: String,
    /// Column headers with units.
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

/// A water class as text: `Ⅳ类` or `Class IV`; `—` when unknown.
pub fn class_label(c: Option<WaterClass>, lang: Lang) -> String {
    c.map_or("—".to_string(), |c| {
        lang.pick(c.label_zh(), c.label_en()).to_string()
    })
}

/// The usual display colour of a class (RGB): Ⅰ–Ⅱ blue, Ⅲ green, Ⅳ yellow, Ⅴ orange, 劣Ⅴ red,
/// the colours of the qualitative grades.
pub const fn class_colour(c: WaterClass) -> u32 {
    match c {
        WaterClass::I => 0x00B0F0,
        WaterClass::II => 0x0070C0,
        WaterClass::III => 0x00B050,
        WaterClass::IV => 0xFFFF00,
        WaterClass::V => 0xFFC000,
        WaterClass::WorseThanV => 0xFF0000,
    }
}

/// A multiple as the bureaus write it: up to two decimals, trailing zeros dropped.
pub fn multiple(v: f64) -> String {
    let t = format!("{v:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `氨氮(0.3)、高锰酸盐指数(0.17)`, or `Ammonia nitrogen (0.3), …`.
pub fn exceeding_text(s: &SectionRow, lang: Lang) -> String {
    let parts: Vec<String> = s
        .exceeding
        .iter()
        .map(|x| match lang {
            Lang::Zh => format!("{}({})", x.name_zh, multiple(x.multiple)),
            Lang::En => format!("{} ({})", x.name_en, multiple(x.multiple)),
        })
        .collect();
    parts.join(lang.pick("、", ", "))
}

fn yes_no(b: Option<bool>, lang: Lang) -> String {
    match b {
        Some(true) => lang.pick("是", "yes").into(),
        Some(false) => lang.pick("否", "no").into(),
        None => "—".into(),
    }
}

fn province(p: Province, lang: Lang) -> String {
    lang.pick(p.name_zh(), p.name_en()).to_string()
}

fn opt(v: Option<f64>, decimals: usize) -> Cell {
    v.map_or(Cell::Empty, |v| Cell::Number(v, decimals))
}

fn count(v: u32) -> Cell {
    Cell::Number(f64::from(v), 0)
}

/// The report's title, e.g. `拉林河 河长制水质月报（2026-11-01 至 2026-11-30）`.
pub fn title(r: &Report, lang: Lang) -> String {
    let river = r
        .rivers
        .iter()
        .find(|x| Some(&x.id) == r.river.as_ref())
        .map(|x| lang.pick(&x.name_zh, &x.name_pinyin).to_string());
    let scope =
        river.unwrap_or_else(|| lang.pick("哈长一体化区域", "Harbin–Changchun zone").into());
    match lang {
        Lang::Zh => format!(
            "{scope} 河长制水质{}报（{} 至 {}）",
            period_zh(r.period),
            r.first_day,
            r.last_day
        ),
        Lang::En => format!(
            "{scope} river-chief {} report ({} to {})",
            period_en(r.period),
            r.first_day,
            r.last_day
        ),
    }
}

fn period_zh(p: WindowPeriod) -> &'static str {
    match p {
        WindowPeriod::Hour => "时",
        WindowPeriod::Day => "日",
        WindowPeriod::Week => "周",
        WindowPeriod::Month => "月",
        WindowPeriod::Quarter => "季",
        WindowPeriod::Year => "年",
    }
}

fn period_en(p: WindowPeriod) -> &'static str {
    match p {
        WindowPeriod::Hour => "hourly",
        WindowPeriod::Day => "daily",
        WindowPeriod::Week => "weekly",
        WindowPeriod::Month => "monthly",
        WindowPeriod::Quarter => "quarterly",
        WindowPeriod::Year => "annual",
    }
}

/// The summary: (label, value) lines, the first table of every format.
pub fn summary(r: &Report, lang: Lang) -> Vec<(String, String)> {
    let judged: Vec<&SectionRow> = r
        .sections
        .iter()
        .filter(|s| s.compliant.is_some())
        .collect();
    let compliant = judged.iter().filter(|s| s.compliant == Some(true)).count();
    let mut out = vec![
        (
            lang.pick("报告期", "period").to_string(),
            format!("{} — {}", r.first_day, r.last_day),
        ),
        (
            lang.pick("生成时间（北京时间）", "generated (UTC+8)")
                .into(),
            fmt_cst_minutes(r.generated_at),
        ),
        (
            lang.pick("断面达标", "sections meeting target").into(),
            format!("{compliant} / {}", judged.len()),
        ),
    ];
    for river in &r.rivers {
        let grade = river.grade.as_ref().map_or("—".to_string(), |g| {
            lang.pick(g.grade.label_zh(), g.grade.label_en())
                .to_string()
        });
        let rate = river
            .compliance_rate
            .map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
        out.push((
            lang.pick(&river.name_zh, &river.name_pinyin).to_string(),
            match lang {
                Lang::Zh => format!("水质状况 {grade}，达标率 {rate}"),
                Lang::En => format!("grade {grade}, compliance {rate}"),
            },
        ));
    }
    let off: Vec<String> = r
        .sections
        .iter()
        .filter(|s| s.compliant == Some(false))
        .map(|s| {
            format!(
                "{} {} {}",
                lang.pick(&s.name_zh, &s.name_pinyin),
                class_label(s.class, lang),
                exceeding_text(s, lang)
            )
        })
        .collect();
    out.push((
        lang.pick("未达标断面", "sections missing target").into(),
        if off.is_empty() {
            lang.pick("无", "none").into()
        } else {
            off.join(lang.pick("；", "; "))
        },
    ));
    if let Some(a) = &r.alerts {
        out.push((
            lang.pick("本期告警", "alerts of the period").into(),
            a.count.to_string(),
        ));
    }
    out.push((
        lang.pick("重污染天数（城市·天）", "heavy-pollution city-days")
            .into(),
        r.air.iter().map(|a| a.heavy_days).sum::<u32>().to_string(),
    ));
    if !r.outfalls.is_empty() {
        let beyond: Vec<String> = r
            .outfalls
            .iter()
            .filter(|o| o.hours_beyond > 0.0)
            .map(|o| {
                format!(
                    "{} {:.1} h",
                    lang.pick(&o.name_zh, &o.name_pinyin),
                    o.hours_beyond
                )
            })
            .collect();
        out.push((
            lang.pick("排口超标", "outfalls beyond limits").into(),
            if beyond.is_empty() {
                lang.pick("无", "none").into()
            } else {
                beyond.join(lang.pick("；", "; "))
            },
        ));
    }
    if !r.gauges.is_empty() {
        let above: Vec<String> = r
            .gauges
            .iter()
            .filter(|g| {
                g.hours_above_warning > 0.0 || g.max_above_warning_m.is_some_and(|m| m > 0.0)
            })
            .map(|g| {
                format!(
                    "{} {}",
                    lang.pick(&g.name_zh, &g.name_pinyin),
                    lang.pick(g.highest_state.label_zh(), g.highest_state.label_en())
                )
            })
            .collect();
        out.push((
            lang.pick("水位超警戒", "gauges above warning").into(),
            if above.is_empty() {
                lang.pick("无", "none").into()
            } else {
                above.join(lang.pick("；", "; "))
            },
        ));
    }
    out.push((
        lang.pick("区域联防联控天数", "joint-control days").into(),
        r.joint_control_days.to_string(),
    ));
    out.push((
        lang.pick("审计链头", "audit head").into(),
        r.audit_head.clone().unwrap_or_else(|| "—".into()),
    ));
    out
}

fn name_of(r: &Report, id: &str, lang: Lang) -> String {
    r.sections
        .iter()
        .find(|s| s.station == id)
        .map_or(id.to_string(), |s| {
            lang.pick(&s.name_zh, &s.name_pinyin).to_string()
        })
}

fn attribution(a: &Attribution, lang: Lang) -> &'static str {
    match a {
        Attribution::ArrivedFromUpstream { .. } => lang.pick("上游传入", "arrived from upstream"),
        Attribution::ArisenBetween { .. } => lang.pick("区间产生", "arose between sections"),
        _ => lang.pick("无法判定", "undetermined"),
    }
}

/// Every table of the report, in sheet order.
pub fn tables(r: &Report, lang: Lang) -> Vec<Table> {
    let h = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    let mut out = Vec::new();
    out.push(Table {
        key: "sections",
        title: h("断面水质", "Sections"),
        headers: vec![
            h("省份", "province"),
            h("市县", "city"),
            h("断面", "section"),
            h("编号", "id"),
            h("河流", "river"),
            h("跨界关系", "boundary"),
            h("目标类别", "target"),
            h("本期类别", "class"),
            h("去年同期类别", "class a year earlier"),
            h("是否达标", "meets target"),
            h("主要超标项目(超标倍数)", "exceeding items (multiple)"),
            h("超标小时数 (h)", "hours out of target (h)"),
            h("超标天数 (d)", "days out of target (d)"),
            h("有效数据率 (%)", "valid-data rate (%)"),
        ],
        rows: r
            .sections
            .iter()
            .map(|s| {
                vec![
                    Cell::Text(province(s.province, lang)),
                    Cell::Text(s.city_zh.clone()),
                    Cell::Text(lang.pick(&s.name_zh, &s.name_pinyin).into()),
                    Cell::Text(s.station.clone()),
                    Cell::Text(lang.pick(&s.river_zh, &s.river_pinyin).into()),
                    Cell::Text(s.boundary.map(|b| b.label(lang)).unwrap_or_default()),
                    Cell::Class(s.target),
                    Cell::Class(s.class),
                    Cell::Class(s.class_last_year),
                    Cell::Text(yes_no(s.compliant, lang)),
                    Cell::Text(exceeding_text(s, lang)),
                    count(s.hours_out),
                    count(s.days_out),
                    Cell::Number(s.valid_rate * 100.0, 1),
                ]
            })
            .collect(),
    });
    out.push(Table {
        key: "rivers",
        title: h("河流水质", "Rivers"),
        headers: vec![
            h("河流", "river"),
            h("断面数", "sections"),
            h("参评断面数", "sections judged"),
            h("水质状况", "grade"),
            h("Ⅰ–Ⅲ类比例 (%)", "Class I–III (%)"),
            h("Ⅳ–Ⅴ类比例 (%)", "Class IV–V (%)"),
            h("劣Ⅴ类比例 (%)", "worse than V (%)"),
            h("达标率 (%)", "compliance (%)"),
            h("同比 (百分点)", "vs a year earlier (points)"),
            h("环比 (百分点)", "vs previous period (points)"),
            h("主要污染指标", "main pollutants"),
        ],
        rows: r
            .rivers
            .iter()
            .map(|x| {
                let g = x.grade.as_ref();
                let pct = |v: Option<f64>| opt(v.map(|v| v * 100.0), 1);
                vec![
                    Cell::Text(lang.pick(&x.name_zh, &x.name_pinyin).into()),
                    Cell::Number(x.sections as f64, 0),
                    Cell::Number(x.judged as f64, 0),
                    Cell::Text(g.map_or("—".into(), |g| {
                        lang.pick(g.grade.label_zh(), g.grade.label_en()).into()
                    })),
                    pct(g.map(|g| g.shares.i_to_iii)),
                    pct(g.map(|g| g.shares.iv_to_v)),
                    pct(g.map(|g| g.shares.worse_than_v)),
                    pct(x.compliance_rate),
                    opt(x.change_year_points, 1),
                    opt(x.change_previous_points, 1),
                    Cell::Text(
                        x.main_pollutants
                            .iter()
                            .map(|p| lang.pick(&p.name_zh, &p.name_en))
                            .collect::<Vec<_>>()
                            .join(lang.pick("、", ", ")),
                    ),
                ]
            })
            .collect(),
    });
    out.push(Table {
        key: "boundary",
        title: h("跨界断面", "Boundary sections"),
        headers: vec![
            h("断面", "section"),
            h("跨界关系", "boundary"),
            h("目标类别", "target"),
            h("本期类别", "class"),
            h("上游断面", "upstream section"),
            h("上游类别", "upstream class"),
            h("污染事件数", "incidents"),
        ],
        rows: r
            .boundary
            .iter()
            .map(|b| {
                vec![
                    Cell::Text(name_of(r, &b.station, lang)),
                    Cell::Text(b.relation.map(|x| x.label(lang)).unwrap_or_default()),
                    Cell::Class(b.target),
                    Cell::Class(b.class),
                    Cell::Text(
                        b.upstream_station
                            .as_deref()
                            .map(|u| name_of(r, u, lang))
                            .unwrap_or_default(),
                    ),
                    Cell::Class(b.upstream_class),
                    count(b.incidents),
                ]
            })
            .collect(),
    });
    out.push(Table {
        key: "incidents",
        title: h("污染事件", "Incidents"),
        headers: vec![
            h("事件", "incident"),
            h("起始断面", "origin"),
            h("开始（北京时间）", "started (UTC+8)"),
            h("最近超标（北京时间）", "latest (UTC+8)"),
            h("涉及断面与归因", "sections and attribution"),
        ],
        rows: r
            .incidents
            .iter()
            .map(|i| {
                let parts: Vec<String> = i
                    .sections
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {}",
                            name_of(r, &s.station, lang),
                            r.parameter_name(&s.parameter, lang),
                            attribution(&s.attribution, lang)
                        )
                    })
                    .collect();
                vec![
                    Cell::Text(i.id.clone()),
                    Cell::Text(name_of(r, &i.origin_station, lang)),
                    Cell::Text(fmt_cst_minutes(i.started_at)),
                    Cell::Text(fmt_cst_minutes(i.last_at)),
                    Cell::Text(parts.join(lang.pick("；", "; "))),
                ]
            })
            .collect(),
    });
    out.push(Table {
        key: "ledger",
        title: h("生态补偿", "Compensation"),
        headers: vec![
            h("断面", "section"),
            h("月份", "month"),
            h("月类别", "monthly class"),
            h("目标类别", "target"),
            h("是否达标", "meets target"),
            h("付款方", "payer"),
            h("收款方", "payee"),
            h("金额 (元)", "amount (yuan)"),
        ],
        rows: r
            .ledger
            .iter()
            .map(|l| {
                vec![
                    Cell::Text(name_of(r, &l.station, lang)),
                    Cell::Text(l.month.clone()),
                    Cell::Class(l.class),
                    Cell::Class(Some(l.target)),
                    Cell::Text(yes_no(l.compliant, lang)),
                    Cell::Text(l.payer.map(|p| province(p, lang)).unwrap_or_default()),
                    Cell::Text(l.payee.map(|p| province(p, lang)).unwrap_or_default()),
                    Cell::Number(l.amount_yuan, 0),
                ]
            })
            .collect(),
    });
    if let Some(a) = &r.alerts {
        let mut rows = vec![vec![
            Cell::Text(h("合计", "total")),
            count(a.count),
            count(a.firing_at_end),
            Cell::Number(a.total_minutes, 0),
            Cell::Number(a.longest_minutes, 0),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ]];
        rows.extend(a.provinces.iter().map(|p| {
            vec![
                Cell::Text(province(p.province, lang)),
                count(p.alerts),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                count(p.acknowledged),
                opt(p.mean_minutes_to_ack, 1),
                opt(p.max_minutes_to_ack, 1),
            ]
        }));
        out.push(Table {
            key: "alerts",
            title: h("告警", "Alerts"),
            headers: vec![
                h("范围", "scope"),
                h("告警数", "alerts"),
                h("期末仍在告警", "firing at end"),
                h("告警总时长 (分钟)", "total duration (min)"),
                h("最长告警 (分钟)", "longest (min)"),
                h("已确认", "acknowledged"),
                h("平均确认用时 (分钟)", "mean time to acknowledge (min)"),
                h("最长确认用时 (分钟)", "longest time to acknowledge (min)"),
            ],
            rows,
        });
    }
    out.push(Table {
        key: "air",
        title: h("空气质量", "Air"),
        headers: vec![
            h("城市", "city"),
            h("编号", "id"),
            h("省份", "province"),
            h("优 (天)", "good (d)"),
            h("良 (天)", "moderate (d)"),
            h("轻度污染 (天)", "lightly polluted (d)"),
            h("中度污染 (天)", "moderately polluted (d)"),
            h("重度污染 (天)", "heavily polluted (d)"),
            h("严重污染 (天)", "severely polluted (d)"),
            h("重污染天数 (天)", "heavy-pollution days (d)"),
            h("预警天数 (天)", "warning days (d)"),
            h("最高预警", "highest warning"),
        ],
        rows: r
            .air
            .iter()
            .map(|a| {
                let mut row = vec![
                    Cell::Text(lang.pick(&a.city_zh, &a.name_pinyin).into()),
                    Cell::Text(a.station.clone()),
                    Cell::Text(province(a.province, lang)),
                ];
                row.extend(a.days_per_level.iter().map(|d| count(*d)));
                row.push(count(a.heavy_days));
                row.push(count(a.warning_days));
                row.push(Cell::Text(
                    lang.pick(a.highest_warning.name_zh(), a.highest_warning.name_en())
                        .into(),
                ));
                row
            })
            .collect(),
    });
    out.push(Table {
        key: "outfalls",
        title: h("污染源排口", "Outfalls"),
        headers: vec![
            h("排口", "outfall"),
            h("编号", "id"),
            h("省份", "province"),
            h("市县", "city"),
            h("排放标准", "discharge standard"),
            h("超标小时数 (h)", "hours beyond limits (h)"),
            h("超标次数", "exceedances"),
            h("超标项目", "parameters beyond limits"),
            h("期末仍超标", "beyond at end"),
        ],
        rows: r
            .outfalls
            .iter()
            .map(|o| {
                vec![
                    Cell::Text(lang.pick(&o.name_zh, &o.name_pinyin).into()),
                    Cell::Text(o.station.clone()),
                    Cell::Text(province(o.province, lang)),
                    Cell::Text(o.city_zh.clone()),
                    Cell::Text(o.standard.clone().unwrap_or_default()),
                    Cell::Number(o.hours_beyond, 1),
                    count(o.exceedances),
                    Cell::Text(
                        o.parameters
                            .iter()
                            .map(|c| r.parameter_name(c, lang))
                            .collect::<Vec<_>>()
                            .join(lang.pick("、", ", ")),
                    ),
                    Cell::Text(yes_no(Some(o.beyond_at_end), lang)),
                ]
            })
            .collect(),
    });
    out.push(Table {
        key: "gauges",
        title: h("水文站水位", "Gauges"),
        headers: vec![
            h("水文站", "gauge"),
            h("编号", "id"),
            h("省份", "province"),
            h("市县", "city"),
            h("最高时均水位 (m)", "highest hourly mean level (m)"),
            h("出现时间（北京时间）", "hour (UTC+8)"),
            h("警戒水位 (m)", "warning level (m)"),
            h("超警戒 (m)", "above warning (m)"),
            h("保证水位 (m)", "guaranteed level (m)"),
            h("超警戒小时数 (h)", "hours above warning (h)"),
            h("最高状态", "highest state"),
        ],
        rows: r
            .gauges
            .iter()
            .map(|g| {
                vec![
                    Cell::Text(lang.pick(&g.name_zh, &g.name_pinyin).into()),
                    Cell::Text(g.station.clone()),
                    Cell::Text(province(g.province, lang)),
                    Cell::Text(g.city_zh.clone()),
                    opt(g.max_level_m, 2),
                    Cell::Text(g.max_at.map(fmt_cst_minutes).unwrap_or_default()),
                    opt(g.warning_level_m, 2),
                    opt(g.max_above_warning_m, 2),
                    opt(g.guaranteed_level_m, 2),
                    Cell::Number(g.hours_above_warning, 1),
                    Cell::Text(
                        lang.pick(g.highest_state.label_zh(), g.highest_state.label_en())
                            .into(),
                    ),
                ]
            })
            .collect(),
    });
    let mut trend_headers = vec![h("时段（北京时间）", "window (UTC+8)")];
    trend_headers.extend(r.trend.series.iter().map(|s| name_of(r, &s.station, lang)));
    out.push(Table {
        key: "trend",
        title: h("跨界断面类别变化", "Boundary classes"),
        headers: trend_headers,
        rows: r
            .trend
            .starts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut row = vec![Cell::Text(if r.trend.step == Some(WindowPeriod::Hour) {
                    fmt_cst_minutes(*t)
                } else {
                    riverwatch_core::time::cst_date(*t).to_string()
                })];
                row.extend(
                    r.trend
                        .series
                        .iter()
                        .map(|s| Cell::Class(s.classes.get(i).copied().flatten())),
                );
                row
            })
            .collect(),
    });
    out
}
