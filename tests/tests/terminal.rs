//! Terminals end to end: the real gateway binary, real PTYs, the client library and the
//! `devtail` CLI, on 127.0.0.1.

use std::time::Duration;

use devtail_client::proto::v1;
use devtail_client::{Client, ClientError, TerminalEvent};
use devtail_tests::{TestGateway, Transport, over_transports, read_until, run_to_exit};
use sha2::{Digest as _, Sha256};

const WAIT: Duration = Duration::from_secs(20);

fn open(command: &str, args: &[&str]) -> v1::TermOpen {
    v1::TermOpen {
        command: command.to_owned(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn sh(script: &str) -> v1::TermOpen {
    open("/bin/sh", &["-c", script])
}

over_transports!(
    exec_reports_output_and_exit_codes,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let run = gateway.run_cli(&["exec", "--", "echo", "hi"]);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (Some(0), "hi\r\n"),
            "{}",
            run.stderr
        );

        let run = gateway.run_cli(&["exec", "--", "sh", "-c", "echo partial; exit 3"]);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (Some(3), "partial\r\n"),
            "{}",
            run.stderr
        );

        let run = gateway.run_cli(&["exec", "--", "sh", "-c", "kill -TERM $$"]);
        assert_eq!(run.code, Some(128 + 15), "killed by SIGTERM → 143");

        let run = gateway.run_cli(&["exec", "--", "/no/such/program"]);
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("/no/such/program"), "{}", run.stderr);
    }
);

over_transports!(
    exec_forwards_stdin_then_end_of_file,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let mut child = gateway
            .cli()
            .args(["exec", "--", "wc", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"12345\nabc\n").unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        // The PTY echoes the input lines; then wc reports the 10 bytes it read before EOF.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.trim_end().ends_with("\n10") || stdout.trim() == "10",
            "{stdout:?}"
        );
    }
);

over_transports!(
    fifty_megabytes_arrive_byte_exact,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        // 50 MB of incompressible bytes (a counter-mode SHA-256 stream), through a raw PTY
        // (no \n → \r\n), checked against its hash.
        let mut data = Vec::with_capacity(50 << 20);
        let mut counter = 0u64;
        while data.len() < 50 << 20 {
            data.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
            counter += 1;
        }
        std::fs::write(gateway.workspace.path().join("big.bin"), &data).unwrap();
        let expected = Sha256::digest(&data);

        let client = gateway.client().await;
        let mut terminal = client
            .open_terminal(sh("stty raw -echo; cat big.bin"))
            .await
            .unwrap();
        let mut hasher = Sha256::new();
        let mut total = 0usize;
        let status = loop {
            match terminal.next_event().await.expect("events until exit") {
                TerminalEvent::Output(bytes) => {
                    total += bytes.len();
                    hasher.update(&bytes);
                }
                TerminalEvent::Exit { code, signal } => {
                    break TerminalEvent::exit_status(code, signal);
                }
                _ => {}
            }
        };
        assert_eq!(status, 0);
        assert_eq!(total, data.len());
        assert_eq!(hasher.finalize(), expected);
    }
);

over_transports!(
    input_past_the_clients_replay_budget_arrives_byte_exact,
    |transport: Transport| async move {
        // No quotas: the program's reading sets the pace. 12 MiB is more than the client's
        // 8 MiB replay budget holds unacknowledged, so its writes wait for the gateway's acks
        // and must go on as they arrive (not at the client's next heartbeat, a minute later).
        let gateway = TestGateway::start_with(&[
            "--max-input-bytes-per-sec",
            "0",
            "--max-frames-per-sec",
            "0",
        ])
        .on(transport);
        const LEN: usize = 12 << 20;
        let data: Vec<u8> = (0..LEN).map(|i| b'a' + (i % 26) as u8).collect();
        let expected: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();

        let client = gateway.client().await;
        let mut terminal = client
            .open_terminal(sh(&format!(
                "stty raw -echo; printf R; head -c {LEN} | sha256sum"
            )))
            .await
            .unwrap();
        read_until(&mut terminal, "R", WAIT).await;
        let writer = terminal.writer();
        let paste = tokio::spawn(async move {
            for piece in data.chunks(64 << 10) {
                writer.write(piece.to_vec()).await.unwrap();
            }
        });
        let (output, status) =
            tokio::time::timeout(Duration::from_secs(40), run_to_exit(&mut terminal))
                .await
                .expect("the paste went through well before the client's heartbeat");
        paste.await.unwrap();
        assert_eq!(status, 0);
        let output = String::from_utf8_lossy(&output);
        assert!(output.contains(&expected), "{output:?}");
    }
);

