//! Gateway URLs: `ws://host:port`, and the schemes that arrive with TLS and QUIC.

use std::fmt;

/// Transport named by a URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain WebSocket (loopback and tailnet).
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// QUIC.
    Quic,
}

/// A parsed gateway address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUrl {
    /// Transport.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (8722 when the URL gives none).
    pub port: u16,
}

/// Port used when a URL names none.
pub const DEFAULT_PORT: u16 = 8722;

impl GatewayUrl {
    /// Parses `scheme://host[:port][/]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?}: expected ws://HOST:PORT, wss://… or quic://…"))?;
        let scheme = match scheme {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "quic" => Scheme::Quic,
            other => {
                return Err(format!(
                    "{text:?}: unknown scheme {other:?} (use ws, wss or quic)"
                ));
            }
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.contains('?') {
            return Err(format!("{text:?}: a gateway URL has no path"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(format!("{text:?}: junk after ']'")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        let port = match port {
            Some(port) => port
                .parse()
                .map_err(|_| format!("{text:?}: bad port {port:?}"))?,
            None => DEFAULT_PORT,
        };
        Ok(Self { scheme, host, port })
    }
}

impl fmt::Display for GatewayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Quic => "quic",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let url = GatewayUrl::parse("ws://127.0.0.1:9000").unwrap();
        assert_eq!(
            (url.scheme, url.host.as_str(), url.port),
            (Scheme::Ws, "127.0.0.1", 9000)
        );
        assert_eq!(
            GatewayUrl::parse("wss://dev.example/").unwrap().port,
            DEFAULT_PORT
        );
        let v6 = GatewayUrl::parse("quic://[::1]:7").unwrap();
        assert_eq!(
            (v6.scheme, v6.host.as_str(), v6.port),
            (Scheme::Quic, "::1", 7)
        );
        assert_eq!(v6.to_string(), "quic://[::1]:7");
        for bad in [
            "127.0.0.1:80",
            "http://x",
            "ws://",
            "ws://h:99999",
            "ws://h/path",
        ] {
            assert!(GatewayUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
