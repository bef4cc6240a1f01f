//! The reliability core (PROTOCOL.md §6) through its public API: two endpoints in memory on a
//! virtual clock, joined by a simulated link we control (quinn-proto's `Pair`). No sleeps, no
//! real time beyond one base `Instant`, fixed seeds: every run is the same run.
//!
//! Properties: random cuts and duplicates never lose, repeat or reorder a frame; out-of-order
//! arrival within a QUIC connection delivers each frame once and acks only gap-free prefixes;
//! budget overflow is reported as a gap and recovered with `skip_to`; an idle session costs the
//! documented bytes per minute and a black-holed path is found within the idle timeout; a burst
//! is acked once. Plus every protocol violation as its typed error.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use devtail_proto::reliability::{
    Config, DEFAULT_ACK_BYTES, DEFAULT_ACK_DELAY, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDLE_TIMEOUT,
    Delivery, Event, Reliability, ReliabilityError, Resume, Role, replay_cost,
};
use devtail_proto::v1::{self, Envelope, ErrorCode, envelope::Body};

/// Envelope bytes (encoding + the 1-byte flags header) an idle session exchanges per minute at
/// the default heartbeat, as documented in `reliability`'s module docs: one Ping and one Pong of
/// 7 B each every 30 s.
const IDLE_BYTES_PER_MINUTE: usize = 28;

#[path = "reliability/pair.rs"]
mod pair;

use pair::*;

// ───────────────────────────── (1) cuts, duplicates, stragglers ─────────────────────────────

#[test]
fn random_cuts_and_duplicates_lose_repeat_and_reorder_nothing() {
    for seed in 1..=6 {
        let mut rng = Rng::new(seed);
        let mut pair = Pair::defaults();
        let mut cuts = 0;
        for _ in 0..4_000 {
            match rng.below(100) {
                0..30 => pair.send_data(Side::Client, 1 + rng.below(3), rng.index(64)),
                30..60 => pair.send_data(Side::Gateway, 1 + rng.below(6), rng.index(2_000)),
                60..62 => {
                    let resumed = pair.cut(Some(&mut rng));
                    assert_eq!(resumed.client, Resume::Complete, "seed {seed}");
                    assert_eq!(resumed.gateway, Resume::Complete, "seed {seed}");
                    cuts += 1;
                }
                62..68 => pair.duplicate_in_flight(&mut rng),
                _ => pair.advance(Duration::from_millis(rng.below(400))),
            }
        }
        pair.advance(Duration::from_secs(5));

        assert!(cuts >= 50, "seed {seed}: only {cuts} cuts");
        assert!(
            pair.lost_in_flight > 0,
            "seed {seed}: no cut ever lost a frame"
        );
        for (name, receiver, sender) in [
            ("gateway", &pair.gateway, &pair.client),
            ("client", &pair.client, &pair.gateway),
        ] {
            assert_eq!(
                receiver.delivered, sender.sent,
                "seed {seed}: {name} did not deliver exactly what was sent, in order"
            );
            assert!(
                receiver.duplicates > 0,
                "seed {seed}: no duplicate exercised"
            );
            assert!(
                receiver.events.is_empty(),
                "seed {seed}: {:?}",
                receiver.events
            );
            // Everything was acknowledged in the end: nothing left to replay.
            assert_eq!(sender.rel.replay_frames(), 0, "seed {seed}");
            assert_eq!(receiver.rel.last_received(), sender.rel.last_sent());
        }
    }
}

// ─────────────────────── (2) out of order within a connection (QUIC) ───────────────────────

