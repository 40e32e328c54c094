//! The audit trail both provinces can trust: an append-only, hash-chained log of alert state
//! changes, notifications (queued, sent, failed, expired), acknowledgements and silences.
//!
//! Row `n` stores `hash_n = SHA-256(hash_{n-1} ‖ canonical_n)` (hex), where `canonical_n` is
//! the JSON array `[seq, at_ms, actor, kind, alert_id, province, detail]` and `hash_0` is 64
//! zeros. Changing, deleting or inserting a row breaks every later link; [`verify`] walks the
//! chain and reports the first broken one. SQLite triggers refuse `UPDATE` and `DELETE` on
//! the table, so the service itself cannot rewrite history; someone editing the file by hand
//! is caught by the chain. Truncating the tail leaves a valid shorter chain, so the head
//! travels: every notification carries an [`Anchor`] (`#seq` and the first
//! [`ANCHOR_HEX_DIGITS`] hex digits of the hash) of the row that records it, written in the
//! same transaction, and `riverwatch audit verify --head SEQ:HASH` fails when the chain no
//! longer holds that row with that hash ([`verify_with`]). A recipient who keeps the anchors
//! of the notifications they received can prove that nothing up to them was removed or
//! rewritten.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::lifecycle::hex;
use crate::model::AuditRow;

/// The previous hash of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The actor name of the service itself.
pub const SERVICE: &str = "service";

/// Table and triggers (part of the store schema).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    alert_id  TEXT,
    province  TEXT,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_alert ON audit (alert_id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
";

/// Something to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Who: [`SERVICE`] or an operator's name.
    pub actor: &'a str,
    /// What happened.
    pub kind: &'a str,
    /// The alert concerned.
    pub alert_id: Option<&'a str>,
    /// The province concerned.
    pub province: Option<Province>,
    /// Details (serialized once; the stored text is what is hashed).
    pub detail: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// An entry by the service.
    pub fn service(kind: &'a str, alert_id: Option<&'a str>, detail: serde_json::Value) -> Self {
        Self {
            actor: SERVICE,
            kind,
            alert_id,
            province: None,
            detail,
        }
    }
}

#[derive(Serialize)]
struct Canonical<'a>(
    i64,
    i64,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

/// The canonical content of a row.
pub fn canonical(row: &AuditRow) -> String {
    let province = row.province.map(|p| p.code());
    serde_json::to_string(&Canonical(
        row.seq,
        row.at.timestamp_millis(),
        &row.actor,
        &row.kind,
        row.alert_id.as_deref(),
        province,
        &row.detail,
    ))
    .unwrap_or_default()
}

/// `SHA-256(prev_hash ‖ canonical)` as hex.
pub fn link_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.as_bytes());
    hex(&h.finalize())
}

/// Appends one row inside the caller's (immediate) transaction, chained to the last row.
///
/// # Errors
/// A database error.
pub fn append(
    tx: &Transaction<'_>,
    at: DateTime<Utc>,
    entry: &Entry<'_>,
) -> rusqlite::Result<AuditRow> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let at = DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
    let mut row = AuditRow {
        seq: prev_seq + 1,
        at,
        actor: entry.actor.to_string(),
        kind: entry.kind.to_string(),
        alert_id: entry.alert_id.map(str::to_string),
        province: entry.province,
        detail: serde_json::to_string(&entry.detail).unwrap_or_else(|_| "null".to_string()),
        prev_hash,
        hash: String::new(),
    };
    row.hash = link_hash(&row.prev_hash, &canonical(&row));
    tx.execute(
        "INSERT INTO audit (seq, at_ms, actor, kind, alert_id, province, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.seq,
            row.at.timestamp_millis(),
            row.actor,
            row.kind,
            row.alert_id,
            row.province.map(|p| p.code()),
            row.detail,
            row.prev_hash,
            row.hash
        ],
    )?;
    Ok(row)
}

/// Hex digits of the hash an anchor shows: 20, i.e. 80 bits. Forging a different chain
/// whose row at the same position has a hash with the same 80 leading bits takes about 2^80
/// SHA-256 evaluations.
pub const ANCHOR_HEX_DIGITS: usize = 20;

