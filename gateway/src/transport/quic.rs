//! QUIC transport (quinn, rustls with ring, ALPN `devtail/1`) on the same port number as the
//! WebSocket listener, over UDP. The client opens the control stream; each channel's frames
//! travel on a unidirectional stream per direction ([`devtail_proto::streams`]), length-prefixed,
//! each stream with its own compression context. QUIC's keep-alive (sent by the client) and
//! idle timeout replace the session's heartbeats, and a client whose address changes (Wi-Fi to
//! LTE) keeps its connection: QUIC migrates it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::stream::{SelectAll, Stream, StreamExt as _};
use tokio::sync::watch;
use tracing::debug;

use super::{Connections, Incoming, Outgoing, ReadError};
use crate::Gateway;
use crate::proto::streams::{Route, StreamReader, StreamWriter};
use crate::proto::v1::Envelope;
use crate::proto::{CompressionPolicy, EncoderConfig, ZstdParams};
use crate::session::{self, Heartbeats, TransportError};

/// Time a client has to open its control stream.
const CONTROL_STREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest chunk read from a stream at once.
const READ_CHUNK: usize = 64 << 10;

/// Streams a client may have open towards the gateway at once: the control stream and one per
/// channel (channels are capped per session).
const MAX_CLIENT_STREAMS: u32 = 300;

/// How long closing waits for the client to take the last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The QUIC endpoint's configuration: the gateway's certificate, ALPN `devtail/1`, the idle
/// timeout of the gateway's settings (the client keeps the connection alive).
fn server_config(gateway: &Gateway) -> Result<quinn::ServerConfig, Box<dyn std::error::Error>> {
    let identity = gateway
        .config()
        .identity
        .as_ref()
        .ok_or("QUIC needs the gateway's TLS certificate")?;
    let tls = identity.server_config(&[crate::tls::ALPN_QUIC])?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(gateway.config().idle_timeout.try_into()?))
        .max_concurrent_uni_streams(MAX_CLIENT_STREAMS.into())
        .max_concurrent_bidi_streams(1u32.into());
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The QUIC endpoint on `socket`.
pub fn endpoint(
    gateway: &Gateway,
    socket: std::net::UdpSocket,
) -> std::io::Result<quinn::Endpoint> {
    let config = server_config(gateway).map_err(|e| std::io::Error::other(e.to_string()))?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("QUIC needs the tokio runtime"))?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        runtime,
    )
}

/// Accepts QUIC connections until `shutdown` turns true, then waits for every connection task
/// to end (each sends its client a Close first).
pub async fn serve(
    endpoint: quinn::Endpoint,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
) {
    let connections = Connections::new(Arc::clone(&gateway));
    let mut stop = shutdown.clone();
    loop {
        let Some(slot) = connections.slot(&mut stop).await else {
            break;
        };
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            _ = stop.changed() => break,
        };
        let gateway = Arc::clone(&gateway);
        let shutdown = shutdown.clone();
        connections.spawn(slot, async move {
            let peer = incoming.remote_address();
            let connection = match incoming.await {
                Ok(connection) => connection,
                Err(e) => return debug!(%peer, error = %e, "QUIC handshake failed"),
            };
            let control = tokio::time::timeout(CONTROL_STREAM_TIMEOUT, connection.accept_bi());
            let (send, recv) = match control.await {
                Ok(Ok(streams)) => streams,
                Ok(Err(e)) => return debug!(%peer, error = %e, "no control stream"),
                Err(_) => return debug!(%peer, "no control stream in time"),
            };
            let _ = send.set_priority(1);
            let incoming = QuicIncoming::start(&connection, recv);
            let outgoing = QuicOutgoing::new(connection, send);
            session::serve(
                gateway,
                peer,
                incoming,
                outgoing,
                shutdown,
                Heartbeats::Transport,
                "quic",
            )
            .await;
        });
    }
    connections.wait().await;
    endpoint.close(0u32.into(), b"gateway shutting down");
}

type Decoded = Result<(Envelope, usize), ReadError>;

/// One stream's frames, decoded in order until it ends (a decode error ends it too).
type Frames = Pin<Box<dyn Stream<Item = Decoded> + Send>>;

/// A client's next stream, accepted.
type Accept =
    Pin<Box<dyn Future<Output = Result<quinn::RecvStream, quinn::ConnectionError>> + Send>>;

/// Frames from every stream of one connection, read where they are taken: a keystroke goes
/// from the connection's own task to the session, with no task per stream in between.
struct QuicIncoming {
    connection: quinn::Connection,
    streams: SelectAll<Frames>,
    /// The next stream the client opens; `None` once the connection is gone.
    accept: Option<Accept>,
}

