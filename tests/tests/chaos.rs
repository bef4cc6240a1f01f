//! Connections cut under a client's feet, through the chaos proxy: the client learns the
//! connection is gone, the terminal keeps running, and attaching again from the last byte
//! received continues the output with nothing lost or repeated.

use std::time::Duration;

use devtail_client::proto::v1;
use devtail_client::{Client, ConnectOptions, TerminalEvent};
use devtail_tests::TestGateway;
use devtail_tests::chaos::ChaosProxy;

const LINES: usize = 3000;

fn expected() -> String {
    let mut text: String = (0..LINES).map(|i| format!("line-{i}\r\n")).collect();
    text.push_str("DONE\r\n");
    text
}

#[tokio::test]
async fn reattaching_from_the_last_byte_received_loses_and_repeats_nothing() {
    let gateway = TestGateway::start();
    let mut proxy = ChaosProxy::start(gateway.addr).await;
    let script = format!(
        "i=0; while [ $i -lt {LINES} ]; do echo line-$i; i=$((i+1)); \
         case $i in *00) sleep 0.05;; esac; done; echo DONE; sleep 600"
    );
    let open = v1::TermOpen {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script],
        ..Default::default()
    };

    let mut received = Vec::<u8>::new();
    let mut terminal_id = None;
    let mut connections = 0;
    // Cut every 150–400 ms while the output (≈ 1.5 s of it) streams.
    proxy.cut_randomly(Duration::from_millis(150), Duration::from_millis(400), 7);
    while !String::from_utf8_lossy(&received).ends_with("DONE\r\n") {
        let Ok(client) =
            Client::connect(&proxy.url(), &gateway.token, ConnectOptions::default()).await
        else {
            continue; // cut during the handshake: try again
        };
        connections += 1;
        let opened = match terminal_id {
            None => client.open_terminal(open.clone()).await,
            Some(id) => client.attach(id, true, received.len() as u64).await,
        };
        let Ok(mut terminal) = opened else { continue };
        terminal_id = Some(terminal.id());
        assert_eq!(
            terminal.opened().output_offset,
            received.len() as u64,
            "output resumes exactly where it stopped"
        );
        while let Some(event) = terminal.next_event().await {
            match event {
                TerminalEvent::Output(data) => received.extend_from_slice(&data),
                TerminalEvent::Snapshot { .. } => panic!("the log still held the missing output"),
                other => panic!("unexpected {other:?}"),
            }
            if String::from_utf8_lossy(&received).ends_with("DONE\r\n") {
                break;
            }
        }
    }
    eprintln!("{} bytes over {connections} connections", received.len());
    assert!(
        connections >= 3,
        "only {connections} connections: the cuts did not happen"
    );
    assert_eq!(String::from_utf8_lossy(&received), expected());
}

#[tokio::test]
async fn a_black_holed_connection_stays_open_and_silent() {
    let gateway = TestGateway::start();
    let proxy = ChaosProxy::start(gateway.addr).await;
    let client = Client::connect(&proxy.url(), &gateway.token, ConnectOptions::default())
        .await
        .unwrap();
    let mut terminal = client
        .open_terminal(v1::TermOpen {
            command: "cat".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    proxy.set_black_hole(true);
    terminal.write(&b"into-the-void\n"[..]).await.unwrap();
    // Nothing comes back and nothing closes: the path is half-open. (Detecting that is the
    // heartbeat's job.) The terminal itself lives on.
    let waited = tokio::time::timeout(Duration::from_millis(500), terminal.next_event()).await;
    assert!(waited.is_err(), "got {waited:?} through a black hole");
    assert!(client.closed_reason().is_none());
    let list = gateway.client().await.sessions().await.unwrap();
    assert_eq!(list.terminals.len(), 1);
}

#[tokio::test]
async fn devtail_exec_rides_out_cuts_and_exits_with_the_status() {
    let gateway = TestGateway::start();
    let mut proxy = ChaosProxy::start(gateway.addr).await;
    proxy.cut_randomly(Duration::from_millis(150), Duration::from_millis(400), 11);
    let script = format!(
        "i=0; while [ $i -lt {LINES} ]; do echo line-$i; i=$((i+1)); \
         case $i in *00) sleep 0.05;; esac; done; echo DONE; exit 5"
    );
    let mut cli = gateway.cli();
    cli.env("DEVTAIL_URL", proxy.url())
        .args(["exec", "--", "/bin/sh", "-c", &script])
        .stdin(std::process::Stdio::null());
    let out = tokio::process::Command::from(cli).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("reconnecting"), "no cut happened: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected());
}