/// Fewest hex digits `--head` accepts: 16, i.e. 64 bits.
pub const MIN_ANCHOR_HEX_DIGITS: usize = 16;

/// Stands for the anchor (`#seq hash`) in a notification body until the notification is
/// recorded ([`fill_anchor`]).
pub const ANCHOR_PLACEHOLDER: &str = "[[rw:audit-head]]";

/// Stands for the anchor as a `--head` argument (`seq:hash`).
pub const ANCHOR_ARG_PLACEHOLDER: &str = "[[rw:audit-head-arg]]";

/// A point of the chain someone kept: a row's sequence number and a prefix of its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The row's sequence number.
    pub seq: i64,
    /// Leading hex digits of its hash (lower case).
    pub hash: String,
}

impl Anchor {
    /// The anchor of a row: its sequence number and [`ANCHOR_HEX_DIGITS`] of its hash.
    pub fn of(seq: i64, hash: &str) -> Self {
        Self {
            seq,
            hash: hash.chars().take(ANCHOR_HEX_DIGITS).collect(),
        }
    }

    /// As `riverwatch audit verify --head` takes it: `seq:hash`.
    pub fn arg(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }

    /// Whether a row's full hash starts with this anchor's digits.
    pub fn matches(&self, hash: &str) -> bool {
        hash.starts_with(&self.hash)
    }
}

/// `#seq hash`, as notifications show it.
impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.seq, self.hash)
    }
}

