//! The `devtail-gateway` command line: help and token management. (Refusing plain WebSocket
//! off loopback is tested end to end in `tests/tests/tls.rs`.)

use std::process::Command;

fn gateway(state: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devtail-gateway"));
    cmd.arg("--state-dir")
        .arg(state)
        .env_remove("DEVTAIL_TOKEN");
    cmd
}

#[test]
fn token_add_list_revoke() {
    let state = tempfile::tempdir().unwrap();
    let out = gateway(state.path())
        .args(["token", "add", "phone"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("dt_") && token.len() == 46, "{token}");

    let out = gateway(state.path())
        .args(["token", "add", "phone"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = gateway(state.path())
        .args(["token", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("phone\t"));

    let stored = std::fs::read_to_string(state.path().join("tokens")).unwrap();
    assert!(!stored.contains(&token[3..]), "only the hash is stored");

    let out = gateway(state.path())
        .args(["token", "revoke", "phone"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = gateway(state.path())
        .args(["token", "revoke", "phone"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token named"));
}

#[test]
fn help_has_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_devtail-gateway"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("token add"),
        "{help}"
    );
}
