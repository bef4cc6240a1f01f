//! Transports to a gateway, each adapted to [`Incoming`] and [`Outgoing`] envelopes so the
//! session never sees which one carries it (framing and compression are the transport's):
//! `ws://` (plain WebSocket), `wss://` (WebSocket over TLS) and `quic://` (a control stream and
//! a stream per channel, [`devtail_proto::streams`]). TLS pins the gateway's certificate.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::connection::{ClientError, ConnectOptions};
use crate::url::{GatewayUrl, Scheme};
use devtail_proto::streams::{Route, StreamReader, StreamWriter};
use devtail_proto::v1::Envelope;
use devtail_proto::{
    CompressionPolicy, DEFAULT_MAX_FRAME_LEN, DecodeError, Decoder, DecoderConfig, Encoder,
    EncoderConfig, ZstdParams,
};

/// What a transport reports when it fails.
pub(crate) type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// ALPN protocol of devtail over QUIC.
const ALPN_QUIC: &[u8] = b"devtail/1";

/// QUIC keep-alive: the transport's packets keep an idle connection open (and the session
/// sends no heartbeats of its own on QUIC). Matches the gateway's 60 s heartbeat.
const QUIC_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// QUIC idle timeout this client accepts (the smaller of both sides' applies).
const QUIC_IDLE_TIMEOUT: Duration = Duration::from_secs(150);

/// How long closing waits for the gateway to read the last frames.
const QUIC_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Decoded frames queued from a QUIC connection's streams before their readers wait.
const QUIC_INCOMING_QUEUE: usize = 64;

/// One received envelope, with what it took on the wire and its flags byte.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) envelope: Envelope,
    pub(crate) wire: usize,
    pub(crate) flags: u8,
}

/// Why reading failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The gateway sent something that is not a frame.
    Decode(DecodeError),
    /// The connection failed.
    Transport(String),
}

/// Envelopes arriving on one connection.
pub(crate) type Incoming = Pin<Box<dyn Stream<Item = Result<Received, ReadFailure>> + Send>>;

type Ws<S> = WebSocketStream<S>;

/// Envelopes leaving on one connection.
pub(crate) enum Outgoing {
    Ws {
        // The WebSocket's own error type: error-mapping sink adapters panic when used again
        // after an error, and a sink is closed after one.
        sink: Pin<Box<dyn futures_util::Sink<Message, Error = WsError> + Send>>,
        encoder: Encoder,
        buf: BytesMut,
    },
    Quic(Box<QuicOutgoing>),
}

