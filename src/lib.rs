//! The `riverwatch` command: the configuration file, the command line (one subcommand per
//! service and tool), the embedded MQTT broker and the wiring of `riverwatch up`.
//!
//! # Layout
//! - [`config`]: the configuration file and the built-in defaults.
//! - [`cli`]: subcommands; each file holds one subcommand's arguments and runner.
//! - [`broker`]: the embedded rumqttd broker used by `riverwatch up`.

pub mod broker;
pub mod cli;
pub mod config;
