//! `riverwatch config default` (a complete configuration file with every default and the
//! built-in network) and `riverwatch config check` (what a configuration holds).

use clap::Subcommand;
use riverwatch_core::Lang;
use riverwatch_core::registry::StationKind;

use super::Context;

/// `riverwatch config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete default configuration, including the built-in network.
    Default,
    /// Load and validate the configuration, then report what it contains.
    Check,
}

/// Runs `riverwatch config check`.
pub fn check(ctx: &Context) {
    let r = &ctx.loaded.registry;
    let count = |k: StationKind| r.stations().iter().filter(|s| s.kind == k).count();
    let (w, a, o, h) = (
        count(StationKind::Water),
        count(StationKind::Air),
        count(StationKind::Outfall),
        count(StationKind::Hydrology),
    );
    let unverified = r.stations().iter().filter(|s| !s.verified).count();
    match ctx.lang {
        Lang::Zh => println!(
            "配置有效：{} 个参数，{} 条河流，{} 个站点（水质断面 {w}，空气站 {a}，排口 {o}，水文站 {h}；其中 {unverified} 个位置未经核实）。数据目录：{}",
            r.parameters().len(),
            r.rivers().len(),
            r.stations().len(),
            ctx.data_dir.display()
        ),
        Lang::En => println!(
            "configuration is valid: {} parameters, {} rivers, {} stations ({w} water, {a} air, {o} outfall, {h} hydrology; {unverified} with unverified positions). Data directory: {}",
            r.parameters().len(),
            r.rivers().len(),
            r.stations().len(),
            ctx.data_dir.display()
        ),
    }
}
