//! The test harness: two reliability endpoints joined by a simulated link on a virtual clock
//! (quinn-proto's `Pair`), a seeded PRNG, and helpers to build and recognise frames.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use devtail_proto::reliability::{Config, Delivery, Event, Reliability, Resume, Role};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use prost::Message;

/// One-way latency of the simulated link.
pub(crate) const LATENCY: Duration = Duration::from_millis(30);

/// Channel the data frames travel on.
pub(crate) const CHANNEL: u32 = 1;

/// xorshift64*: a tiny deterministic PRNG, enough to shuffle a simulation.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub(crate) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// A data frame whose payload starts with its application id (the index among the frames its
/// sender's application sent), padded to `pad` more bytes.
pub(crate) fn data(id: u64, pad: usize) -> Body {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.resize(8 + pad, b'.');
    Body::TermData(v1::TermData { data: bytes.into() })
}

pub(crate) fn id_of(envelope: &Envelope) -> Option<u64> {
    match &envelope.body {
        Some(Body::TermData(d)) => Some(u64::from_be_bytes(d.data[..8].try_into().ok()?)),
        _ => None,
    }
}

pub(crate) fn kind(envelope: &Envelope) -> &'static str {
    envelope.body.as_ref().map_or("unknown", Body::kind)
}

/// Bytes a frame costs on a message transport: the flags byte and the plain encoding.
pub(crate) fn wire_len(envelope: &Envelope) -> usize {
    1 + envelope.encoded_len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Gateway,
}

/// One direction of the simulated link.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// Frames in flight, as wire bytes, with their arrival time (non-decreasing).
    pub(crate) in_flight: VecDeque<(Instant, Bytes)>,
    /// Frames vanish silently: a half-open path.
    pub(crate) black_hole: bool,
    /// Frames wait in flight until the next cut: a stalled direction.
    pub(crate) stalled: bool,
}

#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) rel: Reliability,
    /// The link carrying frames *to* this endpoint.
    pub(crate) inbound: Link,
    /// Ids the application sent, in order.
    pub(crate) sent: Vec<u64>,
    /// Ids of data frames delivered to the application, in order.
    pub(crate) delivered: Vec<u64>,
    pub(crate) duplicates: usize,
    /// Every envelope this endpoint put on the wire, with the time.
    pub(crate) transmitted: Vec<(Instant, Envelope)>,
    pub(crate) events: Vec<(Instant, Event)>,
    pub(crate) last_arrival: Option<Instant>,
}

impl Endpoint {
    pub(crate) fn new(config: Config, now: Instant) -> Self {
        Self {
            rel: Reliability::new(config, now),
            inbound: Link::default(),
            sent: Vec::new(),
            delivered: Vec::new(),
            duplicates: 0,
            transmitted: Vec::new(),
            events: Vec::new(),
            last_arrival: None,
        }
    }

    /// Envelopes transmitted at or after `since`.
    pub(crate) fn transmitted_since(&self, since: Instant) -> impl Iterator<Item = &Envelope> {
        self.transmitted
            .iter()
            .filter(move |(at, _)| *at >= since)
            .map(|(_, e)| e)
    }
}

/// What a cut's handshake produced on each side.
#[derive(Debug)]
pub(crate) struct Resumed {
    pub(crate) client: Resume,
    pub(crate) gateway: Resume,
}

/// Two endpoints and the link between them, on a virtual clock.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) base: Instant,
    pub(crate) now: Instant,
    pub(crate) client: Endpoint,
    pub(crate) gateway: Endpoint,
    /// Reliable frames that were in flight at a cut and never arrived.
    pub(crate) lost_in_flight: usize,
}

impl Pair {
    pub(crate) fn new(client: Config, gateway: Config) -> Self {
        let base = Instant::now();
        Self {
            base,
            now: base,
            client: Endpoint::new(client, base),
            gateway: Endpoint::new(gateway, base),
            lost_in_flight: 0,
        }
    }

    pub(crate) fn defaults() -> Self {
        Self::new(Config::new(Role::Client), Config::new(Role::Gateway))
    }

