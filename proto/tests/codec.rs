//! Codec behaviour through the public API: round trips in every mode and framing, partial
//! input, stream-context resets, and every kind of bad frame giving its typed error.

use bytes::{BufMut, Bytes, BytesMut};
use devtail_proto::frame::{Compression, Flags};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use devtail_proto::{
    CompressionPolicy, DecodeError, Decoder, DecoderConfig, Encoder, EncoderConfig, ZstdParams,
};
use prost::Message;

fn term_data(seq: u64, data: impl Into<Bytes>) -> Envelope {
    Envelope {
        seq,
        ack: 0,
        channel: 1,
        body: Some(Body::TermData(v1::TermData { data: data.into() })),
    }
}

/// Terminal-like output: coloured log lines with varying numbers.
fn terminal_text(lines: usize, salt: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..lines {
        out.extend_from_slice(
            format!(
                "\x1b[32m   Compiling\x1b[0m devtail-proto v0.1.{} (/work/main/proto) [{}/{}]\r\n",
                (i * 7 + salt) % 13,
                i + salt,
                lines * 3
            )
            .as_bytes(),
        );
    }
    out
}

/// Incompressible bytes from a seeded xorshift generator.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn encoder(compression: CompressionPolicy) -> Encoder {
    Encoder::new(EncoderConfig {
        compression,
        ..EncoderConfig::default()
    })
}

fn flags_of(frame: &[u8]) -> Flags {
    Flags::from_byte(frame[0]).unwrap()
}

const POLICIES: [CompressionPolicy; 3] = [
    CompressionPolicy::Off,
    CompressionPolicy::FRAME,
    CompressionPolicy::STREAM,
];

#[test]
fn message_round_trip_in_every_mode() {
    for policy in POLICIES {
        let mut enc = encoder(policy);
        let mut dec = Decoder::new(DecoderConfig::default());
        for (i, size) in [0usize, 1, 47, 48, 300, 4096, 70_000]
            .into_iter()
            .enumerate()
        {
            let mut text = terminal_text(size / 60 + 1, i);
            text.truncate(size);
            let env = term_data(i as u64 + 1, text);
            let mut buf = BytesMut::new();
            let written = enc.encode_message(&env, &mut buf).unwrap();
            assert_eq!(written, buf.len());
            assert_eq!(
                dec.decode_message(buf.freeze()).unwrap(),
                env,
                "{policy:?} {size}"
            );
        }
    }
}

#[test]
fn compression_is_used_when_it_pays_and_skipped_when_not() {
    let text = terminal_text(40, 0);
    let mut enc = encoder(CompressionPolicy::STREAM);
    let mut buf = BytesMut::new();
    enc.encode_message(&term_data(1, text.clone()), &mut buf)
        .unwrap();
    let flags = flags_of(&buf);
    assert_eq!(flags.compression, Compression::ZstdStream);
    assert!(flags.reset, "the first stream frame starts the context");
    assert!(
        buf.len() < text.len() / 3,
        "{} vs {}",
        buf.len(),
        text.len()
    );

    // The same text again compresses to almost nothing: the context remembers it.
    let first = buf.len();
    buf.clear();
    enc.encode_message(&term_data(2, text.clone()), &mut buf)
        .unwrap();
    assert!(!flags_of(&buf).reset);
    assert!(buf.len() < first / 4, "{} vs {first}", buf.len());

    // Below the threshold: plain.
    buf.clear();
    enc.encode_message(&term_data(3, &b"x"[..]), &mut buf)
        .unwrap();
    assert_eq!(flags_of(&buf), Flags::PLAIN);

    // Random bytes do not compress; with a stream context they still go compressed (zstd's raw
    // blocks cost a few bytes) and the context carries on without a reset.
    let noise = noise(2000, 0x9e37_79b9_7f4a_7c15);
    let plain_len = term_data(4, noise.clone()).encoded_len();
    buf.clear();
    enc.encode_message(&term_data(4, noise.clone()), &mut buf)
        .unwrap();
    let flags = flags_of(&buf);
    assert_eq!(
        (flags.compression, flags.reset),
        (Compression::ZstdStream, false)
    );
    assert!(buf.len() <= plain_len + 8, "{} vs {plain_len}", buf.len());
    buf.clear();
    enc.encode_message(&term_data(5, text), &mut buf).unwrap();
    let flags = flags_of(&buf);
    assert_eq!(
        (flags.compression, flags.reset),
        (Compression::ZstdStream, false)
    );

    // In self-contained-frame mode the same noise goes plain.
    let mut enc = encoder(CompressionPolicy::FRAME);
    buf.clear();
    enc.encode_message(&term_data(6, noise), &mut buf).unwrap();
    assert_eq!(flags_of(&buf), Flags::PLAIN);
}

