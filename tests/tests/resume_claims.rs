//! Resume claims on the wire (PROTOCOL.md §6), over raw WebSocket frames: a claim that does not
//! prove the session is refused with a reason and disturbs nothing; the right one resumes and
//! rotates the token; a resume replaces a connection the gateway still thinks alive; a client
//! that said goodbye cannot come back.

use std::time::Duration;

use devtail_client::proto::v1::{self, envelope::Body};
use devtail_tests::{TestGateway, raw};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a session over a raw WebSocket; returns the open socket and the Welcome.
async fn raw_connection(url: &str, token: &str) -> (RawSocket, v1::Welcome) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Binary(raw::hello(token, 1, 1)))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(frame))) = ws.next().await else {
        panic!("no welcome");
    };
    match raw::decode(frame).body {
        Some(Body::Welcome(welcome)) => (ws, welcome),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Starts a session over a raw WebSocket, drops the connection (the session lingers) and
/// returns the Welcome.
async fn raw_session(url: &str, token: &str) -> v1::Welcome {
    raw_connection(url, token).await.1
}

/// Tries to resume over a raw WebSocket: Ok(Welcome) or Err((code, message)).
async fn raw_resume(
    url: &str,
    token: &str,
    request: v1::ResumeRequest,
) -> Result<v1::Welcome, (v1::ErrorCode, String)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Binary(raw::hello_resume(token, request)))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(frame))) = ws.next().await else {
        panic!("no answer");
    };
    match raw::decode(frame).body {
        Some(Body::Welcome(welcome)) => Ok(welcome),
        Some(Body::Error(error)) => {
            let code = v1::ErrorCode::try_from(error.code).unwrap();
            // A Close follows, then the connection ends.
            let Some(Ok(Message::Binary(frame))) = ws.next().await else {
                panic!("no close after the error");
            };
            assert!(matches!(raw::decode(frame).body, Some(Body::Close(_))));
            Err((code, error.message))
        }
        other => panic!("expected welcome or error, got {other:?}"),
    }
}

#[tokio::test]
async fn resume_claims_that_do_not_prove_the_session_are_refused() {
    let gateway = TestGateway::start_with(&["--session-linger", "2"]);
    let url = gateway.url();
    let welcome = raw_session(&url, &gateway.token).await;
    assert_eq!(welcome.session_id.len(), 16);
    assert_eq!(welcome.resume_token.len(), 32);
    let request = |token: &[u8]| v1::ResumeRequest {
        session_id: welcome.session_id.clone(),
        resume_token: token.to_vec().into(),
        last_seq_received: 0,
    };
    let rejected = |result: Result<v1::Welcome, (v1::ErrorCode, String)>, needle: &str| {
        let (code, message) = result.expect_err("refused");
        assert_eq!(code, v1::ErrorCode::ResumeRejected, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    };

    // A wrong token, an unknown session, another device's credentials, a claim beyond what
    // was sent: each refused, and none of them disturbs the session.
    rejected(
        raw_resume(&url, &gateway.token, request(&[7; 32])).await,
        "wrong resume token",
    );
    let unknown = v1::ResumeRequest {
        session_id: vec![9; 16].into(),
        ..request(&welcome.resume_token)
    };
    rejected(
        raw_resume(&url, &gateway.token, unknown).await,
        "unknown or expired",
    );
    let other = gateway.add_device("tablet");
    rejected(
        raw_resume(&url, &other, request(&welcome.resume_token)).await,
        "another device",
    );
    let beyond = v1::ResumeRequest {
        last_seq_received: 1_000,
        ..request(&welcome.resume_token)
    };
    rejected(
        raw_resume(&url, &gateway.token, beyond).await,
        "cannot resume",
    );

    // The right proof resumes, and the token rotates: the new one works next time.
    let resumed = raw_resume(&url, &gateway.token, request(&welcome.resume_token))
        .await
        .expect("the right token resumes");
    assert!(resumed.resumed);
    assert_eq!(resumed.session_id, welcome.session_id);
    assert_ne!(resumed.resume_token, welcome.resume_token);
    let again = raw_resume(&url, &gateway.token, request(&resumed.resume_token))
        .await
        .expect("the rotated token resumes");
    // The client of `resumed` never spoke, so its token stays good, but the first one is
    // now two Welcomes old.
    rejected(
        raw_resume(&url, &gateway.token, request(&welcome.resume_token)).await,
        "wrong resume token",
    );

    // A client whose Welcomes are lost (each connection cut before its Welcome arrives) still
    // holds the token it last presented, and it keeps working.
    for _ in 0..3 {
        raw_resume(&url, &gateway.token, request(&again.resume_token))
            .await
            .expect("the token the client still holds resumes");
    }

    // After the linger, the session is gone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    rejected(
        raw_resume(&url, &gateway.token, request(&again.resume_token)).await,
        "unknown or expired",
    );
}

#[tokio::test]
async fn a_resume_replaces_a_connection_the_gateway_still_thinks_alive() {
    // A phone switching networks: the new connection arrives before the old one is known dead.
    let gateway = TestGateway::start();
    let url = gateway.url();
    let (mut old, welcome) = raw_connection(&url, &gateway.token).await;
    let request = v1::ResumeRequest {
        session_id: welcome.session_id.clone(),
        resume_token: welcome.resume_token.clone(),
        last_seq_received: 0,
    };
    let resumed = raw_resume(&url, &gateway.token, request).await.unwrap();
    assert!(resumed.resumed);
    let close = loop {
        match tokio::time::timeout(WAIT, old.next())
            .await
            .expect("the old connection hears")
        {
            Some(Ok(Message::Binary(frame))) => {
                if let Some(Body::Close(close)) = raw::decode(frame).body {
                    break close;
                }
            }
            other => panic!("expected a Close, got {other:?}"),
        }
    };
    assert_eq!(close.reason, v1::CloseReason::Replaced as i32, "{close:?}");

    // A client that says goodbye ends its session: it cannot be resumed afterwards.
    let (mut ws, welcome) = raw_connection(&url, &gateway.token).await;
    let goodbye = v1::Envelope {
        body: Some(Body::Close(v1::Close {
            reason: v1::CloseReason::Normal as i32,
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut buf = bytes::BytesMut::new();
    devtail_client::proto::Encoder::new(devtail_client::proto::EncoderConfig::default())
        .encode_message(&goodbye, &mut buf)
        .unwrap();
    ws.send(Message::Binary(buf.freeze())).await.unwrap();
    // The gateway ends the connection once the session is gone.
    while let Some(Ok(_)) = ws.next().await {}
    let request = v1::ResumeRequest {
        session_id: welcome.session_id,
        resume_token: welcome.resume_token,
        last_seq_received: 0,
    };
    let (code, message) = raw_resume(&url, &gateway.token, request).await.unwrap_err();
    assert_eq!(code, v1::ErrorCode::ResumeRejected, "{message}");
}
