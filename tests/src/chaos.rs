//! A chaos TCP proxy for tests: sits between a client and the gateway on 127.0.0.1 and, on
//! command, cuts every connection through it, cuts them at random intervals, or black-holes
//! them (bytes silently vanish both ways while the connections stay open — a half-open path).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug)]
struct Shared {
    /// Bumped to cut every connection open at that moment.
    cuts: watch::Sender<u64>,
    black_hole: AtomicBool,
    accepted: AtomicUsize,
    refusing: AtomicBool,
    /// When the latest forwarded connection was accepted.
    last_accepted_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The proxy; dropping it stops accepting (connections through it end with their peers).
#[derive(Debug)]
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
    random_cuts: Option<JoinHandle<()>>,
}

impl ChaosProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cuts, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            cuts,
            black_hole: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            refusing: AtomicBool::new(false),
            last_accepted_at: std::sync::Mutex::new(None),
        });
        let accept = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if shared.refusing.load(Ordering::Relaxed) {
                        // Closed at once, like a network that is down.
                        drop(client);
                        continue;
                    }
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    *shared
                        .last_accepted_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    tokio::spawn(relay(client, server, Arc::clone(&shared)));
                }
            }
        });
        Self {
            addr,
            shared,
            accept,
            random_cuts: None,
        }
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's `ws://` URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// When the latest forwarded connection was accepted.
    pub fn last_accepted_at(&self) -> Option<std::time::Instant> {
        *self
            .shared
            .last_accepted_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Closes every connection open now (new ones are forwarded as usual).
    pub fn cut_all(&self) {
        self.shared.cuts.send_modify(|generation| *generation += 1);
    }

    /// Makes bytes vanish (`true`) in both directions on every connection, without closing
    /// anything. A connection that saw a black hole is corrupt afterwards, as a real half-open
    /// path would be dead: clients must detect it and reconnect.
    pub fn set_black_hole(&self, on: bool) {
        self.shared.black_hole.store(on, Ordering::Relaxed);
    }

    /// While `true`, new connections are closed as soon as they are accepted (the network is
    /// down); connections already open are left alone (cut them with [`ChaosProxy::cut_all`]).
    pub fn set_refusing(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::Relaxed);
    }

    /// Cuts every connection at random intervals between `min` and `max` (seeded, so a run
    /// repeats), until dropped or called again.
    pub fn cut_randomly(&mut self, min: Duration, max: Duration, seed: u64) {
        if let Some(task) = self.random_cuts.take() {
            task.abort();
        }
        let shared = Arc::clone(&self.shared);
        self.random_cuts = Some(tokio::spawn(async move {
            let mut state = seed | 1;
            loop {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let span = (max - min).as_micros().max(1) as u64;
                tokio::time::sleep(min + Duration::from_micros(state % span)).await;
                shared.cuts.send_modify(|generation| *generation += 1);
            }
        }));
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(task) = self.random_cuts.take() {
            task.abort();
        }
        self.cut_all();
    }
}

/// Copies bytes both ways until either side closes or a cut comes.
async fn relay(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let mut cuts = shared.cuts.subscribe();
    cuts.borrow_and_update();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, &shared) => {}
        () = pump(server_read, client_write, &shared) => {}
        _ = cuts.changed() => {}
    }
    // Dropping both halves of both sockets closes the connections.
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if shared.black_hole.load(Ordering::Relaxed) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
