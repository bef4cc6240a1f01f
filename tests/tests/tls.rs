//! TLS and QUIC: `wss://` on the gateway's own port with its self-signed certificate pinned by
//! fingerprint; a wrong or missing fingerprint is refused clearly; plain `ws://` is refused on
//! an address that is neither loopback nor tailnet; a QUIC connection survives the client
//! changing address.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use std::time::Duration;

use devtail_client::proto::v1::{self, envelope::Body};
use devtail_client::{Client, ClientError, TerminalEvent};
use devtail_tests::{TestGateway, Transport, raw};
use sha2::{Digest as _, Sha256};

const WAIT: Duration = Duration::from_secs(20);
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn wss_works_with_the_pinned_fingerprint_only() {
    let gateway = TestGateway::start().on(Transport::Wss);
    assert_eq!(gateway.fingerprint.len(), 64, "{}", gateway.fingerprint);

    let run = gateway.run_cli(&["exec", "--", "echo", "over-tls"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("over-tls"), "{}", run.stdout);

    // A different fingerprint: the client refuses the gateway, and says why.
    let mut wrong = gateway.cli();
    wrong
        .env("DEVTAIL_FINGERPRINT", "00".repeat(32))
        .args(["exec", "--", "echo", "hi"])
        .stdin(std::process::Stdio::null());
    let out = wrong.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("fingerprint") && stderr.contains(&gateway.fingerprint),
        "{stderr}"
    );
    assert!(!stderr.contains("over-tls"));

    // The same over QUIC.
    let wrong = devtail_client::ConnectOptions {
        fingerprint: Some("11".repeat(32)),
        ..Default::default()
    };
    let err = Client::connect(&gateway.on_url(Transport::Quic), &gateway.token, wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fingerprint") && err.contains(&gateway.fingerprint),
        "{err}"
    );

    // No fingerprint at all: told what to pass.
    let options = devtail_client::ConnectOptions::default();
    let err = Client::connect(&gateway.url(), &gateway.token, options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("--fingerprint")),
        "{err}"
    );
}

/// This machine's address on its default route: neither loopback nor tailnet.
fn outside_address() -> IpAddr {
    // Connecting a UDP socket sends nothing; it only picks the route's source address.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("192.0.2.1:9").unwrap();
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback(),
        "this machine needs a non-loopback address for this test"
    );
    ip
}

