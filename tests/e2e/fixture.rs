//! One set-up for the end-to-end tests: [`Pipeline`] owns a temporary directory, a
//! mosquitto on a free loopback port, an optional SMTP server and the services a test asks
//! for (ingest, analytics, alerts; in this process or as `riverwatch` child processes), primes
//! their broker sessions before they start, stops them cleanly or kills them, and gives
//! access to their stores.
//!
//! This module is the only one of the tests that names where the test servers live
//! (`riverwatch_testkit`) and re-exports them.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::model::{AlertView, DeliveryStatus, Notification};
use riverwatch_alerts::reader::{AlertQuery, AlertReader, NotificationQuery, StateFilter};
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_core::Reading;
use riverwatch_core::keys::KeyRing;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::store_api::ReadingQuery;
use riverwatch_core::time::{ManualClock, SystemClock};
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::sqlite::test_sqlite_config;
use riverwatch_ingest::store::{SqliteReader, SqliteStore};
use tokio_util::sync::CancellationToken;

pub use riverwatch_testkit::{
    Mosquitto, MosquittoOptions, ParsedMail, Received, SmtpServer, TestCertificates, base_event,
    message_id_counts, password_file,
};

use crate::util::*;

/// Stable client id of the alert service's event subscription.
pub const ALERTS_CLIENT_ID: &str = "riverwatch-alerts";

/// The deployment key of every pipeline: the services in this process get it in their
/// broker settings, child processes read it from `<data>/internal.key`.
const TEST_KEY_HEX: &str = "5d2c7e0b9a41f3c8e6d15b7a2f90c4e3815d6b2a7c9e0f4318b5d2a6c7e9f01b";

/// The pipelines' key ring.
pub fn test_keys() -> KeyRing {
    KeyRing::parse(TEST_KEY_HEX).unwrap()
}

/// Writes the pipelines' key to `<data>/internal.key` (0600, the folder 0700) unless the
/// file exists.
pub fn install_test_key(data: &Path) {
    let key = data.join(riverwatch_core::keys::KEY_FILE);
    if !key.exists() {
        riverwatch_core::files::write_new_private(&key, format!("{TEST_KEY_HEX}\n").as_bytes())
            .unwrap();
    }
}

/// A message signed as a riverwatch service signs it (with the pipelines' key).
pub fn signed(topic: String, payload: &[u8]) -> (String, Vec<u8>) {
    let signed = riverwatch_core::mqtt::auth::sign(&test_keys(), &topic, payload).unwrap();
    (topic, signed)
}

/// A test's servers and services, stopped and removed when dropped.
///
/// Fields drop in order: services first, then the SMTP server, the broker and the directory.
pub struct Pipeline {
    ingest: Option<Service>,
    analytics: Option<Service>,
    alerts: Option<Service>,
    smtp: Option<SmtpServer>,
    broker: Option<Mosquitto>,
    certificates: Option<TestCertificates>,
    clock: Arc<ManualClock>,
    barriers: AtomicU32,
    dir: tempfile::TempDir,
}

/// What a [`Pipeline`] starts with; [`PipelineBuilder::start`] starts it.
#[must_use]
pub struct PipelineBuilder {
    broker: MosquittoOptions,
    tls: bool,
    ingest: Option<(String, Run)>,
    analytics: Option<String>,
    smtp: bool,
    alerts: Option<AlertsRun>,
    clock_at: Option<DateTime<Utc>>,
}

/// Where a service runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// A task in the test's runtime.
    InProcess,
    /// The `riverwatch` binary as a child process.
    Process,
}

enum AlertsRun {
    InProcess(Box<AlertsConfig>),
    Process(AlertsFile),
}

/// The `[alerts]` settings a child process (and the command line) reads: fast timings,
/// email to the test's SMTP server unless `smtp_url` names another one.
#[derive(Clone)]
pub struct AlertsFile {
    /// Seconds a new group waits before its first notification.
    pub group_wait_secs: u64,
    /// More `[alerts]` lines (and tables after them).
    pub extra: String,
    /// Another relay than the fixture's SMTP server (empty: the outbox folder).
    pub smtp_url: Option<String>,
}

impl AlertsFile {
    /// `group_wait_secs`, nothing extra, email to the fixture's SMTP server.
    pub fn new(group_wait_secs: u64) -> Self {
        Self {
            group_wait_secs,
            extra: String::new(),
            smtp_url: None,
        }
    }

