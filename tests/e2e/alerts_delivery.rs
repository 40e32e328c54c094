//! Alerts end to end, durable delivery: an SMTP outage retried until every notification is
//! delivered exactly once, a killed service or a hung relay losing nothing, a third-party
//! SMTP server, a report email with its workbook attached.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use riverwatch_alerts::model::DeliveryStatus;
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::events::EventStatus;

use crate::alerts::{addresses, exceedance, message, minute, to};
use crate::fixture::*;
use crate::util::*;

/// Every (recipient, alert) delivered, judged by Message-ID.
fn deliveries(received: &[Received]) -> BTreeMap<String, usize> {
    message_id_counts(received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_is_retried_until_every_notification_is_delivered_exactly_once() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1).extra(
            "group_by = [\"...\"]\n[alerts.routing.HLJ]\nrecipients = [{ id = \"hlj-duty\", name = \"黑龙江省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@hlj.example.org\"] }]\n[alerts.routing.JL]\nrecipients = [{ id = \"jl-duty\", name = \"吉林省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@jl.example.org\"] }]\n",
        ))
        .start()
        .await;
    p.smtp_mut().stop(); // the relay is down before the first event
    let stations = [
        "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-ZY",
    ];
    let events: Vec<_> = stations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            message(&exceedance(
                &format!("out-{i}"),
                EventStatus::Firing,
                s,
                "NH3N",
                minute(0),
            ))
        })
        .collect();
    p.publish("it-f-pub", events).await;
    // All 12 retrying during the outage; the relay stays down until each one has failed
    // again on a retry.
    for (attempts, what) in [
        (1, "all 12 notifications retrying during the outage"),
        (2, "every notification retried during the outage"),
    ] {
        wait_until(Duration::from_secs(30), what, || {
            let n = p.notifications();
            n.len() == 12
                && n.iter()
                    .all(|x| x.status == DeliveryStatus::Retrying && x.attempts >= attempts)
        })
        .await;
    }
    p.smtp_mut().restart().unwrap();
    p.wait_emails(12, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    let ids = deliveries(&received);
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "exactly once: {ids:?}");
    let log = p.notifications();
    assert!(
        log.iter()
            .all(|n| n.status == DeliveryStatus::Sent && n.attempts >= 2),
        "{log:?}"
    );
    assert!(
        log.iter()
            .all(|n| n.last_reply.as_deref().unwrap_or("").starts_with("250")),
        "{log:?}"
    );
    p.stop_alerts().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_service_mid_stream_loses_nothing_and_sends_nothing_twice() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(0).extra("group_by = [\"...\"]\n"))
        .start()
        .await;
    let stations = [
        "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-ZY",
    ];
    let params = ["NH3N", "TP", "CODMn", "COD", "BOD5"];
    let mut events = Vec::new();
    for s in stations {
        for param in params {
            events.push(message(&exceedance(
                &format!("kill-{s}-{param}"),
                EventStatus::Firing,
                s,
                param,
                minute(0),
            )));
        }
    }
    let n_alerts = events.len();
    p.publish("it-g-pub", events).await;
    // Kill as soon as some (not all) emails went out.
    wait_until(Duration::from_secs(60), "the first 10 emails", || {
        p.smtp().count() >= 10
    })
    .await;
    p.alerts_process().kill9();
    let at_kill = p.smtp().count();
    p.alerts_process().restart();
    wait_until(
        Duration::from_secs(90),
        "every notification sent after the restart",
        || {
            let n = p.notifications();
            n.iter().all(|x| x.status == DeliveryStatus::Sent)
                && !n.is_empty()
                && p.alert_views(StateFilter::Firing).len() == n_alerts
        },
    )
    .await;
    // A notification decided twice would go out at the next group interval (2 s); nothing
    // marks its absence, so this waits one interval.
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.stop_alerts().await;
    let received = p.smtp().received();
    let log = p.notifications();
    // Each boundary section reaches both duty offices, the bureau of its city and both
    // Lalin (or Songhua) river-chief offices; nothing was decided twice.
    let mut per_recipient_alert = BTreeMap::new();
    for n in &log {
        for a in &n.alert_ids {
            *per_recipient_alert
                .entry((n.recipient_id.clone(), a.clone()))
                .or_insert(0) += 1;
        }
    }
    assert!(
        per_recipient_alert.values().all(|c| *c == 1),
        "a notification was decided twice"
    );
    let ids = deliveries(&received);
    let logged: BTreeSet<String> = log.iter().map(|n| n.message_id.clone()).collect();
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        logged,
        "every decided email arrived, nothing else"
    );
    let dups: usize = ids.values().map(|n| n - 1).sum();
    // A kill between the relay's 250 and the commit of `sent` resends that one message with
    // the same Message-ID; four deliveries run in parallel, so at most four.
    assert!(
        dups <= 4,
        "{dups} duplicates (emails before the kill: {at_kill})"
    );
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

