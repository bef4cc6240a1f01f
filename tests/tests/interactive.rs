//! `devtail term` driven like a person would: inside tmux, keys sent with `send-keys`, the
//! screen read with `capture-pane`, a full-screen program (vi) on the far side.

use std::process::Command;
use std::time::{Duration, Instant};

use devtail_tests::{TestGateway, bin};

const WAIT: Duration = Duration::from_secs(20);

/// A private tmux server for one test, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(gateway: &TestGateway, command: &str) -> Self {
        Self::start_via(gateway, &gateway.url(), command)
    }

    /// Like [`Tmux::start`], reaching the gateway at `url` (e.g. through a proxy).
    fn start_via(gateway: &TestGateway, url: &str, command: &str) -> Self {
        let socket = format!(
            "devtail-test-{}-{}",
            std::process::id(),
            gateway.addr.port()
        );
        let shell = format!(
            "DEVTAIL_URL={} DEVTAIL_TOKEN={} {} {command}; echo \"[devtail exited $?]\"; sleep 600",
            url,
            gateway.token,
            bin("devtail").display()
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                "sh",
                "-c",
                &shell,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (apt-get install tmux)");
        assert!(status.success());
        Self { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `test`; returns it.
    fn wait_for(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn vi_runs_full_screen_through_devtail_term() {
    let gateway = TestGateway::start();
    let tmux = Tmux::start(&gateway, "term -- vi -u NONE notes.txt");
    // vi draws its empty buffer: a column of '~' down the left edge of the 30-row screen.
    tmux.wait_for("vi's empty buffer", |s| {
        s.lines().filter(|l| l.starts_with('~')).count() >= 20
    });

    tmux.keys(&["i", "hello from the phone", "Escape"]);
    tmux.wait_for("the typed text", |s| {
        s.lines().next().unwrap_or("") == "hello from the phone"
    });
    tmux.keys(&[":wq", "Enter"]);
    let screen = tmux.wait_for("devtail's exit", |s| s.contains("[devtail exited"));
    assert!(screen.contains("[devtail exited 0]"), "{screen}");
    let written = std::fs::read_to_string(gateway.workspace.path().join("notes.txt")).unwrap();
    assert_eq!(written, "hello from the phone\n");
}

#[test]
fn the_detach_key_leaves_the_terminal_running() {
    let gateway = TestGateway::start();
    let tmux = Tmux::start(&gateway, "term -- sh -c 'echo started; exec cat'");
    tmux.wait_for("the program", |s| s.contains("started"));
    tmux.keys(&["typed before detaching", "Enter"]);
    tmux.wait_for("cat's echo", |s| {
        s.matches("typed before detaching").count() >= 2
    });
    tmux.keys(&["C-\\", "d"]);
    let screen = tmux.wait_for("the detach message and devtail's exit", |s| {
        s.contains("[detached from terminal") && s.contains("[devtail exited")
    });
    assert!(screen.contains("[devtail exited 0]"), "{screen}");

    // Still running, with nobody attached.
    let list = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = gateway.client().await;
        client.sessions().await.unwrap()
    });
    assert_eq!(list.terminals.len(), 1, "{list:?}");
    assert_eq!(list.terminals[0].attached_clients, 0, "{list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devtail_term_reconnects_under_vi_and_the_session_carries_on() {
    let gateway = TestGateway::start();
    let proxy = devtail_tests::chaos::ChaosProxy::start(gateway.addr).await;
    let tmux = Tmux::start_via(&gateway, &proxy.url(), "term -- vi -u NONE notes.txt");
    tmux.wait_for("vi's empty buffer", |s| {
        s.lines().filter(|l| l.starts_with('~')).count() >= 20
    });
    tmux.keys(&["i", "before the cut", "Escape"]);
    tmux.wait_for("the first text", |s| s.starts_with("before the cut"));

    proxy.cut_all();
    // Typed at once, while the client may not even know the connection is gone: the keys wait
    // in the session's replay buffer and are delivered exactly once when it resumes.
    tmux.keys(&["A", " and after it", "Escape"]);
    tmux.wait_for("the text typed across the cut", |s| {
        s.starts_with("before the cut and after it")
    });
    assert!(
        proxy.accepted() >= 2,
        "the client reconnected through the proxy"
    );
    tmux.keys(&[":wq", "Enter"]);
    let screen = tmux.wait_for("devtail's exit", |s| s.contains("[devtail exited"));
    assert!(screen.contains("[devtail exited 0]"), "{screen}");
    let written = std::fs::read_to_string(gateway.workspace.path().join("notes.txt")).unwrap();
    assert_eq!(written, "before the cut and after it\n");
}

#[test]
fn a_rate_limit_shows_on_the_status_line_and_goes_away() {
    let gateway = TestGateway::start_with(&["--max-frames-per-sec", "2"]);
    let tmux = Tmux::start(
        &gateway,
        "term -- sh -c 'stty raw -echo; echo started; exec cat'",
    );
    tmux.wait_for("the program", |s| s.contains("started"));
    // Ten keystrokes, each its own frame, far faster than two a second.
    for key in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        tmux.keys(&[key]);
    }
    let screen = tmux.wait_for("the rate limit on the status line", |s| {
        s.contains("rate limited")
    });
    let status = screen.lines().last().unwrap_or("");
    assert!(
        status.contains("devtail: rate limited") && status.contains("2 frames/s"),
        "the bottom row says what happened:\n{screen}"
    );
    // Nothing is lost: every key arrives, only later.
    tmux.wait_for("every key echoed", |s| s.contains("abcdefghij"));
    // The notice goes away by itself.
    tmux.wait_for("the status line cleared", |s| !s.contains("rate limited"));
}
