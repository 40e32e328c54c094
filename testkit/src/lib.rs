//! riverwatch-testkit: the real servers and the doubles riverwatch's tests and benchmarks run
//! against. It is a dev-dependency of the crates' tests and an optional dependency of the
//! `riverwatch` binary behind its `bench` feature, so a product build never links it.
//!
//! # Layout
//! - [`mosquitto`]: a mosquitto broker on free loopback ports, stopped when dropped: test
//!   settings, or a production configuration file with password files from `mosquitto_passwd`.
//! - [`certs`]: a throwaway CA and a server certificate for 127.0.0.1 (`openssl`).
//! - [`smtp`]: a loopback SMTP server that records what it accepts, with outages.
//! - [`mail`]: decoding of the emails lettre sends; Message-ID counts.
//! - [`event`]: evaluation events with the required fields only.
//! - [`memory`]: the in-memory reference store of the store contract.
//! - [`tempdir`]: a temporary directory removed on drop.
#![deny(missing_docs)]

pub mod certs;
pub mod event;
pub mod mail;
pub mod memory;
pub mod mosquitto;
pub mod smtp;
pub mod tempdir;

pub use certs::TestCertificates;
pub use event::base_event;
pub use mail::{ParsedMail, message_id_counts, parse_mail};
pub use memory::MemoryStore;
pub use mosquitto::{
    Listener, Mosquitto, MosquittoOptions, free_port, password_file, wait_for_port,
};
pub use smtp::{Received, SmtpServer};
pub use tempdir::TempDir;
