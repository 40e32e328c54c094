//! End-to-end tests across services, against real servers started by each test on free
//! loopback ports: mosquitto, SQLite files, an SMTP server, InfluxDB 1.x.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Shared helpers: waiting on conditions, publishing, sessions, child processes.
mod util;

/// The set-up every test shares: broker, SMTP server and services, started and stopped.
mod fixture;

/// Ingest: JSON and HJ 212 to SQLite, dead letters, duplicates, crashes, restarts, scale-out,
/// TLS.
mod ingest;

/// Ingest against the transport's limits: a payload just under the broker's size limit,
/// thousands of unfinished split HJ 212 messages, a restart mid-message, a store slower than
/// the keep-alive.
mod transport;

/// Stations' trust: the HJ 212 access password per station, and the shipped broker ACL with
/// client ids bound to accounts.
mod stations;

/// Simulators: a simulated network through a real broker into ingest, against its recording;
/// a scenario started in another year, from the command line.
mod simulate;

/// Internal messages: forged events and readings on the broker are refused, kept and counted;
/// the services' files are private.
mod trust;

/// `riverwatch up --scenario`: the re-dated scenario's first boundary alert within seconds.
mod up;

/// Analytics: simulator scenarios through broker, ingest and analytics, against their manifests.
mod analytics;

/// A real InfluxDB 1.x server for the tests of the InfluxDB backends.
mod influxd;

/// River-chief reports: a simulated month through the readings store and analytics into the
/// monthly report and its workbook, against the standards' tables.
mod report_month;

/// Alerts: what the alert tests share (events, their messages, the emails per address).
mod alerts;

/// Alerts, who is told what: both provinces notified, an information copy, one email per recipient.
mod alerts_notify;

/// Alerts on a manual clock: grouping, repeat, silences, acknowledgement and escalation.
mod alerts_lifecycle;

/// Alerts' delivery: SMTP outage and crash recovery without loss or duplicates, a hung relay,
/// a third-party SMTP server, a report with its workbook.
mod alerts_delivery;

/// Alerts' audit trail and store: tampering found, the audit head in an email, a corrupt store.
mod alerts_audit;

/// The console: the HTTP API over real HTTP (access control, acknowledgements, readings,
/// metrics) and the live feed's resumption.
mod console;

/// HJ 212 over TCP: loggers' connections into ingest, replies after the commit, backfill.
mod hj212_tcp;

/// The report schedule: daily reports issued once across a restart, archived, and re-issued
/// marked 修订 when a late reading changes their numbers.
mod report_schedule;

/// A headless Chromium over the DevTools protocol, for the console's pages.
mod cdp;

/// The console's pages in headless Chromium: the overview labels every section and follows
/// the live feed, the acknowledge button works for the signed-in province only; screenshots.
mod browser;