#[tokio::test]
async fn plain_ws_is_refused_off_loopback_but_wss_is_served() {
    let gateway = TestGateway::start_with(&["--listen", "0.0.0.0:0"]);
    let outside = SocketAddr::new(outside_address(), gateway.addr.port());

    // Plain WebSocket through the outside address: an Error that says what to do, then Close.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{outside}"))
        .await
        .unwrap();
    ws.send(Message::Binary(raw::hello(&gateway.token, 1, 1)))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(frame))) = ws.next().await else {
        panic!("no answer");
    };
    let Some(Body::Error(error)) = raw::decode(frame).body else {
        panic!("expected an error");
    };
    assert_eq!(error.code, v1::ErrorCode::PermissionDenied as i32);
    assert!(
        error.message.contains("wss://") && error.message.contains(&gateway.fingerprint),
        "{}",
        error.message
    );

    // The same port over TLS is served, and plain ws on loopback still is.
    let tls = gateway.url_at(outside).replace("ws://", "wss://");
    let client = Client::connect(&tls, &gateway.token, gateway.options())
        .await
        .expect("wss through the outside address");
    assert!(client.sessions().await.unwrap().terminals.is_empty());
    let loopback = SocketAddr::from(([127, 0, 0, 1], gateway.addr.port()));
    Client::connect(
        &format!("ws://{loopback}"),
        &gateway.token,
        gateway.options(),
    )
    .await
    .expect("plain ws on loopback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_connection_migrates_to_a_new_address_without_a_resume() {
    let gateway = TestGateway::start().on(Transport::Quic);
    let mut data = Vec::new();
    let mut counter = 0u64;
    while data.len() < 4 << 20 {
        data.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
        counter += 1;
    }
    std::fs::write(gateway.workspace.path().join("big.bin"), &data).unwrap();

    let client = gateway.client().await;
    let mut status = client.status();
    let mut terminal = client
        .open_terminal(v1::TermOpen {
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "stty raw -echo; echo READY; read _; cat big.bin; sleep 600".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    devtail_tests::read_until(&mut terminal, "READY\n", WAIT).await;
    terminal.write(&b"\n"[..]).await.unwrap();

    // The device moves to a new address five times while the output streams.
    let mut received = Vec::with_capacity(data.len());
    let mut addresses = Vec::new();
    while received.len() < data.len() {
        match tokio::time::timeout(WAIT, terminal.next_event()).await {
            Ok(Some(TerminalEvent::Output(bytes))) => received.extend_from_slice(&bytes),
            other => panic!("unexpected {other:?} after {} bytes", received.len()),
        }
        let due = addresses.len() < 5 && received.len() > (addresses.len() + 1) * (600 << 10);
        if due {
            addresses.push(client.migrate().expect("a QUIC connection migrates"));
        }
    }
    assert_eq!(addresses.len(), 5, "{addresses:?}");
    let distinct: std::collections::BTreeSet<_> = addresses.iter().map(|a| a.port()).collect();
    assert_eq!(
        distinct.len(),
        5,
        "a new local port each time: {addresses:?}"
    );
    assert!(received == data, "byte-exact across migrations");
    // No resume: the connection itself carried on.
    assert!(
        !status.has_changed().unwrap(),
        "{:?}",
        *status.borrow_and_update()
    );
    let log = gateway.log();
    assert_eq!(log.matches("connection open").count(), 1, "{log}");
    assert!(!log.contains("session resumed"), "{log}");
}

#[tokio::test]
async fn pairing_stores_everything_a_laptop_needs() {
    let gateway = TestGateway::start();
    let out = std::process::Command::new(devtail_tests::bin("devtail-gateway"))
        .arg("--state-dir")
        .arg(gateway.state_dir.path())
        .args(["--listen", &gateway.addr.to_string()])
        .args(["pair", "--name", "laptop"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout
        .lines()
        .find(|l| l.starts_with("devtail://"))
        .expect("a pairing URL")
        .to_owned();
    assert!(stdout.lines().count() > 20, "a QR code above the URL");
    assert!(
        url.contains(&gateway.fingerprint) && url.contains("name=laptop"),
        "{url}"
    );
    assert!(url.contains("transports=quic,wss,ws"), "{url}");

    let config = tempfile::tempdir().unwrap();
    let devtail = |args: &[&str]| {
        std::process::Command::new(devtail_tests::bin("devtail"))
            .env("XDG_CONFIG_HOME", config.path())
            .env_remove("DEVTAIL_URL")
            .env_remove("DEVTAIL_TOKEN")
            .env_remove("DEVTAIL_FINGERPRINT")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let paired = devtail(&["pair", &url]);
    assert!(
        paired.status.success(),
        "{}",
        String::from_utf8_lossy(&paired.stderr)
    );
    let saved = config.path().join("devtail/config.json");
    let mode = std::fs::metadata(&saved).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    // No flags, no environment: the saved pairing is used, over QUIC, as device "laptop".
    let run = devtail(&["exec", "--", "echo", "paired-and-working"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("paired-and-working"));
    let log = gateway
        .wait_for_log("device=laptop", Duration::from_secs(10))
        .await;
    assert!(
        log.lines().any(|l| l.contains("connection open")
            && l.contains("device=laptop")
            && l.contains("transport=\"quic\"")),
        "{log}"
    );

    // A damaged pairing URL is refused with a reason.
    let bad = devtail(&["pair", "devtail://host:1?token=abc"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no fp"));
}
