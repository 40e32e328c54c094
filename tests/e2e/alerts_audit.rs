//! Alerts end to end, the audit trail and the store: a tampered row found, the audit head
//! in an email showing rows deleted from the end, a corrupt store refused at start.

use std::time::Duration;

use riverwatch_core::events::EventStatus;

use crate::alerts::{exceedance, message, minute};
use crate::fixture::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_tampered_row() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let e = exceedance("aud-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-h-pub", vec![message(&e)]).await;
    p.wait_emails(5, Duration::from_secs(30)).await;
    p.stop_alerts().await;
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");

    // Someone rewrites who was notified in row 3, after dropping the append-only trigger.
    let conn = rusqlite::Connection::open(p.alerts_db()).unwrap();
    assert!(
        conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 3", [])
            .is_err(),
        "append-only"
    );
    conn.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    conn.execute(
        "UPDATE audit SET detail = replace(detail, 'example.org', 'example.net') WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let (code, out, err) = p.cli(&["audit", "verify"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("审计链在第 3 条记录处断开"), "{err}");
    assert!(err.contains("内容与哈希不符"), "{err}");
    let (_, _, err) = p.cli(&["--lang", "en", "audit", "verify"]);
    assert!(err.contains("broken at row 3"), "{err}");
}

/// The anchor (`#seq hash`) an email carries, as `seq:hash`.
fn anchor_of(mail: &ParsedMail) -> (i64, String) {
    let rest = mail
        .text
        .split("审计链头：#")
        .nth(1)
        .unwrap_or_else(|| panic!("no audit head in:\n{}", mail.text));
    let mut parts = rest.split([' ', '（']);
    let seq = parts.next().unwrap().parse().unwrap();
    let hash = parts.next().unwrap().to_string();
    assert!(
        mail.html.contains(&format!("#{seq} {hash}")),
        "the HTML part carries the same head"
    );
    (seq, hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_head_in_an_email_shows_rows_deleted_from_the_end() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let e = exceedance("head-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-head-pub", vec![message(&e)]).await;
    p.wait_emails(5, Duration::from_secs(30)).await;
    p.stop_alerts().await;
    let received = p.smtp().received();
    let mails: Vec<ParsedMail> = received.iter().map(Received::parsed).collect();
    // Each email's head is the audit row recording that very email.
    let reader = p.alert_reader().unwrap();
    let rows = reader.audit(&Default::default()).unwrap();
    let mut heads = Vec::new();
    for m in &mails {
        let (seq, hash) = anchor_of(m);
        assert_eq!(hash.len(), 20, "80 bits");
        let row = rows.iter().find(|r| r.seq == seq).unwrap();
        assert!(row.hash.starts_with(&hash));
        assert_eq!(row.kind, "notification_queued");
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap();
        assert_eq!(
            detail["message_id"],
            m.message_id.as_str(),
            "{}",
            row.detail
        );
        heads.push((seq, hash));
    }
    let (seq, hash) = heads.iter().max().unwrap().clone();
    let head = format!("{seq}:{hash}");
    let (code, out, err) = p.cli(&["audit", "verify", "--head", &head]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("包含链头 #{seq} {hash}")), "{out}");
    // As the email shows it, too.
    let (code, _, _) = p.cli(&["audit", "verify", "--head", &format!("#{seq} {hash}")]);
    assert_eq!(code, 0);

    // Someone deletes the last rows (from the newest email's record on), dropping the
    // append-only trigger first.
    let conn = rusqlite::Connection::open(p.alerts_db()).unwrap();
    assert!(
        conn.execute("DELETE FROM audit WHERE seq >= ?1", [seq])
            .is_err(),
        "append-only"
    );
    conn.execute_batch("DROP TRIGGER audit_no_delete;").unwrap();
    let deleted = conn
        .execute("DELETE FROM audit WHERE seq >= ?1", [seq])
        .unwrap();
    assert!(deleted >= 1);
    drop(conn);
    // What is left is a valid chain: plain verification cannot tell.
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");
    // The head from the email can.
    let (code, out, err) = p.cli(&["audit", "verify", "--head", &head]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(&format!("审计链不包含链头 #{seq} {hash}")) && err.contains("末尾被截短"),
        "{err}"
    );
    let (code, _, err) = p.cli(&["--lang", "en", "audit", "verify", "--head", &head]);
    assert_eq!(code, 2);
    assert!(err.contains("no longer contains head"), "{err}");
    // An earlier email's head is still there.
    let (earlier, h) = heads.iter().min().unwrap().clone();
    if earlier < seq {
        let (code, out, err) = p.cli(&["audit", "verify", "--head", &format!("{earlier}:{h}")]);
        assert_eq!(code, 0, "{out}{err}");
    }
    // A head that is not one is refused in both languages.
    let (code, _, err) = p.cli(&["audit", "verify", "--head", "12:abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("--head `12:abc` 格式有误"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_store_at_start_is_refused_by_name_and_left_as_it_is() {
    let p = Pipeline::builder().start().await;
    let data = p.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    // Not a database: 8 KiB that do not start with SQLite's header.
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    // Analytics reads the readings store: a sound one, until its own turn comes.
    drop(
        riverwatch_ingest::store::SqliteStore::open(
            &p.readings_db(),
            &riverwatch_ingest::store::sqlite::test_sqlite_config(),
        )
        .unwrap(),
    );
    for (command, file) in [
        ("analytics", "analytics.db"),
        ("alerts", "alerts.db"),
        ("ingest", "readings.db"),
    ] {
        let path = data.join(file);
        std::fs::write(&path, &garbage).unwrap();
        let (code, _, err) = p.cli(&["--lang", "en", command]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains(file), "{command} names the file: {err}");
        assert!(
            err.contains("move it aside"),
            "{command} says what to do: {err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "{command} left {file} as it was"
        );
    }
}
