//! Sessions that survive their connections (PROTOCOL.md §6), on the real gateway and client
//! through the chaos proxy: output and input cross dozens of cuts exactly once, a session away
//! past its replay budget gets a flagged snapshot, a second device joins a live terminal, a
//! session moves from WebSocket to QUIC. (Refused resume claims: `resume_claims.rs`.)

use std::time::Duration;

use devtail_client::proto::v1;
use devtail_client::{Client, ConnectOptions, Status, Terminal, TerminalEvent};
use devtail_tests::chaos::ChaosProxy;
use devtail_tests::{TestGateway, Transport, over_transports, read_until};
use sha2::{Digest as _, Sha256};

const WAIT: Duration = Duration::from_secs(20);

fn resuming(gateway: &TestGateway) -> ConnectOptions {
    ConnectOptions {
        reconnect: true,
        ..gateway.options()
    }
}

fn sh(script: &str) -> v1::TermOpen {
    v1::TermOpen {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    }
}

/// The contents of the file at `path` once `done` says they are complete, or as they are after
/// `timeout` (the caller's assertions then say what is missing).
async fn file_when(
    path: &std::path::Path,
    timeout: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let contents = std::fs::read(path).unwrap_or_default();
        if done(&contents) || tokio::time::Instant::now() > deadline {
            return contents;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reconnections the client went through, counted from its status changes.
fn count_resumes(client: &Client) -> tokio::task::JoinHandle<usize> {
    let mut status = client.status();
    tokio::spawn(async move {
        let mut resumes = 0;
        let mut away = false;
        while status.changed().await.is_ok() {
            match &*status.borrow_and_update() {
                Status::Reconnecting { .. } => away = true,
                Status::Connected if away => {
                    away = false;
                    resumes += 1;
                }
                Status::Connected => {}
                Status::Closed(_) => break,
            }
        }
        resumes
    })
}

over_transports!(twenty_megabytes_cross_fifty_cuts_byte_exact, [ws: Ws, wss: Wss], |transport: Transport| async move {
    let gateway = TestGateway::start().on(transport);
    let mut data = Vec::with_capacity(20 << 20);
    let mut counter = 0u64;
    while data.len() < 20 << 20 {
        data.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
        counter += 1;
    }
    std::fs::write(gateway.workspace.path().join("big.bin"), &data).unwrap();
    let expected = Sha256::digest(&data);

    let mut proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(&gateway.url_at(proxy.addr()), &gateway.token, resuming(&gateway))
        .await
        .unwrap();
    let resumes = count_resumes(&client);
    // The program waits for a go, so that cuts are already running when the output starts.
    let mut terminal = client
        .open_terminal(sh(
            "stty raw -echo; echo READY; read _; cat big.bin; sleep 600",
        ))
        .await
        .unwrap();
    read_until(&mut terminal, "READY\n", WAIT).await;
    proxy.cut_randomly(Duration::from_millis(10), Duration::from_millis(30), 4);
    terminal.write(&b"\n"[..]).await.unwrap();

    let mut hasher = Sha256::new();
    let mut total = 0usize;
    while total < data.len() {
        match tokio::time::timeout(Duration::from_secs(60), terminal.next_event()).await {
            Ok(Some(TerminalEvent::Output(bytes))) => {
                total += bytes.len();
                hasher.update(&bytes);
            }
            Ok(Some(other)) => panic!("unexpected {other:?} after {total} bytes"),
            Ok(None) => panic!(
                "the session ended after {total} bytes: {:?}",
                client.status().borrow().clone()
            ),
            Err(_) => panic!("stalled after {total} bytes"),
        }
    }
    drop(proxy);
    assert_eq!(total, data.len(), "no byte lost or repeated");
    assert_eq!(hasher.finalize(), expected, "byte-exact");
    drop(terminal);
    drop(client);
    let resumes = resumes.await.unwrap();
    eprintln!("20 MiB over {resumes} resumes");
    assert!(
        resumes >= 50,
        "only {resumes} resumes: the cuts did not happen"
    );
});

over_transports!(input_typed_through_cuts_arrives_exactly_once_in_order, [ws: Ws, wss: Wss], |transport: Transport| async move {
    let gateway = TestGateway::start().on(transport);
    let mut proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(&gateway.url_at(proxy.addr()), &gateway.token, resuming(&gateway))
        .await
        .unwrap();
    let resumes = count_resumes(&client);
    let mut terminal = client
        .open_terminal(sh("stty raw -echo; echo READY; exec cat > typed.txt"))
        .await
        .unwrap();
    read_until(&mut terminal, "READY", WAIT).await;
    proxy.cut_randomly(Duration::from_millis(30), Duration::from_millis(90), 9);

    // Keystrokes, one write each, a few hundred a second, while connections keep dropping.
    let mut expected = String::new();
    for i in 0..3000 {
        let key = format!("{i},");
        expected.push_str(&key);
        terminal.write(key.into_bytes()).await.unwrap();
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    terminal.write(&b"END"[..]).await.unwrap();
    expected.push_str("END");

    let path = gateway.workspace.path().join("typed.txt");
    let typed = file_when(&path, Duration::from_secs(60), |t| t.ends_with(b"END")).await;
    let typed = String::from_utf8(typed).unwrap();
    drop(proxy);
    assert_eq!(typed.len(), expected.len(), "no keystroke lost or doubled");
    assert!(typed == expected, "keystrokes out of order");
    drop(terminal);
    drop(client);
    let resumes = resumes.await.unwrap();
    eprintln!("3000 keystrokes over {resumes} resumes");
    assert!(
        resumes >= 10,
        "only {resumes} resumes: the cuts did not happen"
    );
});

over_transports!(input_waiting_for_a_busy_program_survives_a_cut, [ws: Ws, wss: Wss], |transport: Transport| async move {
    // The program does not read for a while: pasted input backs up into the gateway (its
    // terminal's input queue is full) and the client; the connection drops, and the next one
    // times out too (the gateway reads no frames while input waits). Input the gateway had
    // acknowledged but not yet handed to the terminal must not be lost.
    let gateway = TestGateway::start_with(&["--heartbeat", "1", "--idle-timeout", "2"]).on(transport);
    let proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(&gateway.url_at(proxy.addr()), &gateway.token, resuming(&gateway))
        .await
        .unwrap();
    let mut terminal = client
        .open_terminal(sh(
            "stty raw -echo; echo READY; while [ ! -e go ]; do sleep 0.02; done; \
             exec cat > pasted.txt",
        ))
        .await
        .unwrap();
    read_until(&mut terminal, "READY", WAIT).await;
    let chunks: Vec<Vec<u8>> = (0..400)
        .map(|i| {
            let mut chunk = format!("chunk-{i:05}-").into_bytes();
            chunk.resize(1000, b'.');
            chunk
        })
        .collect();
    let expected = chunks.concat();
    // Writes wait once the queues are full: they go from their own task.
    let writer = terminal.writer();
    let paste = tokio::spawn(async move {
        for chunk in chunks {
            writer.write(chunk).await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut_all();
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::write(gateway.workspace.path().join("go"), "").unwrap();

    let path = gateway.workspace.path().join("pasted.txt");
    let pasted = file_when(&path, WAIT, |p| p.len() >= expected.len()).await;
    assert_eq!(pasted.len(), expected.len(), "no chunk lost or doubled");
    assert!(pasted == expected, "chunks in order");
    paste.await.unwrap();
});

/// Waits for the next event that is not output, collecting the output before it.
async fn next_non_output(terminal: &mut Terminal) -> (usize, TerminalEvent) {
    let mut output = 0;
    loop {
        match tokio::time::timeout(WAIT, terminal.next_event()).await {
            Ok(Some(TerminalEvent::Output(data))) => output += data.len(),
            Ok(Some(event)) => return (output, event),
            Ok(None) => panic!("the terminal's events ended"),
            Err(_) => panic!("nothing but {output} bytes of output"),
        }
    }
}

/// A session goes away while its terminal prints ≈ 2.4 MB (more than the gateway keeps for it,
/// given `args`); it resumes with what was kept, then a snapshot for the rest, then live
/// output. Returns the output bytes replayed before the snapshot.
async fn away_past_what_is_kept(transport: Transport, args: &[&str]) -> usize {
    let gateway = TestGateway::start_with(args).on(transport);
    let proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(
        &gateway.url_at(proxy.addr()),
        &gateway.token,
        resuming(&gateway),
    )
    .await
    .unwrap();
    let mut status = client.status();
    let mut terminal = client
        .open_terminal(sh("echo START; while [ ! -e go ]; do sleep 0.02; done; \
             seq 1 400000; echo FLOOD-END; touch flooded; exec cat"))
        .await
        .unwrap();
    read_until(&mut terminal, "START", WAIT).await;

    // The network goes down; the client keeps trying.
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Reconnecting { .. })),
    )
    .await
    .expect("the client notices the cut")
    .unwrap();
    // Meanwhile the program floods: the gateway keeps what it may for the resume, then lets
    // the program run on without holding it back.
    std::fs::write(gateway.workspace.path().join("go"), "").unwrap();
    let flooded = gateway.workspace.path().join("flooded");
    let deadline = std::time::Instant::now() + WAIT;
    while !flooded.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the program was held back while the session was away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The network comes back: the session resumes, the held output arrives, then the
    // snapshot stands in for what did not fit, flagged with how much it skipped.
    proxy.set_refusing(false);
    let (replayed, event) = next_non_output(&mut terminal).await;
    let TerminalEvent::Snapshot {
        skipped_bytes,
        screen,
        output_offset,
        ..
    } = event
    else {
        panic!("expected a snapshot, got {event:?}");
    };
    let seq_bytes: u64 = (1..=400_000u64)
        .map(|n| n.to_string().len() as u64 + 2)
        .sum();
    eprintln!(
        "replayed {replayed} B, then a snapshot skipping {skipped_bytes} B at {output_offset}"
    );
    assert!(
        skipped_bytes > 0 && skipped_bytes < seq_bytes,
        "{skipped_bytes}"
    );
    assert_eq!(
        "START\r\n".len() as u64 + replayed as u64 + skipped_bytes,
        output_offset,
        "received + skipped account for all output before the snapshot"
    );
    let screen = String::from_utf8_lossy(&screen);
    assert!(
        screen.contains("FLOOD-END"),
        "the screen as it is now: {screen:?}"
    );
    assert!(screen.contains("400000"), "{screen:?}");
    // Live output continues after it.
    terminal.write(&b"after-the-gap\n"[..]).await.unwrap();
    read_until(&mut terminal, "after-the-gap", WAIT).await;
    replayed
}

over_transports!(a_session_away_past_its_budget_resumes_with_a_flagged_snapshot, [ws: Ws, wss: Wss], |transport: Transport| async move {
    let replayed = away_past_what_is_kept(transport, &["--replay-budget", "1048576"]).await;
    assert!(
        replayed > 512 << 10,
        "the budget's worth was replayed first ({replayed} B)"
    );
});

over_transports!(sessions_away_share_the_gateways_replay_memory, [ws: Ws, wss: Wss], |transport: Transport| async move {
    // Each session's budget (8 MiB) would hold the whole flood; the gateway-wide cap does not.
    let replayed = away_past_what_is_kept(transport, &["--replay-memory", "262144"]).await;
    assert!(replayed < 1 << 20, "{replayed} B replayed despite the cap");
});

over_transports!(
    a_second_device_attaches_mid_stream_with_history_and_both_type,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let phone_token = gateway.add_device("phone");
        let laptop = gateway.client().await;
        let mut on_laptop = laptop
            .open_terminal(sh(
                "i=1; while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); sleep 0.005; done; \
             echo STREAM-END; exec cat",
            ))
            .await
            .unwrap();
        read_until(&mut on_laptop, "line-40\r\n", WAIT).await;

        // The phone joins while the lines still stream: all of it from the first byte, then live.
        let phone = Client::connect(&gateway.url(), &phone_token, gateway.options())
            .await
            .unwrap();
        assert_eq!(
            phone.welcome().identity.as_ref().unwrap().device_name,
            "phone"
        );
        let mut on_phone = phone.attach(on_laptop.id(), false, 0).await.unwrap();
        assert_eq!(on_phone.opened().output_offset, 0);
        let seen = read_until(&mut on_phone, "STREAM-END", WAIT).await;
        let expected: String = (1..=300).map(|i| format!("line-{i}\r\n")).collect();
        assert!(
            seen.starts_with(&expected),
            "history then live, in order: {seen:?}"
        );
        read_until(&mut on_laptop, "STREAM-END", WAIT).await;

        // Both type; both see both.
        on_phone.write(&b"from-phone\n"[..]).await.unwrap();
        read_until(&mut on_laptop, "from-phone", WAIT).await;
        on_laptop.write(&b"from-laptop\n"[..]).await.unwrap();
        read_until(&mut on_phone, "from-laptop", WAIT).await;

        // The size follows the device that resized last.
        let size_becomes = |rows: u32, cols: u32| {
            let laptop = &laptop;
            async move {
                tokio::time::timeout(WAIT, async {
                    loop {
                        let list = laptop.sessions().await.unwrap();
                        let size = list.terminals[0].size.unwrap();
                        if (size.rows, size.cols) == (rows, cols) {
                            return list;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("the terminal never became {rows}x{cols}"))
            }
        };
        on_laptop.resize(20, 70).await.unwrap();
        size_becomes(20, 70).await;
        on_phone.resize(33, 101).await.unwrap();
        let list = size_becomes(33, 101).await;
        assert_eq!(list.terminals[0].attached_clients, 2);

        // A read-only watcher sees the output but cannot type.
        let mut watcher = phone.attach(on_laptop.id(), true, u64::MAX).await.unwrap();
        assert!(watcher.opened().read_only);
        watcher.write(&b"sneaky\n"[..]).await.unwrap();
        match tokio::time::timeout(WAIT, watcher.next_event()).await {
            Ok(Some(TerminalEvent::Error { message, .. })) => {
                assert!(message.contains("read-only"))
            }
            other => panic!("expected a read-only error, got {other:?}"),
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_on_websocket_resumes_on_quic() {
    let gateway = TestGateway::start();
    let proxy = ChaosProxy::start(gateway.addr).await;
    let options = ConnectOptions {
        resume_urls: vec![gateway.on_url(Transport::Quic)],
        ..resuming(&gateway)
    };
    let client = Client::connect(&gateway.url_at(proxy.addr()), &gateway.token, options)
        .await
        .unwrap();
    let mut status = client.status();
    let mut terminal = client
        .open_terminal(sh(
            "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); sleep 0.005; done; \
             echo END; exec cat",
        ))
        .await
        .unwrap();
    let mut seen = read_until(&mut terminal, "line-50\r\n", WAIT).await;

    // The WebSocket path goes away for good (say, a network that blocks TCP to the gateway);
    // the client resumes the same session over QUIC.
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Reconnecting { .. })),
    )
    .await
    .expect("the client notices the cut")
    .unwrap();
    seen.push_str(&read_until(&mut terminal, "END\r\n", WAIT).await);
    let expected: String = (0..400).map(|i| format!("line-{i}\r\n")).collect();
    assert!(
        seen.starts_with(&expected),
        "every line once, in order, across the change of transport: {seen:?}"
    );
    assert_eq!(*status.borrow(), Status::Connected);
    let log = gateway.log();
    assert_eq!(log.matches("session resumed").count(), 1, "{log}");
    assert_eq!(log.matches("connection open").count(), 2, "{log}");
    // Typing still works over the new transport.
    terminal.write(&b"over-quic\n"[..]).await.unwrap();
    read_until(&mut terminal, "over-quic\r\nover-quic", WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_sessions_resume_byte_exact_both_ways_through_dropped_connections() {
    // UDP has no connection for a proxy to cut: the client drops its QUIC connection itself,
    // forty times, while output streams and keys are typed.
    let gateway = TestGateway::start().on(Transport::Quic);
    let mut data = Vec::with_capacity(8 << 20);
    let mut counter = 0u64;
    while data.len() < 8 << 20 {
        data.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
        counter += 1;
    }
    std::fs::write(gateway.workspace.path().join("big.bin"), &data).unwrap();
    let client = Client::connect(&gateway.url(), &gateway.token, resuming(&gateway))
        .await
        .unwrap();

    let mut output = client
        .open_terminal(sh(
            "stty raw -echo; echo READY; read _; cat big.bin; sleep 600",
        ))
        .await
        .unwrap();
    let mut input = client
        .open_terminal(sh("stty raw -echo; echo READY; exec cat > typed.txt"))
        .await
        .unwrap();
    read_until(&mut output, "READY\n", WAIT).await;
    read_until(&mut input, "READY\n", WAIT).await;
    output.write(&b"\n"[..]).await.unwrap();

    let mut expected_typed = String::new();
    let mut received = Vec::with_capacity(data.len());
    let mut drops = 0;
    let mut key = 0;
    while received.len() < data.len() {
        match tokio::time::timeout(WAIT, output.next_event()).await {
            Ok(Some(TerminalEvent::Output(bytes))) => received.extend_from_slice(&bytes),
            other => panic!("unexpected {other:?} after {} bytes", received.len()),
        }
        let typed = format!("{key},");
        key += 1;
        expected_typed.push_str(&typed);
        input.write(typed.into_bytes()).await.unwrap();
        if drops < 40 && received.len() > (drops + 1) * (data.len() / 42) {
            client.reconnect_now();
            drops += 1;
            // One drop at a time: wait until the gateway has resumed the session.
            let deadline = tokio::time::Instant::now() + WAIT;
            while gateway.log().matches("session resumed").count() < drops {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "resume {drops} never came"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    assert!(received == data, "output byte-exact");
    input.write(&b"END"[..]).await.unwrap();
    expected_typed.push_str("END");
    let path = gateway.workspace.path().join("typed.txt");
    let typed = file_when(&path, WAIT, |t| t.ends_with(b"END")).await;
    let typed = String::from_utf8(typed).unwrap();
    assert!(typed == expected_typed, "input exactly once, in order");
    drop((output, input));
    drop(client);
    let log = gateway.log();
    assert_eq!(log.matches("session resumed").count(), 40, "{log}");
    assert!(
        log.lines()
            .filter(|l| l.contains("connection open"))
            .all(|l| l.contains("transport=\"quic\"")),
        "{log}"
    );
    eprintln!("8 MiB out, {key} keys in, over 40 QUIC resumes");
}

/// What `seq 1 400000; echo DONE` prints in a raw terminal.
fn numbered_output() -> String {
    let mut expected: String = (1..=400_000).map(|n| format!("{n}\n")).collect();
    expected.push_str("DONE\n");
    expected
}

over_transports!(
    a_reconnect_goes_through_while_the_app_reads_nothing,
    |transport: Transport| async move {
        // An app in the background reads none of its terminal's output, and the network
        // changes: the client must still move to a new connection (its reader is then waiting
        // for the app, holding a frame it already counted as received), and lose nothing.
        let gateway = TestGateway::start().on(transport);
        let client = Client::connect(&gateway.url(), &gateway.token, resuming(&gateway))
            .await
            .unwrap();
        let mut terminal = client
            .open_terminal(sh(
                "stty raw -echo; echo READY; read _; seq 1 400000; echo DONE; sleep 600",
            ))
            .await
            .unwrap();
        read_until(&mut terminal, "READY\n", WAIT).await;
        terminal.write(&b"\n"[..]).await.unwrap();
        // Not a byte read from here until the resume: the client's queue for the terminal
        // fills, then its reader waits.
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.reconnect_now();
        gateway.wait_for_log("session resumed", WAIT).await;

        let expected = numbered_output();
        let mut got = Vec::new();
        while !got.ends_with(b"DONE\n") {
            match tokio::time::timeout(WAIT, terminal.next_event()).await {
                Ok(Some(TerminalEvent::Output(bytes))) => got.extend_from_slice(&bytes),
                other => panic!("unexpected {other:?} after {} bytes", got.len()),
            }
        }
        assert!(
            got == expected.as_bytes(),
            "every byte once, in order ({} of {} bytes)",
            got.len(),
            expected.len()
        );
    }
);

over_transports!(a_short_drop_during_a_flood_loses_nothing, [ws: Ws, wss: Wss], |transport: Transport| async move {
    // A replay budget the flood spends within milliseconds of the drop: for a drop shorter
    // than the gateway's parking grace, the program is held back instead, and the resume
    // still delivers every byte (no snapshot).
    let gateway = TestGateway::start_with(&["--replay-budget", "1048576"]).on(transport);
    let proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(&gateway.url_at(proxy.addr()), &gateway.token, resuming(&gateway))
        .await
        .unwrap();
    let mut terminal = client
        .open_terminal(sh(
            "stty raw -echo; echo READY; read _; seq 1 400000; echo DONE; sleep 600",
        ))
        .await
        .unwrap();
    read_until(&mut terminal, "READY\n", WAIT).await;
    terminal.write(&b"\n"[..]).await.unwrap();

    let expected = numbered_output();
    let mut got = Vec::new();
    let mut dropped = false;
    while !got.ends_with(b"DONE\n") {
        match tokio::time::timeout(WAIT, terminal.next_event()).await {
            Ok(Some(TerminalEvent::Output(bytes))) => got.extend_from_slice(&bytes),
            other => panic!("unexpected {other:?} after {} bytes", got.len()),
        }
        if !dropped && got.len() > 100_000 {
            dropped = true;
            // The network is gone for a second, mid-flood.
            proxy.set_refusing(true);
            proxy.cut_all();
            tokio::time::sleep(Duration::from_secs(1)).await;
            proxy.set_refusing(false);
        }
    }
    assert!(
        got == expected.as_bytes(),
        "every byte once, in order ({} of {} bytes)",
        got.len(),
        expected.len()
    );
    assert_eq!(gateway.log().matches("session resumed").count(), 1);
});
