//! `riverwatch up`: everything in one process on the embedded defaults — an embedded MQTT
//! broker on 127.0.0.1, ingest into SQLite under the data directory (0700; its files 0600;
//! the internal message key `internal.key` created there when missing), the simulated station
//! network on the wall clock, analytics, the alert service (email to the outbox folder
//! or an SMTP relay) and the report schedule (`[reports]`). `--scenario NAME` re-dates a scenario so that its replay, at `--speed`,
//! reaches its first event a few seconds after start-up and meets the wall clock at its end
//! (`riverwatch_simulators::redate`); the first screen says what it is and when its events
//! come. Ctrl-C stops the simulator first, then the services in order, and waits for them
//! to drain. The console (HTTP API and live feed) listens on `--http-port` (default
//! `[console] listen`, 127.0.0.1:8080); its URL is on the first screen.

use clap::Args;
use riverwatch_core::shutdown::{Shutdown, wait_for_signal};
use riverwatch_simulators::SimulateConfig;
use riverwatch_simulators::simulate::LIVE_INTERVAL_SECS;
use tracing::{error, info};

use super::alerts::{alerts_args, email_destination};
use super::analytics::analytics_args;
use super::args::{broker, keyed};
use super::console::{console_args, console_error};
use super::ingest::ingest_args;
use super::simulators::{describe_live, live_plan, sim_error};
use super::{Context, user_error};
use crate::broker;

/// `riverwatch up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Port of the embedded broker on 127.0.0.1.
    #[arg(long, default_value_t = 1883)]
    pub mqtt_port: u16,
    /// Use this external broker instead of the embedded one (`mqtt://` or `mqtts://`;
    /// credentials from RIVERWATCH_MQTT_USERNAME / RIVERWATCH_MQTT_PASSWORD).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Do not run the simulated station network (real stations publish instead).
    #[arg(long)]
    pub no_simulator: bool,
    /// Scenario the simulator plays (name or TOML file). A scenario with events is
    /// re-dated into the recent past and replayed at --speed until it meets the wall clock.
    #[arg(long, default_value = "baseline")]
    pub scenario: String,
    /// Simulated seconds per wall-clock second while the re-dated scenario's past is
    /// replayed (at least 1; default 3600, one simulated hour per second). 1 plays the
    /// scenario in real time from start-up.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Send alert emails through this SMTP relay (`smtp://host:port` with STARTTLS when
    /// offered, `smtps://host:port`; credentials from RIVERWATCH_SMTP_USERNAME /
    /// RIVERWATCH_SMTP_PASSWORD) instead of writing them to `<data-dir>/outbox/`.
    #[arg(long)]
    pub smtp: Option<String>,
    /// Also listen for HJ 212 data loggers over TCP on this port (all interfaces), as
    /// `[ingest.hj212_tcp] listen` does.
    #[arg(long)]
    pub hj212_port: Option<u16>,
    /// Port of the console (HTTP API and live feed); overrides the port of
    /// `[console] listen` (default 127.0.0.1:8080).
    #[arg(long)]
    pub http_port: Option<u16>,
}