#[test]
fn stream_context_survives_interleaving_and_release() {
    let mut enc = encoder(CompressionPolicy::STREAM);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut frames = Vec::new();
    for i in 0..30 {
        let env = if i % 3 == 0 {
            term_data(i, &b"k"[..]) // plain keystroke echo between compressed output
        } else {
            term_data(i, terminal_text(5, i as usize))
        };
        if i == 9 || i == 20 {
            enc.release_context();
            assert_eq!(enc.context_bytes(), 0);
        }
        let mut buf = BytesMut::new();
        enc.encode_message(&env, &mut buf).unwrap();
        frames.push((env, buf.freeze()));
    }
    // Frame 9 is plain (a keystroke): it carries the reset that frees the peer's context.
    let f9 = flags_of(&frames[9].1);
    assert_eq!((f9.compression, f9.reset), (Compression::None, true));
    // Frame 10 starts a new context.
    let f10 = flags_of(&frames[10].1);
    assert_eq!(
        (f10.compression, f10.reset),
        (Compression::ZstdStream, true)
    );
    // Frame 12 is a plain keystroke again: no reset, the context lives on.
    assert_eq!(flags_of(&frames[12].1), Flags::PLAIN);
    // Frame 20 is compressed and both releases and restarts.
    let f20 = flags_of(&frames[20].1);
    assert_eq!(
        (f20.compression, f20.reset),
        (Compression::ZstdStream, true)
    );

    for (i, (env, frame)) in frames.into_iter().enumerate() {
        assert_eq!(dec.decode_message(frame).unwrap(), env, "frame {i}");
        if i == 9 {
            assert_eq!(
                dec.context_bytes(),
                0,
                "the reset bit freed the decoder's context"
            );
        }
    }
}

#[test]
fn a_fresh_decoder_cannot_join_a_stream_midway() {
    let mut enc = encoder(CompressionPolicy::STREAM);
    let mut first = BytesMut::new();
    enc.encode_message(&term_data(1, terminal_text(3, 0)), &mut first)
        .unwrap();
    let mut second = BytesMut::new();
    enc.encode_message(&term_data(2, terminal_text(3, 1)), &mut second)
        .unwrap();
    // A resumed connection has a new decoder: the sender must reset, or decoding fails loudly.
    let mut dec = Decoder::new(DecoderConfig::default());
    assert!(matches!(
        dec.decode_message(second.freeze()),
        Err(DecodeError::NoStreamContext)
    ));
}

