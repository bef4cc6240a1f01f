//! Golden vectors of sessions, the Tailscale path, and framing and compression (byte streams, zstd frames, stream contexts).

use super::*;

pub(super) fn push(v: &mut Vec<Valid>) {
    // ───── sessions ─────
    v.push(one(
        "session_list",
        "List live terminals and agent runs.",
        env(29, 31, 0, Body::SessionList(SessionList { request_id: 57 })),
    ));
    v.push(one(
        "session_list_result",
        "One terminal with two attached clients, no agent runs.",
        env(
            32,
            29,
            0,
            Body::SessionListResult(SessionListResult {
                request_id: 57,
                terminals: vec![TerminalInfo {
                    terminal_id: 12,
                    command: "bash".into(),
                    args: vec!["-l".into()],
                    size: size(40, 120),
                    started_unix_ms: 1_795_000_000_000,
                    attached_clients: 2,
                    title: "~/src".into(),
                    pid: 48213,
                }],
                agent_runs: vec![],
            }),
        ),
    ));
    v.push(one(
        "attach",
        "Attach to terminal 12 read-only on channel 11, replaying from output offset 65536.",
        env(
            30,
            32,
            11,
            Body::Attach(Attach {
                target: Some(attach::Target::TerminalId(12)),
                read_only: true,
                replay_from: 65_536,
            }),
        ),
    ));
    v.push(one(
        "detach",
        "Leave the terminal on channel 11 running.",
        env(31, 32, 11, Body::Detach(Detach {})),
    ));

    // ───── Tailscale ─────
    v.push(one(
        "path_query",
        "How does this connection travel?",
        env(0, 32, 0, Body::PathQuery(PathQuery { request_id: 58 })),
    ));
    v.push(one(
        "path_info",
        "Peer-to-peer over the tailnet, 3.2 ms round trip.",
        env(
            0,
            31,
            0,
            Body::PathInfo(PathInfo {
                request_id: 58,
                kind: PathKind::Direct as i32,
                endpoint: "192.0.2.10:41641".into(),
                relay: String::new(),
                direct_endpoint_hints: vec![
                    "192.0.2.10:41641".into(),
                    "[2001:db8::10]:41641".into(),
                ],
                latency_us: 3200,
            }),
        ),
    ));

    // ───── framing and compression ─────
    v.push(Valid {
        name: "stream_framing",
        description: "Byte-stream framing (QUIC): two frames, each behind a 4-byte big-endian length.",
        framing: Framing::Stream,
        mode: Mode::Off,
        steps: vec![
            Step {
                envelope: env(0, 5, 0, Body::Ping(Ping { nonce: 8 })),
                release_before: false,
            },
            output(40, 5, Bytes::from_static(b"hi\r\n")),
        ],
    });
    v.push(Valid {
        name: "zstd_frame",
        description: "A 40-line build log compressed as one self-contained zstd frame.",
        framing: Framing::Message,
        mode: Mode::ZstdFrame,
        steps: vec![output(41, 5, build_log(40, 0))],
    });
    v.push(Valid {
        name: "zstd_stream",
        description: "Stream context: the first compressed frame resets (starts) it, the next \
                      continues it and shrinks further; a keystroke echo below the threshold \
                      goes plain in between without touching the context.",
        framing: Framing::Message,
        mode: Mode::ZstdStream,
        steps: vec![
            output(42, 5, build_log(8, 0)),
            output(43, 5, Bytes::from_static(b"l")),
            output(44, 5, build_log(8, 8)),
        ],
    });
    v.push(Valid {
        name: "zstd_stream_release",
        description: "The sender frees its idle context: the next (plain) frame carries the reset \
                      bit so the receiver frees its own; compression restarts with a reset.",
        framing: Framing::Message,
        mode: Mode::ZstdStream,
        steps: vec![
            output(45, 5, build_log(6, 0)),
            Step {
                envelope: env(0, 5, 0, Body::Ping(Ping { nonce: 9 })),
                release_before: true,
            },
            output(46, 5, build_log(6, 3)),
        ],
    });
    v.push(Valid {
        name: "zstd_stream_on_stream_framing",
        description: "Stream context over byte-stream framing (one QUIC stream).",
        framing: Framing::Stream,
        mode: Mode::ZstdStream,
        steps: vec![
            output(47, 5, build_log(5, 1)),
            output(48, 5, build_log(5, 6)),
        ],
    });
}
