//! The `riverwatch` command: the configuration file, the command line (one subcommand per
//! service and tool), the embedded MQTT broker and the wiring of `riverwatch up`.
//!
//! # Layout
//! - [`config`]: the configuration file and the built-in defaults.
//! - [`cli`]: the subcommands, one module per command in its service's folder
//!   (`cli/ingest/query.rs` …), the shared parsing and rendering (`cli/args.rs`,
//!   `cli/render.rs`), and the benchmarks (`cli/bench/`, feature `bench`).
//! - [`broker`]: the embedded rumqttd broker used by `riverwatch up`.

pub mod broker;
pub mod cli;
pub mod config;
