//! Per-device quotas and the channel cap, against the real gateway: a device over its frame or
//! input-byte quota is slowed down and told so with RATE_LIMITED, loses nothing, and does not
//! slow another device; a session past its channel cap is refused with RESOURCE_EXHAUSTED.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devtail_client::proto::v1::{self, envelope::Body};
use devtail_client::{Client, ClientError, ConnectOptions, TapDirection, Terminal};
use devtail_tests::{TestGateway, Transport, over_transports, read_until};

const WAIT: Duration = Duration::from_secs(30);

fn sh(script: &str) -> v1::TermOpen {
    v1::TermOpen {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    }
}

/// The code and message of every Error a client received.
type Errors = Arc<Mutex<Vec<(i32, String)>>>;

/// Options that record the Errors the gateway sends.
fn recording(gateway: &TestGateway) -> (ConnectOptions, Errors) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let options = ConnectOptions {
        tap: Some(Arc::new(move |direction, _, _, envelope| {
            if let (TapDirection::Received, Some(Body::Error(error))) = (direction, &envelope.body)
            {
                seen.lock()
                    .unwrap()
                    .push((error.code, error.message.clone()));
            }
        })),
        ..gateway.options()
    };
    (options, errors)
}

fn rate_limited(errors: &Mutex<Vec<(i32, String)>>) -> Vec<String> {
    errors
        .lock()
        .unwrap()
        .iter()
        .filter(|(code, _)| *code == v1::ErrorCode::RateLimited as i32)
        .map(|(_, message)| message.clone())
        .collect()
}

/// `cat` in a raw terminal, ready once it printed `ready`.
async fn cat(client: &Client) -> Terminal {
    let mut terminal = client
        .open_terminal(sh("stty raw -echo; echo ready; exec cat"))
        .await
        .expect("open a terminal");
    read_until(&mut terminal, "ready", WAIT).await;
    terminal
}

over_transports!(
    a_device_over_its_frame_quota_is_slowed_and_told_and_loses_nothing,
    |transport: Transport| async move {
        let gateway = TestGateway::start_with(&["--max-frames-per-sec", "20"]).on(transport);
        let (options, errors) = recording(&gateway);
        let client = Client::connect(&gateway.url(), &gateway.token, options)
            .await
            .expect("connect");
        let mut terminal = cat(&client).await;
        let announced = client.notices();
        // 100 keystrokes as fast as the client sends them: five seconds' worth of quota.
        let started = Instant::now();
        let typed: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        for key in typed.bytes() {
            terminal.write(vec![key]).await.expect("write");
        }
        let echoed = read_until(&mut terminal, &typed, WAIT).await;
        let elapsed = started.elapsed();
        assert!(
            echoed.contains(&typed),
            "every keystroke arrives, in order: {echoed:?}"
        );
        let notices = rate_limited(&errors);
        assert!(
            notices
                .iter()
                .any(|m| m.contains("20 frames/s") && m.contains("nothing is lost")),
            "the client is told why it is slowed down: {notices:?}"
        );
        // The quota guarantees a floor (a second's burst, then 20 a second), never a ceiling.
        assert!(
            elapsed >= Duration::from_secs(3),
            "100 frames at 20/s went through in {elapsed:?}"
        );
        // The client library hands the notice to the application (`devtail term` shows it).
        let notice = announced
            .borrow()
            .clone()
            .expect("a notice reached the application");
        assert_eq!(notice.code, v1::ErrorCode::RateLimited);
        assert!(notice.message.contains("20 frames/s"), "{notice:?}");
        let log = gateway.wait_for_log("rate limited", WAIT).await;
        assert!(log.contains("over its quota"), "{log}");
    }
);

over_transports!(
    a_device_over_its_input_quota_is_slowed_and_loses_nothing,
    |transport: Transport| async move {
        let gateway = TestGateway::start_with(&["--max-input-bytes-per-sec", "4000"]).on(transport);
        let (options, errors) = recording(&gateway);
        let client = Client::connect(&gateway.url(), &gateway.token, options)
            .await
            .expect("connect");
        let mut terminal = client
            .open_terminal(sh("stty raw -echo; echo ready; head -c 16000 | wc -c"))
            .await
            .expect("open");
        read_until(&mut terminal, "ready", WAIT).await;
        // 16 000 bytes in 4 KB pastes: four seconds' worth of quota. `wc -c` counts them all.
        let started = Instant::now();
        for _ in 0..4 {
            terminal.write(vec![b'x'; 4000]).await.expect("write");
        }
        let counted = read_until(&mut terminal, "16000", WAIT).await;
        assert!(counted.contains("16000"), "{counted:?}");
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "16 000 bytes at 4000 B/s went through in {:?}",
            started.elapsed()
        );
        let notices = rate_limited(&errors);
        assert!(
            notices
                .iter()
                .any(|m| m.contains("4000 terminal input bytes/s")),
            "{notices:?}"
        );
    }
);

over_transports!(
    another_device_is_not_slowed_by_a_throttled_one,
    [ws: Ws],
    |transport: Transport| async move {
        let gateway =
            TestGateway::start_with(&["--max-frames-per-sec", "20"]).on(transport);
        let other = gateway.add_device("laptop");
        let (options, errors) = recording(&gateway);
        let flooder = Client::connect(&gateway.url(), &gateway.token, gateway.options())
            .await
            .expect("connect");
        let flood = cat(&flooder).await;
        let calm = Client::connect(&gateway.url(), &other, options)
            .await
            .expect("connect the other device");
        let mut calm_terminal = cat(&calm).await;
        // The first device sends far over its quota while the second types 30 keys.
        let flooding = tokio::spawn(async move {
            for _ in 0..400 {
                if flood.write(vec![b'.']).await.is_err() {
                    break;
                }
            }
            flood
        });
        // Well within the quota: ten keys a second.
        let typed = "the other device types freely!";
        for key in typed.bytes() {
            calm_terminal.write(vec![key]).await.expect("write");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        read_until(&mut calm_terminal, typed, WAIT).await;
        assert!(
            rate_limited(&errors).is_empty(),
            "the second device was never rate limited: {:?}",
            rate_limited(&errors)
        );
        let log = gateway.wait_for_log("rate limited", WAIT).await;
        assert!(
            log.lines()
                .filter(|line| line.contains("rate limited"))
                .all(|line| !line.contains("laptop")),
            "only the flooding device is limited:\n{log}"
        );
        flooding.abort();
    }
);

over_transports!(
    a_session_past_its_channel_cap_is_refused_until_one_closes,
    [ws: Ws],
    |transport: Transport| async move {
        let gateway = TestGateway::start_with(&["--max-channels", "2"]).on(transport);
        let client = gateway.client().await;
        let first = cat(&client).await;
        let _second = cat(&client).await;
        match client.open_terminal(sh("exec cat")).await {
            Err(ClientError::Refused { code, message }) => {
                assert_eq!(code, "ERROR_CODE_RESOURCE_EXHAUSTED");
                assert!(message.contains("--max-channels"), "{message}");
            }
            Err(other) => panic!("expected RESOURCE_EXHAUSTED, got {other}"),
            Ok(_) => panic!("a third channel was opened past the cap of 2"),
        }
        // Closing one makes room again.
        first.kill().await.expect("kill");
        let deadline = Instant::now() + WAIT;
        loop {
            match client.open_terminal(sh("exec cat")).await {
                Ok(_) => break,
                Err(ClientError::Refused { code, .. })
                    if code == "ERROR_CODE_RESOURCE_EXHAUSTED" && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("reopening after a close failed: {other}"),
            }
        }
    }
);