over_transports!(
    input_is_echoed_through_cat,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut terminal = client.open_terminal(open("cat", &[])).await.unwrap();
        terminal.write(&b"hello devtail\n"[..]).await.unwrap();
        // The PTY echoes the line, then cat prints it.
        let seen = read_until(&mut terminal, "hello devtail\r\nhello devtail\r\n", WAIT).await;
        assert_eq!(seen, "hello devtail\r\nhello devtail\r\n");
        terminal.write(&b"\x04"[..]).await.unwrap();
        let (_, status) = run_to_exit(&mut terminal).await;
        assert_eq!(status, 0);
    }
);

over_transports!(
    resize_is_visible_to_the_program,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut request = sh("stty size; read _; stty size");
        request.size = Some(v1::TermSize {
            rows: 33,
            cols: 101,
            ..Default::default()
        });
        let mut terminal = client.open_terminal(request).await.unwrap();
        read_until(&mut terminal, "33 101", WAIT).await;
        terminal.resize(50, 132).await.unwrap();
        terminal.write(&b"\n"[..]).await.unwrap();
        read_until(&mut terminal, "50 132", WAIT).await;
    }
);

over_transports!(
    three_terminals_on_one_connection_stay_apart,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut terminals = Vec::new();
        for name in ["alpha", "bravo", "charlie"] {
            let script = format!("i=0; while [ $i -lt 2000 ]; do echo {name}-$i; i=$((i+1)); done");
            terminals.push((name, client.open_terminal(sh(&script)).await.unwrap()));
        }
        // Read all three concurrently so their output interleaves on the connection.
        let results =
            futures_util::future::join_all(terminals.iter_mut().map(|(_, t)| run_to_exit(t))).await;
        for ((name, _), (output, status)) in terminals.iter().zip(results) {
            assert_eq!(status, 0);
            let text = String::from_utf8(output).unwrap();
            let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
            let expected: Vec<String> = (0..2000).map(|i| format!("{name}-{i}")).collect();
            assert_eq!(lines, expected, "{name}'s output");
        }
    }
);

