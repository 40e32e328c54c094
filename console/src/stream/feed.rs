//! The live feed's memory: every message the console took from the broker, numbered, in a
//! bounded ring for clients that reconnect, and broadcast to the connected ones.
//!
//! An event id is `{epoch}-{seq}`: `epoch` names this run of the console (its start time in
//! milliseconds), `seq` counts from 1. A client that comes back with a `Last-Event-ID` of
//! this run still held in the ring gets what followed it; one from another run, or older
//! than the ring, is told to reload ([`Resume::Resync`]).
//!
//! Each item is written as its server-sent event once, when it is pushed ([`Item::frame`]):
//! every client's stream sends the same shared bytes, so an item costs the same to
//! prepare for 1 client or 200.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::broadcast;

/// What a feed item is about (the SSE event name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Newly stored readings of one station.
    Reading,
    /// An evaluation event of analytics.
    Evaluation,
    /// An alert's new state.
    Alert,
}

impl Kind {
    /// The SSE event name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Reading => "reading",
            Kind::Evaluation => "evaluation",
            Kind::Alert => "alert",
        }
    }
}

/// One numbered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its number in this run.
    pub seq: u64,
    /// What it is.
    pub kind: Kind,
    /// The JSON sent as the event's data (one line).
    pub data: Arc<str>,
    /// The whole event as sent: `event:`, `id:`, `data:` lines and the blank line.
    pub frame: Bytes,
}

/// A server-sent event: its name, id and data (one `data:` line per line of `data`), and
/// the blank line that ends it.
pub fn frame(event: &str, id: &str, data: &str) -> Bytes {
    let mut f = String::with_capacity(event.len() + id.len() + data.len() + 24);
    for (field, value) in [("event", event), ("id", id)] {
        f.push_str(field);
        f.push_str(": ");
        // A name or id never holds a line break; one that did would end the field.
        f.extend(value.chars().filter(|c| !matches!(c, '\r' | '\n')));
        f.push('\n');
    }
    for line in data.split('\n') {
        f.push_str("data: ");
        f.push_str(line.strip_suffix('\r').unwrap_or(line));
        f.push('\n');
    }
    f.push('\n');
    Bytes::from(f)
}

/// Where a reconnecting client starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Everything after its last event: these items, then the live ones after `next`-1.
    From(Vec<Arc<Item>>),
    /// Its last event is gone (another run, or pushed out of the ring): it must reload.
    Resync,
}

#[derive(Debug)]
struct Ring {
    items: VecDeque<Arc<Item>>,
    next_seq: u64,
}

/// The ring and the broadcast of live items.
#[derive(Debug)]
pub struct Feed {
    epoch: String,
    capacity: usize,
    // std Mutex: pushes and snapshots copy a few pointers; never held across an await.
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Item>>,
}

impl Feed {
    /// A feed keeping `capacity` items, for the run named `epoch`.
    pub fn new(epoch: impl Into<String>, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (live, _) = broadcast::channel(capacity.min(4096));
        Self {
            epoch: epoch.into(),
            capacity,
            ring: Mutex::new(Ring {
                items: VecDeque::with_capacity(capacity.min(4096)),
                next_seq: 1,
            }),
            live,
        }
    }

