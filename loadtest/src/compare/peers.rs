//! The peers devtail is measured against, started by the tool on loopback: an OpenSSH server
//! with throwaway keys, mosh sessions (behind a counting UDP relay), and what their processes
//! cost.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::net::UdpSocket;

use super::tty::{self, Tty};

/// An OpenSSH server on a loopback port, with a host key and one authorized key made for this
/// run, that lets the current user in by that key only.
pub(crate) struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Sshd {
    pub(crate) async fn start(sshd: &Path) -> anyhow::Result<Self> {
        if !sshd.exists() {
            bail!(
                "{} not found: install OpenSSH's server (Debian: apt-get install openssh-server) \
                 or pass --sshd",
                sshd.display()
            );
        }
        let dir = tempfile::tempdir()?;
        for key in ["host", "user"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .context("run ssh-keygen")?;
            anyhow::ensure!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(
            dir.path().join("user.pub"),
            dir.path().join("authorized_keys"),
        )?;
        let port = free_port()?;
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {dir}/host\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nPidFile none\nLogLevel ERROR\n",
                dir = dir.path().display()
            ),
        )?;
        // Privilege separation needs its empty directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sshd.log"))?)
            .spawn()
            .with_context(|| format!("start {}", sshd.display()))?;
        let mut server = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "sshd exited ({status}): {}",
                    std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default()
                );
            }
            anyhow::ensure!(Instant::now() < deadline, "sshd did not listen within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Prove the key works before measuring anything.
        let probe = server
            .command("true")
            .stdin(Stdio::null())
            .output()
            .await
            .context("run ssh")?;
        if !probe.status.success() {
            bail!(
                "ssh to the test sshd failed: {}",
                String::from_utf8_lossy(&probe.stderr).trim()
            );
        }
        Ok(server)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn control_path(&self) -> PathBuf {
        self.dir.path().join("mux")
    }

    /// `ssh` with this server's key and port, 30 s keepalives, default ciphers; options only.
    fn ssh(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(["-F", "/dev/null", "-i"])
            .arg(self.dir.path().join("user"))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ServerAliveInterval=30",
                "-p",
            ])
            .arg(self.port.to_string());
        cmd
    }

    /// `ssh -tt` to this server running `script`.
    pub(crate) fn command(&self, script: &str) -> tokio::process::Command {
        let mut cmd = self.ssh();
        cmd.args(["-tt", "127.0.0.1", script]);
        cmd
    }

    /// A session on its own connection.
    pub(crate) fn open(&self, script: &str) -> anyhow::Result<Tty> {
        Tty::ssh(self.command(script))
    }

    /// A session multiplexed over the master connection (`ssh -S`), as a second terminal of
    /// one connection.
    pub(crate) fn open_shared(&self, script: &str) -> anyhow::Result<Tty> {
        let mut cmd = self.ssh();
        cmd.arg("-S").arg(self.control_path()).args([
            "-o",
            "ControlMaster=no",
            "-tt",
            "127.0.0.1",
            script,
        ]);
        Tty::ssh(cmd)
    }

    /// Starts the master connection that [`Sshd::open_shared`] sessions ride on.
    pub(crate) async fn master(&self) -> anyhow::Result<tokio::process::Child> {
        let mut cmd = self.ssh();
        // No command and no terminal: `-N` just holds the connection.
        cmd.args(["-M", "-N", "-S"])
            .arg(self.control_path())
            .arg("127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().context("start the ssh master connection")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.control_path().exists() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the ssh master connection did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(child)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// OpenSSH's version line (`ssh -V`).
pub(crate) fn ssh_version() -> String {
    Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default()
}

/// mosh's version line.
pub(crate) fn mosh_version() -> String {
    Command::new("mosh-server")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A mosh session on loopback: `mosh-server` running [`tty::IDLE_SCRIPT`], and `mosh-client`
/// in a PTY of ours talking to it through a [`UdpRelay`] that counts the traffic.
pub(crate) struct Mosh {
    pub(crate) server_pid: u32,
    pub(crate) relay: UdpRelay,
    /// `mosh-client`, drained (dropping it ends the client).
    client: Option<tty::Drain>,
}

impl Mosh {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let out = tokio::process::Command::new("mosh-server")
            .args(["new", "-i", "127.0.0.1", "-l", "LANG=C.UTF-8", "--"])
            .args(["/bin/sh", "-c", tty::IDLE_SCRIPT])
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .await
            .context("run mosh-server (Debian: apt-get install mosh)")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (port, key) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("MOSH CONNECT "))
            .and_then(|rest| rest.trim().split_once(' '))
            .with_context(|| format!("mosh-server did not start: {stdout}{stderr}"))?;
        let port: u16 = port.parse()?;
        let server_pid = stderr
            .lines()
            .find_map(|l| l.split_once("detached, pid = "))
            .and_then(|(_, pid)| pid.trim_end_matches(']').trim().parse().ok())
            .context("mosh-server did not say its pid")?;
        let relay = UdpRelay::start(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let client = Tty::local(&format!(
            "LANG=C.UTF-8 TERM=xterm-256color MOSH_KEY={key} exec mosh-client 127.0.0.1 {}",
            relay.addr().port()
        ))?;
        // The idle prompt on mosh-client's screen: the session is up.
        let client = tokio::time::timeout(Duration::from_secs(10), tty::drain(client))
            .await
            .context("mosh-client never showed the session's prompt")??;
        Ok(Self {
            server_pid,
            relay,
            client: Some(client),
        })
    }

    pub(crate) async fn stop(mut self) {
        // The client first, so that it does not see the server go; the server on drop.
        if let Some(client) = self.client.take() {
            client.stop().await;
        }
    }
}

impl Drop for Mosh {
    fn drop(&mut self) {
        // mosh-server detached from us: it is not our child to reap, only to stop.
        if let Some(pid) = rustix::process::Pid::from_raw(self.server_pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// Forwards UDP datagrams between one client and `upstream`, counting them.
pub(crate) struct UdpRelay {
    addr: SocketAddr,
    counters: Arc<UdpCounters>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct UdpCounters {
    bytes: AtomicU64,
    datagrams: AtomicU64,
}

/// IPv4 + UDP headers.
const UDP_OVERHEAD: u64 = 28;

impl UdpRelay {
    pub(crate) async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").await?;
        let back = UdpSocket::bind("127.0.0.1:0").await?;
        back.connect(upstream).await?;
        let addr = front.local_addr()?;
        let counters = Arc::new(UdpCounters::default());
        let task = tokio::spawn({
            let counters = counters.clone();
            async move {
                let mut peer = None;
                let mut up = vec![0u8; 65536];
                let mut down = vec![0u8; 65536];
                loop {
                    tokio::select! {
                        Ok((n, from)) = front.recv_from(&mut up) => {
                            peer = Some(from);
                            counters.count(n);
                            let _ = back.send(&up[..n]).await;
                        }
                        Ok(n) = back.recv(&mut down) => {
                            counters.count(n);
                            if let Some(peer) = peer {
                                let _ = front.send_to(&down[..n], peer).await;
                            }
                        }
                    }
                }
            }
        });
        Ok(Self {
            addr,
            counters,
            task,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// IP bytes both ways so far (payload plus IPv4 and UDP headers).
    pub(crate) fn ip_bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
            + self.counters.datagrams.load(Ordering::Relaxed) * UDP_OVERHEAD
    }
}

impl UdpCounters {
    fn count(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.datagrams.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resident and proportional memory, KiB, of every process whose command name is `comm`,
/// except `except`.
pub(crate) fn memory_of(comm: &str, except: Option<u32>) -> Memory {
    let mut total = Memory::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if Some(pid) == except {
            continue;
        }
        let Ok(name) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if name.trim() != comm {
            continue;
        }
        let memory = process_memory(pid);
        total.rss_kib += memory.rss_kib;
        total.pss_kib += memory.pss_kib;
        total.processes += 1;
    }
    total
}

/// RSS and PSS of one process, KiB (`/proc/PID/smaps_rollup`).
pub(crate) fn process_memory(pid: u32) -> Memory {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("Rss:"),
        pss_kib: field("Pss:"),
        processes: 1,
    }
}

/// Context switches of every thread of a process so far, voluntary and not
/// (`/proc/PID/task/*/status`): each is a thread that went to sleep or was preempted, the cost
/// that dominates a keystroke's trip through a server on a virtual machine. Threads that ended
/// are not counted. `None` when the process is gone.
pub(crate) fn context_switches(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let sum = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    Some(sum)
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) pss_kib: u64,
    pub(crate) processes: usize,
}