/// Opens a connection to the gateway at `url`.
pub(crate) async fn open(
    url: &GatewayUrl,
    options: &ConnectOptions,
) -> Result<(Outgoing, Incoming, Option<quinn::Endpoint>), ClientError> {
    let failed = |reason: String| ClientError::Connect {
        url: url.to_string(),
        reason,
    };
    let max_wire = devtail_proto::max_wire_len(DEFAULT_MAX_FRAME_LEN);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_wire))
        .max_frame_size(Some(max_wire));
    match url.scheme {
        Scheme::Ws => {
            let (ws, _) =
                tokio_tungstenite::connect_async_with_config(url.to_string(), Some(config), true)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            let (outgoing, incoming) = websocket(ws);
            Ok((outgoing, incoming, None))
        }
        Scheme::Wss => {
            let fingerprint = pinned(options)?;
            let tcp = TcpStream::connect((url.host.as_str(), url.port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            // Keystrokes and echoes are tiny: never hold them back to coalesce.
            let _ = tcp.set_nodelay(true);
            let tls = crate::tls::client_config(fingerprint, &[b"http/1.1"])
                .map_err(|e| failed(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(server_name(url), tcp)
                .await
                .map_err(|e| failed(format!("TLS: {e}")))?;
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(url.to_string(), stream, Some(config))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            let (outgoing, incoming) = websocket(ws);
            Ok((outgoing, incoming, None))
        }
        Scheme::Quic => {
            let (endpoint, connection) = quic_connect(url, options).await?;
            let (send, recv) = connection
                .open_bi()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let _ = send.set_priority(1);
            let incoming = quic_incoming(&connection, recv);
            let outgoing = Outgoing::Quic(Box::new(QuicOutgoing::new(connection, send)));
            Ok((outgoing, incoming, Some(endpoint)))
        }
    }
}

/// The name TLS is told: the URL's host when it is one; the pinned fingerprint, not the name,
/// authenticates the gateway.
fn server_name(url: &GatewayUrl) -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from(url.host.clone()).unwrap_or_else(|_| {
        rustls::pki_types::ServerName::try_from("devtail-gateway").expect("a valid DNS name")
    })
}

/// The pinned certificate fingerprint a TLS transport needs.
pub(crate) fn pinned(options: &ConnectOptions) -> Result<[u8; 32], ClientError> {
    let text = options.fingerprint.as_deref().ok_or_else(|| {
        ClientError::Protocol(
            "TLS needs the gateway's certificate fingerprint: pass --fingerprint (or set \
             DEVTAIL_FINGERPRINT) with the value devtail-gateway printed at start, or pair \
             with `devtail pair URL`"
                .to_owned(),
        )
    })?;
    crate::tls::parse_fingerprint(text).map_err(ClientError::Protocol)
}

/// A WebSocket as envelopes: one binary message per frame, one compression context.
fn websocket<S>(ws: Ws<S>) -> (Outgoing, Incoming)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream): (SplitSink<Ws<S>, Message>, SplitStream<Ws<S>>) = ws.split();
    let mut decoder = Decoder::new(DecoderConfig::default());
    let incoming = stream.filter_map(move |message| {
        let item = match message {
            Ok(Message::Binary(frame)) => {
                let (wire, flags) = (frame.len(), frame.first().copied().unwrap_or(0));
                Some(
                    decoder
                        .decode_message(frame)
                        .map(|envelope| Received {
                            envelope,
                            wire,
                            flags,
                        })
                        .map_err(ReadFailure::Decode),
                )
            }
            Ok(Message::Text(_)) => Some(Err(ReadFailure::Transport(
                "the gateway sent a text message".to_owned(),
            ))),
            // Pings are answered by the WebSocket layer; Close ends the stream.
            Ok(_) => None,
            Err(e) => Some(Err(ReadFailure::Transport(e.to_string()))),
        };
        futures_util::future::ready(item)
    });
    let outgoing = Outgoing::Ws {
        sink: Box::pin(sink),
        encoder: Encoder::new(EncoderConfig::default()),
        buf: BytesMut::new(),
    };
    (outgoing, Box::pin(incoming))
}

impl Outgoing {
    /// Applies what Welcome negotiated to the frames that follow.
    pub(crate) fn negotiated(
        &mut self,
        compression: CompressionPolicy,
        zstd: ZstdParams,
        max_frame_len: usize,
    ) {
        let config = EncoderConfig {
            compression,
            zstd,
            max_frame_len,
        };
        match self {
            Outgoing::Ws { encoder, .. } => *encoder = Encoder::new(config),
            // The Hello went out plain; everything after the Welcome is compressed.
            Outgoing::Quic(quic) => quic.writer.negotiated(config, false),
        }
    }

    /// Encodes and queues `envelope`; returns its wire length and flags byte.
    pub(crate) async fn write(
        &mut self,
        envelope: &Envelope,
    ) -> Result<(usize, u8), TransportError> {
        match self {
            Outgoing::Ws { sink, encoder, buf } => {
                let len = encoder.encode_message(envelope, buf)?;
                let flags = buf[0];
                sink.feed(Message::Binary(buf.split().freeze()))
                    .await
                    .map_err(TransportError::from)?;
                Ok((len, flags))
            }
            Outgoing::Quic(quic) => quic.write(envelope).await,
        }
    }

    /// Sends what is buffered.
    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            Outgoing::Ws { sink, .. } => {
                sink.flush().await.map_err(TransportError::from)?;
                // The session task waits on its queue from here, not on the socket.
                devtail_rt::forget_waker(sink);
                Ok(())
            }
            // quinn sends as soon as congestion control allows.
            Outgoing::Quic(_) => Ok(()),
        }
    }

    /// Closes the sending side (after what was written).
    pub(crate) async fn close(&mut self) {
        match self {
            Outgoing::Ws { sink, .. } => {
                let _ = sink.close().await;
            }
            Outgoing::Quic(quic) => quic.close().await,
        }
    }
}

