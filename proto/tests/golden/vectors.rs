//! The golden vectors' definitions: one or more per message kind, every framing and
//! compression mode, and frames a decoder must refuse. `testdata/vectors.json` is generated
//! from these (DEVTAIL_BLESS=1) and checked against them.

use std::collections::BTreeMap;

use bytes::Bytes;
use devtail_proto::v1::*;
use devtail_proto::v1::{attach, delta_op, envelope::Body, fs_write, sync_patch};

#[path = "valid_agent.rs"]
mod valid_agent;
#[path = "valid_files.rs"]
mod valid_files;
#[path = "valid_framing.rs"]
mod valid_framing;
#[path = "valid_terminal.rs"]
mod valid_terminal;

/// How the frames of a vector are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One frame per WebSocket binary message.
    Message,
    /// Length-prefixed frames on a byte stream.
    Stream,
}

impl Framing {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framing::Message => "message",
            Framing::Stream => "stream",
        }
    }
}

/// Encoder compression for a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Off,
    ZstdFrame,
    ZstdStream,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::ZstdFrame => "zstd-frame",
            Mode::ZstdStream => "zstd-stream",
        }
    }
}

/// One frame of a valid vector.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) envelope: Envelope,
    /// The sender released its compression context before this frame.
    pub(crate) release_before: bool,
}

/// A sequence of frames that must decode to the given envelopes and re-encode byte-exactly.
#[derive(Debug, Clone)]
pub(crate) struct Valid {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) framing: Framing,
    pub(crate) mode: Mode,
    pub(crate) steps: Vec<Step>,
}

/// A frame a decoder must refuse with the named error.
#[derive(Debug, Clone)]
pub(crate) struct Invalid {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) framing: Framing,
    pub(crate) bytes: Vec<u8>,
    /// snake_case name of the `DecodeError` variant.
    pub(crate) error: &'static str,
    /// The wire `ErrorCode` a gateway answers with.
    pub(crate) code: ErrorCode,
}

fn env(seq: u64, ack: u64, channel: u32, body: Body) -> Envelope {
    Envelope {
        seq,
        ack,
        channel,
        body: Some(body),
    }
}

fn one(name: &'static str, description: &'static str, envelope: Envelope) -> Valid {
    Valid {
        name,
        description,
        framing: Framing::Message,
        mode: Mode::Off,
        steps: vec![Step {
            envelope,
            release_before: false,
        }],
    }
}

fn size(rows: u32, cols: u32) -> Option<TermSize> {
    Some(TermSize {
        rows,
        cols,
        width_px: 0,
        height_px: 0,
    })
}

fn sha(seed: u8) -> Bytes {
    Bytes::from(
        (0..32u8)
            .map(|i| i.wrapping_mul(37) ^ seed)
            .collect::<Vec<u8>>(),
    )
}

fn file(path: &str, kind: FileKind, size: u64, hash: Option<u8>) -> FileInfo {
    FileInfo {
        path: path.into(),
        kind: kind as i32,
        size,
        mtime_unix_ms: 1_795_000_000_000,
        mode: if kind == FileKind::Dir { 0o755 } else { 0o644 },
        sha256: hash.map(sha).unwrap_or_default(),
        symlink_target: String::new(),
    }
}

fn event(offset: u64, event: agent_event::Event) -> Body {
    Body::AgentEvent(AgentEvent {
        offset,
        time_unix_ms: 1_795_000_000_000 + offset * 250,
        event: Some(event),
    })
}

/// Terminal output as a build prints it: the same shapes, varying numbers.
pub(crate) fn build_log(lines: usize, salt: usize) -> Bytes {
    let mut out = String::new();
    for i in 0..lines {
        let n = i + salt;
        out.push_str(&format!(
            "\x1b[1m\x1b[32m   Compiling\x1b[0m crate-{:02} v0.{}.{} ({}/{})\r\n",
            n % 17,
            n % 5,
            n % 11,
            n,
            lines + salt
        ));
    }
    Bytes::from(out)
}

fn output(seq: u64, ack: u64, data: Bytes) -> Step {
    Step {
        envelope: env(seq, ack, 1, Body::TermData(TermData { data })),
        release_before: false,
    }
}

/// Every valid vector, by area, in a fixed order.
pub(crate) fn valid() -> Vec<Valid> {
    let mut v = Vec::new();
    valid_terminal::push(&mut v);
    valid_agent::push(&mut v);
    valid_files::push(&mut v);
    valid_framing::push(&mut v);
    v
}

fn flags(compression: u8, reset: bool, dictionary: u8) -> u8 {
    compression | if reset { 0b100 } else { 0 } | (dictionary << 4)
}

