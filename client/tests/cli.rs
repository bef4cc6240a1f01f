//! The `devtail` command line without a gateway: help, and clear errors.

use std::process::Command;

fn devtail() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devtail"));
    cmd.env_remove("DEVTAIL_TOKEN").env_remove("DEVTAIL_URL");
    cmd
}

#[test]
fn every_command_has_help_with_examples() {
    for command in [&[][..], &["exec"], &["term"], &["attach"], &["frames"]] {
        let out = devtail().args(command).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Example"),
            "{command:?}: {help}"
        );
    }
}

#[test]
fn missing_token_and_unreachable_gateway_are_explained() {
    let out = devtail().args(["exec", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEVTAIL_TOKEN"));

    // Port 1 on loopback: nothing listens there.
    let out = devtail()
        .args([
            "--url",
            "ws://127.0.0.1:1",
            "--token",
            "x",
            "exec",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the gateway"));

    let out = devtail()
        .args(["--url", "http://x", "--token", "x", "sessions"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scheme"));
}
