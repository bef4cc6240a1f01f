//! Golden vectors of connection control and terminals.

use super::*;

pub(super) fn push(v: &mut Vec<Valid>) {
    // ───── connection control ─────
    v.push(one(
        "hello",
        "Client opens a new session with a device token; it decodes both zstd modes.",
        env(
            0,
            0,
            0,
            Body::Hello(Hello {
                min_version: 1,
                max_version: 1,
                client_name: "devtail-ios/1.0.0".into(),
                auth: Some(hello::Auth::Token(DeviceToken {
                    token: "dt_q2Vq4xM8yK1uVnB7dP0sT3wZ6aE9hJ5cL2fR8gN4mQo".into(),
                })),
                resume: None,
                capabilities: vec![
                    Capability::Terminal as i32,
                    Capability::Agent as i32,
                    Capability::Files as i32,
                    Capability::Git as i32,
                    Capability::Sessions as i32,
                    Capability::Resume as i32,
                    Capability::Snapshot as i32,
                ],
                compression: Some(devtail_proto::compression_support()),
                heartbeat_interval_ms: 0,
            }),
        ),
    ));
    v.push(one(
        "hello_resume",
        "Client resumes session 0x5e55…: it received gateway frames up to seq 4211.",
        env(
            0,
            0,
            0,
            Body::Hello(Hello {
                min_version: 1,
                max_version: 1,
                client_name: "devtail-cli/0.1.0".into(),
                auth: Some(hello::Auth::Token(DeviceToken {
                    token: "dt_q2Vq4xM8yK1uVnB7dP0sT3wZ6aE9hJ5cL2fR8gN4mQo".into(),
                })),
                resume: Some(ResumeRequest {
                    session_id: Bytes::from_static(&[
                        0x5e, 0x55, 0x10, 0x4e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                        0x09, 0x0a, 0x0b, 0x0c,
                    ]),
                    resume_token: sha(0xa5),
                    last_seq_received: 4211,
                }),
                capabilities: vec![Capability::Terminal as i32, Capability::Resume as i32],
                compression: Some(devtail_proto::compression_support()),
                heartbeat_interval_ms: 0,
            }),
        ),
    ));
    v.push(one(
        "hello_tailnet",
        "A tailnet peer connects in Tailscale direct mode: no secret, identity from the tailnet.",
        env(
            0,
            0,
            0,
            Body::Hello(Hello {
                min_version: 1,
                max_version: 1,
                client_name: "devtail-cli/0.1.0".into(),
                auth: Some(hello::Auth::Tailnet(TailnetAuth {})),
                resume: None,
                capabilities: vec![Capability::Terminal as i32, Capability::TailnetPath as i32],
                compression: None,
                heartbeat_interval_ms: 30_000,
            }),
        ),
    ));
    v.push(one(
        "welcome",
        "Gateway accepts a new session: version 1, a session id and the first resume token.",
        env(
            0,
            0,
            0,
            Body::Welcome(Welcome {
                version: 1,
                server_name: "devtail-gateway/0.1.0".into(),
                session_id: Bytes::from_static(&[
                    0x5e, 0x55, 0x10, 0x4e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                    0x0a, 0x0b, 0x0c,
                ]),
                resume_token: sha(0x5a),
                resumed: false,
                last_seq_received: 0,
                capabilities: vec![
                    Capability::Terminal as i32,
                    Capability::Sessions as i32,
                    Capability::Resume as i32,
                    Capability::Snapshot as i32,
                ],
                compression: Some(devtail_proto::compression_support()),
                heartbeat_interval_ms: 30_000,
                idle_timeout_ms: 90_000,
                max_frame_len: devtail_proto::DEFAULT_MAX_FRAME_LEN as u32,
                identity: Some(Identity {
                    device_name: "pixel-8".into(),
                    ..Default::default()
                }),
                resume_seq: 0,
            }),
        ),
    ));
    v.push(one(
        "welcome_resumed",
        "Gateway resumes the session: it holds client frames up to seq 96 (the client resends from 97) and resends its own from 4212, right after the client's last.",
        env(0, 0, 0, Body::Welcome(Welcome {
            version: 1,
            server_name: "devtail-gateway/0.1.0".into(),
            session_id: Bytes::from_static(&[0x5e, 0x55, 0x10, 0x4e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c]),
            resume_token: sha(0x3c),
            resumed: true,
            last_seq_received: 96,
            capabilities: vec![Capability::Terminal as i32, Capability::Resume as i32],
            compression: Some(devtail_proto::compression_support()),
            heartbeat_interval_ms: 30_000,
            idle_timeout_ms: 90_000,
            max_frame_len: devtail_proto::DEFAULT_MAX_FRAME_LEN as u32,
            identity: Some(Identity {
                device_name: "laptop".into(),
                ..Default::default()
            }),
            resume_seq: 4212,
        })),
    ));
    v.push(one(
        "ping",
        "Heartbeat: unsequenced, carries the cumulative ack (gateway frames up to 4211 received).",
        env(0, 4211, 0, Body::Ping(Ping { nonce: 7 })),
    ));
    v.push(one(
        "pong",
        "Answer to ping 7; acks client frames up to 97.",
        env(0, 97, 0, Body::Pong(Pong { nonce: 7 })),
    ));
    v.push(one(
        "ack_only",
        "Nothing to send but an acknowledgement of gateway frames up to 4300.",
        env(0, 4300, 0, Body::AckOnly(Ack {})),
    ));
    v.push(one(
        "error_unauthenticated",
        "Gateway refuses a bad token (followed by close).",
        env(
            0,
            0,
            0,
            Body::Error(Error {
                code: ErrorCode::Unauthenticated as i32,
                message: "unknown or revoked device token".into(),
                request_id: 0,
            }),
        ),
    ));
    v.push(one(
        "close_shutdown",
        "Gateway is shutting down; retry in 2 s.",
        env(
            0,
            120,
            0,
            Body::Close(Close {
                reason: CloseReason::Shutdown as i32,
                message: "gateway shutting down".into(),
                reconnect_after_ms: 2000,
            }),
        ),
    ));

    // ───── terminals ─────
    v.push(one(
        "term_open",
        "Client opens channel 1: bash -l in src/, 40×120, with one extra variable.",
        env(
            1,
            0,
            1,
            Body::TermOpen(TermOpen {
                command: "bash".into(),
                args: vec!["-l".into()],
                env: BTreeMap::from([("LANG".into(), "C.UTF-8".into())]),
                cwd: "src".into(),
                size: size(40, 120),
                term: String::new(),
            }),
        ),
    ));
    v.push(one(
        "term_opened",
        "Gateway: terminal 12 runs as pid 48213 on channel 1.",
        env(
            1,
            1,
            1,
            Body::TermOpened(TermOpened {
                terminal_id: 12,
                pid: 48213,
                size: size(40, 120),
                output_offset: 0,
                read_only: false,
            }),
        ),
    ));
    v.push(one(
        "term_data_input",
        "Keystrokes \"ls\\r\" typed on channel 1.",
        env(
            2,
            1,
            1,
            Body::TermData(TermData {
                data: Bytes::from_static(b"ls\r"),
            }),
        ),
    ));
    v.push(one(
        "term_data_output",
        "Output on channel 1 with colour escapes.",
        env(
            2,
            2,
            1,
            Body::TermData(TermData {
                data: Bytes::from_static(b"\x1b[1;34msrc\x1b[0m  Cargo.toml  README.md\r\n$ "),
            }),
        ),
    ));
    v.push(one(
        "term_resize",
        "The phone rotated: 30 rows × 160 columns.",
        env(
            3,
            2,
            1,
            Body::TermResize(TermResize {
                size: size(30, 160),
            }),
        ),
    ));
    v.push(one(
        "term_exit_code",
        "The process exited with status 3.",
        env(3, 3, 1, Body::TermExit(TermExit { code: 3, signal: 0 })),
    ));
    v.push(one(
        "term_exit_signal",
        "The process was killed by SIGKILL (9); the CLI exits 137.",
        env(4, 3, 1, Body::TermExit(TermExit { code: 0, signal: 9 })),
    ));
    v.push(one(
        "term_snapshot",
        "The client was away past the replay budget: 1.2 MB skipped, here is the screen.",
        env(
            5,
            3,
            1,
            Body::TermSnapshot(TermSnapshot {
                skipped_bytes: 1_200_000,
                screen: Bytes::from_static(
                    b"\x1b[H\x1b[2J$ make test\r\nok: 812 passed\r\n$ \x1b[3;3H",
                ),
                scrollback: Bytes::from_static(b"   Compiling devtail v0.1.0\r\n"),
                size: size(40, 120),
                output_offset: 1_250_000,
                title: "make test".into(),
            }),
        ),
    ));
    v.push(one(
        "term_title",
        "The program set the window title (OSC 2).",
        env(
            6,
            3,
            1,
            Body::TermTitle(TermTitle {
                title: "vim README.md".into(),
            }),
        ),
    ));
    v.push(one(
        "term_clipboard",
        "The program copied \"hello\" to the clipboard (OSC 52).",
        env(
            7,
            3,
            1,
            Body::TermClipboard(TermClipboard {
                selection: "c".into(),
                data: Bytes::from_static(b"hello"),
            }),
        ),
    ));
    v.push(one(
        "term_close",
        "Client closes channel 1 and hangs up the terminal.",
        env(4, 7, 1, Body::TermClose(TermClose { kill: true })),
    ));
    v.push(one(
        "term_signal",
        "Client sends SIGINT (2) to the foreground job.",
        env(5, 7, 1, Body::TermSignal(TermSignal { signal: 2 })),
    ));
}