    /// More `[alerts]` lines.
    pub fn extra(mut self, extra: &str) -> Self {
        self.extra = extra.to_string();
        self
    }

    /// Email to this relay instead of the fixture's SMTP server.
    pub fn smtp_url(mut self, url: &str) -> Self {
        self.smtp_url = Some(url.to_string());
        self
    }

    /// Email to `.eml` files in `<data>/outbox/` (the embedded default) instead of a relay.
    pub fn outbox(mut self) -> Self {
        self.smtp_url = Some(String::new());
        self
    }
}

/// A running service.
enum Service {
    InProcess(InProcess),
    Process(ProcessService),
}

/// A service task in this process; cancelled when dropped.
struct InProcess {
    name: &'static str,
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl InProcess {
    /// Spawns a service's `run` future, which stops when `token` is cancelled.
    fn spawn<E: std::fmt::Display>(
        name: &'static str,
        token: CancellationToken,
        run: impl Future<Output = Result<(), E>> + Send + 'static,
    ) -> Self {
        let _ = riverwatch_core::telemetry::init("warn");
        let task = tokio::spawn(async move { run.await.map_err(|e| e.to_string()) });
        Self {
            name,
            token,
            task: Some(task),
        }
    }

    /// Cancels and waits for a clean end.
    async fn stop(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("running");
        let name = self.name;
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Err(_) => panic!("{name} did not stop within 30 s"),
            Ok(Err(e)) => panic!("{name} task failed: {e}"),
            Ok(Ok(Err(e))) => panic!("{name} ended with an error: {e}"),
            Ok(Ok(Ok(()))) => {}
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A `riverwatch <service>` child process with its configuration and data directory.
pub struct ProcessService {
    args: Vec<String>,
    child: ChildProcess,
}

impl ProcessService {
    /// Starts `riverwatch --config CONFIG --data-dir DATA <command…>`, with the pipelines'
    /// key in `DATA/internal.key` (written when missing).
    pub fn spawn(config: &Path, data: &Path, command: &[&str]) -> Self {
        install_test_key(data);
        let mut args = vec![
            "--config".to_string(),
            config.display().to_string(),
            "--data-dir".to_string(),
            data.display().to_string(),
        ];
        args.extend(command.iter().map(|s| (*s).to_string()));
        let child = Self::start(&args);
        Self { args, child }
    }

    fn start(args: &[String]) -> ChildProcess {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ChildProcess::spawn(&args)
    }

    /// SIGKILL: no chance to flush or acknowledge.
    pub fn kill9(&mut self) {
        self.child.kill9();
    }

    /// Starts the same command again (after [`ProcessService::kill9`]).
    pub fn restart(&mut self) {
        self.child.kill9();
        self.child = Self::start(&self.args);
    }

    /// SIGINT (Ctrl-C), then waits for the process to exit.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.child.interrupt_and_wait()
    }
}

/// The configuration file of an ingest child process: its client id and `extra` lines in
/// `[ingest]`, SQLite with `synchronous = normal`.
pub fn ingest_file(url: &str, client_id: &str, extra: &str) -> String {
    format!(
        "[mqtt]\nurl = \"{url}\"\n\n[ingest]\nclient_id = \"{client_id}\"\n{extra}\n\n[store.sqlite]\nsynchronous = \"normal\"\n"
    )
}

fn alerts_section(smtp_url: &str, file: &AlertsFile) -> String {
    let smtp_url = if smtp_url.is_empty() {
        String::new()
    } else {
        format!("smtp_url = \"{smtp_url}\"\n")
    };
    format!(
        "[alerts]\n{smtp_url}console_url = \"https://console.example.org\"\n\
         group_wait_secs = {}\ngroup_interval_secs = 2\nrepeat_interval_secs = 3600\nretry_initial_secs = 1\n\
         retry_max_secs = 2\ntick_ms = 100\n{}\n",
        file.group_wait_secs, file.extra
    )
}

/// The time of the `n`-th barrier observation: a year no test stream uses.
fn barrier_time(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(n.into())
}

/// The station and parameter of barrier observations.
const BARRIER: (&str, &str) = ("AIR-HRB", "PM25");

/// Whether a reading is one of the fixture's barrier observations.
pub fn is_barrier(r: &Reading) -> bool {
    r.station == BARRIER.0
        && r.parameter == BARRIER.1
        && (barrier_time(0)..barrier_time(1000)).contains(&r.observed_at)
}

impl Pipeline {
    /// A pipeline to configure: by default a plain mosquitto and no service.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder {
            broker: MosquittoOptions::default(),
            tls: false,
            ingest: None,
            analytics: None,
            smtp: false,
            alerts: None,
            clock_at: None,
        }
    }

