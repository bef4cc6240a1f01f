//! The gateway's TLS identity: a self-signed certificate generated on first start and kept in
//! the state directory. Clients do not trust it through a CA: they pin its SHA-256
//! fingerprint (printed at start, carried by pairing URLs), so the names in it do not matter.
//! The same certificate serves `wss://` and QUIC.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest as _, Sha256};

/// ALPN protocol of devtail over QUIC.
pub const ALPN_QUIC: &[u8] = b"devtail/1";

/// The certificate and key the gateway presents.
#[derive(Debug)]
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// SHA-256 of a certificate (DER), as 64 lowercase hex digits: what clients pin.
pub fn fingerprint(cert: &[u8]) -> String {
    hex::encode(Sha256::digest(cert))
}

fn files(state_dir: &Path) -> (PathBuf, PathBuf) {
    (
        state_dir.join("tls-cert.der"),
        state_dir.join("tls-key.der"),
    )
}

impl Identity {
    /// Loads the identity from `state_dir`, or creates and stores one (key readable by the
    /// owner only).
    pub fn load_or_create(state_dir: &Path) -> std::io::Result<Self> {
        let (cert_path, key_path) = files(state_dir);
        if cert_path.exists() && key_path.exists() {
            let cert = std::fs::read(&cert_path)?;
            let key = std::fs::read(&key_path)?;
            return Ok(Self {
                cert: CertificateDer::from(cert),
                key: PrivatePkcs8KeyDer::from(key),
            });
        }
        let generated = rcgen::generate_simple_self_signed(vec![
            "devtail-gateway".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(std::io::Error::other)?;
        let cert = generated.cert.der().to_vec();
        let key = generated.signing_key.serialize_der();
        std::fs::create_dir_all(state_dir)?;
        write_private(&key_path, &key)?;
        std::fs::write(&cert_path, &cert)?;
        Ok(Self {
            cert: CertificateDer::from(cert),
            key: PrivatePkcs8KeyDer::from(key),
        })
    }

    /// The certificate's fingerprint (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// A rustls server configuration (ring provider) presenting this identity, offering `alpn`.
    pub fn server_config(
        &self,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let again = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 64);
        let mode = std::fs::metadata(dir.path().join("tls-key.der"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        first.server_config(&[ALPN_QUIC]).unwrap();
    }
}
