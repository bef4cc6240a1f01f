//! Transports to a gateway, each adapted to a sink and a stream of whole frames, so the
//! session never sees which one carries it: `ws://` (plain WebSocket), `wss://` (WebSocket over
//! TLS with a pinned certificate).

use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _, future};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::connection::{ClientError, ConnectOptions};
use crate::url::{GatewayUrl, Scheme};
use devtail_proto::DEFAULT_MAX_FRAME_LEN;

/// What a transport reports when it fails.
pub(crate) type TransportError = Box<dyn std::error::Error + Send + Sync>;
/// Outgoing frames.
pub(crate) type FrameSink = Pin<Box<dyn Sink<Bytes, Error = TransportError> + Send>>;
/// Incoming frames.
pub(crate) type FrameStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// Opens a connection to the gateway at `url`.
pub(crate) async fn open(
    url: &GatewayUrl,
    options: &ConnectOptions,
) -> Result<(FrameSink, FrameStream), ClientError> {
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
            Ok(frames(ws))
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
            // The pinned fingerprint, not the name, authenticates the gateway.
            let name =
                rustls::pki_types::ServerName::try_from(url.host.clone()).unwrap_or_else(|_| {
                    rustls::pki_types::ServerName::try_from("devtail-gateway")
                        .expect("a valid name")
                });
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| failed(format!("TLS: {e}")))?;
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(url.to_string(), stream, Some(config))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            Ok(frames(ws))
        }
        Scheme::Quic => Err(ClientError::UnsupportedScheme(url.to_string())),
    }
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

/// A WebSocket as frames: one binary message each.
fn frames<S>(ws: WebSocketStream<S>) -> (FrameSink, FrameStream)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    let sink = sink
        .sink_map_err(TransportError::from)
        .with(|frame: Bytes| future::ready(Ok::<_, TransportError>(Message::Binary(frame))));
    let stream = stream.filter_map(|message| {
        future::ready(match message {
            Ok(Message::Binary(frame)) => Some(Ok(frame)),
            Ok(Message::Text(_)) => {
                Some(Err(TransportError::from("the gateway sent a text message")))
            }
            // Pings are answered by the WebSocket layer; Close ends the stream.
            Ok(_) => None,
            Err(e) => Some(Err(TransportError::from(e))),
        })
    });
    (Box::pin(sink), Box::pin(stream))
}
