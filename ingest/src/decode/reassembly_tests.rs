//! Reassembly: conflicts, bounds, restart from the store, and a property test over random
//! packet orders, duplicates and conflicts.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use riverwatch_core::hj212::{Flag, Frame, Version};
use riverwatch_core::store_api::{HeldChange, HeldPacket};
use riverwatch_core::{ReasonCode, StationId};

use super::*;

const MN: &str = "23018421000105";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap()
}

/// Packet `pno` of `pnum` of message `qn` (CN `cn`), carrying `value` for pH.
fn packet(station: &str, mn: &str, qn: &str, cn: &str, pno: u32, pnum: u32, value: &str) -> Packet {
    Packet {
        station: StationId::new(station),
        frame: Frame {
            qn: Some(qn.to_string()),
            st: "21".into(),
            cn: cn.into(),
            pw: "123456".into(),
            mn: mn.into(),
            flag: Flag::new(Version::Hj212_2017, false, true),
            pnum: Some(pnum),
            pno: Some(pno),
            cp: format!("DataTime=20260110080000;w{pno:05}-Rtd={value},w{pno:05}-Flag=N"),
        },
    }
}

fn bytes_of(p: &Packet) -> Bytes {
    Bytes::from(p.frame.encode())
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(120),
        max_open_per_station: 4,
        max_open: 8,
        max_packets: 100,
    }
}

fn offer(r: &mut Reassembler, p: Packet) -> Offer {
    let b = bytes_of(&p);
    r.offer(p, "rw/v1/hj212/LLH-CJG", b, t0())
}

fn refused_code(o: &Offer) -> Option<ReasonCode> {
    match o {
        Offer::Refused(d) => Some(d.reason_code),
        _ => None,
    }
}

#[test]
fn a_message_completes_and_every_earlier_packet_was_kept() {
    let mut r = Reassembler::new(limits());
    assert!(matches!(
        offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 2, 3, "1")),
        Offer::Kept(_)
    ));
    let Offer::Kept(kept) = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 3, "2")) else {
        panic!("packet 1 kept");
    };
    assert_eq!((kept.pno, kept.pnum, kept.cn.as_str()), (1, 3, "2011"));
    assert!(kept.payload.starts_with(b"##"));
    let Offer::Complete(done) = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 3, 3, "3"))
    else {
        panic!("packet 3 completes");
    };
    assert_eq!(done.packets, 3);
    assert_eq!(done.key, (MN.to_string(), "q1".to_string()));
    assert_eq!(done.cp.expect("packets join").items.len(), 3);
    assert_eq!((r.waiting(), r.held()), (0, 0));
}

#[test]
fn another_cn_under_the_same_mn_and_qn_is_a_conflict_and_does_not_replace_the_held_packets() {
    let mut r = Reassembler::new(limits());
    offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 2, "7.1"));
    let o = offer(&mut r, packet("LLH-CJG", MN, "q1", "2061", 2, 2, "7.2"));
    assert_eq!(refused_code(&o), Some(ReasonCode::PacketConflict));
    let Offer::Refused(d) = o else { unreachable!() };
    assert!(
        d.reason.contains("CN 2061") && d.reason.contains("CN 2011"),
        "{}",
        d.reason
    );
    // The held message goes on and completes with its own packets.
    let Offer::Complete(done) = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 2, 2, "7.2"))
    else {
        panic!("completes");
    };
    assert_eq!(done.frame.cn, "2011");
}

#[test]
fn the_same_pno_with_other_contents_is_a_conflict_and_an_identical_copy_a_duplicate() {
    let mut r = Reassembler::new(limits());
    offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 2, "7.1"));
    assert!(matches!(
        offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 2, "7.1")),
        Offer::Duplicate
    ));
    let o = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 2, "9.9"));
    assert_eq!(refused_code(&o), Some(ReasonCode::PacketConflict));
    let o = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 1, 3, "7.1"));
    assert_eq!(
        refused_code(&o),
        Some(ReasonCode::PacketConflict),
        "PNUM differs"
    );
    let Offer::Complete(done) = offer(&mut r, packet("LLH-CJG", MN, "q1", "2011", 2, 2, "7.2"))
    else {
        panic!("completes");
    };
    let cp = done.cp.expect("joins");
    assert_eq!(
        cp.items[0].rtd.as_deref(),
        Some("7.1"),
        "the first copy is used"
    );
}

