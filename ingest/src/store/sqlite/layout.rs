//! The stored form of readings: one row per *observation* (a station's values for one time
//! and period), its values packed into a blob, so a message of eight readings is one B-tree
//! insert instead of eight.
//!
//! A blob is a format byte followed by fixed-size entries, one per parameter:
//! `param_id: u32`, `flag: u8` (the flag letter), `value: f64`, `received_ms: i64`, all
//! little-endian. A parameter appears at most once per observation, which keeps the dedup key
//! (station, parameter, time, period) of the readings.

use std::collections::HashMap;

/// The blob format written by this version.
pub(super) const FORMAT: u8 = 1;
/// Bytes per entry.
pub(super) const ENTRY: usize = 21;

/// One parameter's value inside an observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    pub param_id: u32,
    pub flag: u8,
    pub value: f64,
    pub received_ms: i64,
}

impl Entry {
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.param_id.to_le_bytes());
        out.push(self.flag);
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&self.received_ms.to_le_bytes());
    }

    fn read(b: &[u8]) -> Option<Self> {
        Some(Self {
            param_id: u32::from_le_bytes(b.get(0..4)?.try_into().ok()?),
            flag: *b.get(4)?,
            value: f64::from_le_bytes(b.get(5..13)?.try_into().ok()?),
            received_ms: i64::from_le_bytes(b.get(13..21)?.try_into().ok()?),
        })
    }
}

/// The entries of a stored blob.
///
/// # Errors
/// A blob of another format or a length that is not whole entries (a damaged file).
pub(super) fn decode(blob: &[u8]) -> Result<impl Iterator<Item = Entry> + '_, String> {
    match blob.split_first() {
        Some((&FORMAT, body)) if body.len() % ENTRY == 0 => {
            Ok(body.chunks_exact(ENTRY).filter_map(Entry::read))
        }
        Some((&format, body)) => Err(format!(
            "observation blob of format {format} and {} bytes; this riverwatch reads format {FORMAT} in {ENTRY}-byte entries",
            body.len()
        )),
        None => Err("empty observation blob".to_string()),
    }
}

/// An observation's key: (ts_ms, station_id, period).
pub(super) type ObsKey = (i64, i64, i64);

/// One reading of a batch as the store sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub key: ObsKey,
    pub entry: Entry,
}

/// An observation to write: its key, its entries' byte range in [`Grouped::blobs`] and the
/// indexes (into the batch) of the readings it holds.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub key: ObsKey,
    pub blob: std::ops::Range<usize>,
    pub members: std::ops::Range<usize>,
}

/// A batch's readings grouped into observations, in order of first appearance. The buffers
/// are kept between batches for their capacity.
#[derive(Debug, Default)]
pub(super) struct Grouped {
    pub groups: Vec<Group>,
    /// Batch indexes of the readings, group after group.
    pub members: Vec<usize>,
    /// The blobs, group after group (each starting with the format byte).
    pub blobs: Vec<u8>,
    /// Readings left out as repeats: (batch index of the repeat, batch index of the
    /// reading of the same (key, parameter) that is in a group).
    pub repeats: Vec<(usize, usize)>,
    order: Vec<(usize, usize)>,
    index: HashMap<ObsKey, usize>,
}

