//! The packets of split HJ 212 messages still waiting for the rest of their message
//! (`held_packets`): changed in the same transaction as the readings and dead letters of the
//! batch, and loaded again when the store opens, so a restart keeps what was acknowledged.

use bytes::Bytes;
use riverwatch_core::store_api::{HeldChange, HeldPacket, StoreError};
use rusqlite::{Connection, params};

use super::{local, millis};

/// Applies changes to the held packets in an open transaction, in order.
pub(super) fn apply_held(
    tx: &rusqlite::Transaction<'_>,
    changes: &[HeldChange],
) -> Result<(), StoreError> {
    let mut keep = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO held_packets \
             (mn, qn, pno, pnum, station, st, cn, flag, cp, topic, received_ms, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(local)?;
    let mut release = tx
        .prepare_cached("DELETE FROM held_packets WHERE mn = ?1 AND qn = ?2")
        .map_err(local)?;
    for change in changes {
        match change {
            HeldChange::Keep(p) => keep
                .execute(params![
                    p.mn,
                    p.qn,
                    p.pno,
                    p.pnum,
                    p.station,
                    p.st,
                    p.cn,
                    p.flag,
                    p.cp,
                    p.topic,
                    p.received_at.timestamp_millis(),
                    p.payload.as_ref(),
                ])
                .map_err(local)?,
            HeldChange::Release { mn, qn } => release.execute(params![mn, qn]).map_err(local)?,
        };
    }
    Ok(())
}

/// Every held packet, by MN, QN and PNO.
pub(super) fn load_held(conn: &Connection) -> Result<Vec<HeldPacket>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT mn, qn, pno, pnum, station, st, cn, flag, cp, topic, received_ms, payload \
             FROM held_packets ORDER BY mn, qn, pno",
        )
        .map_err(local)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, u32>(3)?,
                ),
                (
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, u8>(7)?,
                    r.get::<_, String>(8)?,
                ),
                (
                    r.get::<_, String>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Vec<u8>>(11)?,
                ),
            ))
        })
        .map_err(local)?;
    let mut out = Vec::new();
    for row in rows {
        let ((mn, qn, pno, pnum), (station, st, cn, flag, cp), (topic, received_ms, payload)) =
            row.map_err(local)?;
        out.push(HeldPacket {
            station,
            mn,
            qn,
            pno,
            pnum,
            st,
            cn,
            flag,
            cp,
            topic,
            received_at: millis(received_ms)?,
            payload: Bytes::from(payload),
        });
    }
    Ok(out)
}