    /// The broker URL.
    pub fn url(&self) -> String {
        self.broker().url()
    }

    /// The broker connection a service gets (trusting the test CA when the broker serves
    /// TLS, with the pipelines' key ring).
    pub fn mqtt(&self) -> MqttConfig {
        let mut mqtt = MqttConfig::with_url(&self.url());
        if let Some(c) = &self.certificates {
            mqtt.ca_file = Some(c.ca.clone());
        }
        mqtt.keys = Some(test_keys());
        mqtt
    }

    /// What the broker logged so far (connections, disconnections, errors).
    pub fn broker_log(&self) -> String {
        self.broker().log()
    }

    fn broker(&self) -> &Mosquitto {
        self.broker.as_ref().expect("broker running")
    }

    /// The test CA and the broker's certificate (with [`PipelineBuilder::tls`]).
    pub fn certificates(&self) -> &TestCertificates {
        self.certificates.as_ref().expect("a TLS pipeline")
    }

    /// The temporary directory everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The services' data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The configuration file of child processes and the command line.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("riverwatch.toml")
    }

    /// The manual clock of the services in this process.
    pub fn clock(&self) -> Arc<ManualClock> {
        self.clock.clone()
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Publishes at QoS 1; returns once the broker acknowledged every message.
    pub async fn publish(&self, client_id: &str, messages: Vec<(String, Vec<u8>)>) {
        publish_all(&self.url(), client_id, messages).await;
    }

    /// Creates a persistent session subscribed to `filters` (see [`prime_session`]).
    pub async fn prime(&self, client_id: &str, filters: &[&str]) {
        prime_session(&self.mqtt(), client_id, filters).await;
    }

    /// Stops and starts the broker on the same port and data directory.
    pub async fn restart_broker(&mut self) {
        let mut broker = self.broker.take().expect("broker running");
        let broker = tokio::task::spawn_blocking(move || {
            broker.restart().expect("broker restarts");
            broker
        })
        .await
        .unwrap();
        self.broker = Some(broker);
    }

    // ----------------------------------------------------------------- ingest

    /// Starts ingest in this process on `readings.db` (without priming its session).
    pub fn start_ingest(&mut self, config: IngestConfig) {
        self.start_ingest_with(config, registry(), Arc::new(SystemClock));
    }

    /// Starts ingest in this process on `readings.db` with its reception times from `clock`
    /// (without priming its session).
    pub fn start_ingest_on(
        &mut self,
        config: IngestConfig,
        clock: Arc<dyn riverwatch_core::time::Clock>,
    ) {
        self.start_ingest_with(config, registry(), clock);
    }

    /// [`Pipeline::start_ingest_on`] with another station registry.
    pub fn start_ingest_with(
        &mut self,
        config: IngestConfig,
        registry: Arc<riverwatch_core::registry::Registry>,
        clock: Arc<dyn riverwatch_core::time::Clock>,
    ) {
        assert!(self.ingest.is_none(), "ingest already runs");
        let store = SqliteStore::open(&self.readings_db(), &test_sqlite_config()).unwrap();
        let args = riverwatch_ingest::IngestArgs {
            config,
            mqtt: self.mqtt(),
            store,
            registry,
            clock,
        };
        let token = CancellationToken::new();
        let run = riverwatch_ingest::run(args, token.clone());
        self.ingest = Some(Service::InProcess(InProcess::spawn("ingest", token, run)));
    }

    /// The readings store of ingest.
    pub fn readings_db(&self) -> PathBuf {
        self.data_dir().join("readings.db")
    }

    /// Readings stored, not counting the barrier observations ([`Pipeline::barrier`]).
    pub fn readings(&self) -> u64 {
        count_readings(&self.readings_db())
            .saturating_sub(u64::from(self.barriers.load(Ordering::SeqCst)))
    }

    /// Waits until the number of stored readings ([`Pipeline::readings`]) satisfies `done`;
    /// a failure names `what` and the count at the deadline.
    pub async fn wait_readings(&self, timeout: Duration, what: &str, done: impl Fn(u64) -> bool) {
        wait_until(
            timeout,
            Later(|| format!("{what} (stored {})", self.readings())),
            || done(self.readings()),
        )
        .await;
    }

    /// Dead letters stored.
    pub fn dead_letters(&self) -> u64 {
        count_dead(&self.readings_db())
    }

    /// A reader of the readings store.
    pub fn readings_reader(&self) -> SqliteReader {
        SqliteReader::open(&self.readings_db()).unwrap()
    }

    /// Every stored reading but the barrier observations.
    pub fn stored_readings(&self) -> Vec<Reading> {
        let mut all = self
            .readings_reader()
            .query_blocking(&ReadingQuery::default())
            .unwrap();
        all.retain(|r| !is_barrier(r));
        all
    }

    /// Publishes one observation after everything published so far and waits until ingest
    /// has stored it. The broker hands a session its messages in the order it took them and
    /// ingest commits in that order, so from then on every earlier message has been taken
    /// and committed: what is stored now is all that will be. (Not for shared
    /// subscriptions, whose members do not share an order.)
    pub async fn barrier(&self) {
        let n = self.barriers.load(Ordering::SeqCst);
        let t = barrier_time(n);
        let message = json_obs(BARRIER.0, t, &[(BARRIER.1, 35.0)]);
        self.publish(&format!("it-barrier-{n}"), vec![message])
            .await;
        let query = ReadingQuery {
            station: Some(BARRIER.0.to_string()),
            parameters: vec![BARRIER.1.to_string()],
            from: Some(t),
            to: Some(t + chrono::Duration::seconds(1)),
            ..ReadingQuery::default()
        };
        let db = self.readings_db();
        wait_until(
            Duration::from_secs(60),
            "ingest stored the barrier observation published after the test's messages",
            || {
                SqliteReader::open(&db)
                    .and_then(|r| r.query_blocking(&query))
                    .is_ok_and(|r| r.len() == 1)
            },
        )
        .await;
        self.barriers.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops ingest: in this process, cancels it and checks it ended without error; as a
    /// child process, sends SIGINT and checks the exit was clean.
    pub async fn stop_ingest(&mut self) {
        match self.ingest.take().expect("ingest runs") {
            Service::InProcess(s) => s.stop().await,
            Service::Process(mut p) => assert!(p.interrupt().success(), "clean exit on Ctrl-C"),
        }
    }

    /// The ingest child process.
    pub fn ingest_process(&mut self) -> &mut ProcessService {
        match self.ingest.as_mut() {
            Some(Service::Process(p)) => p,
            _ => panic!("ingest does not run as a child process"),
        }
    }

    // -------------------------------------------------------------- analytics

    /// The evaluation store of analytics.
    pub fn analytics_db(&self) -> PathBuf {
        self.data_dir().join("analytics.db")
    }

    /// A reader of the evaluation store.
    pub fn evaluations(&self) -> EvaluationReader {
        EvaluationReader::open(&self.analytics_db()).unwrap()
    }

    /// Starts analytics in this process on the readings store (which must exist), with its
    /// broker session primed.
    pub async fn start_analytics(&mut self, id: &str) {
        let reader = SqliteReader::open(&self.readings_db()).unwrap();
        self.start_analytics_on(id, reader).await;
    }

    /// Starts analytics in this process on the given readings reader, with its broker
    /// session primed.
    pub async fn start_analytics_on<R>(&mut self, id: &str, reader: R)
    where
        R: riverwatch_core::store_api::StoreReader + Clone + Send + Sync + 'static,
    {
        self.prime(id, &["rw/v1/readings/+"]).await;
        let args = riverwatch_analytics::AnalyticsArgs {
            config: AnalyticsConfig {
                client_id: id.to_string(),
                ..AnalyticsConfig::test_config()
            },
            mqtt: self.mqtt(),
            reader,
            registry: registry(),
            data_dir: self.data_dir(),
            clock: self.clock.clone(),
            control: None,
        };
        let token = CancellationToken::new();
        let run = riverwatch_analytics::run(args, token.clone());
        self.analytics = Some(Service::InProcess(InProcess::spawn(
            "analytics",
            token,
            run,
        )));
    }

    /// Stops analytics and checks it ended without error.
    pub async fn stop_analytics(&mut self) {
        match self.analytics.take().expect("analytics runs") {
            Service::InProcess(s) => s.stop().await,
            Service::Process(_) => unreachable!("analytics runs in this process"),
        }
    }

    // ----------------------------------------------------------------- alerts

    /// The SMTP server.
    pub fn smtp(&self) -> &SmtpServer {
        self.smtp.as_ref().expect("a pipeline with an SMTP server")
    }

    /// The SMTP server, to stop and restart it.
    pub fn smtp_mut(&mut self) -> &mut SmtpServer {
        self.smtp.as_mut().expect("a pipeline with an SMTP server")
    }

    /// The alert store.
    pub fn alerts_db(&self) -> PathBuf {
        self.data_dir().join("alerts.db")
    }

    /// A reader of the alert store (none while the service has not created it).
    pub fn alert_reader(&self) -> Option<AlertReader> {
        AlertReader::open(&self.alerts_db(), Arc::new(SystemClock)).ok()
    }

    /// The alerts in a state (none while there is no store).
    pub fn alert_views(&self, state: StateFilter) -> Vec<AlertView> {
        self.alert_reader()
            .and_then(|r| {
                r.alerts(&AlertQuery {
                    state,
                    ..AlertQuery::default()
                })
                .ok()
            })
            .unwrap_or_default()
    }

    /// The notification log (empty while there is no store).
    pub fn notifications(&self) -> Vec<Notification> {
        self.alert_reader()
            .and_then(|r| r.notifications(&NotificationQuery::default()).ok())
            .unwrap_or_default()
    }

    /// Waits until the notification log holds at least `n` notifications and every one
    /// of them is sent: then the SMTP server has accepted each (the service records `sent`
    /// after the relay's `250`), and no delivery of them is still under way.
    pub async fn wait_all_sent(&self, n: usize, timeout: Duration) {
        wait_until(
            timeout,
            Later(|| {
                let log = self.notifications();
                format!(
                    "{n} notifications sent (log: {:?})",
                    log.iter()
                        .map(|x| (&x.recipient_id, x.status))
                        .collect::<Vec<_>>()
                )
            }),
            || {
                let log = self.notifications();
                log.len() >= n && log.iter().all(|x| x.status == DeliveryStatus::Sent)
            },
        )
        .await;
    }

    /// Waits until the SMTP server accepted `n` emails and every notification the service
    /// decided is sent: nothing is still on its way to the relay.
    pub async fn wait_emails(&self, n: usize, timeout: Duration) {
        wait_until(
            timeout,
            Later(|| format!("{n} emails (got {})", self.smtp().count())),
            || self.smtp().count() >= n,
        )
        .await;
        self.wait_all_sent(n, timeout).await;
    }

    /// Stops the alert service: in this process, cancels it and checks it ended without
    /// error; as a child process, sends SIGINT and checks it exited with code 0.
    pub async fn stop_alerts(&mut self) {
        match self.alerts.take().expect("alerts run") {
            Service::InProcess(s) => s.stop().await,
            Service::Process(mut p) => assert_eq!(p.interrupt().code(), Some(0)),
        }
    }

    /// The alert service's child process.
    pub fn alerts_process(&mut self) -> &mut ProcessService {
        match self.alerts.as_mut() {
            Some(Service::Process(p)) => p,
            _ => panic!("alerts do not run as a child process"),
        }
    }

    /// Runs a `riverwatch` command on the pipeline's configuration file and data
    /// directory: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        cli(&self.config_file(), &self.data_dir(), args)
    }
}