#[test]
fn stream_framing_handles_every_split_point() {
    for policy in POLICIES {
        let mut enc = encoder(policy);
        let envs: Vec<Envelope> = (0..6)
            .map(|i| term_data(i + 1, terminal_text(i as usize * 3, i as usize)))
            .collect();
        let mut wire = BytesMut::new();
        for env in &envs {
            enc.encode_stream(env, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        for step in [1, 2, 3, 5, 64, 1000, wire.len()] {
            let mut dec = Decoder::new(DecoderConfig::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(env) = dec.decode_stream(&mut buf).unwrap() {
                    got.push(env);
                }
            }
            dec.finish_stream(&buf).unwrap();
            assert_eq!(got, envs, "{policy:?} step {step}");
        }
    }
}

#[test]
fn truncated_stream_is_reported_at_eof() {
    let mut enc = encoder(CompressionPolicy::Off);
    let mut wire = BytesMut::new();
    enc.encode_stream(&term_data(1, &b"hello"[..]), &mut wire)
        .unwrap();
    let total = wire.len();
    let mut buf = BytesMut::from(&wire[..total - 2]);
    let mut dec = Decoder::new(DecoderConfig::default());
    assert!(dec.decode_stream(&mut buf).unwrap().is_none());
    match dec.finish_stream(&buf) {
        Err(DecodeError::Truncated { buffered, needed }) => {
            assert_eq!((buffered, needed), (total - 2, total));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert!(matches!(
        dec.finish_stream(&[0, 0]),
        Err(DecodeError::Truncated {
            buffered: 2,
            needed: 4
        })
    ));
}

#[test]
fn oversized_length_prefix_is_refused_before_buffering() {
    let mut dec = Decoder::new(DecoderConfig {
        max_frame_len: 1024,
        ..DecoderConfig::default()
    });
    let mut buf = BytesMut::new();
    buf.put_u32(1_000_000_000);
    buf.put_u8(0);
    match dec.decode_stream(&mut buf) {
        Err(DecodeError::FrameTooLarge { len, max }) => {
            assert_eq!(
                (len, max),
                (1_000_000_000, devtail_proto::max_wire_len(1024))
            );
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(
        buf.capacity() < 4096,
        "nothing was reserved for the bogus length"
    );
}

#[test]
fn oversized_message_is_refused() {
    let mut dec = Decoder::new(DecoderConfig {
        max_frame_len: 100,
        ..DecoderConfig::default()
    });
    let mut frame = vec![0u8];
    frame.extend(term_data(1, vec![b'a'; 200]).encode_to_vec());
    let len = frame.len();
    let err = dec.decode_message(frame.into()).unwrap_err();
    assert!(
        matches!(err, DecodeError::FrameTooLarge { len: l, max: m } if l == len && m == devtail_proto::max_wire_len(100)),
        "{err:?}"
    );
    assert_eq!(err.code(), v1::ErrorCode::FrameTooLarge);
}

#[test]
fn envelopes_of_exactly_the_limit_decode_in_every_mode() {
    // Found by the roundtrip fuzz target: a stream frame decoding to exactly `max` bytes was
    // refused as too large.
    for max in [100usize, 274, 4096, 65_536] {
        for policy in POLICIES {
            // Terminal text cut so the envelope is exactly `max` bytes (the ack field absorbs
            // the byte a length varint may skip over).
            let text = terminal_text(max / 40 + 2, max);
            let env = (0..max)
                .flat_map(|n| [0u64, 1].map(|ack| (n, ack)))
                .map(|(n, ack)| Envelope {
                    ack,
                    ..term_data(1, text[..n].to_vec())
                })
                .find(|env| env.encoded_len() == max)
                .expect("some length fits exactly");
            assert_eq!(env.encoded_len(), max);
            let mut enc = Encoder::new(EncoderConfig {
                max_frame_len: max,
                compression: policy,
                ..EncoderConfig::default()
            });
            let mut dec = Decoder::new(DecoderConfig {
                max_frame_len: max,
                ..DecoderConfig::default()
            });
            let mut buf = BytesMut::new();
            enc.encode_message(&env, &mut buf).unwrap();
            assert_eq!(
                dec.decode_message(buf.freeze()).unwrap(),
                env,
                "{policy:?} at {max}"
            );
        }
    }
}

#[test]
fn incompressible_stream_frames_at_the_limit_fit_the_wire_limit() {
    // Found by the roundtrip fuzz target: random data sent with a stream context comes out a
    // few bytes larger than the plain envelope; the decoder must still accept it.
    for max in [16usize, 64, 4096, 1 << 20] {
        let noise = noise(max, 0x2545_f491_4f6c_dd1d ^ max as u64);
        let env = (0..max)
            .rev()
            .map(|n| term_data(1, noise[..n].to_vec()))
            .find(|env| env.encoded_len() <= max)
            .unwrap();
        let mut enc = Encoder::new(EncoderConfig {
            max_frame_len: max,
            compression: CompressionPolicy::ZstdStream { threshold: 0 },
            ..EncoderConfig::default()
        });
        let mut dec = Decoder::new(DecoderConfig {
            max_frame_len: max,
            ..DecoderConfig::default()
        });
        for framing_stream in [false, true] {
            let mut buf = BytesMut::new();
            if framing_stream {
                enc.encode_stream(&env, &mut buf).unwrap();
                assert_eq!(dec.decode_stream(&mut buf).unwrap().unwrap(), env, "{max}");
            } else {
                enc.encode_message(&env, &mut buf).unwrap();
                assert!(buf.len() > env.encoded_len(), "this frame really expanded");
                assert_eq!(dec.decode_message(buf.freeze()).unwrap(), env, "{max}");
            }
        }
    }
}

#[test]
fn a_failed_stream_encode_leaves_the_buffer_untouched() {
    let mut enc = Encoder::new(EncoderConfig {
        max_frame_len: 16,
        ..EncoderConfig::default()
    });
    let mut buf = BytesMut::from(&b"keep"[..]);
    assert!(
        enc.encode_stream(&term_data(1, vec![0; 40]), &mut buf)
            .is_err()
    );
    assert_eq!(&buf[..], b"keep");
}

#[test]
fn encoder_refuses_what_the_peer_would_refuse() {
    let mut enc = Encoder::new(EncoderConfig {
        max_frame_len: 100,
        ..EncoderConfig::default()
    });
    let mut buf = BytesMut::new();
    let err = enc
        .encode_message(&term_data(1, vec![0; 200]), &mut buf)
        .unwrap_err();
    assert!(
        err.to_string().contains("exceeds the peer's limit of 100"),
        "{err}"
    );
    assert!(buf.is_empty());
}

#[test]
fn bad_headers_give_typed_errors() {
    let mut dec = Decoder::new(DecoderConfig::default());
    type Expect = fn(&DecodeError) -> bool;
    let cases: [(&[u8], Expect); 5] = [
        (&[], |e| matches!(e, DecodeError::Empty)),
        (&[0x08], |e| {
            matches!(e, DecodeError::ReservedFlags { flags: 0x08 })
        }),
        (&[0x03], |e| {
            matches!(e, DecodeError::UnknownCompression { flags: 0x03 })
        }),
        (&[0x31, 0x28], |e| {
            matches!(e, DecodeError::UnknownDictionary { id: 3 })
        }),
        (&[0x02, 0x28], |e| matches!(e, DecodeError::NoStreamContext)),
    ];
    for (frame, expected) in cases {
        let err = dec
            .decode_message(Bytes::copy_from_slice(frame))
            .unwrap_err();
        assert!(expected(&err), "{frame:02x?} gave {err:?}");
        assert_eq!(err.code(), v1::ErrorCode::MalformedFrame);
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn garbage_bodies_give_typed_errors() {
    let mut dec = Decoder::new(DecoderConfig::default());
    // Protobuf field 1 as a length-delimited field whose length runs past the end.
    let err = dec
        .decode_message(Bytes::from_static(&[0x00, 0x0a, 0x7f, 1]))
        .unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf(_)), "{err:?}");
    // Not zstd at all.
    let err = dec
        .decode_message(Bytes::from_static(&[0x01, 1, 2, 3, 4, 5, 6]))
        .unwrap_err();
    assert!(matches!(err, DecodeError::Zstd { .. }), "{err:?}");
    let err = dec
        .decode_message(Bytes::from_static(&[0x06, 1, 2, 3, 4, 5, 6]))
        .unwrap_err();
    assert!(matches!(err, DecodeError::Zstd { .. }), "{err:?}");
}

fn zstd_frame(data: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::compress(data, level).unwrap()
}

#[test]
fn decompression_bomb_is_refused_without_allocating_it() {
    let max = 64 << 10;
    let mut dec = Decoder::new(DecoderConfig {
        max_frame_len: max,
        ..DecoderConfig::default()
    });
    // 64 MiB of zeros compress to a few KiB; the header declares the size.
    let bomb = zstd_frame(&vec![0u8; 64 << 20], 3);
    assert!(bomb.len() < 8 << 10);
    let mut frame = vec![
        Flags {
            compression: Compression::ZstdFrame,
            reset: false,
            dictionary: 0,
        }
        .to_byte(),
    ];
    frame.extend_from_slice(&bomb);
    let err = dec.decode_message(frame.into()).unwrap_err();
    assert!(
        matches!(err, DecodeError::DecompressedTooLarge { max: m } if m == max),
        "{err:?}"
    );
    assert_eq!(err.code(), v1::ErrorCode::FrameTooLarge);

    // Without a declared size, through the stream context: stopped at the limit.
    let mut streaming = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    streaming.include_contentsize(false).unwrap();
    std::io::Write::write_all(&mut streaming, &vec![b'a'; 8 << 20]).unwrap();
    let mut frame = vec![
        Flags {
            compression: Compression::ZstdStream,
            reset: true,
            dictionary: 0,
        }
        .to_byte(),
    ];
    frame.extend_from_slice(&streaming.finish().unwrap());
    let err = dec.decode_message(frame.into()).unwrap_err();
    // The window (8 MiB default for this frame) may be refused before the size is: both stop
    // the bomb before it allocates.
    assert!(
        matches!(
            err,
            DecodeError::DecompressedTooLarge { .. } | DecodeError::Zstd { .. }
        ),
        "{err:?}"
    );
    assert!(dec.context_bytes() < 1 << 20);
}

#[test]
fn windows_larger_than_the_limit_are_refused() {
    let mut dec = Decoder::new(DecoderConfig {
        max_window_log: 16,
        ..DecoderConfig::default()
    });
    // A zstd frame without content size and with a 1 MiB window.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(20).unwrap();
    enc.include_contentsize(false).unwrap();
    let payload = term_data(1, terminal_text(30_000, 0)).encode_to_vec();
    std::io::Write::write_all(&mut enc, &payload).unwrap();
    let mut frame = vec![0x01];
    frame.extend_from_slice(&enc.finish().unwrap());
    let err = dec.decode_message(frame.into()).unwrap_err();
    assert!(matches!(err, DecodeError::Zstd { .. }), "{err:?}");
}

#[test]
fn truncated_and_trailing_zstd_frames_are_refused() {
    let payload = term_data(1, terminal_text(20, 0)).encode_to_vec();
    let packed = zstd_frame(&payload, 3);
    let mut dec = Decoder::new(DecoderConfig::default());

    let mut cut = vec![0x01];
    cut.extend_from_slice(&packed[..packed.len() - 3]);
    let err = dec.decode_message(cut.into()).unwrap_err();
    assert!(matches!(err, DecodeError::TruncatedCompression), "{err:?}");

    let mut trailing = vec![0x01];
    trailing.extend_from_slice(&packed);
    trailing.extend_from_slice(b"xyz");
    let err = dec.decode_message(trailing.into()).unwrap_err();
    assert!(
        matches!(err, DecodeError::TrailingData { bytes: 3 }),
        "{err:?}"
    );

    // After all that, the decoder still works.
    let mut ok = vec![0x01];
    ok.extend_from_slice(&packed);
    assert_eq!(
        dec.decode_message(ok.into()).unwrap(),
        term_data(1, terminal_text(20, 0))
    );
}

#[test]
fn a_corrupt_stream_frame_poisons_the_context_until_reset() {
    let mut enc = encoder(CompressionPolicy::STREAM);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut first = BytesMut::new();
    enc.encode_message(&term_data(1, terminal_text(8, 0)), &mut first)
        .unwrap();
    dec.decode_message(first.freeze()).unwrap();
    let mut second = BytesMut::new();
    enc.encode_message(&term_data(2, terminal_text(8, 1)), &mut second)
        .unwrap();
    let mut bad = second.to_vec();
    let last = bad.len() - 1;
    bad[1..=last].iter_mut().for_each(|b| *b ^= 0x5a);
    assert!(dec.decode_message(bad.into()).is_err());
    // The intact frame can no longer be decoded: its history is gone.
    assert!(matches!(
        dec.decode_message(second.freeze()),
        Err(DecodeError::NoStreamContext)
    ));
}

#[test]
fn unknown_fields_and_empty_bodies_are_tolerated() {
    let mut dec = Decoder::new(DecoderConfig::default());
    // Envelope{seq: 5} followed by unknown field 2047 (varint 1) and no body at all.
    let mut frame = vec![0x00, 0x08, 0x05];
    frame.extend_from_slice(&[0xf8, 0x7f, 0x01]);
    let env = dec.decode_message(frame.into()).unwrap();
    assert_eq!(env.seq, 5);
    assert!(env.body.is_none());
}

#[test]
fn frame_mode_respects_a_small_peer_window() {
    let mut enc = Encoder::new(EncoderConfig {
        compression: CompressionPolicy::FRAME,
        zstd: ZstdParams {
            level: 3,
            window_log: 12,
        },
        ..EncoderConfig::default()
    });
    let mut dec = Decoder::new(DecoderConfig {
        max_window_log: 12,
        ..DecoderConfig::default()
    });
    let env = term_data(1, terminal_text(3000, 0));
    let mut buf = BytesMut::new();
    enc.encode_message(&env, &mut buf).unwrap();
    assert_eq!(flags_of(&buf).compression, Compression::ZstdFrame);
    assert_eq!(dec.decode_message(buf.freeze()).unwrap(), env);
}

#[test]
fn changing_policy_tells_the_peer_to_drop_its_context() {
    let mut enc = encoder(CompressionPolicy::STREAM);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut buf = BytesMut::new();
    enc.encode_message(&term_data(1, terminal_text(8, 0)), &mut buf)
        .unwrap();
    dec.decode_message(buf.split().freeze()).unwrap();
    let held = dec.context_bytes();
    assert!(held > 0);
    enc.set_compression(CompressionPolicy::FRAME);
    enc.encode_message(&term_data(2, terminal_text(8, 1)), &mut buf)
        .unwrap();
    let flags = flags_of(&buf);
    assert_eq!(
        (flags.compression, flags.reset),
        (Compression::ZstdFrame, true)
    );
    dec.decode_message(buf.split().freeze()).unwrap();
    assert!(dec.context_bytes() < held, "stream context freed");
}
