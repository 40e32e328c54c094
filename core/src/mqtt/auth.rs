//! Authentication of the internal messages (`readings/`, `events/`, `alerts/`, `status/`):
//! every message a service publishes carries an HMAC-SHA256 over its topic and payload with
//! the deployment key ([`crate::keys`]), and every consumer checks it before it reads the
//! payload (`docs/design/0007-internal-message-mac.md`).
//!
//! The connections speak MQTT 3.1.1, which has no user properties, so the MAC travels in the
//! JSON payload as its last member, `"mac":"rw1:<key id>:<64 hex digits>"`, appended by
//! [`sign`] after the bytes it covers. The rest of the payload is byte for byte what the
//! service wrote, so a reader that ignores unknown members reads it as before; [`verify`]
//! takes the member off again and returns the signed bytes. The MAC covers
//! `riverwatch/1\n{topic}\n{payload without the member}`: a message moved to another topic
//! (another station) fails.
//!
//! A consumer refuses a message without a MAC, with a key id it does not know or a MAC that
//! does not match, one that does not parse, and one whose time lies outside the
//! [`TimeWindow`] around its clock; it keeps each in the `rejected_messages` table of its
//! own store ([`keep_rejected`]) with the reason and counts it
//! (`internal_messages_refused_total{service,reason}`). The MAC does not hide anything
//! (confidentiality is TLS's job) and does not stop the replay of a genuine message, which
//! the consumers recognise by its ids.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::keys::{KeyRing, hex, unhex};
use crate::telemetry::counter;

/// Name of the payload member that carries the MAC.
pub const FIELD: &str = "mac";
/// Domain separation of the MAC input.
const DOMAIN: &[u8] = b"riverwatch/1\n";

/// `"mac":"rw1:` — what the signed member starts with (`rw1`: the version of the scheme).
const HEAD: &str = "\"mac\":\"rw1:";
/// Length of the member: head, 8 hex key id, `:`, 64 hex MAC, `"` and the closing `}`.
const MEMBER_LEN: usize = HEAD.len() + 8 + 1 + 64 + 2;

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let mut inner = Sha256::new();
    inner.update(&ipad);
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer);
    out
}

fn mac(key: &[u8], topic: &str, payload: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[DOMAIN, topic.as_bytes(), b"\n", payload])
}

/// A payload that cannot be signed: only JSON objects carry a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only a JSON object can be signed")]
pub struct NotAnObject;

/// `payload` (a JSON object) with the MAC of `topic` and `payload` under the ring's signing
/// key as its last member.
///
/// # Errors
/// A payload that is not `{…}` (no whitespace after the closing brace).
pub fn sign(keys: &KeyRing, topic: &str, payload: &[u8]) -> Result<Vec<u8>, NotAnObject> {
    let (Some(b'{'), Some(b'}')) = (payload.first(), payload.last()) else {
        return Err(NotAnObject);
    };
    let key = keys.signing();
    let m = mac(key.secret(), topic, payload);
    let body = &payload[..payload.len() - 1];
    let empty = body[1..].iter().all(u8::is_ascii_whitespace);
    let mut out = Vec::with_capacity(payload.len() + MEMBER_LEN + 1);
    out.extend_from_slice(if empty { b"{" } else { body });
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(HEAD.as_bytes());
    out.extend_from_slice(key.id().as_bytes());
    out.push(b':');
    out.extend_from_slice(hex(&m).as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}

/// Why a consumer refused an internal message (stable codes, in metrics and the
/// `rejected_messages` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalCode {
    /// No MAC member at the end of the payload.
    Unsigned,
    /// A MAC by a key the consumer does not have.
    UnknownKey,
    /// The MAC does not match the topic and payload.
    BadMac,
    /// Authentic, but its time is too far from the consumer's clock.
    OutOfRange,
    /// Authentic, but not the message the topic carries.
    Malformed,
}

impl RefusalCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::Unsigned => "unsigned",
            RefusalCode::UnknownKey => "unknown_key",
            RefusalCode::BadMac => "bad_mac",
            RefusalCode::OutOfRange => "out_of_range",
            RefusalCode::Malformed => "malformed",
        }
    }
}