impl PipelineBuilder {
    /// Broker settings.
    pub fn broker(mut self, options: MosquittoOptions) -> Self {
        self.broker = options;
        self
    }

    /// The manual clock starts at `t` instead of now.
    pub fn clock_at(mut self, t: DateTime<Utc>) -> Self {
        self.clock_at = Some(t);
        self
    }

    /// The broker serves TLS with a certificate from a throwaway CA, which
    /// [`Pipeline::mqtt`] trusts.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Ingest in this process, its session (`client_id`) primed first.
    pub fn with_ingest(mut self, client_id: &str) -> Self {
        self.ingest = Some((client_id.to_string(), Run::InProcess));
        self
    }

    /// Ingest as a `riverwatch ingest` child process, its session primed first.
    pub fn with_ingest_process(mut self, client_id: &str) -> Self {
        self.ingest = Some((client_id.to_string(), Run::Process));
        self
    }

    /// Analytics in this process on the manual clock, reading ingest's store, its session
    /// primed first.
    pub fn with_analytics(mut self, client_id: &str) -> Self {
        self.analytics = Some(client_id.to_string());
        self
    }

    /// The alert service in this process on the manual clock, emailing the SMTP server
    /// (`smtp_url` is set to it), its session primed first.
    pub fn with_alerts(mut self, config: AlertsConfig) -> Self {
        self.smtp = true;
        self.alerts = Some(AlertsRun::InProcess(Box::new(config)));
        self
    }

