//! An in-memory store: the reference model of the store contract, for model tests of the
//! real stores and for engines under test.

use std::sync::Arc;

use riverwatch_core::DeadLetter;
use riverwatch_core::reading::Reading;
use riverwatch_core::store_api::{
    Conflict, HeldChange, HeldPacket, ReadingQuery, StoreError, StoreReader, StoreWriter,
    WriteBatch, WriteReport,
};

/// An in-memory store for tests: the reference model of the contract (idempotent on
/// station, parameter, time and period; readings ordered by station, parameter, time).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<std::sync::Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    readings: std::collections::BTreeMap<(String, String, i64, u8), Reading>,
    dead: Vec<DeadLetter>,
    held: std::collections::BTreeMap<(String, String, u32), HeldPacket>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored reading, ordered.
    pub fn readings(&self) -> Vec<Reading> {
        self.inner
            .lock()
            .map(|i| i.readings.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The packets of split HJ 212 messages held now, by MN, QN and PNO.
    pub fn held(&self) -> Vec<HeldPacket> {
        self.inner
            .lock()
            .map(|i| i.held.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every dead letter, in arrival order.
    pub fn dead(&self) -> Vec<DeadLetter> {
        self.inner
            .lock()
            .map(|i| i.dead.clone())
            .unwrap_or_default()
    }
}

impl StoreWriter for MemoryStore {
    async fn write(&mut self, batch: Arc<WriteBatch>) -> Result<WriteReport, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Shutdown)?;
        let mut report = WriteReport::default();
        for (index, r) in batch.readings.iter().enumerate() {
            let key = (
                r.station.to_string(),
                r.parameter.to_string(),
                r.observed_at.timestamp_millis(),
                r.period.code(),
            );
            match inner.readings.get(&key) {
                None => {
                    inner.readings.insert(key, r.clone());
                    report.inserted.push(true);
                    continue;
                }
                Some(s) if s.value == r.value && s.flag == r.flag => {
                    report.duplicates += 1;
                }
                Some(s) => report.conflicts.push(Conflict {
                    index,
                    stored_value: s.value,
                    stored_flag: s.flag,
                }),
            }
            report.inserted.push(false);
        }
        inner.dead.extend(batch.dead_letters.iter().cloned());
        for change in &batch.held {
            match change {
                HeldChange::Keep(p) => {
                    inner
                        .held
                        .insert((p.mn.clone(), p.qn.clone(), p.pno), p.clone());
                }
                HeldChange::Release { mn, qn } => {
                    inner.held.retain(|(m, q, _), _| !(m == mn && q == qn))
                }
            }
        }
        Ok(report)
    }

    async fn held_packets(&mut self) -> Result<Vec<HeldPacket>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Shutdown)?;
        Ok(inner.held.values().cloned().collect())
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl StoreReader for MemoryStore {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Shutdown)?;
        let mut out: Vec<Reading> = inner
            .readings
            .values()
            .filter(|r| q.matches(r))
            .cloned()
            .collect();
        if let Some(limit) = q.limit {
            out.truncate(limit);
        }
        Ok(out)
    }
}