over_transports!(a_bad_token_is_refused, |transport: Transport| async move {
    let gateway = TestGateway::start().on(transport);
    let err = Client::connect(&gateway.url(), "not-the-token-at-all", gateway.options())
        .await
        .unwrap_err();
    match err {
        ClientError::Refused { code, message } => {
            assert_eq!(code, "ERROR_CODE_UNAUTHENTICATED");
            assert!(message.contains("token"), "{message}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    // The gateway logs the refusal after sending it: wait for the line.
    let log = gateway
        .wait_for_log("unknown or revoked device token", WAIT)
        .await;
    assert!(
        !log.contains("not-the-token-at-all"),
        "the token must not be logged"
    );

    let run = gateway.run_cli(&["--token", "wrong-token-xyz", "exec", "--", "true"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("UNAUTHENTICATED"), "{}", run.stderr);
});

over_transports!(
    sessions_lists_terminals_and_attach_joins_one,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let first = gateway.client().await;
        let mut terminal = first.open_terminal(open("cat", &[])).await.unwrap();
        let id = terminal.id();
        let list = first.sessions().await.unwrap();
        let info = list
            .terminals
            .iter()
            .find(|t| t.terminal_id == id)
            .expect("listed");
        assert_eq!(info.command, "cat");
        assert_eq!(info.attached_clients, 1);

        // A second device attaches and sees output from now on; both can type.
        let second = gateway.client().await;
        let mut attached = second.attach(id, false, u64::MAX).await.unwrap();
        attached.write(&b"from-second\n"[..]).await.unwrap();
        read_until(&mut terminal, "from-second\r\nfrom-second", WAIT).await;
        read_until(&mut attached, "from-second\r\nfrom-second", WAIT).await;
        assert_eq!(
            second.sessions().await.unwrap().terminals[0].attached_clients,
            2
        );

        // The CLI lists it too.
        let table = gateway.run_cli(&["sessions"]).stdout;
        assert!(
            table.contains("cat") && table.contains(&id.to_string()),
            "{table}"
        );

        // A read-only attach may not type.
        let mut watcher = second.attach(id, true, u64::MAX).await.unwrap();
        assert!(watcher.opened().read_only);
        watcher.write(&b"nope\n"[..]).await.unwrap();
        match watcher.next_event().await {
            Some(TerminalEvent::Error { code, .. }) => {
                assert_eq!(code, v1::ErrorCode::PermissionDenied as i32)
            }
            other => panic!("expected a permission error, got {other:?}"),
        }

        // Detaching leaves the terminal running.
        attached.detach().await.unwrap();
        terminal.write(&b"still-here\n"[..]).await.unwrap();
        read_until(&mut terminal, "still-here\r\nstill-here", WAIT).await;
    }
);

over_transports!(
    cursor_position_queries_are_answered_when_no_client_is_attached,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        // Once its client has gone (the test creates `go`), the program asks for the cursor
        // position and writes the answer to a file. Unanswered, `dd` would wait forever.
        let script = r#"while [ ! -e go ]; do sleep 0.05; done; printf 'ab\033[6n'; stty raw -echo; ans=$(dd bs=1 count=6 2>/dev/null); printf '%s' "$ans" | od -c > answer.txt"#;
        let terminal = client.open_terminal(sh(script)).await.unwrap();
        let id = terminal.id();
        drop(terminal);
        client.close().await;
        let observer = gateway.client().await;
        tokio::time::timeout(WAIT, async {
            loop {
                let list = observer.sessions().await.unwrap();
                if list
                    .terminals
                    .iter()
                    .any(|t| t.terminal_id == id && t.attached_clients == 0)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the first client detaches");
        std::fs::write(gateway.workspace.path().join("go"), "").unwrap();
        let answer = gateway.workspace.path().join("answer.txt");
        let text = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&answer)
                    && text.contains('R')
                {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the program got an answer");
        // ESC [ 1 ; 3 R: row 1, column 3 (after "ab").
        assert!(text.contains("033   [   1   ;   3   R"), "{text}");
    }
);

over_transports!(
    a_slow_reader_keeps_gateway_memory_bounded,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let before = gateway.rss_kib();
        // Endless output, never read by the client.
        let mut terminal = client
            .open_terminal(sh("stty raw -echo; cat /dev/zero | tr '\\0' 'x'"))
            .await
            .unwrap();
        let mut samples = Vec::new();
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            samples.push(gateway.rss_kib());
        }
        let grown = samples.iter().max().unwrap().saturating_sub(before);
        eprintln!(
            "gateway RSS {before} KiB before the flood; samples while blocked: {samples:?} KiB"
        );
        // Queues are bounded (channel queue, outbound queue, output log, socket buffers): growth
        // stays in the low megabytes; an unbounded queue would grow by hundreds of MB in 3 s.
        assert!(
            grown < 64 << 10,
            "gateway RSS grew by {grown} KiB: {samples:?} (before {before})"
        );
        // The program is blocked, not dead: reading resumes the flow.
        let mut got = 0usize;
        while got < 1 << 20 {
            if let Some(TerminalEvent::Output(data)) = terminal.next_event().await {
                assert!(data.iter().all(|&b| b == b'x'));
                got += data.len();
            }
        }
        terminal.kill().await.unwrap();
    }
);

over_transports!(
    ctrl_c_gets_through_while_output_is_blocked,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        // The program floods output that the client never reads, so it ends up blocked writing
        // to its PTY; Ctrl-C typed meanwhile must still reach it.
        let script = "trap 'echo interrupted > int.txt; exit 0' INT; while :; do echo flooding-the-terminal; done";
        let mut terminal = client.open_terminal(sh(script)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        terminal.write(&b"\x03"[..]).await.unwrap();
        let marker = gateway.workspace.path().join("int.txt");
        tokio::time::timeout(WAIT, async {
            while !marker.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the program saw SIGINT while its output was backed up");
        // And the flood that was held back arrives intact before the exit.
        let (output, status) = run_to_exit(&mut terminal).await;
        assert_eq!(status, 0);
        let text = String::from_utf8_lossy(&output);
        assert!(
            text.lines().take(1000).all(|l| l
                .trim_end_matches('\r')
                .ends_with("flooding-the-terminal")
                || l.contains('^')),
            "{}",
            &text[..200.min(text.len())]
        );
    }
);

over_transports!(
    keystrokes_echo_while_another_terminal_floods,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        // A flood on one channel, read as fast as it comes…
        let mut flood = client
            .open_terminal(sh("exec yes 'bulk output of a long build'"))
            .await
            .unwrap();
        let stop = flood.writer();
        let flowed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reader = tokio::spawn({
            let flowed = std::sync::Arc::clone(&flowed);
            async move {
                while let Some(event) = flood.next_event().await {
                    if let TerminalEvent::Output(data) = event {
                        flowed.fetch_add(data.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        });
        // …and keystrokes on another: each comes back while the flood goes on.
        let mut cat = client
            .open_terminal(sh("stty raw -echo; exec cat"))
            .await
            .unwrap();
        let flowing = || flowed.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::timeout(WAIT, async {
            while flowing() < 64 << 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the flood starts");
        let before = flowing();
        for key in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            cat.write(key.as_bytes().to_vec()).await.unwrap();
            read_until(&mut cat, key, WAIT).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let during = flowing() - before;
        // Terminals outlive connections: hang the flood up.
        stop.kill().await.unwrap();
        reader.abort();
        assert!(
            during > 64 << 10,
            "the flood went on meanwhile ({during} B)"
        );
    }
);

over_transports!(
    shutdown_sends_close_to_clients_and_hangs_up_terminals,
    |transport: Transport| async move {
        let mut gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut terminal = client
            .open_terminal(sh("echo ready; sleep 600"))
            .await
            .unwrap();
        read_until(&mut terminal, "ready", WAIT).await;
        let pid = terminal.opened().pid;
        let status = tokio::task::spawn_blocking(move || {
            let status = gateway.terminate(Duration::from_secs(10));
            (status, gateway)
        })
        .await
        .unwrap();
        assert!(status.0.expect("the gateway exits on SIGTERM").success());
        while terminal.next_event().await.is_some() {}
        let reason = client.closed_reason().expect("closed");
        assert!(reason.contains("shutting down"), "{reason}");
        // The terminal's process got SIGHUP (gone, or a zombie left to init).
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = !state.is_empty()
            && state
                .rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'));
        assert!(!running, "pid {pid} still running: {state}");
    }
);

over_transports!(
    environment_working_directory_and_default_shell,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        std::fs::create_dir(gateway.workspace.path().join("sub")).unwrap();
        let client = gateway.client().await;
        let mut request = sh("pwd; echo \"FOO=$FOO TERM=$TERM token=${DEVTAIL_TOKEN:-none}\"");
        request.env.insert("FOO".into(), "bar".into());
        request.cwd = "sub".into();
        let mut terminal = client.open_terminal(request).await.unwrap();
        let (output, _) = run_to_exit(&mut terminal).await;
        let text = String::from_utf8_lossy(&output);
        let sub = gateway.workspace.path().join("sub").canonicalize().unwrap();
        assert!(text.contains(&format!("{}\r\n", sub.display())), "{text}");
        // The gateway's own secret never reaches programs.
        assert!(
            text.contains("FOO=bar TERM=xterm-256color token=none"),
            "{text}"
        );

        // A working directory outside the workspace is refused.
        let mut escape = sh("pwd");
        escape.cwd = "../..".into();
        let err = client.open_terminal(escape).await.unwrap_err();
        assert!(err.to_string().contains("PATH_OUTSIDE_WORKSPACE"), "{err}");

        // No command: the user's login shell (SHELL=/bin/sh for the test gateway).
        let mut shell = client.open_terminal(v1::TermOpen::default()).await.unwrap();
        shell
            .write(&b"echo \"shell=$0\"; exit 7\n"[..])
            .await
            .unwrap();
        let (output, status) = run_to_exit(&mut shell).await;
        assert_eq!(status, 7);
        assert!(
            String::from_utf8_lossy(&output).contains("shell=-sh"),
            "{}",
            String::from_utf8_lossy(&output)
        );
    }
);

over_transports!(
    attaching_replays_held_output_or_sends_a_snapshot,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let first = gateway.client().await;
        let mut terminal = first
            .open_terminal(sh(
                "echo small-history; read _; seq 1 60000; echo END-OF-FLOOD; exec cat",
            ))
            .await
            .unwrap();
        read_until(&mut terminal, "small-history", WAIT).await;
        let id = terminal.id();

        // While the log still holds everything, a second device replays it from the start.
        let second = gateway.client().await;
        let mut replay = second.attach(id, true, 0).await.unwrap();
        assert_eq!(replay.opened().output_offset, 0);
        read_until(&mut replay, "small-history", WAIT).await;
        drop(replay);

        // 60 000 lines (≈ 350 KB) overflow the log: a late device gets the screen instead.
        terminal.write(&b"\n"[..]).await.unwrap();
        read_until(&mut terminal, "END-OF-FLOOD", WAIT).await;
        let mut late = second.attach(id, false, 0).await.unwrap();
        let offset = late.opened().output_offset;
        let (skipped, screen, scrollback) = match late.next_event().await {
            Some(TerminalEvent::Snapshot {
                skipped_bytes,
                screen,
                scrollback,
                output_offset,
            }) => {
                assert_eq!(
                    output_offset, offset,
                    "TermOpened announces the snapshot's offset"
                );
                (skipped_bytes, screen, scrollback)
            }
            other => panic!("expected a snapshot, got {other:?}"),
        };
        assert_eq!(
            skipped, offset,
            "everything before the snapshot's offset is accounted for"
        );
        assert!(offset > 256 << 10, "{offset}");
        let screen = String::from_utf8_lossy(&screen).into_owned();
        let scrollback = String::from_utf8_lossy(&scrollback).into_owned();
        // The screen shows lines of the flood as the screen model had them at the snapshot's
        // offset (it may trail the newest output a little; what follows is replayed from the log);
        // the scrollback holds the lines above them.
        let shown: Vec<u32> = screen
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .filter(|&n| n >= 10_000)
            .collect();
        assert!(shown.len() >= 20, "{screen:?}");
        assert!(scrollback.lines().count() >= 100, "{scrollback}");
        // Then live output continues: typing reaches cat, and the echo comes back.
        late.write(&b"after-snapshot\n"[..]).await.unwrap();
        let seen = read_until(&mut late, "after-snapshot\r\nafter-snapshot", WAIT).await;
        if !screen.contains("END-OF-FLOOD") {
            assert!(
                seen.contains("END-OF-FLOOD"),
                "the flood's end arrives after the snapshot"
            );
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_interrupts_a_program_even_under_a_gateway_started_in_the_background() {
    // A shell starts background jobs with SIGINT and SIGQUIT ignored, nohup ignores SIGHUP,
    // and programs inherit what their parent ignores: the gateway must not pass that on to
    // its terminals.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("gateway-ignoring-signals");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ntrap '' INT QUIT HUP\nexec '{}' \"$@\"\n",
            devtail_tests::bin("devtail-gateway").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let gateway = TestGateway::start_binary(&wrapper, &[]);
    let client = gateway.client().await;
    for (key, signal) in [(0x03u8, 2), (0x1c, 3)] {
        // Signal keys on (not raw): the line discipline turns the key into the signal.
        let mut terminal = client
            .open_terminal(sh("echo ready; exec yes flooding"))
            .await
            .unwrap();
        read_until(&mut terminal, "flooding", WAIT).await;
        terminal.write(vec![key]).await.unwrap();
        let status = tokio::time::timeout(WAIT, async {
            while let Some(event) = terminal.next_event().await {
                if let TerminalEvent::Exit { code, signal } = event {
                    return Some((code, signal));
                }
            }
            None
        })
        .await
        .expect("the program ends after the key");
        assert_eq!(
            status.map(|(_, signal)| signal),
            Some(signal),
            "key {key:#x} kills the flood with signal {signal}: {status:?}"
        );
    }
    // A hang-up reaches the program: a shell can only trap a signal it did not inherit
    // ignored.
    let mut terminal = client
        .open_terminal(sh(
            "trap 'echo hung up; exit 0' HUP; echo ready; while :; do sleep 0.1; done",
        ))
        .await
        .unwrap();
    read_until(&mut terminal, "ready", WAIT).await;
    terminal.writer().signal(1).await.unwrap();
    read_until(&mut terminal, "hung up", WAIT).await;
}
