//! `riverwatch hj212 …`: tools for the HJ 212 data loggers. `check` ([`check`]) prints what
//! ingest would make of a file (or stdin) of frames.

pub mod check;

use clap::Subcommand;

use super::Context;

/// `riverwatch hj212`.
#[derive(Debug, Subcommand)]
pub enum Hj212Command {
    /// Check frames as ingest would take them: fields and readings, or the reason code of
    /// the rejection (nothing is stored).
    Check(check::CheckArgs),
}

/// Runs a `riverwatch hj212` command.
///
/// # Errors
/// As the command's.
pub fn run(cmd: &Hj212Command, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        Hj212Command::Check(args) => check::run(args, ctx),
    }
}
