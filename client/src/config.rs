//! The CLI's saved pairing: `devtail pair URL` stores where the gateway is, the device token
//! and the certificate fingerprint, so later commands need no flags. Kept in
//! `$XDG_CONFIG_HOME/devtail/config.json` (or `~/.config/devtail/config.json`), readable by
//! the owner only, since it holds the token. Flags and environment variables win over it.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use devtail_client::PairingUrl;
use serde_json::json;

/// What a pairing saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    /// Preferred URL first, then the others to resume on.
    pub(crate) urls: Vec<String>,
    pub(crate) token: String,
    pub(crate) fingerprint: String,
    pub(crate) name: String,
}

/// Where the configuration lives.
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("devtail/config.json"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/devtail/config.json"))
}

/// Stores a pairing (replacing any earlier one).
pub(crate) fn save(pairing: &PairingUrl) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = path()?;
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let body = json!({
        "urls": pairing.urls(),
        "token": pairing.token,
        "fingerprint": pairing.fingerprint,
        "name": pairing.name,
    });
    // Written next to it, then renamed: a crash never leaves half a file.
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(serde_json::to_string_pretty(&body)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The saved pairing, if there is one.
pub(crate) fn load() -> anyhow::Result<Option<Saved>> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let text_field = |key: &str| -> anyhow::Result<String> {
        value[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{}: no {key:?}", path.display()))
    };
    let urls = value["urls"]
        .as_array()
        .with_context(|| format!("{}: no \"urls\"", path.display()))?
        .iter()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    anyhow::ensure!(!urls.is_empty(), "{}: \"urls\" is empty", path.display());
    Ok(Some(Saved {
        urls,
        token: text_field("token")?,
        fingerprint: text_field("fingerprint")?,
        name: text_field("name").unwrap_or_default(),
    }))
}
