//! What the screen model finds in a terminal's output reaches subscribers: titles and
//! clipboard writes, also at the very end of a flood.

use std::time::Duration;

use devtail_client::TerminalEvent;
use devtail_client::proto::v1;
use devtail_tests::{TestGateway, Transport, over_transports};

const WAIT: Duration = Duration::from_secs(20);

fn sh(script: &str) -> v1::TermOpen {
    v1::TermOpen {
        command: "/bin/sh".to_owned(),
        args: vec!["-c".to_owned(), script.to_owned()],
        ..Default::default()
    }
}

over_transports!(
    titles_and_clipboard_writes_are_their_own_messages,
    |transport: Transport| async move {
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut terminal = client
            .open_terminal(sh(
                r"printf '\033]2;build: ok\007'; printf '\033]52;c;aGVsbG8=\007'; sleep 0.2",
            ))
            .await
            .unwrap();
        let mut title = None;
        let mut clipboard = None;
        while let Some(event) = terminal.next_event().await {
            match event {
                TerminalEvent::Title(t) => title = Some(t),
                TerminalEvent::Clipboard { selection, data } => clipboard = Some((selection, data)),
                TerminalEvent::Exit { .. } => break,
                _ => {}
            }
        }
        assert_eq!(title.as_deref(), Some("build: ok"));
        let (selection, data) = clipboard.expect("a clipboard event");
        assert_eq!((selection.as_str(), &data[..]), ("c", &b"hello"[..]));
    }
);

over_transports!(
    a_title_set_at_the_end_of_a_flood_arrives_while_the_program_waits,
    |transport: Transport| async move {
        // The screen model is woken a batch at a time while output floods: the last piece of
        // a flood (here with a title in it) must still reach it although nothing follows.
        let gateway = TestGateway::start().on(transport);
        let client = gateway.client().await;
        let mut terminal = client
            .open_terminal(sh(
                r"seq 1 60000; printf '\033]2;flood done\007'; sleep 600",
            ))
            .await
            .unwrap();
        let title = tokio::time::timeout(WAIT, async {
            loop {
                match terminal.next_event().await.expect("events") {
                    TerminalEvent::Title(title) => break title,
                    TerminalEvent::Exit { .. } => panic!("exited before the title"),
                    _ => {}
                }
            }
        })
        .await
        .expect("the title arrives while the program waits");
        assert_eq!(title, "flood done");
        terminal.kill().await.unwrap();
    }
);