impl Grouped {
    /// Groups `rows` (in batch order). A reading repeating a (key, parameter) of the same
    /// batch is left out of every group: only its first occurrence is stored, and the
    /// repeat's batch index appears in no [`Group::members`].
    pub(super) fn build(&mut self, rows: &[Row]) {
        self.groups.clear();
        self.members.clear();
        self.blobs.clear();
        self.repeats.clear();
        self.order.clear();
        self.index.clear();
        // Readings of one message are contiguous, so most rows join the previous group
        // without a hash lookup.
        let mut last: Option<(ObsKey, usize)> = None;
        for (i, row) in rows.iter().enumerate() {
            let g = match last {
                Some((key, g)) if key == row.key => g,
                _ => {
                    let next = self.index.len();
                    let g = *self.index.entry(row.key).or_insert(next);
                    last = Some((row.key, g));
                    g
                }
            };
            self.order.push((g, i));
        }
        // Stable: each group keeps its readings in batch order. Already sorted when every
        // observation arrived in one piece.
        self.order.sort_by_key(|&(g, _)| g);
        let mut start = 0;
        while start < self.order.len() {
            let g = self.order[start].0;
            let end = start
                + self.order[start..]
                    .iter()
                    .take_while(|&&(h, _)| h == g)
                    .count();
            let first_member = self.members.len();
            let blob_start = self.blobs.len();
            self.blobs.push(FORMAT);
            for &(_, i) in &self.order[start..end] {
                let entry = rows[i].entry;
                let seen = self.members[first_member..]
                    .iter()
                    .find(|&&m| rows[m].entry.param_id == entry.param_id);
                match seen {
                    Some(&first) => self.repeats.push((i, first)),
                    None => {
                        entry.write(&mut self.blobs);
                        self.members.push(i);
                    }
                }
            }
            self.groups.push(Group {
                key: rows[self.order[start].1].key,
                blob: blob_start..self.blobs.len(),
                members: first_member..self.members.len(),
            });
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: i64, station: i64, param: u32, value: f64) -> Row {
        Row {
            key: (ts, station, 0),
            entry: Entry {
                param_id: param,
                flag: b'N',
                value,
                received_ms: ts + 5,
            },
        }
    }

    #[test]
    fn entries_round_trip_through_a_blob() {
        let entries = [
            Entry {
                param_id: 7,
                flag: b'M',
                value: -0.125,
                received_ms: 1_795_305_600_123,
            },
            Entry {
                param_id: u32::MAX,
                flag: b'N',
                value: 1e300,
                received_ms: -1,
            },
        ];
        let mut blob = vec![FORMAT];
        for e in &entries {
            e.write(&mut blob);
        }
        assert_eq!(blob.len(), 1 + 2 * ENTRY);
        let back: Vec<Entry> = decode(&blob).unwrap().collect();
        assert_eq!(back, entries);
    }

    #[test]
    fn a_blob_of_another_format_or_a_torn_length_is_refused() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[2]).is_err_and(|e| e.contains("format 2")));
        let mut torn = vec![FORMAT];
        torn.extend_from_slice(&[0; ENTRY - 1]);
        assert!(decode(&torn).is_err());
    }

    #[test]
    fn readings_group_by_observation_and_repeats_are_set_aside() {
        let rows = [
            row(0, 1, 1, 7.0),
            row(0, 1, 2, 8.0),
            row(0, 2, 1, 7.5),
            // The first observation again, later in the batch: one new parameter, one repeat.
            row(0, 1, 3, 0.3),
            row(0, 1, 1, 9.9),
        ];
        let mut g = Grouped::default();
        g.build(&rows);
        assert_eq!(g.groups.len(), 2);
        assert_eq!(g.groups[0].key, (0, 1, 0));
        assert_eq!(&g.members[g.groups[0].members.clone()], &[0, 1, 3]);
        assert_eq!(&g.members[g.groups[1].members.clone()], &[2]);
        // The repeat (batch index 4) is in no group; every other reading is.
        assert_eq!(g.members.len(), 4);
        assert!(!g.members.contains(&4));
        assert_eq!(g.repeats, vec![(4, 0)]);
        let first: Vec<f64> = decode(&g.blobs[g.groups[0].blob.clone()])
            .unwrap()
            .map(|e| e.value)
            .collect();
        assert_eq!(first, vec![7.0, 8.0, 0.3]);
        // Buffers are reused: a second, smaller batch leaves nothing of the first.
        g.build(&rows[2..3]);
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.members, vec![0]);
        assert_eq!(g.members.len(), 1, "no repeat in a batch of one reading");
    }
}