/// A third-party SMTP server in its own process: Python's `smtpd` (Python 3.11, on every
/// machine here), printing each message it accepts.
struct PythonSmtpd {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}
impl PythonSmtpd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("smtpd.out");
        let child = Command::new("python3")
            .args([
                "-u",
                "-W",
                "ignore",
                "-m",
                "smtpd",
                "-n",
                "-c",
                "DebuggingServer",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with the smtpd module (Python 3.11)");
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn messages(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
impl Drop for PythonSmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_a_third_party_smtp_server_process() {
    let smtpd = PythonSmtpd::start();
    wait_until(Duration::from_secs(10), "smtpd listening", || {
        std::net::TcpStream::connect(("127.0.0.1", smtpd.port)).is_ok()
    })
    .await;
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(0).smtp_url(&url))
        .start()
        .await;
    let e = exceedance("py-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-py-pub", vec![message(&e)]).await;
    wait_until(Duration::from_secs(30), "five notifications sent", || {
        let n = p.notifications();
        n.len() == 5 && n.iter().all(|x| x.status == DeliveryStatus::Sent)
    })
    .await;
    p.stop_alerts().await;
    let out = smtpd.messages();
    assert_eq!(out.matches("MESSAGE FOLLOWS").count(), 5, "{out}");
    for addr in [
        "duty@hlj.example.org",
        "duty@jl.example.org",
        "lalin-hzb@jl.example.org",
    ] {
        assert!(out.contains(addr), "{addr}");
    }
    assert!(out.contains("Message-ID: <rw-"), "{out}");
    let log = p.notifications();
    assert!(
        log.iter()
            .all(|n| n.last_reply.as_deref().unwrap_or("").starts_with("250")),
        "{log:?}"
    );
}

/// A relay that accepts connections and never says a word (a hung mail server): every
/// delivery waits for its greeting until the SMTP timeout.
struct SilentRelay {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}
impl SilentRelay {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, s) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        held.push(conn);
                    }
                    // Nothing to await here: the listener is polled until the test ends.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_with_a_hung_relay_stops_promptly_and_keeps_every_notification() {
    let relay = SilentRelay::start();
    let port = relay.port;
    let mut p = Pipeline::builder()
        .with_alerts_process(
            AlertsFile::new(0)
                .smtp_url(&format!("smtp://127.0.0.1:{port}"))
                .extra(
                    // A relay that hangs is waited for 10 minutes per message.
                    "group_by = [\"...\"]\nsmtp_timeout_secs = 600\n[alerts.routing.HLJ]\nrecipients = [{ id = \"hlj-duty\", name = \"黑龙江省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@hlj.example.org\"] }]\n[alerts.routing.JL]\nrecipients = [{ id = \"jl-duty\", name = \"吉林省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@jl.example.org\"] }]\n",
                ),
        )
        .start()
        .await;
    let stations = ["LLH-NTS", "LLH-LLZ", "LLH-YS"];
    let events: Vec<_> = stations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            message(&exceedance(
                &format!("hung-{i}"),
                EventStatus::Firing,
                s,
                "NH3N",
                minute(0),
            ))
        })
        .collect();
    p.publish("it-hung-pub", events).await;
    wait_until(
        Duration::from_secs(30),
        "six notifications queued, deliveries waiting on the relay",
        || p.notifications().len() == 6 && relay.accepted() >= 1,
    )
    .await;
    let started = std::time::Instant::now();
    let status = p.alerts_process().interrupt();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    // The senders drain for at most 10 s; the hung relay's 600 s are not waited for.
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    let log = p.notifications();
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(
        log.iter()
            .all(|n| matches!(n.status, DeliveryStatus::Queued | DeliveryStatus::Retrying)),
        "nothing given up: {log:?}"
    );
    // The relay comes back on the same port: the restarted service delivers all six once.
    drop(relay);
    let server = riverwatch_testkit::SmtpServer::start_on(port).unwrap();
    p.alerts_process().restart();
    wait_until(
        Duration::from_secs(30),
        "all six delivered after the restart",
        || {
            server.count() >= 6
                && p.notifications()
                    .iter()
                    .all(|n| n.status == DeliveryStatus::Sent)
        },
    )
    .await;
    let ids = deliveries(&server.received());
    let logged: BTreeSet<String> = log.iter().map(|n| n.message_id.clone()).collect();
    assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), logged);
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
    p.stop_alerts().await;
}