/// Frames a decoder must refuse, each with the error it gives.
pub(crate) fn invalid() -> Vec<Invalid> {
    use prost::Message;
    let ping = env(0, 1, 0, Body::Ping(Ping { nonce: 1 })).encode_to_vec();
    let with_flags = |f: u8, body: &[u8]| {
        let mut out = vec![f];
        out.extend_from_slice(body);
        out
    };
    let zstd_ping = zstd::bulk::compress(&ping, 3).unwrap();
    let bomb = zstd::bulk::compress(&vec![0u8; 8 << 20], 19).unwrap();
    vec![
        Invalid {
            name: "empty",
            description: "A WebSocket message with no bytes: the flags byte is missing.",
            framing: Framing::Message,
            bytes: vec![],
            error: "empty",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "reserved_flag_bit",
            description: "Flags byte 0x08: reserved bit 3 set.",
            framing: Framing::Message,
            bytes: with_flags(0x08, &ping),
            error: "reserved_flags",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "unknown_compression",
            description: "Compression value 3 is reserved.",
            framing: Framing::Message,
            bytes: with_flags(0x03, &ping),
            error: "unknown_compression",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "unknown_dictionary",
            description: "zstd frame naming dictionary 5, which v1 does not define.",
            framing: Framing::Message,
            bytes: with_flags(flags(1, false, 5), &zstd_ping),
            error: "unknown_dictionary",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "stream_without_reset",
            description: "A stream-compressed frame on a connection whose stream context was \
                          never started by a reset bit.",
            framing: Framing::Message,
            bytes: with_flags(flags(2, false, 0), &zstd_ping),
            error: "no_stream_context",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "oversized_length_prefix",
            description: "Byte stream declaring a 2 GiB frame: refused from the 4-byte prefix alone.",
            framing: Framing::Stream,
            bytes: vec![0x80, 0x00, 0x00, 0x00, 0x00],
            error: "frame_too_large",
            code: ErrorCode::FrameTooLarge,
        },
        Invalid {
            name: "decompression_bomb",
            description: "A zstd frame of a few hundred bytes declaring 8 MiB of content, over the \
                          4 MiB frame limit: refused before decompressing.",
            framing: Framing::Message,
            bytes: with_flags(flags(1, false, 0), &bomb),
            error: "decompressed_too_large",
            code: ErrorCode::FrameTooLarge,
        },
        Invalid {
            name: "truncated_zstd_frame",
            description: "A self-contained zstd frame missing its last 3 bytes.",
            framing: Framing::Message,
            bytes: with_flags(flags(1, false, 0), &zstd_ping[..zstd_ping.len() - 3]),
            error: "truncated_compression",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "truncated_stream",
            description: "The byte stream ends after 4 of the 9 bytes its prefix announced.",
            framing: Framing::Stream,
            bytes: vec![0x00, 0x00, 0x00, 0x09, 0x00, 0x10, 0x01, 0x62],
            error: "truncated",
            code: ErrorCode::MalformedFrame,
        },
        Invalid {
            name: "bad_protobuf",
            description: "Field 1 declared length-delimited with a length past the end.",
            framing: Framing::Message,
            bytes: vec![0x00, 0x0a, 0x7f, 0x01],
            error: "protobuf",
            code: ErrorCode::MalformedFrame,
        },
    ]
}

/// A frame that decodes although it holds what this version does not know.
#[derive(Debug, Clone)]
pub(crate) struct Tolerated {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) bytes: Vec<u8>,
    pub(crate) envelope: Envelope,
    /// The envelope in proto3 JSON (written out: unknown enum numbers have no name).
    pub(crate) json: serde_json::Value,
}

/// Frames that decode although they hold what this version does not know.
pub(crate) fn tolerated() -> Vec<Tolerated> {
    vec![
        Tolerated {
            name: "unknown_body",
            description: "An Envelope whose body is field 500 (a message kind from a later \
                          version): it decodes with an empty body; a reliable one is answered \
                          with ERROR_CODE_UNSUPPORTED.",
            // flags, seq=9, channel=1, field 500 length-delimited (tag 0xa2 0x1f) of 2 bytes.
            bytes: vec![0x00, 0x08, 0x09, 0x18, 0x01, 0xa2, 0x1f, 0x02, 0x08, 0x01],
            envelope: Envelope {
                seq: 9,
                ack: 0,
                channel: 1,
                body: None,
            },
            json: serde_json::json!({ "seq": "9", "channel": 1 }),
        },
        Tolerated {
            name: "unknown_enum_value",
            description: "An Error with code 999 (added later): the number is kept; treat it as \
                          unspecified.",
            bytes: vec![0x00, 0x72, 0x03, 0x08, 0xe7, 0x07],
            envelope: env(
                0,
                0,
                0,
                Body::Error(Error {
                    code: 999,
                    message: String::new(),
                    request_id: 0,
                }),
            ),
            json: serde_json::json!({ "error": { "code": 999 } }),
        },
    ]
}