    pub(crate) fn side(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Client => &mut self.client,
            Side::Gateway => &mut self.gateway,
        }
    }

    /// Puts `envelope` on the wire from `from`.
    pub(crate) fn transmit(&mut self, from: Side, envelope: Envelope) {
        let now = self.now;
        let (sender, receiver) = match from {
            Side::Client => (&mut self.client, &mut self.gateway),
            Side::Gateway => (&mut self.gateway, &mut self.client),
        };
        if !receiver.inbound.black_hole {
            let arrival = now + LATENCY;
            receiver
                .inbound
                .in_flight
                .push_back((arrival, envelope.encode_to_vec().into()));
        }
        sender.transmitted.push((now, envelope));
    }

    /// The application of `side` sends `count` data frames of `pad` extra bytes.
    pub(crate) fn send_data(&mut self, side: Side, count: u64, pad: usize) {
        for _ in 0..count {
            let now = self.now;
            let endpoint = self.side(side);
            let id = endpoint.sent.len() as u64;
            endpoint.sent.push(id);
            let envelope = endpoint.rel.send(now, CHANNEL, data(id, pad));
            if endpoint.rel.is_connected() {
                self.transmit(side, envelope);
            }
        }
        self.drive();
    }

    /// Runs both endpoints at the current instant until nothing more happens: transmits,
    /// events, arrivals.
    pub(crate) fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut progress = false;
            for side in [Side::Client, Side::Gateway] {
                let now = self.now;
                while let Some(envelope) = self.side(side).rel.poll_transmit(now) {
                    self.transmit(side, envelope);
                    progress = true;
                }
                let endpoint = self.side(side);
                while let Some(event) = endpoint.rel.poll_event() {
                    endpoint.events.push((now, event));
                    progress = true;
                }
                while !endpoint.inbound.stalled
                    && endpoint
                        .inbound
                        .in_flight
                        .front()
                        .is_some_and(|(at, _)| *at <= now)
                {
                    let (_, wire) = endpoint.inbound.in_flight.pop_front().unwrap();
                    let envelope = Envelope::decode(wire).unwrap();
                    endpoint.last_arrival = Some(now);
                    let delivery = endpoint
                        .rel
                        .receive(now, &envelope)
                        .unwrap_or_else(|e| panic!("{side:?} refused {envelope:?}: {e}"));
                    match (delivery, id_of(&envelope)) {
                        (Delivery::Deliver, Some(id)) => endpoint.delivered.push(id),
                        (Delivery::Duplicate, _) => endpoint.duplicates += 1,
                        (Delivery::Deliver, None) => {}
                    }
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    /// The next instant something is due: a timer or an arrival.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let arrival = |e: &Endpoint| {
            (!e.inbound.stalled)
                .then(|| e.inbound.in_flight.front().map(|(at, _)| *at))
                .flatten()
        };
        [
            self.client.rel.poll_timeout(),
            self.gateway.rel.poll_timeout(),
            arrival(&self.client),
            arrival(&self.gateway),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves the virtual clock to `until`, handling every timer and arrival on the way at its
    /// exact instant.
    pub(crate) fn advance_to(&mut self, until: Instant) {
        while let Some(due) = self.next_due().filter(|&due| due <= until) {
            self.now = self.now.max(due);
            self.client.rel.handle_timeout(self.now);
            self.gateway.rel.handle_timeout(self.now);
            self.drive();
        }
        self.now = until;
        self.client.rel.handle_timeout(self.now);
        self.gateway.rel.handle_timeout(self.now);
        self.drive();
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.advance_to(self.now + by);
    }

    /// The connection drops and the client reconnects at once: what is in flight is lost
    /// (with `stragglers`, some of it arrives late instead, after the new connection's
    /// retransmissions), then both sides resume with each other's `last_received`, as the
    /// `Hello`/`Welcome` handshake carries them, and the client honours `resume_seq`.
    pub(crate) fn cut(&mut self, mut stragglers: Option<&mut Rng>) -> Resumed {
        let mut late = [Vec::new(), Vec::new()];
        for (i, endpoint) in [&mut self.client, &mut self.gateway]
            .into_iter()
            .enumerate()
        {
            for (_, wire) in endpoint.inbound.in_flight.drain(..) {
                if let Some(rng) = stragglers.as_deref_mut()
                    && rng.percent(50)
                {
                    late[i].push(wire);
                } else if Envelope::decode(wire.clone()).unwrap().seq != 0 {
                    self.lost_in_flight += 1;
                }
            }
            endpoint.inbound = Link::default();
            endpoint.rel.connection_lost();
        }
        let client_last = self.client.rel.last_received();
        let gateway_last = self.gateway.rel.last_received();
        let gateway = self.gateway.rel.resume(self.now, client_last).unwrap();
        let client = self.client.rel.resume(self.now, gateway_last).unwrap();
        let resume_seq = match &gateway {
            Resume::Complete => client_last + 1,
            Resume::Gap {
                first_available_seq,
                ..
            } => *first_available_seq,
        };
        self.client.rel.skip_to(resume_seq).unwrap();
        // Retransmissions go on the new connection first…
        self.drive();
        // …and the old connection's stragglers arrive behind them.
        let arrival = self.now + LATENCY;
        for (endpoint, late) in [&mut self.client, &mut self.gateway].into_iter().zip(late) {
            for wire in late {
                endpoint.inbound.in_flight.push_back((arrival, wire));
            }
        }
        Resumed { client, gateway }
    }

    /// Copies a random frame in flight and delivers the copy again later on the same link.
    pub(crate) fn duplicate_in_flight(&mut self, rng: &mut Rng) {
        let link = if rng.percent(50) {
            &mut self.client.inbound
        } else {
            &mut self.gateway.inbound
        };
        if link.in_flight.is_empty() {
            return;
        }
        let i = rng.index(link.in_flight.len());
        let j = i + 1 + rng.index(link.in_flight.len() - i);
        let wire = link.in_flight[i].1.clone();
        let arrival = link.in_flight[j - 1].0;
        link.in_flight.insert(j, (arrival, wire));
    }

    pub(crate) fn at(&self, offset: Duration) -> Instant {
        self.base + offset
    }
}
