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

/// A pairing URL from `devtail-gateway pair`:
/// `devtail://HOST:PORT?token=…&fp=…&name=…&transports=quic,wss,ws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingUrl {
    /// Gateway host.
    pub host: String,
    /// Gateway port (the same for every transport).
    pub port: u16,
    /// The device token.
    pub token: String,
    /// SHA-256 fingerprint of the gateway's certificate.
    pub fingerprint: String,
    /// The device's name at the gateway.
    pub name: String,
    /// Transports the gateway serves to this device, preferred first.
    pub transports: Vec<Scheme>,
}

impl PairingUrl {
    /// Parses a pairing URL, checking every part.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("devtail://")
            .ok_or_else(|| format!("{text:?} is not a pairing URL (devtail://…)"))?;
        let (authority, query) = rest
            .split_once('?')
            .ok_or_else(|| format!("{text:?}: the pairing URL has no parameters"))?;
        let address = GatewayUrl::parse(&format!("ws://{authority}"))
            .map_err(|e| format!("pairing URL: {e}"))?;
        let (mut token, mut fingerprint, mut name, mut transports) = (None, None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("pairing URL: {pair:?} is not key=value"))?;
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ','))
            {
                return Err(format!("pairing URL: unexpected characters in {key}"));
            }
            match key {
                "token" => token = Some(value.to_owned()),
                "fp" => fingerprint = Some(value.to_owned()),
                "name" => name = Some(value.to_owned()),
                "transports" => {
                    let schemes = value
                        .split(',')
                        .map(|s| match s {
                            "quic" => Ok(Scheme::Quic),
                            "wss" => Ok(Scheme::Wss),
                            "ws" => Ok(Scheme::Ws),
                            other => Err(format!("pairing URL: unknown transport {other:?}")),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    transports = Some(schemes);
                }
                // Later gateways may add parameters.
                _ => {}
            }
        }
        let missing = |what: &str| format!("pairing URL: no {what}");
        let fingerprint = fingerprint.ok_or_else(|| missing("fp"))?;
        crate::tls::parse_fingerprint(&fingerprint)?;
        let transports = transports.unwrap_or_else(|| vec![Scheme::Quic, Scheme::Wss]);
        if transports.is_empty() {
            return Err(missing("transports"));
        }
        Ok(Self {
            host: address.host,
            port: address.port,
            token: token.ok_or_else(|| missing("token"))?,
            fingerprint,
            name: name.unwrap_or_default(),
            transports,
        })
    }

    /// The gateway's URL on each transport, preferred first.
    pub fn urls(&self) -> Vec<String> {
        self.transports
            .iter()
            .map(|&scheme| {
                GatewayUrl {
                    scheme,
                    host: self.host.clone(),
                    port: self.port,
                }
                .to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_urls_parse() {
        let fp = "ab".repeat(32);
        let url = PairingUrl::parse(&format!(
            "devtail://100.64.0.7:9000?token=dt_abc-_1&fp={fp}&name=phone&transports=quic,wss,ws"
        ))
        .unwrap();
        assert_eq!((url.host.as_str(), url.port), ("100.64.0.7", 9000));
        assert_eq!(
            (url.token.as_str(), url.name.as_str()),
            ("dt_abc-_1", "phone")
        );
        assert_eq!(
            url.urls(),
            [
                "quic://100.64.0.7:9000",
                "wss://100.64.0.7:9000",
                "ws://100.64.0.7:9000"
            ]
        );
        for bad in [
            "http://x?token=a&fp=b".to_owned(),
            "devtail://h:1".to_owned(),
            format!("devtail://h:1?fp={fp}"),
            "devtail://h:1?token=t&fp=nothex".to_owned(),
            format!("devtail://h:1?token=t%20x&fp={fp}"),
            format!("devtail://h:1?token=t&fp={fp}&transports=carrier-pigeon"),
        ] {
            assert!(PairingUrl::parse(&bad).is_err(), "{bad}");
        }
    }

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