/// A refused message's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", code.as_str())]
pub struct Refusal {
    /// The code.
    pub code: RefusalCode,
    /// What exactly (never key material).
    pub detail: String,
}

impl Refusal {
    /// A refusal.
    pub fn new(code: RefusalCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// Checks the MAC of a message on `topic`; returns the payload without the MAC member,
/// exactly the bytes the publisher signed.
///
/// # Errors
/// [`RefusalCode::Unsigned`], [`RefusalCode::UnknownKey`] or [`RefusalCode::BadMac`].
pub fn verify(keys: &KeyRing, topic: &str, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
    let unsigned = || {
        Refusal::new(
            RefusalCode::Unsigned,
            format!("no `{FIELD}` member ending the payload"),
        )
    };
    if payload.len() < MEMBER_LEN + 1 {
        return Err(unsigned());
    }
    let at = payload.len() - MEMBER_LEN;
    let member = &payload[at..];
    let Some(rest) = member.strip_prefix(HEAD.as_bytes()) else {
        return Err(unsigned());
    };
    let (id, rest) = rest.split_at(8);
    let (colon, rest) = rest.split_at(1);
    let (value, end) = rest.split_at(64);
    if colon != b":" || end != b"\"}" {
        return Err(unsigned());
    }
    let id = std::str::from_utf8(id).map_err(|_| unsigned())?;
    let claimed = std::str::from_utf8(value)
        .ok()
        .and_then(unhex)
        .ok_or_else(unsigned)?;
    let mut signed = match payload[at - 1] {
        b',' => payload[..at - 1].to_vec(),
        b'{' => payload[..at].to_vec(),
        _ => return Err(unsigned()),
    };
    signed.push(b'}');
    let Some(key) = keys.find(id) else {
        return Err(Refusal::new(
            RefusalCode::UnknownKey,
            format!(
                "signed with key {id}, which is not one of this service's keys ({})",
                keys.ids().join(", ")
            ),
        ));
    };
    let expected = mac(key.secret(), topic, &signed);
    if bool::from(expected.ct_eq(claimed.as_slice())) {
        Ok(signed)
    } else {
        Err(Refusal::new(
            RefusalCode::BadMac,
            format!("the MAC (key {id}) does not match the topic and payload"),
        ))
    }
}

/// How far from the consumer's clock a message's time may lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Ahead of the clock.
    pub max_ahead: Duration,
    /// Behind the clock.
    pub max_age: Duration,
}

impl TimeWindow {
    /// Checks a time against both bounds.
    ///
    /// # Errors
    /// [`RefusalCode::OutOfRange`].
    pub fn check(&self, what: &str, t: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.check_ahead(what, t, now)?;
        let age = chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
        if now.checked_sub_signed(age).is_some_and(|floor| t < floor) {
            return Err(Refusal::new(
                RefusalCode::OutOfRange,
                format!(
                    "{what} {} is more than {} s before the clock ({})",
                    t.to_rfc3339(),
                    self.max_age.as_secs(),
                    now.to_rfc3339()
                ),
            ));
        }
        Ok(())
    }

    /// Checks a time against the bound ahead of the clock only.
    ///
    /// # Errors
    /// [`RefusalCode::OutOfRange`].
    pub fn check_ahead(
        &self,
        what: &str,
        t: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let ahead = chrono::Duration::from_std(self.max_ahead).unwrap_or(chrono::Duration::MAX);
        if now
            .checked_add_signed(ahead)
            .is_some_and(|ceiling| t > ceiling)
        {
            return Err(Refusal::new(
                RefusalCode::OutOfRange,
                format!(
                    "{what} {} is more than {} s ahead of the clock ({})",
                    t.to_rfc3339(),
                    self.max_ahead.as_secs(),
                    now.to_rfc3339()
                ),
            ));
        }
        Ok(())
    }
}

/// What a consumer checks: the keys and the time window.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeyRing,
    /// The time window.
    pub window: TimeWindow,
    service: &'static str,
}