    /// The alert service as a `riverwatch alerts` child process, its session primed first.
    pub fn with_alerts_process(mut self, file: AlertsFile) -> Self {
        if file.smtp_url.is_none() {
            self.smtp = true;
        }
        self.alerts = Some(AlertsRun::Process(file));
        self
    }

    /// Starts the broker, the SMTP server and the services (ingest, analytics, alerts, in
    /// this order), each after its session is primed.
    pub async fn start(self) -> Pipeline {
        let dir = tempfile::tempdir().unwrap();
        let mut options = self.broker;
        let certificates = self.tls.then(|| {
            let certs = TestCertificates::create(dir.path()).unwrap();
            options.tls = Some(certs.clone());
            certs
        });
        let broker = Mosquitto::start_with(&options).unwrap();
        let smtp = self.smtp.then(|| SmtpServer::start().unwrap());
        let mut p = Pipeline {
            ingest: None,
            analytics: None,
            alerts: None,
            smtp,
            broker: Some(broker),
            certificates,
            clock: Arc::new(ManualClock::new(self.clock_at.unwrap_or_else(Utc::now))),
            barriers: AtomicU32::new(0),
            dir,
        };
        install_test_key(&p.data_dir());

        let mut file = format!("[mqtt]\nurl = \"{}\"\n\n", p.url());
        if let Some((id, Run::Process)) = &self.ingest {
            file = ingest_file(&p.url(), id, "");
        }
        match &self.alerts {
            Some(AlertsRun::Process(f)) => {
                let smtp = f.smtp_url.clone().unwrap_or_else(|| p.smtp().url());
                file.push_str(&alerts_section(&smtp, f));
            }
            Some(AlertsRun::InProcess(_)) => {
                file.push_str(&alerts_section(&p.smtp().url(), &AlertsFile::new(1)));
            }
            None => {}
        }
        std::fs::write(p.config_file(), file).unwrap();

        if let Some((id, run)) = &self.ingest {
            p.prime(id, &INGEST_FILTERS).await;
            match run {
                Run::InProcess => p.start_ingest(IngestConfig {
                    client_id: id.clone(),
                    ..IngestConfig::test_config()
                }),
                Run::Process => {
                    let s = ProcessService::spawn(&p.config_file(), &p.data_dir(), &["ingest"]);
                    p.ingest = Some(Service::Process(s));
                }
            }
        }
        if let Some(id) = &self.analytics {
            p.start_analytics(id).await;
        }
        match self.alerts {
            Some(AlertsRun::InProcess(config)) => {
                p.prime(ALERTS_CLIENT_ID, &["rw/v1/events/+"]).await;
                let args = riverwatch_alerts::AlertsArgs {
                    config: AlertsConfig {
                        smtp_url: Some(p.smtp().url()),
                        ..*config
                    },
                    mqtt: p.mqtt(),
                    registry: registry(),
                    data_dir: p.data_dir(),
                    lang: riverwatch_core::Lang::Zh,
                    clock: p.clock.clone(),
                };
                let token = CancellationToken::new();
                let run = riverwatch_alerts::run(args, token.clone());
                p.alerts = Some(Service::InProcess(InProcess::spawn("alerts", token, run)));
            }
            Some(AlertsRun::Process(_)) => {
                p.prime(ALERTS_CLIENT_ID, &["rw/v1/events/+"]).await;
                let s = ProcessService::spawn(&p.config_file(), &p.data_dir(), &["alerts"]);
                p.alerts = Some(Service::Process(s));
            }
            None => {}
        }
        p
    }
}
