//! `riverwatch hj212 check [FILE]`: each frame of FILE (stdin by default) with its fields and
//! the readings it would give, or the reason code it would be dead-lettered with
//! ([`riverwatch_ingest::check`]). Access passwords and mg/m³ stations come from the
//! configuration, the segment limit from `[ingest.hj212_tcp]`.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_core::time::{Clock, SystemClock, fmt_cst};
use riverwatch_ingest::check::{CheckSettings, FrameCheck, check};

use super::super::render::Format;
use super::super::{Context, user_error};

/// `riverwatch hj212 check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// File of frames as a logger sends them (stdin when absent or `-`).
    pub file: Option<PathBuf>,
    /// `table`: a readable report; `json`: one JSON object per frame per line.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `riverwatch hj212 check`.
///
/// # Errors
/// The file cannot be read, or the configured passwords cannot be loaded.
pub fn run(args: &CheckArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut input = Vec::new();
    let read = match args.file.as_ref().filter(|f| f.as_os_str() != "-") {
        Some(f) => std::fs::File::open(f).and_then(|mut file| file.read_to_end(&mut input)),
        None => std::io::stdin().read_to_end(&mut input),
    };
    read.map_err(|e| {
        let what = args
            .file
            .as_ref()
            .map_or_else(|| "stdin".to_string(), |f| f.display().to_string());
        user_error(
            format!("无法读取 {what}：{e}"),
            format!("cannot read {what}: {e}"),
        )
    })?;
    let config = &ctx.loaded.config.ingest;
    let registry = ctx.loaded.registry.clone();
    let passwords =
        riverwatch_ingest::secrets::load_configured(config, &registry).map_err(|e| {
            user_error(
                format!("无法加载站点访问密码（HJ 212 PW）：{e}"),
                format!("cannot load the stations' access passwords (HJ 212 PW): {e}"),
            )
        })?;
    let mg = riverwatch_ingest::mg_m3_stations(config, &registry)
        .map_err(|e| user_error(format!("配置错误：{e}"), format!("configuration: {e}")))?;
    let settings = CheckSettings {
        registry: &registry,
        passwords: &passwords,
        mg_m3_stations: &mg,
        max_segment_len: config.hj212_tcp.max_segment_len,
        future_tolerance: chrono::Duration::from_std(config.future_tolerance())
            .unwrap_or(chrono::Duration::minutes(10)),
        now: SystemClock.now(),
    };
    let checks = check(&input, &settings);
    match args.format {
        Format::Json => {
            for c in &checks {
                println!("{}", serde_json::to_string(c)?);
            }
        }
        Format::Table => {
            for c in &checks {
                print!("{}", describe(c, ctx.lang));
            }
            let ok = checks.iter().filter(|c| c.ok).count();
            println!(
                "{}",
                ctx.lang.pick(
                    &format!(
                        "共 {} 段，{ok} 帧通过，{} 段将被拒收。",
                        checks.len(),
                        checks.len() - ok
                    ),
                    &format!(
                        "{} pieces: {ok} frames accepted, {} rejected.",
                        checks.len(),
                        checks.len() - ok
                    ),
                )
            );
        }
    }
    Ok(())
}

/// The report of one frame: a head line, then its readings and rejections indented.
fn describe(c: &FrameCheck, lang: Lang) -> String {
    let verdict = if c.ok {
        lang.pick("通过", "ok")
    } else {
        lang.pick("拒收", "rejected")
    };
    let mut head = format!("#{} {verdict}", c.index);
    if let Some(code) = c.reason_code {
        head.push_str(&format!(" {}", code.as_str()));
    }
    let opt =
        |k: &str, v: &Option<String>| v.as_ref().map(|v| format!(" {k}={v}")).unwrap_or_default();
    head.push_str(&opt("MN", &c.mn));
    if let Some(s) = &c.station {
        head.push_str(&format!(" ({s})"));
    }
    head.push_str(&opt("CN", &c.cn));
    head.push_str(&opt("QN", &c.qn));
    if let Some(v) = &c.version {
        head.push_str(&format!(" {v}"));
    }
    if let Some((no, of)) = c.packet {
        head.push_str(lang.pick(&format!(" 分包 {no}/{of}"), &format!(" packet {no}/{of}")));
    }
    if c.ack_requested {
        head.push_str(lang.pick(" 需应答", " asks for 9014"));
    }
    head.push_str(&format!(" {}B\n", c.bytes));
    for r in &c.readings {
        head.push_str(&format!(
            "    {} = {} {} {} {:?} {}\n",
            r.parameter,
            r.value,
            r.unit,
            fmt_cst(r.observed_at),
            r.flag,
            r.period.as_str()
        ));
    }
    for x in &c.rejections {
        let p = x
            .parameter
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        head.push_str(&format!(
            "    ✗ {}{p}: {}\n",
            x.reason_code.as_str(),
            x.reason
        ));
    }
    head
}
