//! Device tokens: issued here, stored only as SHA-256 hashes in the state dir, checked in
//! constant time, revocable by name.
//!
//! A token is `dt_` followed by 43 base64url characters (256 random bits). `DEVTAIL_TOKEN` may
//! add one more for scripted use; it lives in memory only.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// File in the state dir holding the token hashes, one per line: `name sha256-hex created-unix`.
const TOKENS_FILE: &str = "tokens";

/// Shortest token accepted from `DEVTAIL_TOKEN` (bytes): shorter ones are guessable.
const MIN_ENV_TOKEN_LEN: usize = 16;

/// What went wrong with the token store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The tokens file could not be read or written.
    #[error("token store {path}: {source}")]
    Io {
        /// The tokens file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the tokens file is malformed.
    #[error("token store {path}, line {line}: malformed entry")]
    Malformed {
        /// The tokens file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A device name is empty, too long, or has characters other than letters, digits, `-`,
    /// `_`, `.`.
    #[error("invalid device name {0:?}: use 1–64 letters, digits, '-', '_' or '.'")]
    InvalidName(String),
    /// `token add` with a name already in use.
    #[error("a token named {0:?} already exists (revoke it first)")]
    Exists(String),
    /// `token revoke` with an unknown name.
    #[error("no token named {0:?}")]
    Unknown(String),
    /// `DEVTAIL_TOKEN` is too short.
    #[error("DEVTAIL_TOKEN must be at least {MIN_ENV_TOKEN_LEN} characters")]
    WeakEnvToken,
}

/// One stored device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// Device name chosen at issue time.
    pub name: String,
    /// SHA-256 of the token.
    hash: [u8; 32],
    /// Issue time, seconds since the Unix epoch.
    pub created_unix: u64,
}

/// Which version of the tokens file was read. Every save renames a new file into place, so
/// the inode changes even when two saves fall in the same mtime tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    mtime: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            inode: meta.ino(),
            mtime: meta.modified().ok(),
        })
    }
}

/// The device tokens a gateway accepts.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    entries: Vec<DeviceEntry>,
    /// Identity of the file when read, to pick up `token add`/`revoke` made by another
    /// process while the gateway runs.
    stamp: Option<FileStamp>,
    /// The `DEVTAIL_TOKEN` entry, not persisted.
    env_entry: Option<DeviceEntry>,
}