#[test]
fn out_of_order_arrival_delivers_each_frame_once_and_acks_gap_free_prefixes() {
    const FRAMES: u64 = 2_000;
    const STREAMS: usize = 6;
    for seed in 1..=8 {
        let mut rng = Rng::new(seed);
        let t0 = Instant::now();
        let mut sender = Reliability::new(Config::new(Role::Gateway), t0);
        let mut receiver = Reliability::new(Config::new(Role::Client), t0);

        // One QUIC stream per channel: FIFO within a stream, any interleaving across them.
        let mut streams = vec![VecDeque::new(); STREAMS];
        for id in 0..FRAMES {
            let s = rng.index(STREAMS);
            let channel = 1 + 2 * s as u32;
            streams[s].push_back(sender.send(t0, channel, data(id, 16)));
        }

        let mut held = vec![false; FRAMES as usize + 2];
        let mut prefix = 0u64;
        let mut arrived: Vec<Envelope> = Vec::new();
        let mut delivered = BTreeSet::new();
        let mut peak_ranges = 0;
        let mut t = t0;
        loop {
            t += Duration::from_micros(100);
            if rng.percent(5) && !arrived.is_empty() {
                let again = &arrived[rng.index(arrived.len())];
                assert_eq!(receiver.receive(t, again), Ok(Delivery::Duplicate));
                continue;
            }
            // Stream 0 lags behind the others (a lost packet, flow control): many gaps.
            let open: Vec<usize> = (0..STREAMS).filter(|&s| !streams[s].is_empty()).collect();
            let Some(&first) = open.first() else { break };
            let s = if open.len() > 1 && first == 0 && !rng.percent(3) {
                open[1 + rng.index(open.len() - 1)]
            } else {
                open[rng.index(open.len())]
            };
            let envelope = streams[s].pop_front().unwrap();
            assert_eq!(receiver.receive(t, &envelope), Ok(Delivery::Deliver));
            assert!(delivered.insert(id_of(&envelope).unwrap()));
            held[envelope.seq as usize] = true;
            while held[prefix as usize + 1] {
                prefix += 1;
            }
            assert_eq!(receiver.last_received(), prefix, "seed {seed}");
            peak_ranges = peak_ranges.max(receiver.out_of_order_ranges());
            arrived.push(envelope);
        }
        assert_eq!(delivered.len() as u64, FRAMES);
        assert_eq!(receiver.last_received(), FRAMES);
        assert_eq!(receiver.out_of_order_ranges(), 0);
        assert!(
            peak_ranges > 20,
            "seed {seed}: too little reordering ({peak_ranges})"
        );

        // One Ack covers all of it, and frees the sender's replay buffer.
        let ack = receiver
            .poll_transmit(t + DEFAULT_ACK_DELAY)
            .expect("an ack is due");
        assert_eq!((kind(&ack), ack.ack), ("ack_only", FRAMES));
        assert_eq!(receiver.poll_transmit(t + DEFAULT_ACK_DELAY), None);
        assert_eq!(sender.receive(t, &ack), Ok(Delivery::Deliver));
        assert_eq!((sender.replay_frames(), sender.replay_bytes()), (0, 0));
    }
}

// ─────────────────────────────────── (3) budget overflow ───────────────────────────────────

