//! devtail-tests: end-to-end tests that start the real `devtail-gateway` and `devtail`
//! binaries, and the fixtures they need.
//!
//! [`chaos::ChaosProxy`] stands between client and gateway to cut or black-hole connections.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executables
//! (the gateway and client packages have integration tests of their own, which makes cargo
//! build their binaries before any test runs).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod chaos;

pub use devtail_client as client;

/// Path of a workspace binary built by cargo for this test run.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins), or run \
         the whole suite with cargo test --workspace",
        path.display()
    );
    let built = modified(&path);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The crates each binary is built from.
    let crates: &[&str] = match name {
        "devtail-gateway" => &["proto", "rt", "gateway"],
        "devtail" => &["proto", "rt", "client"],
        _ => &["proto", "rt", "gateway", "client"],
    };
    let newest = crates
        .iter()
        .map(|krate| newest_source(&root.join(krate)))
        .max()
        .flatten();
    assert!(
        newest <= built,
        "{} is older than the sources: rebuild it (cargo build --workspace --bins), or run the \
         whole suite with cargo test --workspace",
        path.display()
    );
    path
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Modification time of the newest file under `dir` (sources, build script, manifest). Unit
/// test modules (`tests.rs`) are left out: they are not part of a binary, and cargo does not
/// rebuild one for them.
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = modified(&dir.join("Cargo.toml"));
    let mut stack = vec![dir.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_none_or(|name| name != "tests.rs") {
                newest = newest.max(modified(&path));
            }
        }
    }
    newest
}

/// A random token for one test gateway.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A real gateway process on 127.0.0.1 with a temporary workspace and state dir. Dropping it
/// kills the process.
#[derive(Debug)]
pub struct TestGateway {
    child: Child,
    /// The gateway binary (for its subcommands, e.g. `token add`).
    binary: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its device token (set through `DEVTAIL_TOKEN`).
    pub token: String,
    /// The workspace directory.
    pub workspace: tempfile::TempDir,
    /// The state directory.
    pub state_dir: tempfile::TempDir,
    /// SHA-256 fingerprint of its TLS certificate, as it printed it.
    pub fingerprint: String,
    /// The transport [`TestGateway::url`], [`TestGateway::client`] and [`TestGateway::cli`]
    /// use (WebSocket unless [`TestGateway::on`] says otherwise).
    pub transport: Transport,
    stderr_log: PathBuf,
}

/// A transport the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain WebSocket.
    Ws,
    /// WebSocket over TLS, certificate pinned.
    Wss,
    /// QUIC, certificate pinned.
    Quic,
}

impl Transport {
    /// Its URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Wss => "wss",
            Transport::Quic => "quic",
        }
    }
}

/// Runs an async test body once per transport: `over_transports!(name, |transport: Transport|
/// async move { … })` defines tests `name::ws`, `name::wss` and `name::quic`;
/// `over_transports!(name, [ws: Ws, wss: Wss], …)` picks the transports.
#[macro_export]
macro_rules! over_transports {
    ($name:ident, [$($test:ident: $variant:ident),+], $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    ($body)($crate::Transport::$variant).await
                }
            )+
        }
    };
    ($name:ident, $body:expr) => {
        $crate::over_transports!($name, [ws: Ws, wss: Wss, quic: Quic], $body);
    };
}