    fn ring<T>(&self, f: impl FnOnce(&mut Ring) -> T) -> T {
        match self.ring.lock() {
            Ok(mut r) => f(&mut r),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The event id of an item.
    pub fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// The id of the newest item (`{epoch}-0` when there is none).
    pub fn head_id(&self) -> String {
        self.id(self.ring(|r| r.next_seq - 1))
    }

    /// Numbers, keeps and broadcasts a message.
    pub fn push(&self, kind: Kind, data: Arc<str>) -> Arc<Item> {
        // Numbered and sent under the lock, so live receivers see items in number order.
        self.ring(|r| {
            let seq = r.next_seq;
            let item = Arc::new(Item {
                seq,
                kind,
                frame: frame(kind.as_str(), &self.id(seq), &data),
                data,
            });
            r.next_seq += 1;
            if r.items.len() == self.capacity {
                r.items.pop_front();
            }
            r.items.push_back(item.clone());
            // No receiver is not an error: nobody listens.
            let _ = self.live.send(item.clone());
            item
        })
    }

    /// A receiver of live items, and where a client with `last_event_id` resumes. Subscribe
    /// first, then snapshot: an item pushed in between is in both, and the stream skips
    /// numbers it has sent.
    pub fn subscribe(
        &self,
        last_event_id: Option<&str>,
    ) -> (broadcast::Receiver<Arc<Item>>, Resume) {
        let rx = self.live.subscribe();
        let resume = self.ring(|r| {
            let Some(last) = last_event_id else {
                return Resume::From(Vec::new());
            };
            let Some(seq) = last
                .rsplit_once('-')
                .filter(|(epoch, _)| *epoch == self.epoch)
                .and_then(|(_, seq)| seq.parse::<u64>().ok())
            else {
                return Resume::Resync;
            };
            if seq >= r.next_seq {
                // From the future of this run: not ours.
                return Resume::Resync;
            }
            let oldest = r.items.front().map_or(r.next_seq, |i| i.seq);
            if seq + 1 < oldest {
                return Resume::Resync;
            }
            Resume::From(r.items.iter().filter(|i| i.seq > seq).cloned().collect())
        });
        (rx, resume)
    }

    /// Live receivers.
    pub fn receivers(&self) -> usize {
        self.live.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn a_client_resumes_after_its_last_event_or_is_told_to_reload() {
        let feed = Feed::new("100", 3);
        for n in 1..=4 {
            feed.push(Kind::Alert, data(&n.to_string()));
        }
        // The ring holds 2, 3, 4.
        assert_eq!(feed.head_id(), "100-4");
        let (_, r) = feed.subscribe(Some("100-2"));
        let Resume::From(items) = r else {
            panic!("resumes")
        };
        assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![3, 4]);
        // Its last event (1) is the one before the oldest kept: nothing missed.
        let (_, r) = feed.subscribe(Some("100-1"));
        assert!(matches!(r, Resume::From(ref v) if v.len() == 3));
        // 0 was never sent in this run; 1 was pushed out, so from 0 something is missed.
        assert_eq!(feed.subscribe(Some("100-0")).1, Resume::Resync);
        assert_eq!(feed.subscribe(Some("99-3")).1, Resume::Resync);
        assert_eq!(feed.subscribe(Some("100-9")).1, Resume::Resync);
        assert_eq!(feed.subscribe(Some("garbage")).1, Resume::Resync);
        assert_eq!(feed.subscribe(None).1, Resume::From(Vec::new()));
    }

    #[test]
    fn a_frame_is_one_event_whatever_its_data_holds() {
        // The event stream format (WHATWG HTML, 9.2.6): each line of the data is its own
        // `data:` field; a blank line ends the event.
        assert_eq!(
            &frame("alert", "1-2", "{\"a\":1}")[..],
            b"event: alert\nid: 1-2\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            &frame("x\ny", "3", "one\r\ntwo")[..],
            b"event: xy\nid: 3\ndata: one\ndata: two\n\n"
        );
    }

    #[tokio::test]
    async fn live_items_arrive_in_order() {
        let feed = Feed::new("7", 10);
        let (mut rx, _) = feed.subscribe(None);
        feed.push(Kind::Reading, data("a"));
        feed.push(Kind::Evaluation, data("b"));
        assert_eq!(rx.recv().await.unwrap().seq, 1);
        let b = rx.recv().await.unwrap();
        assert_eq!((b.seq, b.kind, &*b.data), (2, Kind::Evaluation, "b"));
        assert_eq!(&b.frame[..], b"event: evaluation\nid: 7-2\ndata: b\n\n");
        assert_eq!(feed.receivers(), 1);
    }
}