#[test]
fn budget_overflow_is_reported_as_a_gap_and_delivery_continues_after_skip_to() {
    const BUDGET: usize = 16 << 10;
    let mut gateway = Config::new(Role::Gateway);
    gateway.replay_budget = BUDGET;
    let mut pair = Pair::new(Config::new(Role::Client), gateway);

    // 20 frames arrive and are acknowledged.
    pair.send_data(Side::Gateway, 20, 200);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.delivered, (0..20).collect::<Vec<_>>());
    assert_eq!(pair.gateway.rel.replay_frames(), 0);

    // The gateway → client direction stalls while 300 more are sent: the budget overflows.
    pair.client.inbound.stalled = true;
    pair.send_data(Side::Gateway, 300, 200);
    pair.advance(Duration::from_secs(2));
    assert!(pair.gateway.rel.replay_bytes() <= BUDGET);
    assert_eq!(
        pair.gateway.rel.send_capacity(),
        BUDGET - pair.gateway.rel.replay_bytes()
    );

    // What the budget can hold, newest first, is what survives.
    let mut reliable: Vec<&Envelope> = pair
        .gateway
        .transmitted
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.seq != 0)
        .collect();
    reliable.dedup_by_key(|e| e.seq);
    let mut held_bytes = 0;
    let mut expected_first = 0;
    for envelope in reliable.iter().rev() {
        if held_bytes + replay_cost(envelope) > BUDGET {
            break;
        }
        held_bytes += replay_cost(envelope);
        expected_first = envelope.seq;
    }
    assert_eq!(pair.gateway.rel.replay_bytes(), held_bytes);
    assert!(expected_first > 21, "the budget held everything");

    let resumed = pair.cut(None);
    assert_eq!(
        resumed.gateway,
        Resume::Gap {
            first_available_seq: expected_first,
            lost_channels: vec![CHANNEL],
        }
    );
    assert_eq!(resumed.client, Resume::Complete);
    assert_eq!(pair.client.rel.last_received(), expected_first - 1);
    pair.advance(Duration::from_secs(1));

    // Ids are seq - 1: the first 20, then everything from the first available on, once each.
    let expected: Vec<u64> = (0..20).chain(expected_first - 1..320).collect();
    assert_eq!(pair.client.delivered, expected);
    assert_eq!(pair.client.duplicates, 0);
    assert_eq!(pair.gateway.rel.replay_frames(), 0);

    // Delivery continues, and a later cut reports nothing more.
    pair.send_data(Side::Gateway, 10, 200);
    let resumed = pair.cut(None);
    assert_eq!(resumed.gateway, Resume::Complete);
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        pair.client.delivered[expected.len()..],
        (320..330).collect::<Vec<_>>()
    );
    assert_eq!(pair.client.duplicates, 0);
}

#[test]
fn frames_dropped_after_they_were_received_are_no_gap() {
    let mut gateway = Config::new(Role::Gateway);
    gateway.replay_budget = 4 << 10;
    let mut pair = Pair::new(Config::new(Role::Client), gateway);
    pair.send_data(Side::Gateway, 100, 200); // far past the budget, but on a live link
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.cut(None).gateway, Resume::Complete);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.delivered, (0..100).collect::<Vec<_>>());
}

#[test]
fn the_client_never_drops_and_reports_when_it_must_stop_taking_input() {
    let mut client = Config::new(Role::Client);
    client.replay_budget = 4 << 10;
    let mut pair = Pair::new(client, Config::new(Role::Gateway));
    pair.gateway.inbound.stalled = true;
    let mut sent = 0;
    while pair.client.rel.send_capacity() > 0 {
        pair.send_data(Side::Client, 1, 200);
        sent += 1;
    }
    assert_eq!(pair.client.rel.replay_frames(), sent);
    assert!(pair.client.rel.replay_bytes() >= 4 << 10);
    assert_eq!(pair.cut(None).client, Resume::Complete);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.gateway.delivered, (0..sent as u64).collect::<Vec<_>>());
    assert_eq!(pair.client.rel.send_capacity(), 4 << 10);
}

#[test]
fn retransmissions_go_out_in_order_exactly_once_restamped_and_survive_the_budget() {
    let t = Instant::now();
    let mut config = Config::new(Role::Gateway);
    config.replay_budget = 4 * replay_cost(&Envelope {
        seq: 9,
        ack: 9,
        channel: CHANNEL,
        body: Some(data(0, 100)),
    });
    let mut gateway = Reliability::new(config, t);
    let mut client = Reliability::new(Config::new(Role::Client), t);
    for id in 0..4 {
        let _lost_in_flight = gateway.send(t, CHANNEL, data(id, 100));
    }
    for id in 0..2 {
        let envelope = client.send(t, CHANNEL, data(id, 1));
        assert_eq!(gateway.receive(t, &envelope), Ok(Delivery::Deliver));
    }
    gateway.connection_lost();
    assert_eq!(gateway.poll_transmit(t), None);
    assert_eq!(gateway.resume(t, 0), Ok(Resume::Complete));

    // Sending before the queue drained: the queued frames are not dropped for the budget.
    let fifth = gateway.send(t, CHANNEL, data(4, 100));
    assert_eq!(fifth.seq, 5);
    assert_eq!(gateway.replay_frames(), 5);

    let resent: Vec<Envelope> = std::iter::from_fn(|| gateway.poll_transmit(t)).collect();
    assert_eq!(
        resent.iter().map(|e| (e.seq, e.ack)).collect::<Vec<_>>(),
        [(1, 2), (2, 2), (3, 2), (4, 2)]
    );
    assert_eq!(gateway.poll_transmit(t), None);
    // Drained: now the budget applies again.
    assert_eq!(gateway.replay_frames(), 4);
    let sixth = gateway.send(t, CHANNEL, data(5, 100));
    assert_eq!(sixth.seq, 6);
    assert_eq!(gateway.replay_frames(), 4);
}

