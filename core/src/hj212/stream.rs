//! Cutting HJ 212 frames out of a byte stream (a data logger's TCP connection), where one
//! read can hold several frames, part of one, or bytes that belong to no frame.
//!
//! A frame starts at `##` followed by four length digits and ends at the first `\r\n` after
//! them: the data segment is text without line breaks, so the end does not depend on the
//! length field being right — a frame whose length or CRC is wrong is still cut out whole and
//! rejected by [`super::Frame::decode`] with the precise reason (and no reply, so the logger
//! sends it again). Everything else is skipped: bytes before a `##`, a `##` not followed by
//! digits, a frame with no `\r\n` within the size limit. Skipped bytes are reported once per
//! episode (a run of garbage up to the next frame start or the end of the stream), so a
//! logger that sends noise makes one dead letter per episode, not one per byte.
//!
//! Memory is bounded: the buffer never holds more than one frame of the size limit plus one
//! read, and an episode keeps at most [`EPISODE_KEEP`] of its bytes (with the total count).

/// Bytes of a garbage episode kept for its dead letter (the count covers the rest).
pub const EPISODE_KEEP: usize = 4096;

/// `##`, 4 length digits, CRC 4 digits, `\r\n`: what a frame holds besides its data segment.
const OVERHEAD: usize = 2 + 4 + 4 + 2;

/// What the deframer cut out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// One frame, from `##` to `\r\n` inclusive, not yet decoded.
    Frame(Vec<u8>),
    /// Bytes that belong to no frame: the first [`EPISODE_KEEP`] of them and how many there
    /// were, with why they were skipped.
    Garbage {
        /// The kept bytes.
        bytes: Vec<u8>,
        /// All bytes skipped in the episode.
        total: usize,
        /// Why: `no_frame_start` (bytes outside any frame) or `frame_too_long` (a `##`
        /// with no `\r\n` within the limit).
        reason: &'static str,
    },
}

/// Cuts frames out of a stream; feed it with [`Deframer::push`], drain it with
/// [`Deframer::next_piece`], and call [`Deframer::finish`] when the stream ends.
#[derive(Debug)]
pub struct Deframer {
    buf: Vec<u8>,
    max_frame: usize,
    episode: Option<Episode>,
}

#[derive(Debug)]
struct Episode {
    bytes: Vec<u8>,
    total: usize,
    reason: &'static str,
}

