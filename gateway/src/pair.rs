//! Pairing a device: a new device token, and a `devtail://` URL (also as a QR code) that holds
//! everything the device needs — where the gateway is, the token, the certificate fingerprint
//! to pin, and the transports it serves.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// The pairing URL: `devtail://HOST:PORT?token=…&fp=…&name=…&transports=quic,wss[,ws]`.
/// Tokens, fingerprints (hex) and device names use only URL-safe characters.
pub fn url(
    host: &str,
    port: u16,
    token: &str,
    fingerprint: &str,
    name: &str,
    plain: bool,
) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let transports = if plain { "quic,wss,ws" } else { "quic,wss" };
    format!(
        "devtail://{host}:{port}?token={token}&fp={fingerprint}&name={name}&transports={transports}"
    )
}

/// The address a device should use for a gateway listening on `listen`: the listening address
/// itself, or, when it listens on every interface, this machine's address on its default
/// route (found without sending anything).
pub fn reachable_host(listen: SocketAddr) -> IpAddr {
    if !listen.ip().is_unspecified() {
        return listen.ip();
    }
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind((listen.ip(), 0))?;
        let target: SocketAddr = if listen.is_ipv4() {
            ([192, 0, 2, 1], 9).into()
        } else {
            ("2001:db8::1".parse::<IpAddr>().expect("a valid address"), 9).into()
        };
        socket.connect(target)?;
        Ok(socket.local_addr()?.ip())
    };
    probe().unwrap_or(listen.ip())
}

/// `text` as a QR code drawn with Unicode half blocks, for a terminal.
pub fn qr(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_urls_list_what_the_address_allows() {
        let fp = "ab".repeat(32);
        let url = url("100.64.0.7", 8722, "dt_x", &fp, "phone", true);
        assert_eq!(
            url,
            format!(
                "devtail://100.64.0.7:8722?token=dt_x&fp={fp}&name=phone&transports=quic,wss,ws"
            )
        );
        assert!(super::url("::1", 1, "t", &fp, "n", false).starts_with("devtail://[::1]:1?"));
        assert!(qr(&url).unwrap().lines().count() > 20);
        let loopback: SocketAddr = "127.0.0.1:8722".parse().unwrap();
        assert_eq!(reachable_host(loopback), loopback.ip());
    }
}