// ──────────────────────────────── (4) heartbeats, dead paths ────────────────────────────────

/// Exchanges a few frames and lets the acks settle, so that the idle traffic carries real acks.
fn settled_pair() -> Pair {
    let mut pair = Pair::defaults();
    pair.send_data(Side::Client, 3, 10);
    pair.send_data(Side::Gateway, 3, 10);
    pair.advance(Duration::from_secs(1));
    pair
}

#[test]
fn an_idle_session_exchanges_one_ping_and_pong_per_interval_and_nothing_else() {
    assert_eq!(DEFAULT_HEARTBEAT_INTERVAL, Duration::from_secs(30));
    let mut pair = settled_pair();
    let start = pair.now;
    pair.advance(Duration::from_secs(600));

    let kinds = |e: &Endpoint| e.transmitted_since(start).map(kind).collect::<Vec<_>>();
    assert_eq!(kinds(&pair.client), ["ping"; 20]);
    assert_eq!(kinds(&pair.gateway), ["pong"; 20]);
    let bytes: usize = [&pair.client, &pair.gateway]
        .iter()
        .flat_map(|e| e.transmitted_since(start))
        .map(wire_len)
        .sum();
    assert_eq!(bytes, 10 * IDLE_BYTES_PER_MINUTE);
    assert!(pair.client.events.is_empty() && pair.gateway.events.is_empty());
    assert_eq!(pair.client.rel.rtt(), Some(2 * LATENCY));
}

#[test]
fn a_black_holed_path_is_declared_dead_within_the_idle_timeout() {
    let mut pair = settled_pair();
    pair.advance(Duration::from_secs(45)); // one Ping/Pong at ~30 s
    let blackout = pair.now;
    for endpoint in [&mut pair.client, &mut pair.gateway] {
        endpoint.inbound.black_hole = true;
        endpoint.inbound.in_flight.clear();
    }
    pair.advance(Duration::from_secs(300));

    for endpoint in [&pair.client, &pair.gateway] {
        let [(dead_at, Event::PathDead)] = endpoint.events[..] else {
            panic!("expected one PathDead, got {:?}", endpoint.events);
        };
        let last_sign_of_life = endpoint.last_arrival.unwrap();
        assert_eq!(dead_at, last_sign_of_life + DEFAULT_IDLE_TIMEOUT);
        assert!(dead_at - blackout <= DEFAULT_IDLE_TIMEOUT);
        assert!(dead_at - blackout >= DEFAULT_IDLE_TIMEOUT - DEFAULT_HEARTBEAT_INTERVAL);
        // Dead means quiet: no more pings or timers until a resume.
        assert_eq!(endpoint.transmitted_since(dead_at).count(), 0);
        assert_eq!(endpoint.rel.poll_timeout(), None);
        assert!(!endpoint.rel.is_connected());
    }
    // The client kept pinging into the void until then (at ~60, ~90 and ~120 s).
    assert_eq!(pair.client.transmitted_since(blackout).count(), 3);

    // Reconnecting revives the session.
    pair.cut(None);
    pair.send_data(Side::Gateway, 2, 10);
    pair.advance(Duration::from_secs(31));
    assert_eq!(pair.client.delivered, [0, 1, 2, 3, 4]);
    assert_eq!(
        pair.client
            .transmitted_since(pair.now - Duration::from_secs(31))
            .count(),
        2
    );
}

