//! `riverwatch keys init`: creates the deployment key that the services sign and check their
//! internal messages with, `<data-dir>/internal.key` (mode 0600, its folder 0700), unless it
//! exists. Prints the file and the key's id, never the key.

use clap::Subcommand;
use riverwatch_core::keys::{ENV_KEY, KEY_FILE, KeyRing};

use super::Context;
use super::args::key_error;

/// `riverwatch keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the internal message key in the data directory (kept when it exists).
    Init,
}

/// Runs a `keys` command.
///
/// # Errors
/// A key file that cannot be written, or an existing one that cannot be read.
pub fn run(cmd: &KeysCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Init => init(ctx),
    }
}

fn init(ctx: &Context) -> anyhow::Result<()> {
    let path = ctx.data_dir.join(KEY_FILE);
    let (ring, created) = if path.exists() {
        (KeyRing::read_file(&path).map_err(key_error)?, false)
    } else {
        (KeyRing::create_file(&path).map_err(key_error)?, true)
    };
    let id = ring.signing().id();
    let shown = path.display();
    let line = match (created, ctx.lang) {
        (true, riverwatch_core::Lang::Zh) => {
            format!("已创建内部消息密钥 {shown}（权限 0600，密钥编号 {id}）。")
        }
        (true, riverwatch_core::Lang::En) => {
            format!("Created the internal message key {shown} (mode 0600, key id {id}).")
        }
        (false, riverwatch_core::Lang::Zh) => {
            format!("内部消息密钥 {shown} 已存在，未更改（密钥编号 {id}）。")
        }
        (false, riverwatch_core::Lang::En) => {
            format!("The internal message key {shown} exists; left unchanged (key id {id}).")
        }
    };
    println!("{line}");
    if std::env::var(ENV_KEY).is_ok_and(|v| !v.trim().is_empty()) {
        println!(
            "{}",
            ctx.lang.pick(
                &format!("注意：已设置 {ENV_KEY}，服务使用环境变量中的密钥而非该文件。"),
                &format!("Note: {ENV_KEY} is set; the services use it instead of this file."),
            )
        );
    }
    Ok(())
}