impl Deframer {
    /// A deframer accepting data segments up to `max_segment_len` bytes.
    pub fn new(max_segment_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_frame: max_segment_len.saturating_add(OVERHEAD),
            episode: None,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for a frame not yet complete (what a slow logger keeps the connection
    /// waiting on).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete piece, or `None` until more bytes arrive.
    pub fn next_piece(&mut self) -> Option<Piece> {
        loop {
            let Some(start) = find(&self.buf, b"##") else {
                // No frame start: all but a trailing '#' (which may begin one) is garbage.
                let keep = usize::from(self.buf.last() == Some(&b'#'));
                let cut = self.buf.len() - keep;
                self.skip(cut, "no_frame_start");
                return None;
            };
            if start > 0 {
                self.skip(start, "no_frame_start");
            }
            // `##` is now at 0.
            let digits = self.buf.get(2..6)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                self.skip(1, "no_frame_start");
                continue;
            }
            match find(&self.buf[6..], b"\r\n") {
                Some(at) if 6 + at + 2 <= self.max_frame => {
                    // A frame: first report the garbage episode it ends.
                    if let Some(g) = self.take_episode() {
                        return Some(g);
                    }
                    let end = 6 + at + 2;
                    let frame: Vec<u8> = self.buf.drain(..end).collect();
                    return Some(Piece::Frame(frame));
                }
                Some(_) => {
                    // The end came too late: this `##` starts no acceptable frame.
                    self.skip_frame_start("frame_too_long");
                }
                None if self.buf.len() > self.max_frame => {
                    self.skip_frame_start("frame_too_long");
                }
                None => return None,
            }
        }
    }

    /// The stream ended: what is left (a partial frame, an open episode) as garbage.
    pub fn finish(&mut self) -> Option<Piece> {
        let rest = self.buf.len();
        if rest > 0 {
            self.skip(rest, "no_frame_start");
        }
        self.take_episode()
    }

    /// Skips a `##` that starts no acceptable frame, up to the next `##` (or everything but
    /// a trailing '#'), so a long frame is skipped as one episode.
    fn skip_frame_start(&mut self, reason: &'static str) {
        let next = find(&self.buf[2..], b"##").map_or_else(
            || self.buf.len() - usize::from(self.buf.last() == Some(&b'#')),
            |at| at + 2,
        );
        self.skip(next.max(1), reason);
    }

    fn skip(&mut self, n: usize, reason: &'static str) {
        if n == 0 {
            return;
        }
        let skipped: Vec<u8> = self.buf.drain(..n).collect();
        let episode = self.episode.get_or_insert_with(|| Episode {
            bytes: Vec::new(),
            total: 0,
            reason,
        });
        if reason == "frame_too_long" {
            episode.reason = reason;
        }
        let room = EPISODE_KEEP.saturating_sub(episode.bytes.len());
        episode
            .bytes
            .extend_from_slice(&skipped[..room.min(skipped.len())]);
        episode.total += n;
    }

    fn take_episode(&mut self) -> Option<Piece> {
        self.episode.take().map(|e| Piece::Garbage {
            bytes: e.bytes,
            total: e.total,
            reason: e.reason,
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hj212::Frame;

    /// The standard's example frame (reference sheet §6: length 0101, CRC 1C80).
    const EXAMPLE: &[u8] = b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

    fn drain(d: &mut Deframer) -> Vec<Piece> {
        std::iter::from_fn(|| d.next_piece()).collect()
    }

    #[test]
    fn the_example_frame_decodes_after_cutting() {
        let mut d = Deframer::new(1024);
        d.push(EXAMPLE);
        let pieces = drain(&mut d);
        assert_eq!(pieces, vec![Piece::Frame(EXAMPLE.to_vec())]);
        let Piece::Frame(bytes) = &pieces[0] else {
            unreachable!()
        };
        let frame = Frame::decode(bytes).unwrap();
        assert_eq!(frame.cn, "1062");
        assert_eq!(d.pending(), 0);
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn one_byte_per_read_and_several_frames_per_read() {
        let mut d = Deframer::new(1024);
        let mut got = Vec::new();
        for b in EXAMPLE {
            d.push(&[*b]);
            got.extend(drain(&mut d));
        }
        assert_eq!(got, vec![Piece::Frame(EXAMPLE.to_vec())]);

        let three = [EXAMPLE, EXAMPLE, EXAMPLE].concat();
        d.push(&three);
        assert_eq!(drain(&mut d).len(), 3);
    }

    #[test]
    fn garbage_between_frames_is_one_episode_before_the_next_frame() {
        let mut d = Deframer::new(1024);
        let noise = b"\x00\xffAT+CSQ\r\nOK\r\n#";
        d.push(&[EXAMPLE, noise.as_slice(), b"#x", EXAMPLE].concat());
        let pieces = drain(&mut d);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert_eq!(pieces[0], Piece::Frame(EXAMPLE.to_vec()));
        match &pieces[1] {
            Piece::Garbage {
                bytes,
                total,
                reason,
            } => {
                // The noise, then the '#' and "#x" that started no frame.
                assert_eq!(*total, noise.len() + 2);
                assert_eq!(bytes.len(), *total);
                assert_eq!(*reason, "no_frame_start");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pieces[2], Piece::Frame(EXAMPLE.to_vec()));
    }

    #[test]
    fn a_frame_with_a_wrong_length_is_still_cut_whole() {
        // Length 0100 instead of 0101: cut at its CR LF; decoding then names the length.
        let wrong = [b"##0100".as_slice(), &EXAMPLE[6..]].concat();
        let mut d = Deframer::new(1024);
        d.push(&wrong);
        d.push(EXAMPLE);
        let pieces = drain(&mut d);
        assert_eq!(pieces.len(), 2);
        let Piece::Frame(bytes) = &pieces[0] else {
            panic!("{pieces:?}")
        };
        assert!(Frame::decode(bytes).is_err());
        assert_eq!(pieces[1], Piece::Frame(EXAMPLE.to_vec()));
    }

    #[test]
    fn frames_above_the_limit_are_skipped_and_the_stream_resynchronises() {
        // Data segment 101 bytes against a limit of 64: skipped as one episode, reported when
        // the next (small) frame is complete.
        let small = b"##0004ABCD1234\r\n";
        let mut d = Deframer::new(64);
        d.push(&[EXAMPLE, small.as_slice()].concat());
        assert_eq!(
            drain(&mut d),
            vec![
                Piece::Garbage {
                    bytes: EXAMPLE.to_vec(),
                    total: EXAMPLE.len(),
                    reason: "frame_too_long",
                },
                Piece::Frame(small.to_vec()),
            ]
        );
    }

    #[test]
    fn a_start_without_an_end_is_bounded() {
        let mut d = Deframer::new(100);
        d.push(b"##0050");
        for _ in 0..100 {
            d.push(&[b'A'; 100]);
            assert!(drain(&mut d).is_empty());
            // Never more than one frame of the limit (112 bytes with its framing) plus a read.
            assert!(d.pending() <= 112 + 100, "{}", d.pending());
        }
        assert!(matches!(
            d.finish(),
            Some(Piece::Garbage { total, reason: "frame_too_long", .. }) if total == 6 + 100 * 100
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_every_byte_is_accounted_for() {
        // A deterministic pseudo-random stream of '#', digits, CR, LF and letters.
        let alphabet = b"##0123456789\r\nAB;=&";
        let mut x: u32 = 12345;
        let mut stream = Vec::new();
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            stream.push(alphabet[(x >> 16) as usize % alphabet.len()]);
        }
        for chunk in [1usize, 7, 64, 1000] {
            let mut d = Deframer::new(32);
            let mut accounted = 0;
            for part in stream.chunks(chunk) {
                d.push(part);
                for p in drain(&mut d) {
                    accounted += match p {
                        Piece::Frame(f) => f.len(),
                        Piece::Garbage { total, .. } => total,
                    };
                }
            }
            if let Some(Piece::Garbage { total, .. }) = d.finish() {
                accounted += total;
            }
            assert_eq!(accounted, stream.len(), "chunk {chunk}");
        }
    }
}