#[test]
fn a_half_open_path_is_found_by_the_side_that_hears_nothing() {
    let mut pair = settled_pair();
    let blackout = pair.now;
    pair.client.inbound.black_hole = true; // gateway → client vanishes; pings still arrive
    pair.advance(Duration::from_secs(100));
    let [(dead_at, Event::PathDead)] = pair.client.events[..] else {
        panic!("{:?}", pair.client.events);
    };
    assert!(dead_at - blackout <= DEFAULT_IDLE_TIMEOUT);
    assert_eq!(
        dead_at,
        pair.client.last_arrival.unwrap() + DEFAULT_IDLE_TIMEOUT
    );
    assert!(pair.gateway.events.is_empty() && pair.gateway.rel.is_connected());
}

#[test]
fn pings_are_answered_once_with_the_latest_nonce() {
    let t = Instant::now();
    let mut gateway = Reliability::new(Config::new(Role::Gateway), t);
    for nonce in [7, 8] {
        let ping = Envelope {
            body: Some(Body::Ping(v1::Ping { nonce })),
            ..Envelope::default()
        };
        assert_eq!(gateway.receive(t, &ping), Ok(Delivery::Deliver));
    }
    let pong = gateway.poll_transmit(t).unwrap();
    assert_eq!(pong.body, Some(Body::Pong(v1::Pong { nonce: 8 })));
    assert_eq!(gateway.poll_transmit(t), None);
    // The gateway never pings, however long it is quiet.
    assert_eq!(gateway.poll_transmit(t + Duration::from_secs(60)), None);
    assert_eq!(gateway.poll_timeout(), Some(t + DEFAULT_IDLE_TIMEOUT));
}

// ─────────────────────────────────────── (5) acks ───────────────────────────────────────

#[test]
fn a_burst_is_acked_once_after_the_ack_delay() {
    let mut pair = Pair::defaults();
    pair.send_data(Side::Gateway, 10, 100);
    let arrival = pair.at(LATENCY);
    pair.advance_to(arrival + DEFAULT_ACK_DELAY - Duration::from_millis(1));
    assert_eq!(pair.client.delivered.len(), 10);
    assert_eq!(pair.client.transmitted.len(), 0, "acked too early");
    pair.advance(Duration::from_secs(1));
    let acks: Vec<_> = pair.client.transmitted.iter().collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0, arrival + DEFAULT_ACK_DELAY);
    assert_eq!((kind(&acks[0].1), acks[0].1.ack), ("ack_only", 10));
    assert_eq!(pair.gateway.rel.replay_frames(), 0);
}

#[test]
fn a_frame_carrying_the_ack_cancels_the_pending_ack() {
    let mut pair = Pair::defaults();
    pair.send_data(Side::Gateway, 5, 100);
    pair.advance(LATENCY + Duration::from_millis(50));
    pair.send_data(Side::Client, 1, 10);
    pair.advance(Duration::from_secs(5));
    let sent: Vec<_> = pair.client.transmitted.iter().map(|(_, e)| e).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((kind(sent[0]), sent[0].ack), ("term_data", 5));
    assert_eq!(pair.gateway.rel.replay_frames(), 0);
}

#[test]
fn a_spread_out_stream_is_acked_every_ack_delay_not_per_frame() {
    let mut pair = Pair::defaults();
    for _ in 0..100 {
        pair.send_data(Side::Gateway, 1, 10);
        pair.advance(Duration::from_millis(20));
    }
    pair.advance(Duration::from_secs(1));
    let acks = pair.client.transmitted.len();
    // 2 s of frames every 20 ms: one ack per 200 ms window, not one per frame.
    assert!((10..=11).contains(&acks), "{acks} acks for 100 frames");
    assert!(
        pair.client
            .transmitted
            .iter()
            .all(|(_, e)| kind(e) == "ack_only")
    );
}