#[test]
fn open_messages_are_bounded_per_station_and_in_all() {
    let mut r = Reassembler::new(Limits {
        max_open_per_station: 2,
        max_open: 3,
        ..limits()
    });
    for qn in ["a", "b"] {
        assert!(matches!(
            offer(&mut r, packet("LLH-CJG", MN, qn, "2011", 1, 2, "1")),
            Offer::Kept(_)
        ));
    }
    let o = offer(&mut r, packet("LLH-CJG", MN, "c", "2011", 1, 2, "1"));
    assert_eq!(refused_code(&o), Some(ReasonCode::ReassemblyOverflow));
    // Packets of an open message still get in.
    assert!(matches!(
        offer(&mut r, packet("LLH-CJG", MN, "a", "2011", 2, 2, "1")),
        Offer::Complete(_)
    ));
    assert!(matches!(
        offer(&mut r, packet("LLH-CJG", MN, "c", "2011", 1, 2, "1")),
        Offer::Kept(_)
    ));
    assert!(matches!(
        offer(
            &mut r,
            packet("LLH-YS", "23018421000104", "x", "2011", 1, 2, "1")
        ),
        Offer::Kept(_)
    ));
    let o = offer(
        &mut r,
        packet("LLH-HK", "23018421000106", "y", "2011", 1, 2, "1"),
    );
    assert_eq!(refused_code(&o), Some(ReasonCode::ReassemblyOverflow));
    let Offer::Refused(d) = o else { unreachable!() };
    assert!(d.reason.contains("reassembly_max_open"), "{}", d.reason);
}

#[test]
fn held_packets_are_bounded_in_all() {
    let mut r = Reassembler::new(Limits {
        max_packets: 2,
        ..limits()
    });
    offer(&mut r, packet("LLH-CJG", MN, "a", "2011", 1, 4, "1"));
    offer(&mut r, packet("LLH-CJG", MN, "a", "2011", 2, 4, "1"));
    let o = offer(&mut r, packet("LLH-CJG", MN, "a", "2011", 3, 4, "1"));
    assert_eq!(refused_code(&o), Some(ReasonCode::ReassemblyOverflow));
    // A copy of a held packet takes no room and is still recognised.
    assert!(matches!(
        offer(&mut r, packet("LLH-CJG", MN, "a", "2011", 2, 4, "1")),
        Offer::Duplicate
    ));
}

#[test]
fn an_incomplete_message_expires_into_one_dead_letter_with_every_packet() {
    let mut r = Reassembler::new(limits());
    offer(&mut r, packet("LLH-CJG", MN, "q", "2011", 1, 3, "1"));
    offer(&mut r, packet("LLH-CJG", MN, "q", "2011", 3, 3, "1"));
    assert!(r.expire(t0() + chrono::Duration::seconds(119)).is_empty());
    let expired = r.expire(t0() + chrono::Duration::seconds(120));
    assert_eq!(expired.len(), 1);
    let e = &expired[0];
    assert_eq!(e.dead_letter.reason_code, ReasonCode::ReassemblyTimeout);
    assert_eq!(e.packets, 2);
    assert!(e.dead_letter.reason.contains("got PNO 1,3 of 3"));
    assert_eq!(
        e.dead_letter
            .payload
            .windows(2)
            .filter(|w| w == b"##")
            .count(),
        2
    );
    assert_eq!((r.waiting(), r.held()), (0, 0));
}

#[test]
fn a_message_restored_from_the_store_completes_with_the_packets_that_come_later() {
    let mut before = Reassembler::new(limits());
    let mut store = Vec::new();
    for pno in [1, 2] {
        if let Offer::Kept(p) = offer(&mut before, packet("LLH-CJG", MN, "q", "2011", pno, 3, "1"))
        {
            store.push(*p);
        }
    }
    assert_eq!(store.len(), 2);
    let mut after = Reassembler::new(limits());
    after.restore(store);
    assert_eq!((after.waiting(), after.held()), (1, 2));
    // A redelivered copy of a stored packet is still a duplicate after the restart.
    assert!(matches!(
        offer(&mut after, packet("LLH-CJG", MN, "q", "2011", 2, 3, "1")),
        Offer::Duplicate
    ));
    let Offer::Complete(done) = offer(&mut after, packet("LLH-CJG", MN, "q", "2011", 3, 3, "1"))
    else {
        panic!("completes after the restart");
    };
    assert_eq!(done.packets, 3);
    assert!(done.cp.is_ok());
}