impl Verifier {
    /// The checks of `service` (its name in the metrics).
    pub fn new(service: &'static str, keys: KeyRing, window: TimeWindow) -> Self {
        Self {
            keys,
            window,
            service,
        }
    }

    /// Checks the MAC; the signed payload without it.
    ///
    /// # Errors
    /// See [`verify`].
    pub fn open(&self, topic: &str, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
        verify(&self.keys, topic, payload)
    }

    /// Counts a refusal (`internal_messages_refused_total{service,reason}`).
    pub fn count(&self, code: RefusalCode) {
        refused_counter(self.service, code).inc();
    }
}

/// The counter of messages `service` refused for `code`.
pub fn refused_counter(service: &str, code: RefusalCode) -> crate::telemetry::Counter {
    counter(
        "internal_messages_refused_total",
        &[("service", service), ("reason", code.as_str())],
    )
}

/// The table a consumer keeps refused messages in (part of its store's tables).
pub const REJECTED_TABLE: &str = "
CREATE TABLE IF NOT EXISTS rejected_messages (
    id INTEGER PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
";

/// Most refused messages a store keeps; older ones are deleted (and counted) beyond it.
pub const REJECTED_KEEP: i64 = 100_000;

/// A refused message as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Its topic.
    pub topic: String,
    /// Why.
    pub refusal: Refusal,
    /// Its payload as received.
    pub payload: Vec<u8>,
}

/// Keeps refused messages in `rejected_messages` (in the caller's transaction), deleting the
/// oldest beyond [`REJECTED_KEEP`]; returns how many old rows were deleted (also counted in
/// `internal_messages_rejected_deleted_total`).
///
/// # Errors
/// SQLite errors.
pub fn keep_rejected(conn: &Connection, rows: &[Rejected]) -> rusqlite::Result<usize> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO rejected_messages (received_at_ms, topic, reason_code, reason, payload)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in rows {
        insert.execute(params![
            r.received_at.timestamp_millis(),
            r.topic,
            r.refusal.code.as_str(),
            r.refusal.detail,
            r.payload
        ])?;
    }
    let deleted = conn.execute(
        "DELETE FROM rejected_messages WHERE id <= (SELECT max(id) FROM rejected_messages) - ?1",
        [REJECTED_KEEP],
    )?;
    if deleted > 0 {
        counter("internal_messages_rejected_deleted_total", &[]).add(deleted as u64);
    }
    Ok(deleted)
}

/// A kept refused message: (topic, reason code, reason, payload).
pub type RejectedRow = (String, String, String, Vec<u8>);