#[test]
fn a_flood_is_acked_on_arrival_past_ack_bytes() {
    // Below the threshold the ack waits for the delay…
    let mut pair = Pair::defaults();
    let small = (DEFAULT_ACK_BYTES / (64 << 10) - 1) as u64;
    pair.send_data(Side::Gateway, small, 64 << 10);
    let arrival = pair.at(LATENCY);
    pair.advance_to(arrival);
    assert!(pair.client.transmitted.is_empty());
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.transmitted[0].0, arrival + DEFAULT_ACK_DELAY);

    // …past it the ack leaves on arrival, so a sender bounded by its budget is not held up.
    let mut pair = Pair::defaults();
    pair.send_data(Side::Gateway, 40, 64 << 10);
    let arrival = pair.at(LATENCY);
    pair.advance_to(arrival);
    let acks: Vec<_> = pair.client.transmitted.iter().collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(
        (acks[0].0, kind(&acks[0].1), acks[0].1.ack),
        (arrival, "ack_only", 40)
    );
    assert_eq!(
        pair.gateway.rel.replay_frames(),
        40,
        "the ack is still on its way"
    );
    pair.advance(LATENCY);
    assert_eq!(pair.gateway.rel.replay_frames(), 0);
}

// ───────────────────────────────── protocol violations ─────────────────────────────────

fn reliable(seq: u64, ack: u64) -> Envelope {
    Envelope {
        seq,
        ack,
        channel: CHANNEL,
        body: Some(data(0, 0)),
    }
}

#[test]
fn violations_are_typed_errors_that_change_nothing() {
    let t = Instant::now();
    let mut rel = Reliability::new(Config::new(Role::Gateway), t);
    let _ = rel.send(t, CHANNEL, data(0, 0));
    assert_eq!(rel.receive(t, &reliable(1, 0)), Ok(Delivery::Deliver));

    let cases = [
        (
            reliable(2, 2),
            ReliabilityError::AckBeyondSent {
                ack: 2,
                last_sent: 1,
            },
            ErrorCode::MalformedFrame,
        ),
        (
            reliable(0, 0),
            ReliabilityError::MissingSeq { kind: "term_data" },
            ErrorCode::MalformedFrame,
        ),
        (
            Envelope {
                seq: 3,
                body: Some(Body::Ping(v1::Ping { nonce: 1 })),
                ..Envelope::default()
            },
            ReliabilityError::UnexpectedSeq {
                kind: "ping",
                seq: 3,
            },
            ErrorCode::MalformedFrame,
        ),
    ];
    for (envelope, error, code) in cases {
        assert_eq!(rel.receive(t, &envelope), Err(error.clone()));
        assert_eq!(error.code(), code);
        assert!(!error.to_string().is_empty());
    }
    assert_eq!((rel.last_received(), rel.peer_acked()), (1, 0));
    assert_eq!(rel.poll_transmit(t), None, "nothing is due yet");

    // Resume claims are checked against what was sent and acked.
    assert_eq!(
        rel.resume(t, 2),
        Err(ReliabilityError::ResumeBeyondSent {
            last_received: 2,
            last_sent: 1
        })
    );
    assert_eq!(rel.receive(t, &reliable(2, 1)), Ok(Delivery::Deliver));
    let behind = rel.resume(t, 0).unwrap_err();
    assert_eq!(
        behind,
        ReliabilityError::ResumeBehindAck {
            last_received: 0,
            acked: 1
        }
    );
    assert_eq!(behind.code(), ErrorCode::ResumeRejected);
    assert_eq!(
        rel.skip_to(2),
        Err(ReliabilityError::SkipBackwards {
            seq: 2,
            last_received: 2
        })
    );
    assert_eq!(rel.skip_to(3), Ok(()));
    assert_eq!(rel.last_received(), 2);
}

