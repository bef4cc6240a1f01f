//! Golden vectors of agent runs.

use super::*;

pub(super) fn push(v: &mut Vec<Valid>) {
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
}