impl TestGateway {
    /// Starts a gateway on a free port and waits until it listens.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a gateway with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_binary(&bin("devtail-gateway"), args)
    }

    /// Starts the gateway binary at `path` (a release build, say) with extra arguments.
    pub fn start_binary(path: &Path, args: &[&str]) -> Self {
        let workspace = tempfile::tempdir().expect("temp dir");
        let state_dir = tempfile::tempdir().expect("temp dir");
        let token = random_token();
        let stderr_log = state_dir.path().join("gateway.log");
        // Loopback on a free port, unless the arguments say where.
        let listen = if args.contains(&"--listen") {
            &[][..]
        } else {
            &["--listen", "127.0.0.1:0"][..]
        };
        let mut child = Command::new(path)
            .args(listen)
            .arg("--workspace")
            .arg(workspace.path())
            .arg("--state-dir")
            .arg(state_dir.path())
            .args(args)
            .env("DEVTAIL_TOKEN", &token)
            .env("RUST_LOG", "info")
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).expect("log file"))
            .spawn()
            .expect("start devtail-gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        let fingerprint = loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .expect("the gateway exited before listening");
            if let Some(at) = line
                .strip_prefix("devtail-gateway listening on ")
                .and_then(|url| url.split_once("://"))
            {
                addr = Some(at.1.parse().expect("a socket address"));
            }
            if let Some((_, fingerprint)) = line.split_once("fingerprint (SHA-256) ") {
                break fingerprint.trim().to_owned();
            }
        };
        let addr = addr.expect("the gateway printed its address before its fingerprint");
        // Keep draining stdout so the gateway never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            binary: path.to_owned(),
            addr,
            token,
            workspace,
            state_dir,
            fingerprint,
            transport: Transport::Ws,
            stderr_log,
        }
    }

    /// The same gateway, reached over `transport` from now on.
    pub fn on(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The gateway's URL on `transport`.
    pub fn on_url(&self, transport: Transport) -> String {
        format!("{}://{}", transport.scheme(), self.addr)
    }

    /// The URL of this gateway's transport at `addr` (a proxy in front of it, say).
    pub fn url_at(&self, addr: SocketAddr) -> String {
        format!("{}://{addr}", self.transport.scheme())
    }

    /// Options that reach this gateway over its transport (the certificate pinned).
    pub fn options(&self) -> client::ConnectOptions {
        client::ConnectOptions {
            fingerprint: Some(self.fingerprint.clone()),
            ..Default::default()
        }
    }

    /// The `ws://` URL.
    pub fn url(&self) -> String {
        self.url_at(self.addr)
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the gateway process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; returns the log (panics after `timeout`).
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "log never said {needle:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connects a client.
    pub async fn client(&self) -> client::Client {
        client::Client::connect(&self.url(), &self.token, self.options())
            .await
            .expect("connect to the test gateway")
    }

    /// A `devtail` CLI command aimed at this gateway.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(bin("devtail"));
        cmd.env("DEVTAIL_URL", self.url())
            .env("DEVTAIL_TOKEN", &self.token)
            .env("DEVTAIL_FINGERPRINT", &self.fingerprint)
            .env_remove("RUST_LOG");
        cmd
    }

    /// Runs the `devtail` CLI with `args` (no stdin) and returns what it did.
    pub fn run_cli(&self, args: &[&str]) -> CliRun {
        let out = self
            .cli()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run devtail");
        CliRun {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Issues a token for another device (`devtail-gateway token add NAME`) and returns it.
    pub fn add_device(&self, name: &str) -> String {
        let out = Command::new(&self.binary)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args(["token", "add", name])
            .output()
            .expect("run devtail-gateway token add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("a token")
            .trim()
            .to_owned()
    }

    /// Sends SIGTERM and waits for the process to exit (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a `devtail` CLI run did.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Collects a terminal's output until it exits; returns the output and the exit status.
pub async fn run_to_exit(terminal: &mut client::Terminal) -> (Vec<u8>, i32) {
    let mut output = Vec::new();
    while let Some(event) = terminal.next_event().await {
        match event {
            client::TerminalEvent::Output(data) => output.extend_from_slice(&data),
            client::TerminalEvent::Exit { code, signal } => {
                return (output, client::TerminalEvent::exit_status(code, signal));
            }
            client::TerminalEvent::Error { message, .. } => panic!("terminal error: {message}"),
            _ => {}
        }
    }
    panic!(
        "terminal ended without exit; output so far: {:?}",
        String::from_utf8_lossy(&output)
    );
}

/// Reads a terminal's output until it contains `needle` (or panics after `timeout`).
pub async fn read_until(
    terminal: &mut client::Terminal,
    needle: &str,
    timeout: Duration,
) -> String {
    let mut seen = Vec::new();
    let result = tokio::time::timeout(timeout, async {
        while let Some(event) = terminal.next_event().await {
            if let client::TerminalEvent::Output(data) = event {
                seen.extend_from_slice(&data);
                if String::from_utf8_lossy(&seen).contains(needle) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        matches!(result, Ok(true)),
        "never saw {needle:?}; output was {text:?}"
    );
    text
}

/// Frames for tests that talk to the gateway over a raw WebSocket, bypassing the client
/// library (to send what a correct client never would).
pub mod raw {
    use bytes::{Bytes, BytesMut};
    use devtail_client::proto::v1::{self, Envelope, envelope::Body};
    use devtail_client::proto::{Decoder, DecoderConfig, Encoder, EncoderConfig};

    /// A Hello frame offering protocol versions `min..=max`, authenticated with `token`.
    pub fn hello(token: &str, min: u32, max: u32) -> Bytes {
        encode_hello(token, min, max, None)
    }

    /// A Hello frame for this protocol version that asks to resume a session.
    pub fn hello_resume(token: &str, resume: v1::ResumeRequest) -> Bytes {
        let version = devtail_client::proto::PROTOCOL_VERSION;
        encode_hello(token, version, version, Some(resume))
    }

    fn encode_hello(token: &str, min: u32, max: u32, resume: Option<v1::ResumeRequest>) -> Bytes {
        let hello = Envelope {
            body: Some(Body::Hello(v1::Hello {
                min_version: min,
                max_version: max,
                auth: Some(v1::hello::Auth::Token(v1::DeviceToken {
                    token: token.to_owned(),
                })),
                resume,
                ..Default::default()
            })),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        Encoder::new(EncoderConfig::default())
            .encode_message(&hello, &mut buf)
            .expect("a Hello fits in a frame");
        buf.freeze()
    }

    /// Decodes one frame from the gateway (uncompressed: raw tests never offer compression).
    pub fn decode(frame: Bytes) -> Envelope {
        Decoder::new(DecoderConfig::default())
            .decode_message(frame)
            .expect("the gateway sends valid frames")
    }
}