async fn quic_connect(
    url: &GatewayUrl,
    options: &ConnectOptions,
) -> Result<(quinn::Endpoint, quinn::Connection), ClientError> {
    let failed = |reason: String| ClientError::Connect {
        url: url.to_string(),
        reason,
    };
    let fingerprint = pinned(options)?;
    let tls =
        crate::tls::client_config(fingerprint, &[ALPN_QUIC]).map_err(|e| failed(e.to_string()))?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| failed(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(QUIC_KEEP_ALIVE))
        .max_idle_timeout(Some(
            QUIC_IDLE_TIMEOUT.try_into().expect("within QUIC's range"),
        ));
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    let host = url.host.clone();
    let port = url.port;
    let addr: SocketAddr =
        tokio::task::spawn_blocking(move || (host.as_str(), port).to_socket_addrs())
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))?
            .next()
            .ok_or_else(|| failed("the host does not resolve".to_owned()))?;
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(local).map_err(|e| failed(e.to_string()))?;
    endpoint.set_default_client_config(config);
    let name = match server_name(url) {
        rustls::pki_types::ServerName::DnsName(name) => name.as_ref().to_owned(),
        _ => "devtail-gateway".to_owned(),
    };
    let connection = endpoint
        .connect(addr, &name)
        .map_err(|e| failed(e.to_string()))?
        .await
        .map_err(|e| failed(format!("QUIC: {e}")))?;
    Ok((endpoint, connection))
}

/// Frames from every stream of a QUIC connection, decoded by a task per stream.
fn quic_incoming(connection: &quinn::Connection, control: quinn::RecvStream) -> Incoming {
    let (tx, rx) = mpsc::channel(QUIC_INCOMING_QUEUE);
    tokio::spawn(read_quic_stream(control, tx.clone()));
    let connection = connection.clone();
    tokio::spawn(async move {
        while let Ok(stream) = connection.accept_uni().await {
            tokio::spawn(read_quic_stream(stream, tx.clone()));
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Decodes one stream's length-prefixed frames, in order, until it ends.
async fn read_quic_stream(
    mut stream: quinn::RecvStream,
    frames: mpsc::Sender<Result<Received, ReadFailure>>,
) {
    let mut reader = StreamReader::default();
    loop {
        loop {
            let item = match reader.next_frame() {
                Ok(Some(frame)) => Ok(Received {
                    envelope: frame.envelope,
                    wire: frame.wire_len,
                    flags: frame.flags,
                }),
                Ok(None) => break,
                Err(e) => Err(ReadFailure::Decode(e)),
            };
            let failed = item.is_err();
            if frames.send(item).await.is_err() || failed {
                return;
            }
        }
        match stream.read_chunk(64 << 10, true).await {
            Ok(Some(chunk)) => reader.push(&chunk.bytes),
            Ok(None) => {
                if let Err(e) = reader.finish() {
                    let _ = frames.send(Err(ReadFailure::Decode(e))).await;
                }
                return;
            }
            Err(e) => {
                let _ = frames
                    .send(Err(ReadFailure::Transport(e.to_string())))
                    .await;
                return;
            }
        }
    }
}

/// The client's sending side of one QUIC connection: the streams, written as
/// [`StreamWriter`] decides.
pub(crate) struct QuicOutgoing {
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

    async fn write(&mut self, envelope: &Envelope) -> Result<(usize, u8), TransportError> {
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
        Ok((encoded.len, encoded.flags))
    }

    /// Finishes the streams, gives the gateway a moment to read the control stream to its end
    /// (closing at once would drop what is still in flight), then closes.
    async fn close(&mut self) {
        for stream in self.channels.values_mut() {
            let _ = stream.finish();
        }
        if self.control.finish().is_ok() {
            let _ = tokio::time::timeout(QUIC_CLOSE_GRACE, self.control.stopped()).await;
        }
        self.connection.close(0u32.into(), b"client done");
    }
}
