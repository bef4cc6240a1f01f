//! The golden vectors' definitions: one or more per message kind, every framing and
//! compression mode, and frames a decoder must refuse. `testdata/vectors.json` is generated
//! from these (DEVTAIL_BLESS=1) and checked against them.

use std::collections::BTreeMap;

use bytes::Bytes;
use devtail_proto::v1::*;
use devtail_proto::v1::{attach, delta_op, envelope::Body, fs_write, sync_patch};

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

#[allow(clippy::vec_init_then_push)] // one push per vector reads best, grouped by area
pub(crate) fn valid() -> Vec<Valid> {
    let mut v = Vec::new();

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

    // ───── agent runs ─────
    v.push(one(
        "agent_start",
        "Client starts Claude Code on channel 3 with a prompt.",
        env(
            6,
            7,
            3,
            Body::AgentStart(AgentStart {
                kind: AgentKind::ClaudeCode as i32,
                profile: String::new(),
                prompt: "Add a --json flag to the status command".into(),
                cwd: String::new(),
                model: String::new(),
                resume_agent_session: String::new(),
                files: vec![],
            }),
        ),
    ));
    v.push(one(
        "agent_started",
        "Gateway: run 5 started; its event log begins at offset 0.",
        env(
            8,
            6,
            3,
            Body::AgentStarted(AgentStarted {
                run_id: 5,
                kind: AgentKind::ClaudeCode as i32,
                agent_session: "6f1c2d9e-0b7a-4c3e-9f21-5d8e7a4b3c21".into(),
                next_offset: 0,
            }),
        ),
    ));
    v.push(one(
        "agent_event_text",
        "Event 0 of run 5: streamed model text.",
        env(
            9,
            6,
            3,
            event(
                0,
                agent_event::Event::Text(AgentText {
                    delta: "I'll add the flag to ".into(),
                    thinking: false,
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_tool_use",
        "Event 1: the agent calls the Read tool.",
        env(
            10,
            6,
            3,
            event(
                1,
                agent_event::Event::ToolUse(AgentToolUse {
                    tool_use_id: "toolu_01".into(),
                    name: "Read".into(),
                    input_json: r#"{"file_path":"src/status.rs"}"#.into(),
                    status: ToolStatus::Running as i32,
                    output: String::new(),
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_file_edit",
        "Event 2: the agent edited a file (unified diff).",
        env(11, 6, 3, event(2, agent_event::Event::FileEdit(AgentFileEdit {
            path: "src/status.rs".into(),
            unified_diff: "--- a/src/status.rs\n+++ b/src/status.rs\n@@ -1,2 +1,3 @@\n struct Args {\n+    json: bool,\n }\n".into(),
            created: false,
            deleted: false,
        }))),
    ));
    v.push(one(
        "agent_event_command_run",
        "Event 3: the agent ran the tests.",
        env(
            12,
            6,
            3,
            event(
                3,
                agent_event::Event::CommandRun(AgentCommandRun {
                    command: "cargo test".into(),
                    exit_code: 0,
                    output: "test result: ok. 12 passed".into(),
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_usage",
        "Event 4: cumulative token usage and cost.",
        env(
            13,
            6,
            3,
            event(
                4,
                agent_event::Event::Usage(AgentUsage {
                    input_tokens: 15_230,
                    output_tokens: 1_204,
                    cache_read_tokens: 12_000,
                    cache_write_tokens: 3_000,
                    cost_usd: 0.0425,
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_permission_request",
        "Event 5: the agent asks to run a command; answer with agent_permission_answer.",
        env(
            14,
            6,
            3,
            event(
                5,
                agent_event::Event::PermissionRequest(AgentPermissionRequest {
                    permission_id: "perm-1".into(),
                    tool_name: "Bash".into(),
                    input_json: r#"{"command":"rm -rf target"}"#.into(),
                    description: "Run: rm -rf target".into(),
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_status",
        "Event 6: the run is waiting on permission.",
        env(
            15,
            6,
            3,
            event(
                6,
                agent_event::Event::Status(AgentStatus {
                    status: RunStatus::Running as i32,
                    detail: "waiting for permission".into(),
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_event_result",
        "Event 7: the run finished.",
        env(
            16,
            6,
            3,
            event(
                7,
                agent_event::Event::Result(AgentResult {
                    status: RunStatus::Finished as i32,
                    summary: "Added --json to status".into(),
                    turns: 4,
                    duration_ms: 38_120,
                    error: String::new(),
                }),
            ),
        ),
    ));
    v.push(one(
        "agent_permission_answer",
        "Client denies the request with a reason.",
        env(
            7,
            15,
            3,
            Body::AgentPermissionAnswer(AgentPermissionAnswer {
                permission_id: "perm-1".into(),
                allow: false,
                message: "don't delete target/".into(),
            }),
        ),
    ));
    v.push(one(
        "agent_send",
        "A follow-up prompt to the running agent.",
        env(
            8,
            16,
            3,
            Body::AgentSend(AgentSend {
                text: "Also update the README".into(),
            }),
        ),
    ));
    v.push(one(
        "agent_interrupt",
        "Stop the current turn; keep the agent.",
        env(9, 16, 3, Body::AgentInterrupt(AgentInterrupt {})),
    ));
    v.push(one(
        "agent_stop",
        "End the run (its process group is terminated).",
        env(10, 16, 3, Body::AgentStop(AgentStop {})),
    ));
    v.push(one(
        "agent_list",
        "List agent runs (request 41).",
        env(11, 16, 0, Body::AgentList(AgentList { request_id: 41 })),
    ));
    v.push(one(
        "agent_list_result",
        "One finished run.",
        env(
            17,
            11,
            0,
            Body::AgentListResult(AgentListResult {
                request_id: 41,
                runs: vec![AgentRunInfo {
                    run_id: 5,
                    kind: AgentKind::ClaudeCode as i32,
                    status: RunStatus::Finished as i32,
                    prompt: "Add a --json flag to the status command".into(),
                    started_unix_ms: 1_795_000_000_000,
                    events: 8,
                    cost_usd: 0.0425,
                    attached_clients: 1,
                }],
            }),
        ),
    ));

    // ───── files and sync ─────
    v.push(one(
        "fs_list",
        "List src/ (request 42).",
        env(
            12,
            17,
            0,
            Body::FsList(FsList {
                request_id: 42,
                path: "src".into(),
                recursive: false,
                include_hidden: false,
            }),
        ),
    ));
    v.push(one(
        "fs_list_result",
        "A directory and a file.",
        env(
            18,
            12,
            0,
            Body::FsListResult(FsListResult {
                request_id: 42,
                entries: vec![
                    file("src/bin", FileKind::Dir, 0, None),
                    file("src/main.rs", FileKind::File, 1834, None),
                ],
                truncated: false,
            }),
        ),
    ));
    v.push(one(
        "fs_stat",
        "Stat a file with its hash (request 43).",
        env(
            13,
            18,
            0,
            Body::FsStat(FsStat {
                request_id: 43,
                path: "src/main.rs".into(),
                with_hash: true,
            }),
        ),
    ));
    v.push(one(
        "fs_stat_result",
        "The file's metadata and SHA-256.",
        env(
            19,
            13,
            0,
            Body::FsStatResult(FsStatResult {
                request_id: 43,
                info: Some(file("src/main.rs", FileKind::File, 1834, Some(1))),
            }),
        ),
    ));
    v.push(one(
        "fs_read",
        "Read a whole file on new channel 5 (request 44).",
        env(
            14,
            19,
            5,
            Body::FsRead(FsRead {
                request_id: 44,
                path: "src/main.rs".into(),
                offset: 0,
                length: 0,
            }),
        ),
    ));
    v.push(one(
        "fs_read_result",
        "The read begins: FileChunk frames follow on channel 5.",
        env(
            20,
            14,
            5,
            Body::FsReadResult(FsReadResult {
                request_id: 44,
                info: Some(file("src/main.rs", FileKind::File, 1834, Some(1))),
            }),
        ),
    ));
    v.push(one(
        "file_chunk",
        "The last chunk of a transfer.",
        env(
            21,
            14,
            5,
            Body::FileChunk(FileChunk {
                offset: 1792,
                data: Bytes::from_static(b"    Ok(())\n}\n"),
                eof: true,
            }),
        ),
    ));
    v.push(one(
        "fs_write",
        "Write a file on channel 7 if it still has the given hash; 13 bytes follow.",
        env(
            15,
            21,
            7,
            Body::FsWrite(FsWrite {
                request_id: 45,
                path: "notes.txt".into(),
                precondition: Some(fs_write::Precondition::BaseSha256(sha(2))),
                size: 13,
                mode: 0,
                create_parents: false,
            }),
        ),
    ));
    v.push(one(
        "fs_write_result",
        "The file was written atomically.",
        env(
            22,
            16,
            7,
            Body::FsWriteResult(FsWriteResult {
                request_id: 45,
                info: Some(file("notes.txt", FileKind::File, 13, Some(3))),
            }),
        ),
    ));
    v.push(one(
        "fs_delete",
        "Delete a directory tree.",
        env(
            17,
            22,
            0,
            Body::FsDelete(FsDelete {
                request_id: 46,
                path: "build/tmp".into(),
                recursive: true,
                base_sha256: Bytes::new(),
            }),
        ),
    ));
    v.push(one(
        "fs_rename",
        "Rename without overwriting.",
        env(
            18,
            22,
            0,
            Body::FsRename(FsRename {
                request_id: 47,
                from: "notes.txt".into(),
                to: "docs/notes.txt".into(),
                overwrite: false,
            }),
        ),
    ));
    v.push(one(
        "fs_mkdir",
        "Create a directory and its parents.",
        env(
            19,
            22,
            0,
            Body::FsMkdir(FsMkdir {
                request_id: 48,
                path: "docs/img".into(),
                parents: true,
            }),
        ),
    ));
    v.push(one(
        "fs_done",
        "The mkdir succeeded.",
        env(
            23,
            19,
            0,
            Body::FsDone(FsDone {
                request_id: 48,
                info: Some(file("docs/img", FileKind::Dir, 0, None)),
            }),
        ),
    ));
    v.push(one(
        "fs_watch",
        "Watch the workspace recursively on channel 9, leaving out target/.",
        env(
            20,
            23,
            9,
            Body::FsWatch(FsWatch {
                request_id: 49,
                path: String::new(),
                recursive: true,
                ignore: vec!["target/**".into()],
            }),
        ),
    ));
    v.push(one(
        "fs_unwatch",
        "Stop the watch on channel 9.",
        env(21, 23, 9, Body::FsUnwatch(FsUnwatch {})),
    ));
    v.push(one(
        "fs_changes",
        "A batch of changes: one file modified, one renamed.",
        env(
            24,
            20,
            9,
            Body::FsChanges(FsChanges {
                changes: vec![
                    FsChange {
                        kind: ChangeKind::Modified as i32,
                        path: "src/main.rs".into(),
                        from: String::new(),
                        info: Some(file("src/main.rs", FileKind::File, 1840, None)),
                    },
                    FsChange {
                        kind: ChangeKind::Renamed as i32,
                        path: "docs/notes.txt".into(),
                        from: "notes.txt".into(),
                        info: Some(file("docs/notes.txt", FileKind::File, 13, None)),
                    },
                ],
            }),
        ),
    ));
    v.push(one(
        "sync_pull",
        "Ask for src/main.rs relative to the copy the client holds.",
        env(
            22,
            24,
            0,
            Body::SyncPull(SyncPull {
                request_id: 50,
                path: "src/main.rs".into(),
                base_sha256: sha(1),
            }),
        ),
    ));
    v.push(one(
        "sync_patch",
        "The new content as a delta: copy 1800 bytes of the base, insert 7, copy the last 34.",
        env(
            25,
            22,
            0,
            Body::SyncPatch(SyncPatch {
                request_id: 50,
                path: "src/main.rs".into(),
                base_sha256: sha(1),
                new_sha256: sha(4),
                content: Some(sync_patch::Content::Delta(Delta {
                    ops: vec![
                        DeltaOp {
                            op: Some(delta_op::Op::Copy(CopyRange {
                                offset: 0,
                                len: 1800,
                            })),
                        },
                        DeltaOp {
                            op: Some(delta_op::Op::Insert(Bytes::from_static(b"// done\n"))),
                        },
                        DeltaOp {
                            op: Some(delta_op::Op::Copy(CopyRange {
                                offset: 1800,
                                len: 34,
                            })),
                        },
                    ],
                })),
                mode: 0o644,
            }),
        ),
    ));
    v.push(one(
        "sync_result",
        "A pushed patch was applied.",
        env(
            26,
            23,
            0,
            Body::SyncResult(SyncResult {
                request_id: 51,
                info: Some(file("src/lib.rs", FileKind::File, 4021, Some(5))),
            }),
        ),
    ));

    // ───── git ─────
    v.push(one(
        "git_status",
        "Ask for git status.",
        env(24, 26, 0, Body::GitStatus(GitStatus { request_id: 52 })),
    ));
    v.push(one(
        "git_status_result",
        "On main, one commit ahead, one staged and one untracked file.",
        env(
            27,
            24,
            0,
            Body::GitStatusResult(GitStatusResult {
                request_id: 52,
                branch: "main".into(),
                head: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
                upstream: "origin/main".into(),
                ahead: 1,
                behind: 0,
                files: vec![
                    GitFileStatus {
                        path: "src/status.rs".into(),
                        old_path: String::new(),
                        staged: GitChange::Modified as i32,
                        unstaged: GitChange::Unmodified as i32,
                    },
                    GitFileStatus {
                        path: "notes.txt".into(),
                        old_path: String::new(),
                        staged: GitChange::Unmodified as i32,
                        unstaged: GitChange::Untracked as i32,
                    },
                ],
            }),
        ),
    ));
    v.push(one(
        "git_diff",
        "Staged diff of one path.",
        env(
            25,
            27,
            0,
            Body::GitDiff(GitDiff {
                request_id: 53,
                paths: vec!["src/status.rs".into()],
                staged: true,
                context_lines: 0,
            }),
        ),
    ));
    v.push(one(
        "git_diff_result",
        "The diff and its counts.",
        env(28, 25, 0, Body::GitDiffResult(GitDiffResult {
            request_id: 53,
            unified_diff: "diff --git a/src/status.rs b/src/status.rs\n--- a/src/status.rs\n+++ b/src/status.rs\n@@ -1,2 +1,3 @@\n struct Args {\n+    json: bool,\n }\n".into(),
            files_changed: 1,
            insertions: 1,
            deletions: 0,
        })),
    ));
    v.push(one(
        "git_log",
        "The last 2 commits.",
        env(
            26,
            28,
            0,
            Body::GitLog(GitLog {
                request_id: 54,
                limit: 2,
                rev: String::new(),
                path: String::new(),
            }),
        ),
    ));
    v.push(one(
        "git_log_result",
        "One commit with its parent.",
        env(
            29,
            26,
            0,
            Body::GitLogResult(GitLogResult {
                request_id: 54,
                commits: vec![GitCommitInfo {
                    id: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
                    summary: "Add status --json".into(),
                    author_name: "Ada Lovelace".into(),
                    author_email: "ada@example.com".into(),
                    time_unix_s: 1_795_000_000,
                    parents: vec!["4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()],
                }],
            }),
        ),
    ));
    v.push(one(
        "git_stage",
        "Stage everything.",
        env(
            27,
            29,
            0,
            Body::GitStage(GitStage {
                request_id: 55,
                paths: vec![],
                all: true,
                unstage: false,
            }),
        ),
    ));
    v.push(one(
        "git_done",
        "Staging succeeded.",
        env(30, 27, 0, Body::GitDone(GitDone { request_id: 55 })),
    ));
    v.push(one(
        "git_commit",
        "Commit the index.",
        env(
            28,
            30,
            0,
            Body::GitCommit(GitCommit {
                request_id: 56,
                message: "Update notes".into(),
                amend: false,
            }),
        ),
    ));
    v.push(one(
        "git_commit_result",
        "The new commit's id.",
        env(
            31,
            28,
            0,
            Body::GitCommitResult(GitCommitResult {
                request_id: 56,
                commit_id: "1a410efbd13591db07496601ebc7a059dd55cfe9".into(),
            }),
        ),
    ));

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