/// Parses `SEQ:HASH`, or `#SEQ HASH` as notifications show it (a trailing `…` is ignored);
/// the hash needs at least [`MIN_ANCHOR_HEX_DIGITS`] hex digits.
impl FromStr for Anchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('#');
        let t = t.trim_end_matches(['…', '.']).trim();
        let (seq, hash) = t
            .split_once(':')
            .or_else(|| t.split_once(char::is_whitespace))
            .ok_or_else(|| format!("`{s}` is not SEQ:HASH"))?;
        let seq: i64 = seq
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{}` is not a sequence number (1, 2, …)", seq.trim()))?;
        let hash = hash.trim().to_ascii_lowercase();
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) || hash.len() > 64 {
            return Err(format!("`{hash}` is not a SHA-256 hash in hex"));
        }
        if hash.len() < MIN_ANCHOR_HEX_DIGITS {
            return Err(format!(
                "`{hash}` has {} hex digits; give at least {MIN_ANCHOR_HEX_DIGITS}",
                hash.len()
            ));
        }
        Ok(Self { seq, hash })
    }
}

/// Puts a row's anchor where a notification body has [`ANCHOR_PLACEHOLDER`] and
/// [`ANCHOR_ARG_PLACEHOLDER`] (the store does the same in SQL when it records the
/// notification).
pub fn fill_anchor(body: &str, anchor: &Anchor) -> String {
    body.replace(ANCHOR_PLACEHOLDER, &anchor.to_string())
        .replace(ANCHOR_ARG_PLACEHOLDER, &anchor.arg())
}

/// Whether the chain still holds an anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AnchorState {
    /// The row is there with that hash.
    Holds,
    /// The chain ends before the row: rows were deleted from its end.
    Missing {
        /// Rows the chain has.
        rows: u64,
    },
    /// The row is there with another hash: it (or a row before it) was rewritten and the
    /// hashes recomputed.
    Differs {
        /// The row's hash as stored.
        stored: String,
    },
    /// The chain breaks before the row (see [`Verification::broken`]).
    Unreached,
}

/// One anchor checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorCheck {
    /// The anchor.
    pub anchor: Anchor,
    /// What the chain says.
    pub state: AnchorState,
}

/// Why a link is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// Rows are missing before this one (its sequence number skips).
    Gap {
        /// The sequence number expected.
        expected: i64,
    },
    /// The row's `prev_hash` is not the previous row's hash.
    PrevMismatch,
    /// The row's content does not give its stored hash (it was edited).
    ContentChanged,
}

impl Break {
    /// Chinese description.
    pub fn describe_zh(&self) -> String {
        match self {
            Break::Gap { expected } => {
                format!("序号不连续：缺少第 {expected} 条起的记录（记录被删除）")
            }
            Break::PrevMismatch => "前一条哈希不符（记录被删除、插入或前一条被改写）".to_string(),
            Break::ContentChanged => "内容与哈希不符（记录被篡改）".to_string(),
        }
    }

    /// English description.
    pub fn describe_en(&self) -> String {
        match self {
            Break::Gap { expected } => format!("sequence skips: rows from {expected} are missing (deleted)"),
            Break::PrevMismatch => "prev_hash is not the previous row's hash (a row was removed, inserted or rewritten)".to_string(),
            Break::ContentChanged => "content does not match its hash (the row was edited)".to_string(),
        }
    }
}

/// The first broken link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenLink {
    /// The row where the chain breaks.
    pub seq: i64,
    /// Why.
    pub reason: Break,
    /// The row as stored.
    pub row: AuditRow,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Rows checked (up to the first broken link).
    pub rows: u64,
    /// The last good row's sequence number and hash.
    pub head: Option<(i64, String)>,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
    /// The anchors asked for, each with what the chain says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<AnchorCheck>,
}

impl Verification {
    /// Whether the whole chain holds.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    /// Whether the chain holds and contains every anchor asked for.
    pub fn holds(&self) -> bool {
        self.is_intact() && self.anchors.iter().all(|a| a.state == AnchorState::Holds)
    }

    /// The anchor of the last good row.
    pub fn head_anchor(&self) -> Option<Anchor> {
        self.head.as_ref().map(|(s, h)| Anchor::of(*s, h))
    }
}

/// Walks rows in sequence order and reports the first broken link.
pub fn verify(rows: impl IntoIterator<Item = AuditRow>) -> Verification {
    verify_with(rows, &[])
}

/// Walks rows in sequence order, reports the first broken link, and checks that the chain
/// holds each anchor: the row at its sequence number, with a hash starting with its digits.
/// A chain cut short before an anchor's row, or rebuilt with other content, fails.
pub fn verify_with(rows: impl IntoIterator<Item = AuditRow>, anchors: &[Anchor]) -> Verification {
    let mut found: Vec<Option<String>> = vec![None; anchors.len()];
    let mut out = walk(rows, |row| {
        for (i, a) in anchors.iter().enumerate() {
            if a.seq == row.seq {
                found[i] = Some(row.hash.clone());
            }
        }
    });
    out.anchors = anchors
        .iter()
        .zip(found)
        .map(|(a, hash)| {
            let state = match hash {
                Some(h) if a.matches(&h) => AnchorState::Holds,
                Some(stored) => AnchorState::Differs { stored },
                None if out.broken.as_ref().is_some_and(|b| b.seq <= a.seq) => {
                    AnchorState::Unreached
                }
                None => AnchorState::Missing { rows: out.rows },
            };
            AnchorCheck {
                anchor: a.clone(),
                state,
            }
        })
        .collect();
    out
}

fn walk(rows: impl IntoIterator<Item = AuditRow>, mut good: impl FnMut(&AuditRow)) -> Verification {
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    let mut out = Verification {
        rows: 0,
        head: None,
        broken: None,
        anchors: Vec::new(),
    };
    for row in rows {
        let reason = if row.seq != expected_seq {
            Some(Break::Gap {
                expected: expected_seq,
            })
        } else if row.prev_hash != prev {
            Some(Break::PrevMismatch)
        } else if link_hash(&row.prev_hash, &canonical(&row)) != row.hash {
            Some(Break::ContentChanged)
        } else {
            None
        };
        if let Some(reason) = reason {
            out.broken = Some(BrokenLink {
                seq: row.seq,
                reason,
                row,
            });
            return out;
        }
        good(&row);
        out.rows += 1;
        expected_seq = row.seq + 1;
        prev = row.hash.clone();
        out.head = Some((row.seq, row.hash));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::t;
    use rusqlite::Connection;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    fn rows(c: &Connection) -> Vec<AuditRow> {
        let mut stmt = c
            .prepare("SELECT seq, at_ms, actor, kind, alert_id, province, detail, prev_hash, hash FROM audit ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| {
            Ok(AuditRow {
                seq: r.get(0)?,
                at: DateTime::from_timestamp_millis(r.get(1)?).unwrap(),
                actor: r.get(2)?,
                kind: r.get(3)?,
                alert_id: r.get(4)?,
                province: r.get::<_, Option<String>>(5)?.map(|p| p.parse().unwrap()),
                detail: r.get(6)?,
                prev_hash: r.get(7)?,
                hash: r.get(8)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    fn fill(c: &mut Connection, n: usize) {
        for i in 0..n {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            append(
                &tx,
                t(i as i64),
                &Entry {
                    actor: "张伟",
                    kind: "ack",
                    alert_id: Some("abc"),
                    province: Some(Province::Jilin),
                    detail: serde_json::json!({"comment": format!("已处置 {i}")}),
                },
            )
            .unwrap();
            tx.commit().unwrap();
        }
    }

    #[test]
    fn an_intact_chain_verifies_and_edits_are_found_at_their_row() {
        let mut c = db();
        fill(&mut c, 5);
        let v = verify(rows(&c));
        assert!(v.is_intact());
        assert_eq!(v.rows, 5);
        assert_eq!(v.head.as_ref().unwrap().0, 5);

        // The service cannot rewrite history.
        assert!(
            c.execute("UPDATE audit SET actor = 'x' WHERE seq = 3", [])
                .is_err()
        );
        assert!(c.execute("DELETE FROM audit WHERE seq = 3", []).is_err());

        // Someone editing the file by hand (triggers dropped) is caught at that row.
        c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
            .unwrap();
        c.execute(
            "UPDATE audit SET detail = '{\"comment\":\"未处置\"}' WHERE seq = 3",
            [],
        )
        .unwrap();
        let v = verify(rows(&c));
        let b = v.broken.unwrap();
        assert_eq!((b.seq, b.reason), (3, Break::ContentChanged));
        assert_eq!(v.rows, 2);
    }

    #[test]
    fn deleted_and_rehashed_rows_break_the_next_link() {
        let mut c = db();
        fill(&mut c, 5);
        c.execute_batch("DROP TRIGGER audit_no_delete; DROP TRIGGER audit_no_update;")
            .unwrap();
        c.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        let b = verify(rows(&c)).broken.unwrap();
        assert_eq!((b.seq, b.reason), (3, Break::Gap { expected: 2 }));

        // Edit row 4 and recompute its own hash: row 5's link breaks.
        let mut c = db();
        fill(&mut c, 5);
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        let mut row4 = rows(&c).remove(3);
        row4.actor = "someone else".into();
        let h = link_hash(&row4.prev_hash, &canonical(&row4));
        c.execute(
            "UPDATE audit SET actor = ?1, hash = ?2 WHERE seq = 4",
            params![row4.actor, h],
        )
        .unwrap();
        let b = verify(rows(&c)).broken.unwrap();
        assert_eq!((b.seq, b.reason), (5, Break::PrevMismatch));
    }

    /// Rows `from..` rewritten by someone who recomputes every hash after the edit: the
    /// chain verifies again.
    fn rehash_from(c: &Connection, from: i64) {
        let mut prev = rows(c)
            .iter()
            .find(|r| r.seq == from - 1)
            .map_or(GENESIS.to_string(), |r| r.hash.clone());
        for mut r in rows(c).into_iter().filter(|r| r.seq >= from) {
            r.prev_hash = prev.clone();
            r.hash = link_hash(&r.prev_hash, &canonical(&r));
            c.execute(
                "UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
                params![r.seq, r.prev_hash, r.hash],
            )
            .unwrap();
            prev = r.hash;
        }
    }

    #[test]
    fn a_kept_anchor_finds_a_truncated_tail_that_plain_verification_cannot() {
        let mut c = db();
        fill(&mut c, 6);
        let head = verify(rows(&c)).head_anchor().unwrap();
        assert_eq!(head.seq, 6);
        assert_eq!(head.hash.len(), ANCHOR_HEX_DIGITS);
        let early = Anchor::of(3, &rows(&c)[2].hash);
        let v = verify_with(rows(&c), &[head.clone(), early.clone()]);
        assert!(v.holds(), "{v:?}");

        // The last two rows are deleted: what is left is a valid, shorter chain.
        c.execute_batch("DROP TRIGGER audit_no_delete;").unwrap();
        c.execute("DELETE FROM audit WHERE seq >= 5", []).unwrap();
        let v = verify(rows(&c));
        assert!(v.is_intact() && v.rows == 4);
        let v = verify_with(rows(&c), &[head.clone(), early.clone()]);
        assert!(v.is_intact());
        assert!(!v.holds());
        assert_eq!(v.anchors[0].state, AnchorState::Missing { rows: 4 });
        assert_eq!(v.anchors[1].state, AnchorState::Holds);
    }

    #[test]
    fn a_kept_anchor_finds_a_rewritten_and_rehashed_chain() {
        let mut c = db();
        fill(&mut c, 5);
        let at4 = Anchor::of(4, &rows(&c)[3].hash);
        let at2 = Anchor::of(2, &rows(&c)[1].hash);
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        c.execute(
            "UPDATE audit SET detail = '{\"comment\":\"未处置\"}' WHERE seq = 3",
            [],
        )
        .unwrap();
        rehash_from(&c, 3);
        let v = verify_with(rows(&c), &[at4.clone(), at2.clone()]);
        assert!(v.is_intact(), "the rewritten chain links up again");
        let stored = rows(&c)[3].hash.clone();
        assert_eq!(v.anchors[0].state, AnchorState::Differs { stored });
        assert_eq!(v.anchors[1].state, AnchorState::Holds, "before the edit");

        // An edit without rehashing breaks the chain before the anchor's row.
        let mut c = db();
        fill(&mut c, 5);
        let at4 = Anchor::of(4, &rows(&c)[3].hash);
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        c.execute("UPDATE audit SET actor = 'x' WHERE seq = 2", [])
            .unwrap();
        let v = verify_with(rows(&c), &[at4]);
        assert!(!v.is_intact());
        assert_eq!(v.anchors[0].state, AnchorState::Unreached);
    }

    #[test]
    fn anchors_read_as_notifications_show_them_and_as_arguments() {
        let hash = "3f9a1c2b7e4d5a60c1d2aabbccddeeff00112233445566778899aabbccddeeff";
        let a = Anchor::of(1234, hash);
        assert_eq!(a.to_string(), "#1234 3f9a1c2b7e4d5a60c1d2");
        assert_eq!(a.arg(), "1234:3f9a1c2b7e4d5a60c1d2");
        for text in [
            "1234:3f9a1c2b7e4d5a60c1d2",
            "#1234 3f9a1c2b7e4d5a60c1d2",
            "#1234 3F9A1C2B7E4D5A60C1D2…",
            " 1234:3f9a1c2b7e4d5a60c1d2 ",
        ] {
            assert_eq!(text.parse::<Anchor>().unwrap(), a, "{text}");
        }
        assert!(
            format!("1234:{hash}")
                .parse::<Anchor>()
                .unwrap()
                .matches(hash)
        );
        for bad in [
            "1234",
            "0:3f9a1c2b7e4d5a60c1d2",
            "x:3f9a1c2b7e4d5a60c1d2",
            "1234:3f9a1c2b",
            "1234:3f9a1c2b7e4d5a6zzzzz",
        ] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
        let body = format!("链头 {ANCHOR_PLACEHOLDER}，核对 --head {ANCHOR_ARG_PLACEHOLDER}");
        assert_eq!(
            fill_anchor(&body, &a),
            "链头 #1234 3f9a1c2b7e4d5a60c1d2，核对 --head 1234:3f9a1c2b7e4d5a60c1d2"
        );
    }
}
