//! `riverwatch tokens create|list|revoke`: console and API tokens per province and role,
//! in the console database of the data directory. `create` prints the token once, as the
//! last line of its output; only its SHA-256 is stored.

use clap::{Args, Subcommand};
use riverwatch_console::access::store::MAX_NAME_CHARS;
use riverwatch_console::access::{Role, TokenInfo, TokenStore, TokenStoreError};
use riverwatch_core::Province;
use riverwatch_core::time::{Clock, SystemClock, fmt_cst};

use crate::cli::render::{Format, Table, col, header, print_json};
use crate::cli::{Context, user_error};

/// `riverwatch tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed once, as the last line.
    Create(CreateArgs),
    /// List tokens (never the tokens themselves).
    List(ListArgs),
    /// Revoke a token; its sessions end at once.
    Revoke(RevokeArgs),
}

/// `riverwatch tokens create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The province it acts for: HLJ or JL.
    #[arg(long)]
    pub province: Province,
    /// viewer (reads), duty (reads, acknowledges for its province) or admin (also
    /// silences and tokens).
    #[arg(long)]
    pub role: Role,
    /// Who holds it (shown as who acknowledged).
    #[arg(long)]
    pub name: String,
}

/// `riverwatch tokens list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `riverwatch tokens revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Token id (from `tokens list`).
    pub id: String,
}

fn store(ctx: &Context) -> anyhow::Result<TokenStore> {
    let path = ctx.data_dir.join(&ctx.loaded.config.console.database);
    TokenStore::open(&path).map_err(|e| {
        user_error(
            format!("无法打开控制台数据库 {}：{e}", path.display()),
            e.to_string(),
        )
    })
}

/// Runs `riverwatch tokens …`.
///
/// # Errors
/// Bad arguments, or a database failure.
pub fn run(cmd: &TokensCommand, ctx: &Context) -> anyhow::Result<()> {
    let lang = ctx.lang;
    match cmd {
        TokensCommand::Create(a) => {
            let (token, info) = store(ctx)?
                .create(&a.name, a.province, a.role, SystemClock.now())
                .map_err(|e| match e {
                    TokenStoreError::BadName => user_error(
                        format!("--name 需填写持有人姓名（不超过 {MAX_NAME_CHARS} 个字符）"),
                        format!(
                            "--name needs the holder's name (at most {MAX_NAME_CHARS} characters)"
                        ),
                    ),
                    other => user_error(format!("无法创建令牌：{other}"), other.to_string()),
                })?;
            println!(
                "{}",
                lang.pick(
                    &format!(
                        "已创建令牌 {}：{}，{}，{}。令牌只显示这一次，请妥善保存（库中只存其 SHA-256）：",
                        info.id,
                        info.name,
                        a.province.name_zh(),
                        a.role.label_zh()
                    ),
                    &format!(
                        "token {} created: {}, {}, {}. It is shown this once; keep it safe (only its SHA-256 is stored):",
                        info.id,
                        info.name,
                        a.province.name_en(),
                        a.role
                    ),
                )
            );
            println!("{token}");
            Ok(())
        }
        TokensCommand::List(a) => {
            let tokens: Vec<TokenInfo> = store(ctx)?
                .list()
                .map_err(|e| user_error(format!("无法读取令牌：{e}"), e.to_string()))?;
            if a.format == Format::Json {
                return print_json(&tokens);
            }
            let rows = tokens.iter().map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    t.province.code().to_string(),
                    lang.pick(t.role.label_zh(), t.role.as_str()).to_string(),
                    fmt_cst(t.created_at),
                    t.last_used_at.map(fmt_cst).unwrap_or_default(),
                    t.revoked_at.map(fmt_cst).unwrap_or_default(),
                ]
            });
            Table::with_rows(
                &[
                    col::ID,
                    header("持有人", "name"),
                    header("省份", "province"),
                    header("角色", "role"),
                    header("创建时间", "created"),
                    header("最近使用", "last used"),
                    header("吊销时间", "revoked"),
                ],
                rows,
            )
            .print(lang);
            if tokens.is_empty() {
                println!("{}", lang.pick("（无）", "(none)"));
            }
            Ok(())
        }
        TokensCommand::Revoke(a) => {
            let t = store(ctx)?
                .revoke(a.id.trim(), SystemClock.now())
                .map_err(|e| match e {
                    TokenStoreError::NotFound(id) => user_error(
                        format!("没有编号为 `{id}` 的令牌"),
                        format!("no token `{id}`"),
                    ),
                    other => user_error(format!("无法吊销令牌：{other}"), other.to_string()),
                })?;
            println!(
                "{}",
                lang.pick(
                    &format!("令牌 {}（{}）已吊销，其登录会话随之失效", t.id, t.name),
                    &format!(
                        "token {} ({}) revoked; its sessions have ended",
                        t.id, t.name
                    ),
                )
            );
            Ok(())
        }
    }
}