impl QuicIncoming {
    fn start(connection: &quinn::Connection, control: quinn::RecvStream) -> Self {
        let mut streams = SelectAll::new();
        streams.push(frames(control));
        Self {
            connection: connection.clone(),
            streams,
            accept: Some(accept(connection)),
        }
    }
}

fn accept(connection: &quinn::Connection) -> Accept {
    let connection = connection.clone();
    Box::pin(async move { connection.accept_uni().await })
}

impl Incoming for QuicIncoming {
    async fn next(&mut self) -> Option<Decoded> {
        // Cancel-safe: the streams and the accept keep their state in `self` (quinn's
        // `read_chunk` is cancel-safe).
        loop {
            let accepting = self.accept.is_some();
            tokio::select! {
                Some(frame) = self.streams.next() => return Some(frame),
                accepted = async { self.accept.as_mut().expect("accepting").await }, if accepting => {
                    match accepted {
                        Ok(stream) => {
                            self.streams.push(frames(stream));
                            self.accept = Some(accept(&self.connection));
                        }
                        // The connection is gone: its streams end with it.
                        Err(_) => self.accept = None,
                    }
                }
                else => return None,
            }
        }
    }
}

/// Decodes one stream's length-prefixed frames, in order, until it ends.
fn frames(stream: quinn::RecvStream) -> Frames {
    let state = Some((stream, StreamReader::default()));
    Box::pin(futures_util::stream::unfold(state, |state| async move {
        let (mut stream, mut reader) = state?;
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    let decoded = Ok((frame.envelope, frame.wire_len));
                    return Some((decoded, Some((stream, reader))));
                }
                Ok(None) => {}
                Err(e) => return Some((Err(ReadError::Decode(e)), None)),
            }
            match stream.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => reader.push(&chunk.bytes),
                Ok(None) => {
                    return reader
                        .finish()
                        .err()
                        .map(|e| (Err(ReadError::Decode(e)), None));
                }
                // The connection's end is reported by the accept and the other streams.
                Err(quinn::ReadError::ConnectionLost(_)) => return None,
                Err(e) => {
                    let failed = Err(ReadError::Transport(TransportError::from(e)));
                    return Some((failed, None));
                }
            }
        }
    }))
}

/// The gateway's sending side of one QUIC connection: the streams, written as
/// [`StreamWriter`] decides.
struct QuicOutgoing {
    connection: quinn::Connection,
    control: quinn::SendStream,
    channels: HashMap<u32, quinn::SendStream>,
    writer: StreamWriter,
    buf: BytesMut,
}

impl QuicOutgoing {
    fn new(connection: quinn::Connection, control: quinn::SendStream) -> Self {
        Self {
            connection,
            control,
            channels: HashMap::new(),
            writer: StreamWriter::default(),
            buf: BytesMut::new(),
        }
    }
}

impl Outgoing for QuicOutgoing {
    fn negotiated(&mut self, policy: CompressionPolicy, params: ZstdParams) {
        let config = EncoderConfig {
            compression: policy,
            zstd: params,
            ..EncoderConfig::default()
        };
        // Welcome goes out plain.
        self.writer.negotiated(config, true);
    }

    async fn write(&mut self, envelope: &Envelope) -> Result<usize, TransportError> {
        self.buf.clear();
        let encoded = self.writer.encode(envelope, &mut self.buf)?;
        let stream = match encoded.route {
            Route::Control => &mut self.control,
            Route::Channel(channel) => {
                if encoded.opens {
                    self.channels
                        .insert(channel, self.connection.open_uni().await?);
                }
                self.channels
                    .get_mut(&channel)
                    .ok_or("a channel stream was used after it finished")?
            }
        };
        stream.write_all(&self.buf).await?;
        if let (true, Route::Channel(channel)) = (encoded.finishes, encoded.route)
            && let Some(mut done) = self.channels.remove(&channel)
        {
            let _ = done.finish();
        }
        Ok(encoded.len)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        // quinn sends as soon as congestion control allows; nothing is held back here.
        Ok(())
    }

    /// Finishes the streams, gives the client a moment to read the control stream to its end
    /// (closing at once would drop what is still in flight), then closes.
    async fn close(&mut self) {
        for stream in self.channels.values_mut() {
            let _ = stream.finish();
        }
        if self.control.finish().is_ok() {
            let _ = tokio::time::timeout(CLOSE_GRACE, self.control.stopped()).await;
        }
        self.connection.close(0u32.into(), b"closed");
    }
}