/// Runs `riverwatch up` until Ctrl-C.
///
/// # Errors
/// A taken port, or a service that cannot start.
pub async fn run(args: &UpArgs, ctx: &Context) -> anyhow::Result<()> {
    // The data directory (0700) and the internal message key (0600), created when missing.
    riverwatch_core::files::create_private_dir(&ctx.data_dir).map_err(|e| {
        user_error(
            format!("无法创建数据目录 {}：{}", e.path.display(), e.source),
            e.to_string(),
        )
    })?;
    let _broker;
    let url = match &args.mqtt {
        Some(url) => url.clone(),
        None => {
            let b = broker::start(args.mqtt_port).map_err(|e| match &e {
                broker::BrokerError::PortInUse { port, .. } => user_error(
                    format!(
                        "端口 {port} 已被占用，无法启动内置 MQTT 代理。请用 --mqtt-port 指定其他端口，或用 --mqtt 连接已有代理。"
                    ),
                    e.to_string(),
                ),
                _ => user_error(format!("内置 MQTT 代理启动失败：{e}"), e.to_string()),
            })?;
            let url = b.url();
            _broker = b;
            url
        }
    };
    let mqtt = keyed(ctx, broker(ctx, Some(&url))?, true)?;
    // The scenario and its plan, before anything runs, so a mistake stops here.
    let live = if args.no_simulator {
        None
    } else {
        let scenario = riverwatch_simulators::Scenario::load(&args.scenario).map_err(|e| {
            user_error(
                format!("无法加载情景 `{}`：{e}", args.scenario),
                e.to_string(),
            )
        })?;
        scenario.validate(&ctx.loaded.registry).map_err(sim_error)?;
        let mut sim = SimulateConfig::new(scenario, ctx.loaded.registry.clone());
        sim.interval_override_secs = Some(LIVE_INTERVAL_SECS);
        let plan = live_plan(&sim, args.speed)?;
        Some((
            SimulateConfig::live(&plan, ctx.loaded.registry.clone(), mqtt.clone()),
            plan,
        ))
    };
    let shutdown = Shutdown::new();
    let mut ingest = ingest_args(ctx, mqtt.clone()).await?;
    if let Some(port) = args.hj212_port {
        let addr = format!("0.0.0.0:{port}");
        super::ingest::check_listen(&addr)?;
        ingest.config.hj212_tcp.listen = Some(addr);
    }
    let hj212 = ingest.config.hj212_tcp.listen.clone();
    if args.mqtt.is_none() {
        // rumqttd has no `$SYS` tree and drops a client that subscribes to it.
        ingest.config.watch_broker_drops = false;
    }
    // Configuration problems surface here, before anything runs.
    let analytics = analytics_args(ctx, mqtt.clone())?;
    let alerts = alerts_args(ctx, mqtt.clone(), args.smtp.as_deref())?;
    let outbox = email_destination(ctx, alerts.config.transport());
    let reports = ctx
        .loaded
        .config
        .reports
        .enabled
        .then(|| super::reports::schedule_args(ctx))
        .transpose()?;
    let console = riverwatch_console::bind(console_args(ctx, mqtt.clone(), None, args.http_port)?)
        .await
        .map_err(|e| console_error(&e))?;
    let console_url = console.url();
    let token = shutdown.token();
    shutdown.spawn("ingest", async move {
        if let Err(e) = riverwatch_ingest::run(ingest, token).await {
            error!(error = %e, "Ingest failed.");
        }
    });
    let token = shutdown.token();
    shutdown.spawn("analytics", async move {
        if let Err(e) = riverwatch_analytics::run(analytics, token).await {
            error!(error = %e, "Analytics failed.");
        }
    });
    let token = shutdown.token();
    shutdown.spawn("alerts", async move {
        if let Err(e) = riverwatch_alerts::run(alerts, token).await {
            error!(error = %e, "Alert service failed.");
        }
    });
    if let Some(reports) = reports {
        let token = shutdown.token();
        shutdown.spawn("reports", async move {
            if let Err(e) = riverwatch_reports::schedule::run(reports, token).await {
                error!(error = %e, "Report schedule failed.");
            }
        });
    }
    let token = shutdown.token();
    shutdown.spawn("console", async move {
        if let Err(e) = console.run(token).await {
            error!(error = %e, "Console failed.");
        }
    });
    // The simulator stops on its own token first, so ingest can drain what it sent.
    let simulator_token = shutdown.token().child_token();
    let plan = live.as_ref().map(|(_, plan)| plan.clone());
    let simulator = live.map(|(sim, _)| {
        let token = simulator_token.clone();
        tokio::spawn(async move {
            if let Err(e) = riverwatch_simulators::run(sim, token).await {
                error!(error = %e, "Simulator failed.");
            }
        })
    });
    let db = riverwatch_ingest::store::sqlite_path(&ctx.loaded.config.store, &ctx.data_dir);
    info!(broker = %url, store = %db.display(), email = %outbox, console = %console_url, "riverwatch is up; press Ctrl-C to stop.");
    let sim_zh = if args.no_simulator {
        "模拟站网未启动".to_string()
    } else {
        format!("模拟站网（情景 {}）每分钟上报", args.scenario)
    };
    let sim_en = if args.no_simulator {
        "no simulated stations".to_string()
    } else {
        format!("simulated stations ({}) report every minute", args.scenario)
    };
    eprintln!(
        "{}",
        ctx.lang.pick(
            &format!(
                "riverwatch 已启动：控制台 {console_url}，MQTT 代理 {url}，读数存储 {}，{sim_zh}，分析与告警服务运行中，告警邮件 → {outbox}。控制台令牌：riverwatch tokens create --province HLJ --role duty --name 姓名。查看数据：riverwatch query --station LLH-CJG --format table；告警：riverwatch alerts list。按 Ctrl-C 停止。",
                db.display()
            ),
            &format!(
                "riverwatch is up: console {console_url}, MQTT broker {url}, readings in {}, {sim_en}, analytics and alerts running, alert email -> {outbox}. Console tokens: riverwatch tokens create --province HLJ --role duty --name NAME. See data: riverwatch query --station LLH-CJG --format table; alerts: riverwatch alerts list. Press Ctrl-C to stop.",
                db.display()
            ),
        )
    );
    if let Some(addr) = &hj212 {
        eprintln!(
            "{}",
            ctx.lang.pick(
                &format!(
                    "HJ 212 数采仪可通过 TCP 连接 {addr}（MN 须为站点登记的 MN；检查报文：riverwatch hj212 check）。"
                ),
                &format!(
                    "HJ 212 data loggers can connect over TCP to {addr} (their MN must be a registered station's; check frames: riverwatch hj212 check)."
                ),
            )
        );
    }
    if let Some(plan) = &plan {
        eprintln!("{}", describe_live(plan, &ctx.loaded.registry, ctx.lang));
    }
    wait_for_signal().await?;
    info!("Shutting down.");
    simulator_token.cancel();
    if let Some(sim) = simulator {
        let _ = tokio::time::timeout(ctx.shutdown_timeout, sim).await;
    }
    shutdown.trigger();
    let left = shutdown.join(ctx.shutdown_timeout).await;
    if left.is_empty() {
        Ok(())
    } else {
        Err(user_error(
            format!(
                "以下服务未能在 {} 秒内停止：{}",
                ctx.shutdown_timeout.as_secs(),
                left.join("、")
            ),
            format!(
                "these services did not stop within {} s: {}",
                ctx.shutdown_timeout.as_secs(),
                left.join(", ")
            ),
        ))
    }
}