/// The refused messages of a store, oldest first.
///
/// # Errors
/// SQLite errors (also a store without the table).
pub fn rejected_messages(conn: &Connection) -> rusqlite::Result<Vec<RejectedRow>> {
    let mut q = conn
        .prepare("SELECT topic, reason_code, reason, payload FROM rejected_messages ORDER BY id")?;
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;

    fn ring(byte: u8) -> KeyRing {
        KeyRing::new(vec![Key::new(vec![byte; 32]).unwrap()]).unwrap()
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(hex(&hmac_sha256(key, &[data])), want);
        }
        // Parts are concatenated.
        assert_eq!(
            hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
            hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"])
        );
    }

    #[test]
    fn a_signed_payload_is_the_same_json_plus_the_mac_and_verifies_back() {
        let keys = ring(7);
        let topic = "rw/v1/events/LLH-CJG";
        let payload = br#"{"id":"e1","status":"resolved","observed_at":"2026-11-22T00:00:00Z"}"#;
        let signed = sign(&keys, topic, payload).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(v["id"], "e1");
        let mac = v[FIELD].as_str().unwrap();
        assert!(
            mac.starts_with(&format!("rw1:{}:", keys.signing().id())),
            "{mac}"
        );
        assert_eq!(verify(&keys, topic, &signed).unwrap(), payload);
        // An empty object too.
        let signed = sign(&keys, topic, b"{}").unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&signed).is_ok());
        assert_eq!(verify(&keys, topic, &signed).unwrap(), b"{}");
        assert_eq!(sign(&keys, topic, b"[1]"), Err(NotAnObject));
        assert_eq!(sign(&keys, topic, b""), Err(NotAnObject));
    }

    #[test]
    fn forged_altered_moved_and_foreign_messages_are_refused() {
        let keys = ring(7);
        let topic = "rw/v1/events/LLH-CJG";
        let payload = br#"{"id":"e1","status":"firing","value":1.62}"#;
        let signed = sign(&keys, topic, payload).unwrap();
        let code = |r: Result<Vec<u8>, Refusal>| r.unwrap_err().code;
        assert_eq!(code(verify(&keys, topic, payload)), RefusalCode::Unsigned);
        assert_eq!(code(verify(&keys, topic, b"")), RefusalCode::Unsigned);
        let altered = String::from_utf8(signed.clone())
            .unwrap()
            .replace("1.62", "9.62");
        assert_eq!(
            code(verify(&keys, topic, altered.as_bytes())),
            RefusalCode::BadMac
        );
        assert_eq!(
            code(verify(&keys, "rw/v1/events/LLH-HK", &signed)),
            RefusalCode::BadMac
        );
        // Someone with another key (or a guessed id) gets nowhere.
        let other = ring(8);
        assert_eq!(
            code(verify(&keys, topic, &sign(&other, topic, payload).unwrap())),
            RefusalCode::UnknownKey
        );
        let mut wrong = sign(&keys, topic, payload).unwrap();
        let n = wrong.len();
        wrong[n - 3] = if wrong[n - 3] == b'0' { b'1' } else { b'0' };
        assert_eq!(code(verify(&keys, topic, &wrong)), RefusalCode::BadMac);
    }

    #[test]
    fn a_previous_key_still_verifies_while_the_new_one_signs() {
        let old = ring(1);
        let new = ring(2);
        let both = KeyRing::new(vec![new.signing().clone(), old.signing().clone()]).unwrap();
        let topic = "rw/v1/readings/LLH-CJG";
        let by_old = sign(&old, topic, b"{\"a\":1}").unwrap();
        assert!(verify(&both, topic, &by_old).is_ok());
        let by_both = sign(&both, topic, b"{\"a\":1}").unwrap();
        assert!(verify(&new, topic, &by_both).is_ok(), "the first key signs");
        assert!(verify(&old, topic, &by_both).is_err());
    }

    #[test]
    fn the_time_window_refuses_9999_and_the_far_past() {
        let w = TimeWindow {
            max_ahead: Duration::from_secs(3600),
            max_age: Duration::from_secs(90 * 86_400),
        };
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let far = DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            w.check("event", far, now).unwrap_err().code,
            RefusalCode::OutOfRange
        );
        assert!(
            w.check("event", now + chrono::Duration::minutes(59), now)
                .is_ok()
        );
        assert!(
            w.check("event", now + chrono::Duration::minutes(61), now)
                .is_err()
        );
        assert!(
            w.check("event", now - chrono::Duration::days(89), now)
                .is_ok()
        );
        assert!(
            w.check("event", now - chrono::Duration::days(91), now)
                .is_err()
        );
        assert!(
            w.check_ahead("reading", now - chrono::Duration::days(9000), now)
                .is_ok()
        );
        assert!(w.check_ahead("reading", far, now).is_err());
    }

    #[test]
    fn refused_messages_are_kept_with_their_reason() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(REJECTED_TABLE).unwrap();
        let r = Rejected {
            received_at: Utc::now(),
            topic: "rw/v1/events/X".into(),
            refusal: Refusal::new(RefusalCode::Unsigned, "no mac"),
            payload: b"{}".to_vec(),
        };
        assert_eq!(keep_rejected(&conn, &[r.clone(), r]).unwrap(), 0);
        let rows = rejected_messages(&conn).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1, "unsigned");
        assert_eq!(rows[0].3, b"{}");
    }
}