/// Name under which the `DEVTAIL_TOKEN` device appears.
pub const ENV_DEVICE_NAME: &str = "DEVTAIL_TOKEN";

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new random token.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("dt_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl TokenStore {
    /// Opens (or starts) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, AuthError> {
        let path = state_dir.join(TOKENS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(AuthError::Io { path, source }),
        };
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || AuthError::Malformed {
                path: path.clone(),
                line: i + 1,
            };
            let mut parts = line.split_whitespace();
            let (Some(name), Some(hex), Some(created)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(malformed());
            };
            let mut hash = [0u8; 32];
            if hex.len() != 64 {
                return Err(malformed());
            }
            for (j, byte) in hash.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).map_err(|_| malformed())?;
            }
            entries.push(DeviceEntry {
                name: name.to_owned(),
                hash,
                created_unix: created.parse().map_err(|_| malformed())?,
            });
        }
        let stamp = FileStamp::of(&path);
        Ok(Self {
            path,
            entries,
            stamp,
            env_entry: None,
        })
    }

    /// Re-reads the file if another process changed it (a token added or revoked).
    pub fn refresh(&mut self) -> Result<(), AuthError> {
        if FileStamp::of(&self.path) != self.stamp {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let fresh = Self::open(dir)?;
            self.entries = fresh.entries;
            self.stamp = fresh.stamp;
        }
        Ok(())
    }

    /// Accepts `token` too (from `DEVTAIL_TOKEN`), without storing it.
    pub fn set_env_token(&mut self, token: &str) -> Result<(), AuthError> {
        if token.len() < MIN_ENV_TOKEN_LEN {
            return Err(AuthError::WeakEnvToken);
        }
        self.env_entry = Some(DeviceEntry {
            name: ENV_DEVICE_NAME.to_owned(),
            hash: hash(token),
            created_unix: now_unix(),
        });
        Ok(())
    }

    /// Stored devices (the `DEVTAIL_TOKEN` one is not listed).
    pub fn devices(&self) -> &[DeviceEntry] {
        &self.entries
    }

    /// True when no token at all would be accepted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.env_entry.is_none()
    }

    /// Issues a token for a new device and persists its hash. The token is returned once and
    /// never stored.
    pub fn add(&mut self, name: &str) -> Result<String, AuthError> {
        if !valid_name(name) {
            return Err(AuthError::InvalidName(name.to_owned()));
        }
        if self.entries.iter().any(|e| e.name == name) {
            return Err(AuthError::Exists(name.to_owned()));
        }
        let token = generate_token();
        self.entries.push(DeviceEntry {
            name: name.to_owned(),
            hash: hash(&token),
            created_unix: now_unix(),
        });
        self.save()?;
        Ok(token)
    }

    /// Removes a device's token.
    pub fn revoke(&mut self, name: &str) -> Result<(), AuthError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        if self.entries.len() == before {
            return Err(AuthError::Unknown(name.to_owned()));
        }
        self.save()
    }

    /// The device a token belongs to, if any. Every entry is compared, in constant time, so
    /// the time taken says nothing about which (or whether a) token matched.
    pub fn verify(&self, token: &str) -> Option<&str> {
        let presented = hash(token);
        let mut found = None;
        for entry in self.entries.iter().chain(&self.env_entry) {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry.name.as_str());
            }
        }
        found
    }

    /// Writes the store atomically (temporary file, fsync, rename), readable by the owner only.
    fn save(&mut self) -> Result<(), AuthError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| AuthError::Io {
            path: self.path.clone(),
            source,
        };
        let mut text = String::from("# devtail device tokens: name sha256(token) created-unix\n");
        for e in &self.entries {
            let hex: String = e.hash.iter().map(|b| format!("{b:02x}")).collect();
            text.push_str(&format!("{} {hex} {}\n", e.name, e.created_unix));
        }
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        // Our own write is not news to `refresh`.
        self.stamp = FileStamp::of(&self.path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_issued_verified_persisted_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::open(dir.path()).unwrap();
        assert!(store.is_empty());
        let phone = store.add("phone").unwrap();
        let laptop = store.add("laptop").unwrap();
        assert!(phone.starts_with("dt_") && phone.len() == 46, "{phone}");
        assert_ne!(phone, laptop);
        assert_eq!(store.verify(&phone), Some("phone"));
        assert_eq!(store.verify(&laptop), Some("laptop"));
        assert_eq!(store.verify("dt_nope"), None);
        assert!(matches!(store.add("phone"), Err(AuthError::Exists(_))));
        assert!(matches!(store.add("a b"), Err(AuthError::InvalidName(_))));

        // The file holds hashes, never tokens.
        let text = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!text.contains(&phone[3..]));
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(reopened.verify(&phone), Some("phone"));

        // Another process (the `token revoke` command) changes the file: a refresh sees it.
        let mut other = TokenStore::open(dir.path()).unwrap();
        other.revoke("phone").unwrap();
        store.refresh().unwrap();
        assert_eq!(store.verify(&phone), None);
        store.add("phone").unwrap();
        store.revoke("phone").unwrap();
        assert!(matches!(store.revoke("phone"), Err(AuthError::Unknown(_))));
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(reopened.verify(&phone), None);
        assert_eq!(reopened.verify(&laptop), Some("laptop"));
    }

    #[test]
    fn env_token_is_accepted_but_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.set_env_token("short"),
            Err(AuthError::WeakEnvToken)
        ));
        store.set_env_token("a-long-enough-test-token").unwrap();
        assert_eq!(
            store.verify("a-long-enough-test-token"),
            Some(ENV_DEVICE_NAME)
        );
        assert!(store.devices().is_empty());
        assert!(!dir.path().join(TOKENS_FILE).exists());
    }

    #[test]
    fn a_corrupt_store_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKENS_FILE), "# header\nphone zz 1\n").unwrap();
        let err = TokenStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
