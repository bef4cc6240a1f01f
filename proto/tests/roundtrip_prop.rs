//! Property: any sequence of envelopes, encoded in any compression mode, with context releases
//! anywhere, and read back through message framing or through a byte stream cut at arbitrary
//! points, decodes to exactly the envelopes sent. Deterministic (fixed seed), so it runs in
//! the normal test suite.

use bytes::{Bytes, BytesMut};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use devtail_proto::{CompressionPolicy, Decoder, DecoderConfig, Encoder, EncoderConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Arbitrary bytes, small and large.
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..20_000),
        // Repetitive terminal-like text, which compresses.
        (0usize..200, any::<u8>()).prop_map(|(lines, salt)| {
            (0..lines)
                .flat_map(|i| {
                    format!("\x1b[1;3{}mline {i} of {lines}\x1b[0m\r\n", salt % 8).into_bytes()
                })
                .collect()
        }),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        payload().prop_map(|data| Body::TermData(v1::TermData { data: data.into() })),
        any::<u64>().prop_map(|nonce| Body::Ping(v1::Ping { nonce })),
        (any::<i32>(), ".{0,40}", any::<u64>()).prop_map(|(code, message, request_id)| {
            // Unknown enum numbers must survive a round trip too.
            Body::Error(v1::Error {
                code,
                message,
                request_id,
            })
        }),
        (any::<u64>(), payload(), any::<bool>()).prop_map(|(offset, data, eof)| Body::FileChunk(
            v1::FileChunk {
                offset,
                data: data.into(),
                eof
            }
        )),
        (
            ".{0,20}",
            proptest::collection::vec(".{0,10}", 0..4),
            proptest::collection::btree_map("[A-Z_]{1,8}", ".{0,12}", 0..4),
            any::<(u16, u16)>(),
        )
            .prop_map(|(command, args, env, (rows, cols))| {
                Body::TermOpen(v1::TermOpen {
                    command,
                    args,
                    env,
                    cwd: String::new(),
                    size: Some(v1::TermSize {
                        rows: rows.into(),
                        cols: cols.into(),
                        ..Default::default()
                    }),
                    term: String::new(),
                })
            }),
        Just(Body::AckOnly(v1::Ack {})),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        proptest::option::weighted(0.95, body()),
    )
        .prop_map(|(seq, ack, channel, body)| Envelope {
            seq,
            ack,
            channel,
            body,
        })
}

#[derive(Debug, Clone)]
struct Case {
    policy: CompressionPolicy,
    /// Envelopes, each with "release the context before this one".
    frames: Vec<(Envelope, bool)>,
    /// Read sizes for the byte-stream path.
    reads: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let policy = prop_oneof![
        Just(CompressionPolicy::Off),
        Just(CompressionPolicy::FRAME),
        Just(CompressionPolicy::STREAM),
        (0usize..100).prop_map(|threshold| CompressionPolicy::ZstdStream { threshold }),
    ];
    (
        policy,
        proptest::collection::vec((envelope(), proptest::bool::weighted(0.1)), 1..12),
        proptest::collection::vec(1usize..5000, 1..20),
    )
        .prop_map(|(policy, frames, reads)| Case {
            policy,
            frames,
            reads,
        })
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let config = EncoderConfig {
        compression: case.policy,
        ..EncoderConfig::default()
    };
    // Message framing.
    let mut enc = Encoder::new(config);
    let mut dec = Decoder::new(DecoderConfig::default());
    for (env, release) in &case.frames {
        if *release {
            enc.release_context();
        }
        let mut buf = BytesMut::new();
        enc.encode_message(env, &mut buf).unwrap();
        prop_assert_eq!(&dec.decode_message(buf.freeze()).unwrap(), env);
    }

    // Stream framing, cut at the given read sizes (cycled).
    let mut enc = Encoder::new(config);
    let mut wire = BytesMut::new();
    for (env, release) in &case.frames {
        if *release {
            enc.release_context();
        }
        enc.encode_stream(env, &mut wire).unwrap();
    }
    let wire: Bytes = wire.freeze();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut at = 0;
    for read in case.reads.iter().cycle() {
        if at == wire.len() {
            break;
        }
        let end = (at + read).min(wire.len());
        buf.extend_from_slice(&wire[at..end]);
        at = end;
        while let Some(env) = dec.decode_stream(&mut buf).unwrap() {
            got.push(env);
        }
    }
    dec.finish_stream(&buf).unwrap();
    let sent: Vec<Envelope> = case.frames.into_iter().map(|(env, _)| env).collect();
    prop_assert_eq!(got, sent);
    Ok(())
}

#[test]
fn random_envelopes_round_trip() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    runner.run(&case(), check).unwrap();
}
