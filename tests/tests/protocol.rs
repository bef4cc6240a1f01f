//! The protocol at its edges, over raw WebSocket frames and the `devtail frames` client:
//! malformed, repeated and oversized frames close only their own connection; a version
//! mismatch is refused clearly; every frame can be watched as JSON.

use std::time::Duration;

use devtail_client::proto::v1;
use devtail_tests::{TestGateway, raw, read_until};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_that_connection() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    let gateway = TestGateway::start();
    let client = gateway.client().await;
    let mut good = client
        .open_terminal(v1::TermOpen {
            command: "cat".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // A raw WebSocket that says Hello properly, then sends garbage.
    for bad in [
        vec![0x08, 0x01, 0x02],                    // reserved flag bit
        vec![0x00, 0x0a, 0x7f, 0x01],              // truncated protobuf
        vec![0x01, 0xde, 0xad, 0xbe, 0xef],        // not zstd
        raw::hello(&gateway.token, 1, 1).to_vec(), // a second Hello
    ] {
        let (mut ws, _) = tokio_tungstenite::connect_async(gateway.url())
            .await
            .unwrap();
        ws.send(Message::Binary(raw::hello(&gateway.token, 1, 1)))
            .await
            .unwrap();
        let welcome = ws.next().await.unwrap().unwrap();
        assert!(matches!(welcome, Message::Binary(_)));
        ws.send(Message::Binary(bad.clone().into())).await.unwrap();
        let mut saw_error = false;
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Binary(frame) = message {
                let envelope = raw::decode(frame);
                if let Some(v1::envelope::Body::Error(error)) = envelope.body {
                    assert_eq!(
                        error.code,
                        v1::ErrorCode::MalformedFrame as i32,
                        "{bad:02x?}"
                    );
                    saw_error = true;
                }
            }
        }
        assert!(saw_error, "an Error frame before the close for {bad:02x?}");
    }

    // A message larger than any frame the gateway accepts: the connection is dropped.
    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.url())
        .await
        .unwrap();
    ws.send(Message::Binary(raw::hello(&gateway.token, 1, 1)))
        .await
        .unwrap();
    let _welcome = ws.next().await;
    let _ = ws.send(Message::Binary(vec![0u8; 5 << 20].into())).await;
    let mut closed = false;
    for _ in 0..10 {
        match ws.next().await {
            None | Some(Err(_) | Ok(Message::Close(_))) => {
                closed = true;
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    assert!(closed, "the oversized sender is disconnected");

    // Meanwhile the well-behaved client still works.
    good.write(&b"still fine\n"[..]).await.unwrap();
    read_until(&mut good, "still fine\r\nstill fine", WAIT).await;
}

#[tokio::test]
async fn a_protocol_version_mismatch_is_refused_clearly() {
    use devtail_client::proto::v1::envelope::Body;
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    let gateway = TestGateway::start();
    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.url())
        .await
        .unwrap();
    ws.send(Message::Binary(raw::hello(&gateway.token, 2, 3)))
        .await
        .unwrap();
    let mut bodies = Vec::new();
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Binary(frame) = message {
            bodies.push(raw::decode(frame).body.unwrap());
        }
    }
    match bodies.as_slice() {
        [Body::Error(error), Body::Close(close)] => {
            assert_eq!(error.code, v1::ErrorCode::UnsupportedVersion as i32);
            assert!(
                error.message.contains("version 1") && error.message.contains("2..=3"),
                "{}",
                error.message
            );
            assert_eq!(close.reason, v1::CloseReason::Error as i32);
        }
        other => panic!("expected Error then Close, got {other:?}"),
    }
}

#[test]
fn frames_prints_every_frame_as_json() {
    let gateway = TestGateway::start();
    let run = gateway.run_cli(&["frames", "--", "echo", "hi"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let text = run.stdout;
    let kinds: Vec<String> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let envelope = value["envelope"].as_object().unwrap();
            let kind = envelope
                .keys()
                .find(|k| !["seq", "ack", "channel"].contains(&k.as_str()))
                .unwrap();
            format!("{} {kind}", value["dir"].as_str().unwrap())
        })
        .collect();
    for expected in [
        "sent hello",
        "received welcome",
        "sent ping",
        "received pong",
        "sent sessionList",
        "received sessionListResult",
        "sent termOpen",
        "received termOpened",
        "received termData",
        "received termExit",
        "sent close",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "no {expected:?} in {kinds:?}"
        );
    }
}