/// The base64 body of the attachment named `file_name` in a raw email.
fn attachment_bytes(raw: &str, file_name: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let raw = raw.replace("\r\n", "\n");
    // The name also appears in the HTML part (quoted-printable, so only when no soft line
    // break falls inside it): look for it after the attachment's header.
    let header = raw.find("Content-Disposition: attachment")?;
    let at = header + raw[header..].find(file_name)?;
    let rest = &raw[at..];
    let body = &rest[rest.find("\n\n")? + 2..];
    let end = body.find("\n--")?;
    let compact: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_report_arrives_once_with_its_workbook_attached() {
    let p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    // An evaluation store without evaluations yet: the report lists the sections unjudged.
    drop(riverwatch_analytics::store::AnalyticsStore::open(&p.analytics_db()).unwrap());
    let send = |to: &str| {
        p.cli(&[
            "report",
            "--period",
            "month",
            "--date",
            "2026-11-15",
            "--river",
            "lalin",
            "--send",
            "--to",
            to,
        ])
    };
    let (code, out, err) = send("lalin-hzb@hlj.example.org");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已加入发送队列"), "{out}");
    p.wait_emails(1, Duration::from_secs(30)).await;

    // The same report to the same recipient again: nothing new is queued.
    let (code, out, err) = send("lalin-hzb@hlj.example.org");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("此前已加入队列"), "{out}");
    // Another recipient afterwards; once it has arrived, the outbox held nothing else.
    let (code, out, err) = send("lalin-hzb@jl.example.org");
    assert_eq!(code, 0, "{out}{err}");
    p.wait_emails(2, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    assert_eq!(
        addresses(&received).get("lalin-hzb@hlj.example.org"),
        Some(&1)
    );
    assert_eq!(received.len(), 2);

    let mails = to(&received, "lalin-hzb@hlj.example.org");
    let mail = &mails[0];
    assert_eq!(mail.subject, "拉林河 2026年11月 月报");
    assert!(
        mail.html
            .contains("拉林河 河长制水质月报（2026-11-01 至 2026-11-30）"),
        "{}",
        mail.html
    );
    assert!(mail.text.contains("完整报表见附件"), "{}", mail.text);
    let raw = &received
        .iter()
        .find(|r| r.to.iter().any(|t| t.contains("lalin-hzb@hlj")))
        .unwrap()
        .data;
    assert!(raw.contains("multipart/mixed"), "{raw}");
    let xlsx = attachment_bytes(raw, "riverwatch-month-2026-11-01-lalin.xlsx")
        .unwrap_or_else(|| panic!("the workbook is attached: {raw}"));
    assert!(xlsx.starts_with(b"PK\x03\x04"), "a ZIP file");
    assert!(xlsx.len() > 1000, "{} bytes", xlsx.len());
}