#[test]
fn too_many_gaps_is_refused_before_anything_changes() {
    let t = Instant::now();
    let mut config = Config::new(Role::Client);
    config.max_ack_ranges = 3;
    let mut rel = Reliability::new(config, t);
    for seq in [3, 5, 7] {
        assert_eq!(rel.receive(t, &reliable(seq, 0)), Ok(Delivery::Deliver));
    }
    let error = rel.receive(t, &reliable(9, 0)).unwrap_err();
    assert_eq!(error, ReliabilityError::TooManyGaps { limit: 3 });
    assert_eq!(error.code(), ErrorCode::ResourceExhausted);
    assert_eq!(rel.out_of_order_ranges(), 3);
    // Filling the gaps needs no new range, and releases them.
    for seq in [1, 2, 4, 6] {
        assert_eq!(rel.receive(t, &reliable(seq, 0)), Ok(Delivery::Deliver));
    }
    assert_eq!((rel.last_received(), rel.out_of_order_ranges()), (7, 0));
}

#[test]
fn unknown_kinds_are_sequenced_by_their_seq() {
    let t = Instant::now();
    let mut rel = Reliability::new(Config::new(Role::Client), t);
    let unknown = |seq| Envelope {
        seq,
        ..Envelope::default()
    };
    assert_eq!(rel.receive(t, &unknown(0)), Ok(Delivery::Deliver));
    assert_eq!(rel.last_received(), 0);
    assert_eq!(rel.receive(t, &unknown(1)), Ok(Delivery::Deliver));
    assert_eq!(rel.receive(t, &unknown(1)), Ok(Delivery::Duplicate));
    assert_eq!(rel.last_received(), 1);
}

#[test]
fn unsequenced_sends_take_no_seq_and_are_not_replayed() {
    let t = Instant::now();
    let mut rel = Reliability::new(Config::new(Role::Client), t);
    let query = rel.send(t, 0, Body::PathQuery(v1::PathQuery { request_id: 1 }));
    assert_eq!(query.seq, 0);
    let data = rel.send(t, CHANNEL, data(0, 0));
    assert_eq!(data.seq, 1);
    assert_eq!((rel.replay_frames(), rel.last_sent()), (1, 1));
}

#[test]
fn arrivals_that_do_not_move_the_ack_owe_no_ack() {
    let t = Instant::now();
    let mut sender = Reliability::new(Config::new(Role::Gateway), t);
    let mut receiver = Reliability::new(Config::new(Role::Client), t);
    let frames: Vec<Envelope> = (0..3)
        .map(|id| sender.send(t, CHANNEL, data(id, 0)))
        .collect();
    // Seq 2 and 3 overtake seq 1 (another QUIC stream): the ack stays 0, nothing to tell.
    for envelope in &frames[1..] {
        assert_eq!(receiver.receive(t, envelope), Ok(Delivery::Deliver));
    }
    assert_eq!(
        receiver.poll_timeout(),
        Some(t + DEFAULT_HEARTBEAT_INTERVAL)
    );
    assert_eq!(receiver.poll_transmit(t + DEFAULT_ACK_DELAY), None);
    // Seq 1 fills the gap: one Ack for all three.
    let later = t + Duration::from_secs(1);
    assert_eq!(receiver.receive(later, &frames[0]), Ok(Delivery::Deliver));
    assert_eq!(receiver.poll_timeout(), Some(later + DEFAULT_ACK_DELAY));
    let ack = receiver.poll_transmit(later + DEFAULT_ACK_DELAY).unwrap();
    assert_eq!((kind(&ack), ack.ack), ("ack_only", 3));
}

#[test]
fn timers_negotiated_off_leave_an_idle_connection_silent() {
    let t = Instant::now();
    let mut client = Reliability::new(Config::new(Role::Client), t);
    client.set_timers(None, None); // QUIC: the transport keeps the path alive and watches it
    assert_eq!(client.poll_timeout(), None);
    let hour = t + Duration::from_secs(3600);
    client.handle_timeout(hour);
    assert_eq!(
        (client.poll_transmit(hour), client.poll_event()),
        (None, None)
    );
    assert!(client.is_connected());
}