// ------------------------------------------------------------------ property test

/// One packet to offer: which message, which PNO, and how it is altered.
#[derive(Debug, Clone)]
struct Step {
    message: usize,
    pno: u32,
    /// 0: as sent; 1: other contents (a conflicting copy); 2: another CN.
    variant: u8,
    /// Restart from the store before offering it.
    restart: bool,
}

fn message_packet(message: usize, pnum: u32, step: &Step) -> Packet {
    let stations = [("LLH-CJG", "23018421000105"), ("LLH-YS", "23018421000104")];
    let (station, mn) = stations[message % 2];
    let qn = format!("q{}", message / 2);
    let cn = if step.variant == 2 { "2061" } else { "2011" };
    let value = if step.variant == 1 { "9.9" } else { "7.1" };
    packet(station, mn, &qn, cn, step.pno, pnum, value)
}

fn scenario() -> impl Strategy<Value = (Vec<u32>, Vec<Step>, Limits)> {
    let pnums = proptest::collection::vec(1u32..5, 1..6);
    pnums.prop_flat_map(|pnums| {
        let n = pnums.len();
        let steps = proptest::collection::vec(
            (
                0..n,
                0u32..6,
                prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
                proptest::bool::weighted(0.1),
            ),
            0..40,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .map(|(message, pno, variant, restart)| Step {
                    message,
                    pno,
                    variant,
                    restart,
                })
                .collect::<Vec<_>>()
        });
        let limits = (1usize..4, 1usize..6, 1usize..12).prop_map(|(s, o, p)| Limits {
            timeout: Duration::from_secs(60),
            max_open_per_station: s,
            max_open: o,
            max_packets: p,
        });
        (Just(pnums), steps, limits)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the order, copies and conflicts: no panic; every packet offered ends in a
    /// completed message, a dead letter, or is a copy of a packet that does; the store's
    /// held packets always match the reassembler's; restarts from the store change nothing.
    #[test]
    fn every_packet_is_accounted_for(scenario in scenario()) {
        let (pnums, steps, limits) = scenario;
        let mut r = Reassembler::new(limits);
        // The store's model: held packets by (MN, QN, PNO).
        let mut store: BTreeMap<(String, String, u32), HeldPacket> = BTreeMap::new();
        let apply = |store: &mut BTreeMap<(String, String, u32), HeldPacket>, c: HeldChange| match c {
            HeldChange::Keep(p) => {
                store.insert((p.mn.clone(), p.qn.clone(), p.pno), p);
            }
            HeldChange::Release { mn, qn } => store.retain(|(m, q, _), _| !(m == &mn && q == &qn)),
        };
        let (mut offered, mut duplicates, mut refused, mut in_messages) = (0usize, 0, 0, 0);
        let mut dead_letters = 0usize;
        for step in &steps {
            if step.restart {
                r = Reassembler::new(limits);
                r.restore(store.values().cloned().collect());
            }
            let pnum = pnums[step.message];
            let p = message_packet(step.message, pnum, step);
            offered += 1;
            match offer(&mut r, p) {
                Offer::Kept(p) => apply(&mut store, HeldChange::Keep(*p)),
                Offer::Duplicate => duplicates += 1,
                Offer::Refused(_) => {
                    refused += 1;
                    dead_letters += 1;
                }
                Offer::Complete(done) => {
                    in_messages += done.packets;
                    apply(&mut store, reassembly_release(&done.key));
                }
            }
            prop_assert_eq!(store.len(), r.held());
            prop_assert!(r.held() <= limits.max_packets);
            prop_assert!(r.waiting() <= limits.max_open);
        }
        for e in r.expire(t0() + chrono::Duration::days(1)) {
            in_messages += e.packets;
            dead_letters += 1;
            apply(&mut store, reassembly_release(&e.key));
        }
        prop_assert_eq!(in_messages + duplicates + refused, offered);
        prop_assert!(store.is_empty());
        prop_assert_eq!((r.waiting(), r.held()), (0, 0));
        prop_assert!(dead_letters >= refused);
    }
}

fn reassembly_release(key: &(String, String)) -> HeldChange {
    super::release(key)
}
