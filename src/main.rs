//! The `riverwatch` binary: one subcommand per service.
fn main() {}
